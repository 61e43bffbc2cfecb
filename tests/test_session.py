"""The BuildKit session's HTTP/2 server against a fake daemon (h2 client, socket pair).

What the daemon's gRPC client does to the session is driven here call by call: the
health check, a method nobody serves, unary and streaming calls, a reset mid-call,
large answers under flow control, and broken input (truncated at every offset of a
valid exchange, random bytes) that must end the session with a reason, never hang and
never leave a thread behind. The real daemons are in ``test_session_daemon.py``.
"""

from __future__ import annotations

import functools
import socket
import threading
import time
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from jupyter_dockerbuild.engine import grpc
from jupyter_dockerbuild.engine.client import DockerClient
from jupyter_dockerbuild.engine.session import HEALTH_CHECK, H2Server, Session
from jupyter_dockerbuild.errors import GrpcError, SessionError
from tests.sessionfake import FakeDaemon, pair, session_threads


@pytest.fixture(autouse=True)
def _no_thread_left() -> Iterator[None]:
    yield
    deadline = time.monotonic() + 2
    while session_threads() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert session_threads() == []


def echo(stream: grpc.Stream) -> None:
    """A streaming handler: answers each message with itself upper-cased, then ends."""
    while (message := stream.recv(5)) is not None:
        stream.send(message.upper())


def test_health_check_answers_serving() -> None:
    server, daemon = pair({})
    try:
        reply = daemon.call(HEALTH_CHECK, b"")
        assert reply.status == grpc.OK
        assert reply.headers[":status"] == "200"
        assert reply.headers["content-type"] == "application/grpc"
        assert reply.messages == [b"\x08\x01"]  # HealthCheckResponse{status: SERVING}
        assert server.calls[HEALTH_CHECK] == 1
    finally:
        server.close()


def test_an_unknown_method_is_unimplemented_and_the_session_goes_on() -> None:
    server, daemon = pair({})
    try:
        reply = daemon.call("/moby.filesync.v1.Auth/Credentials", b"\x0a\x01x")
        assert reply.status == grpc.UNIMPLEMENTED
        assert reply.messages == []
        assert daemon.call(HEALTH_CHECK, b"").status == grpc.OK
    finally:
        server.close()


def test_unary_call_sees_request_and_metadata() -> None:
    seen: list[tuple[bytes, list[str]]] = []

    def creds(request: bytes, metadata: object) -> bytes:
        assert isinstance(metadata, dict)
        seen.append((request, metadata.get("x-trace", [])))
        return b"answer:" + request

    server, daemon = pair({"/t.S/Unary": grpc.unary(creds)})
    try:
        sid = daemon.start("/t.S/Unary", [("X-Trace", "one"), ("x-trace", "two")])
        daemon.send(sid, b"hello", end=True)
        reply = daemon.wait(sid)
        assert reply.status == grpc.OK
        assert reply.messages == [b"answer:hello"]
        assert seen == [(b"hello", ["one", "two"])]
    finally:
        server.close()


def test_streaming_call_interleaves_messages() -> None:
    server, daemon = pair({"/t.S/Echo": echo})
    try:
        sid = daemon.start("/t.S/Echo")
        for i, word in enumerate([b"a", b"bc", b"", b"def"]):
            daemon.send(sid, word)
            reply = daemon.wait(sid, messages=i + 1)
            assert reply.messages[-1] == word.upper()
        daemon.end(sid)
        reply = daemon.wait(sid)
        assert reply.status == grpc.OK
        assert reply.messages == [b"A", b"BC", b"", b"DEF"]
    finally:
        server.close()


def test_large_answers_respect_the_daemons_window() -> None:
    big = bytes(range(256)) * 16 * 1024  # 4 MiB, far past the 64 KiB initial window

    def blob(stream: grpc.Stream) -> None:
        stream.recv()
        for _ in range(3):
            stream.send(big)

    server, daemon = pair({"/t.S/Blob": blob})
    try:
        reply = daemon.call("/t.S/Blob", b"", timeout=30)
        assert reply.status == grpc.OK
        assert reply.messages == [big, big, big]
    finally:
        server.close()


