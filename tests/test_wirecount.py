"""The benchmarks' byte counter (bench/wirecount.py) in front of a small unix-socket server.

The session benchmark's "bytes sent" come from it, so it is checked here: every byte is
relayed unchanged both ways and counted once, under the kind of request it belongs to,
and nothing is left listening after ``stop``.
"""

from __future__ import annotations

import importlib.util
import socket
import sys
import threading
from pathlib import Path

import pytest

_PATH = Path(__file__).resolve().parent.parent / "bench" / "wirecount.py"
_spec = importlib.util.spec_from_file_location("wirecount", _PATH)
assert _spec and _spec.loader
wirecount = importlib.util.module_from_spec(_spec)
# Its dataclasses look their module up by name.
sys.modules.setdefault("wirecount", wirecount)
_spec.loader.exec_module(wirecount)


@pytest.fixture
def upstream(tmp_path):
    """A server that answers each connection's bytes with a fixed reply, then echoes."""
    path = str(tmp_path / "up.sock")
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(path)
    server.listen(8)
    received: list[bytes] = []

    def serve() -> None:
        while True:
            try:
                conn, _ = server.accept()
            except OSError:
                return
            data = b""
            while chunk := conn.recv(65536):
                data += chunk
                conn.sendall(b"R" * len(chunk))
            received.append(data)
            conn.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield path, received
    server.shutdown(socket.SHUT_RDWR)
    server.close()
    thread.join(timeout=5)


def _talk(path: str, *chunks: bytes) -> bytes:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.connect(path)
    reply = b""
    for chunk in chunks:
        sock.sendall(chunk)
        while len(reply) < sum(map(len, chunks[: chunks.index(chunk) + 1])):
            reply += sock.recv(65536)
    sock.shutdown(socket.SHUT_WR)
    while data := sock.recv(65536):
        reply += data
    sock.close()
    return reply


def test_bytes_are_relayed_and_counted_by_request_kind(upstream, tmp_path) -> None:
    path, received = upstream
    listen = str(tmp_path / "wc.sock")
    ping = b"HEAD /_ping HTTP/1.1\r\nHost: d\r\n\r\n"
    build = b"POST /v1.45/build?version=2 HTTP/1.1\r\nHost: d\r\n\r\n"
    body = bytes(range(256)) * 4096  # 1 MiB
    session = b"POST /session HTTP/1.1\r\nUpgrade: h2c\r\n\r\n"
    # After the upgrade nothing is parsed: this frame is session bytes, not a request.
    frame = b"GET /not-a-request HTTP/1.1\r\n" + b"x" * 1000
    with wirecount.WireCounter(path, listen) as wc:
        assert _talk(listen, ping, build, body) == b"R" * (len(ping) + len(build) + len(body))
        assert _talk(listen, session, frame) == b"R" * (len(session) + len(frame))
        totals = wc.totals()
    assert received == [ping + build + body, session + frame]
    assert totals["by_kind"] == {
        "other": {"up": len(ping), "down": len(ping)},
        "build": {"up": len(build) + len(body), "down": len(build) + len(body)},
        "session": {"up": len(session) + len(frame), "down": len(session) + len(frame)},
    }
    assert totals["up"] == len(ping) + len(build) + len(body) + len(session) + len(frame)
    assert totals["requests"] == ["HEAD /_ping", "POST /v1.45/build?version=2", "POST /session"]
    assert not Path(listen).exists()