def test_a_slow_reader_gets_every_message_and_the_window_comes_back() -> None:
    """Past 1 MiB unread, data is acknowledged only as the handler reads it."""
    release = threading.Event()
    chunk = b"z" * 16384

    def slow(stream: grpc.Stream) -> None:
        release.wait(30)
        count = 0
        while (message := stream.recv(5)) is not None:
            assert message == chunk
            count += 1
        stream.send(str(count).encode())

    server, daemon = pair({"/t.S/Slow": slow})
    try:
        sid = daemon.start("/t.S/Slow")
        sent = 0
        # The handler reads nothing yet: the window runs out a little past 1 MiB
        # (64 messages), then no acknowledgement comes however long we wait.
        while True:
            waited = 0.0
            while daemon.conn.local_flow_control_window(sid) < len(chunk) + 5 and waited < 0.5:
                daemon.pump(0.01)
                waited += 0.01
            if daemon.conn.local_flow_control_window(sid) < len(chunk) + 5:
                break
            daemon.send(sid, chunk)
            sent += 1
            assert sent < 200, "the server acknowledged data nobody read"
        assert 64 <= sent <= 70, sent
        release.set()
        for _ in range(100):  # the window comes back as the handler reads
            daemon.send(sid, chunk)
        daemon.end(sid)
        reply = daemon.wait(sid, timeout=20)
        assert reply.status == grpc.OK
        assert reply.messages == [str(sent + 100).encode()]
    finally:
        release.set()
        server.close()


def test_a_reset_mid_call_cancels_the_handlers_recv() -> None:
    outcome: list[BaseException] = []
    started = threading.Event()

    def waits(stream: grpc.Stream) -> None:
        started.set()
        try:
            stream.recv()
            stream.recv()
        except GrpcError as exc:
            outcome.append(exc)
            raise

    server, daemon = pair({"/t.S/Wait": waits})
    try:
        sid = daemon.start("/t.S/Wait")
        daemon.send(sid, b"first")
        assert started.wait(5)
        daemon.reset(sid)
        deadline = time.monotonic() + 5
        while not outcome and time.monotonic() < deadline:
            daemon.pump(0.05)
        assert len(outcome) == 1 and isinstance(outcome[0], GrpcError)
        assert outcome[0].code == grpc.CANCELLED
        # The session itself goes on.
        assert daemon.call(HEALTH_CHECK, b"").status == grpc.OK
    finally:
        server.close()


def test_handler_errors_become_statuses() -> None:
    def not_found(stream: grpc.Stream) -> None:
        stream.recv()
        raise GrpcError(grpc.NOT_FOUND, "no such secret: db")

    def crash(stream: grpc.Stream) -> None:
        stream.recv()
        raise ValueError("bad\nsecond line never sent")

    server, daemon = pair({"/t.S/NotFound": not_found, "/t.S/Crash": crash})
    try:
        reply = daemon.call("/t.S/NotFound", b"")
        assert (reply.status, reply.message) == (grpc.NOT_FOUND, "no such secret: db")
        reply = daemon.call("/t.S/Crash", b"")
        assert reply.status == grpc.INTERNAL
        assert reply.message == "/t.S/Crash: ValueError: bad"
    finally:
        server.close()


def test_a_request_cut_inside_a_message_ends_the_call_with_a_status() -> None:
    server, daemon = pair({"/t.S/Echo": echo})
    try:
        sid = daemon.start("/t.S/Echo")
        daemon.conn.send_data(sid, grpc.frame(b"abcdef")[:-2], end_stream=True)
        daemon.flush()
        reply = daemon.wait(sid)
        assert reply.status == grpc.INTERNAL
        assert "inside a message" in reply.message
    finally:
        server.close()


def test_an_oversized_message_is_refused_not_buffered() -> None:
    server, daemon = pair({"/t.S/Echo": echo})
    try:
        sid = daemon.start("/t.S/Echo")
        daemon.conn.send_data(sid, b"\x00\x7f\xff\xff\xff" + b"x" * 100)
        daemon.flush()
        reply = daemon.wait(sid)
        assert reply.status == grpc.RESOURCE_EXHAUSTED
    finally:
        server.close()


def test_close_mid_call_wakes_the_handler_and_sends_goaway() -> None:
    woken = threading.Event()

    def waits(stream: grpc.Stream) -> None:
        try:
            stream.recv()
        except GrpcError:
            woken.set()
            raise

    server, daemon = pair({"/t.S/Wait": waits})
    daemon.start("/t.S/Wait")
    daemon.pump(0.2)
    server.close()
    assert woken.is_set()
    daemon.pump(1)
    assert daemon.goaway is not None
    assert daemon.closed


def test_the_daemon_hanging_up_ends_the_session_with_a_reason() -> None:
    server, daemon = pair({})
    daemon.call(HEALTH_CHECK, b"")
    daemon.sock.close()
    deadline = time.monotonic() + 5
    while server.alive and time.monotonic() < deadline:
        time.sleep(0.01)
    assert not server.alive
    assert server.ended == "the daemon closed the session"
    server.close()


# -- broken input: never a hang, never a thread left ------------------------------------------


@functools.cache
def _valid_exchange() -> bytes:
    """The bytes a daemon sends for: preface, settings, a health check, a unary call."""
    server, daemon = pair({"/t.S/Echo": echo})
    try:
        daemon.call(HEALTH_CHECK, b"")
        daemon.call("/t.S/Echo", b"hello")
    finally:
        server.close()
    return bytes(daemon.sent)


def _feed_and_hang_up(data: bytes) -> H2Server:
    ours, theirs = socket.socketpair()
    server = H2Server(ours, {"/t.S/Echo": echo})
    try:
        theirs.sendall(data)
        theirs.shutdown(socket.SHUT_WR)
        deadline = time.monotonic() + 5
        theirs.settimeout(0.1)
        while server.alive and time.monotonic() < deadline:
            try:
                if not theirs.recv(65536):
                    break
            except TimeoutError:
                pass
        assert not server.alive or time.monotonic() < deadline
    finally:
        started = time.monotonic()
        server.close()
        assert time.monotonic() - started < 5
        theirs.close()
    return server


def test_every_truncation_of_a_valid_exchange_ends_cleanly() -> None:
    wire = _valid_exchange()
    assert len(wire) > 100
    for cut in range(len(wire) + 1):
        server = _feed_and_hang_up(wire[:cut])
        assert server.ended is not None, cut
        assert not server.alive


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(st.binary(max_size=400), st.integers(min_value=0, max_value=400))
def test_random_bytes_end_the_session_with_a_reason(junk: bytes, at: int) -> None:
    wire = _valid_exchange()[:at] + junk
    server = _feed_and_hang_up(wire)
    assert server.ended is not None
    assert session_threads() == [] or _settle()


def _settle() -> bool:
    deadline = time.monotonic() + 2
    while session_threads() and time.monotonic() < deadline:
        time.sleep(0.01)
    return not session_threads()


def test_a_preface_that_is_not_http2_gets_goaway() -> None:
    ours, theirs = socket.socketpair()
    server = H2Server(ours, {})
    theirs.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    theirs.settimeout(5)
    got = b""
    try:
        while chunk := theirs.recv(65536):
            got += chunk
    except TimeoutError:
        pass
    server.close()
    theirs.close()
    assert "invalid HTTP/2" in (server.ended or "")
    assert b"\x07" in got  # a GOAWAY frame (type 7) among the bytes sent


# -- the upgrade: POST /session and the 101, against a fake socket daemon -----------------------


class UpgradeDaemon:
    """A unix-socket daemon that answers ``POST /session`` with ``answer`` then speaks h2."""

    def __init__(self, path: str, answer: bytes, *, then_h2: bool = True) -> None:
        self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.listener.bind(path)
        self.listener.listen(1)
        self.answer = answer
        self.then_h2 = then_h2
        self.request = b""
        self.reply: object = None
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        conn, _ = self.listener.accept()
        conn.settimeout(5)
        while b"\r\n\r\n" not in self.request:
            self.request += conn.recv(4096)
        if not self.then_h2:
            conn.sendall(self.answer)
            conn.close()
            return
        # The 101, the preface and a health check in ONE write: the session must hand
        # what it read past the 101 to HTTP/2.
        daemon = FakeDaemon.__new__(FakeDaemon)
        import h2.config
        import h2.connection

        daemon.sock = conn
        daemon.conn = h2.connection.H2Connection(
            h2.config.H2Configuration(client_side=True, header_encoding="utf-8")
        )
        daemon.conn.initiate_connection()
        daemon.replies = {}
        daemon.closed = False
        daemon.goaway = None
        daemon.sent = bytearray()
        sid = daemon.conn.get_next_available_stream_id()
        daemon.conn.send_headers(
            sid,
            [
                (":method", "POST"),
                (":scheme", "http"),
                (":path", HEALTH_CHECK),
                (":authority", "localhost"),
                ("content-type", "application/grpc"),
            ],
        )
        daemon.conn.send_data(sid, grpc.frame(b""), end_stream=True)
        from tests.sessionfake import Reply

        daemon.replies[sid] = Reply()
        conn.sendall(self.answer + daemon.conn.data_to_send())
        conn.settimeout(0.2)
        self.reply = daemon.wait(sid)
        daemon.pump(0.5)
        conn.close()

    def close(self) -> None:
        self.listener.close()
        self.thread.join(10)


_SWITCH = b"HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\n"


def test_upgrade_sends_the_headers_and_serves_bytes_read_past_the_101(tmp_path) -> None:
    path = str(tmp_path / "d.sock")
    fake = UpgradeDaemon(path, _SWITCH)
    client = DockerClient(f"unix://{path}", version="1.41")
    session = Session(client, {"/t.S/Echo": echo}, shared_key="key-1", name="nb")
    try:
        session.open()
        fake.thread.join(10)
        assert fake.reply is not None and fake.reply.status == grpc.OK  # type: ignore[attr-defined]
        head = fake.request.decode()
        assert head.startswith("POST /v1.41/session HTTP/1.1\r\n")
        lines = head.split("\r\n")
        assert "Upgrade: h2c" in lines and "Connection: Upgrade" in lines
        assert f"X-Docker-Expose-Session-Uuid: {session.id}" in lines
        assert "X-Docker-Expose-Session-Sharedkey: key-1" in lines
        assert "X-Docker-Expose-Session-Name: nb" in lines
        methods = [
            x.split(": ", 1)[1] for x in lines if x.startswith("X-Docker-Expose-Session-Grpc")
        ]
        assert methods == [HEALTH_CHECK, "/t.S/Echo"]
        assert session.calls[HEALTH_CHECK] == 1
    finally:
        session.close()
        fake.close()
        client.close()


@pytest.mark.parametrize(
    ("answer", "words"),
    [
        (
            b"HTTP/1.1 404 Not Found\r\nContent-Type: application/json\r\nContent-Length: 29\r\n"
            b'\r\n{"message":"page not found"}\n',
            ["no BuildKit session endpoint", "404", "page not found"],
        ),
        (
            b"HTTP/1.1 400 Bad Request\r\nContent-Length: 11\r\n\r\nbad request",
            ["refused the BuildKit session", "400", "bad request"],
        ),
        (
            b"HTTP/1.1 500 Internal Server Error\r\nContent-Length: 26\r\n\r\n"
            b"session x already exists\r\n",
            ["HTTP 500", "already exists"],
        ),
        (b"SSH-2.0-OpenSSH\r\n\r\n", ["not HTTP"]),
        (b"", ["closed the connection"]),
    ],
)
def test_a_refused_upgrade_is_one_clear_sentence(tmp_path, answer: bytes, words: list[str]) -> None:
    path = str(tmp_path / "d.sock")
    fake = UpgradeDaemon(path, answer, then_h2=False)
    client = DockerClient(f"unix://{path}", version="1.41")
    try:
        with pytest.raises(SessionError) as info:
            Session(client, {}, timeout=5).open()
        for word in words:
            assert word in str(info.value)
    finally:
        fake.close()
        client.close()


def test_an_api_without_session_is_refused_before_any_request(tmp_path) -> None:
    client = DockerClient(f"unix://{tmp_path}/none.sock", version="1.38")
    client._version_info = {"Experimental": False}
    with pytest.raises(SessionError, match=r"API 1\.38, which has no BuildKit session"):
        Session(client, {}).open()


def test_no_daemon_is_daemon_unavailable(tmp_path) -> None:
    from jupyter_dockerbuild.errors import DaemonUnavailable

    client = DockerClient(f"unix://{tmp_path}/none.sock", version="1.41")
    with pytest.raises(DaemonUnavailable, match="socket does not exist"):
        Session(client, {}).open()
