"""The BuildKit session: the daemon calls back into the notebook over one upgraded connection.

What ``docker buildx`` does through the Engine API (buildkit ``session/session.go``,
``session/manager.go``; moby's ``/session`` route hands the request to that manager):

1. ``POST /v<api>/session`` with ``Upgrade: h2c``, ``Connection: Upgrade``,
   ``X-Docker-Expose-Session-Uuid: <id>``, ``X-Docker-Expose-Session-Name``,
   ``X-Docker-Expose-Session-Sharedkey`` and one ``X-Docker-Expose-Session-Grpc-Method``
   header per method served. The daemon answers ``101 Switching Protocols`` and keeps
   the socket.
2. The daemon is then the gRPC **client** on that socket: its grpc-go transport sends
   the HTTP/2 client preface straight away (prior knowledge; there is no HTTP/1.1
   upgrade dance and no HTTP2-Settings header), so this side is the HTTP/2 **server**.
   Bytes read past the 101 response already belong to HTTP/2 and are handed to ``h2``.
3. Every 1 s (Docker 20.10's BuildKit) or 5 s (later) the daemon calls
   ``/grpc.health.v1.Health/Check`` and drops the session after failures: it is
   answered SERVING here, whatever else is served.
4. A build names the session with ``POST /build?version=2&session=<id>``; the daemon
   waits a few seconds for it to appear, so the session is opened first.

The services are :data:`~jupyter_dockerbuild.engine.grpc.Services` (method path ->
handler, see :mod:`.grpc`). Threads: one reads the socket and drives ``h2``, one
writes what ``h2`` has to send (so a reader is never stuck behind a slow write), and
each call runs its handler in a thread of its own. Flow control both ways: a handler's
``send`` waits for the daemon's window (FileSync sends megabytes), and received data is
acknowledged as the handler consumes it. Unknown methods end with status 12
(UNIMPLEMENTED); a handler's :class:`~jupyter_dockerbuild.errors.GrpcError` with its
status; any other exception with 13 (INTERNAL) and the exception's type; a reset
from the daemon makes the handler's ``recv``/``send`` raise ``GrpcError(CANCELLED)``.
Anything malformed from the daemon ends the session with a GOAWAY, never a hang.

:meth:`Session.close` ends it all (GOAWAY, socket closed, every thread joined); a
``Session`` is a context manager.
"""

from __future__ import annotations

import collections
import logging
import queue
import socket
import threading
import uuid
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import h2.config
import h2.connection
import h2.errors
import h2.events
import h2.exceptions

from ..errors import GrpcError, SessionError
from . import grpc
from .grpc import Deframer, Handler, Services, frame, status_trailers

if TYPE_CHECKING:  # pragma: no cover
    from .client import DockerClient

__all__ = [
    "HEALTH_CHECK",
    "Call",
    "H2Server",
    "Session",
    "check_session_support",
    "open_session",
]

log = logging.getLogger(__name__)

HEALTH_CHECK = "/grpc.health.v1.Health/Check"
#: ``grpc.health.v1.HealthCheckResponse{status: SERVING}``.
_SERVING = b"\x08\x01"
#: The first Engine API with ``/session`` outside experimental mode (Docker 18.09).
MIN_SESSION_API = (1, 39)
#: The most the daemon's answer to ``POST /session`` may be before the 101 is found.
_MAX_HTTP_HEAD = 64 * 1024
#: Received but not yet consumed by the handler: above this, data is acknowledged only
#: as the handler reads, so a slow handler slows the daemon instead of growing memory.
_UNCONSUMED_LIMIT = 1024 * 1024
#: How long close() waits for a handler thread that does not return when cancelled.
_JOIN_TIMEOUT = 5.0
_READ_SIZE = 64 * 1024


class _Closed(Exception):
    """Internal: the call or the session is over (turned into GrpcError(CANCELLED))."""


class Call:
    """One call from the daemon, as its handler sees it (a :class:`~.grpc.Stream`).

    ``done`` is set when the call is over for any reason (reset, session closed, the
    handler finished), so a handler that waits on something else than ``recv`` (an
    SSH agent socket) can watch it.
    """

    def __init__(
        self, server: H2Server, stream_id: int, method: str, metadata: dict[str, list[str]]
    ) -> None:
        self.method = method
        self.metadata: Mapping[str, list[str]] = metadata
        self.stream_id = stream_id
        self.done = threading.Event()
        self._server = server
        self._messages: collections.deque[bytes] = collections.deque()
        self._queued = 0  # bytes of the messages waiting for recv
        self._deferred_ack = 0
        self._deframer = Deframer()
        self._half_closed = False
        #: Why the call is over for the handler: a GrpcError to raise from recv/send.
        self._error: GrpcError | None = None
        self._headers_sent = False
        self._ended = False  # trailers or a reset went out: nothing more may be sent
        self.thread: threading.Thread | None = None

    # -- the handler's side ------------------------------------------------------------

    def recv(self, timeout: float | None = None) -> bytes | None:
        """The next request message; None once the daemon half-closed the call."""
        server = self._server
        with server.cond:
            ok = server.cond.wait_for(
                lambda: self._messages or self._half_closed or self._error is not None,
                timeout,
            )
            if self._error is not None:
                raise self._error
            if not ok:
                raise GrpcError(grpc.DEADLINE_EXCEEDED, f"{self.method}: no message in {timeout}s")
            if not self._messages:
                return None
            message = self._messages.popleft()
            self._queued -= len(message)
            if self._deferred_ack and self._queued < _UNCONSUMED_LIMIT:
                server.ack(self.stream_id, self._deferred_ack)
                self._deferred_ack = 0
            return message

    def send(self, message: bytes) -> None:
        """Send one response message, waiting for the daemon's flow-control window."""
        data = memoryview(frame(message))
        server = self._server
        with server.cond:
            self._check_open()
            self._send_headers()
            while data:
                window = server.window(self.stream_id)
                if window <= 0:
                    server.cond.wait(1.0)
                    self._check_open()
                    continue
                size = min(window, server.max_frame(), len(data))
                server.send_data(self.stream_id, bytes(data[:size]))
                data = data[size:]

    # -- the server's side (called with server.cond held) ---------------------------------

    def _check_open(self) -> None:
        if self._error is not None:
            raise self._error
        if self._ended:
            raise GrpcError(grpc.CANCELLED, f"{self.method}: the call is over")

    def _send_headers(self) -> None:
        if not self._headers_sent:
            self._headers_sent = True
            self._server.send_headers(
                self.stream_id, [(":status", "200"), ("content-type", "application/grpc")]
            )

    def _feed(self, data: bytes, flow_length: int) -> None:
        try:
            messages = self._deframer.feed(data)
        except GrpcError as exc:
            self._server.ack(self.stream_id, flow_length)
            self._finish(exc.code, exc.message)
            self._cancel(exc)
            return
        self._messages.extend(messages)
        self._queued += sum(len(m) for m in messages)
        if self._queued < _UNCONSUMED_LIMIT:
            # Also part of a message: one larger than the window could never arrive
            # otherwise (the deframer bounds its size, the queue is under the limit).
            self._server.ack(self.stream_id, flow_length)
        else:
            self._deferred_ack += flow_length

    def _end_of_request(self) -> None:
        self._half_closed = True
        if self._deframer.pending:
            error = GrpcError(grpc.INTERNAL, f"{self.method}: the request ended inside a message")
            self._finish(error.code, error.message)
            self._cancel(error)

    def _cancel(self, error: GrpcError) -> None:
        if self._error is None:
            self._error = error
        self.done.set()

    def _finish(self, code: int, message: str = "") -> None:
        """End the call with a status (trailers, or trailers-only if nothing was sent)."""
        if self._ended:
            return
        self._ended = True
        trailers = status_trailers(code, message)
        if not self._headers_sent:
            self._headers_sent = True
            trailers = [(":status", "200"), ("content-type", "application/grpc"), *trailers]
        self._server.send_headers(self.stream_id, trailers, end_stream=True)
        self.done.set()


def _health(stream: grpc.Stream) -> None:
    stream.recv()
    stream.send(_SERVING)


class H2Server:
    """The HTTP/2 server side of a session over a connected socket (after the 101).

    ``initial`` is what was read past the HTTP/1.1 answer. ``on_end`` is called once
    with a reason when the connection ends by itself (the daemon closed it, a
    malformed frame), not when :meth:`close` is called.
    """

    def __init__(
        self,
        sock: socket.socket,
        services: Services,
        *,
        initial: bytes = b"",
        name: str = "session",
    ) -> None:
        self.services: dict[str, Handler] = {HEALTH_CHECK: _health, **services}
        self.sock = sock
        self.cond = threading.Condition(threading.RLock())
        #: How often each method was called (health checks included).
        self.calls: collections.Counter[str] = collections.Counter()
        #: Why the connection ended without close() (None: open, or closed by us).
        self.ended: str | None = None
        self._name = name
        self._conn = h2.connection.H2Connection(
            h2.config.H2Configuration(client_side=False, header_encoding="utf-8")
        )
        self._calls: dict[int, Call] = {}
        self._finished_threads: list[threading.Thread] = []
        self._out: queue.Queue[bytes | None] = queue.Queue()
        self._closing = False
        self._stopped = threading.Event()
        with self.cond:
            self._conn.initiate_connection()
            self._flush()
        self._writer = threading.Thread(target=self._write_loop, name=f"{name}-writer", daemon=True)
        self._reader = threading.Thread(
            target=self._read_loop, args=(initial,), name=f"{name}-reader", daemon=True
        )
        self._writer.start()
        self._reader.start()

    # -- used by calls, with cond held -------------------------------------------------

    def _flush(self) -> None:
        data = self._conn.data_to_send()
        if data:
            self._out.put(data)

    def window(self, stream_id: int) -> int:
        """How many bytes the daemon lets this call send now."""
        try:
            return int(self._conn.local_flow_control_window(stream_id))
        except (h2.exceptions.StreamClosedError, h2.exceptions.ProtocolError):
            raise GrpcError(grpc.CANCELLED, "the call is closed") from None

    def max_frame(self) -> int:
        """The largest DATA frame the daemon accepts."""
        return int(self._conn.max_outbound_frame_size)

    def send_data(self, stream_id: int, data: bytes) -> None:
        """Queue one DATA frame (within the window)."""
        try:
            self._conn.send_data(stream_id, data)
        except (h2.exceptions.StreamClosedError, h2.exceptions.ProtocolError):
            raise GrpcError(grpc.CANCELLED, "the call is closed") from None
        self._flush()

    def send_headers(
        self, stream_id: int, headers: list[tuple[str, str]], *, end_stream: bool = False
    ) -> None:
        """Queue HEADERS (or trailers); a call reset meanwhile gets nothing."""
        try:
            self._conn.send_headers(stream_id, headers, end_stream=end_stream)
        except (h2.exceptions.StreamClosedError, h2.exceptions.ProtocolError):
            return  # reset meanwhile, or the connection is over: nothing to answer
        self._flush()

    def ack(self, stream_id: int, size: int) -> None:
        """Give the daemon back ``size`` bytes of window (received data consumed)."""
        if size <= 0:
            return
        try:
            self._conn.acknowledge_received_data(size, stream_id)
        except h2.exceptions.ProtocolError:
            return
        self._flush()

    # -- the threads -------------------------------------------------------------------

    def _write_loop(self) -> None:
        while True:
            data = self._out.get()
            if data is None:
                return
            # What else is queued goes in the same write (a large send is many frames).
            parts, stop = [data], False
            while len(parts) < 256:
                try:
                    more = self._out.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    stop = True
                    break
                parts.append(more)
            try:
                self.sock.sendall(b"".join(parts) if len(parts) > 1 else data)
            except OSError as exc:
                self._end(f"the connection to the daemon broke ({exc.strerror or exc})")
                return
            if stop:
                return

    def _read_loop(self, initial: bytes) -> None:
        data = initial
        try:
            while True:
                if data:
                    self._receive(data)
                    if self._stopped.is_set():
                        return
                try:
                    data = self.sock.recv(_READ_SIZE)
                except OSError as exc:
                    self._end(f"the connection to the daemon broke ({exc.strerror or exc})")
                    return
                if not data:
                    self._end("the daemon closed the session")
                    return
        except Exception as exc:  # a bug must not leave the session half-alive
            log.exception("session reader failed")
            self._end(f"the session failed ({type(exc).__name__})")

    def _receive(self, data: bytes) -> None:
        with self.cond:
            if self._closing:
                return
            try:
                events = self._conn.receive_data(data)
            except h2.exceptions.ProtocolError as exc:
                # h2 has queued a GOAWAY naming the error (not for a bad preface:
                # then it is queued here); send it, then hang up.
                try:
                    self._conn.close_connection(h2.errors.ErrorCodes.PROTOCOL_ERROR)
                except h2.exceptions.ProtocolError:
                    pass
                self._flush()
                self._end(f"the daemon sent invalid HTTP/2 ({type(exc).__name__})")
                return
            for event in events:
                self._event(event)
            self._flush()
            self.cond.notify_all()

    def _event(self, event: Any) -> None:
        if isinstance(event, h2.events.RequestReceived):
            self._request(event.stream_id, event.headers or [])
        elif isinstance(event, h2.events.DataReceived):
            call = self._calls.get(event.stream_id)
            if call is None:
                self.ack(event.stream_id, event.flow_controlled_length)
            else:
                call._feed(event.data or b"", event.flow_controlled_length)
        elif isinstance(event, h2.events.StreamEnded):
            call = self._calls.get(event.stream_id)
            if call is not None:
                call._end_of_request()
        elif isinstance(event, h2.events.StreamReset):
            call = self._calls.get(event.stream_id)
            if call is not None:
                call._ended = True
                call._cancel(GrpcError(grpc.CANCELLED, f"{call.method}: cancelled by the daemon"))
        elif isinstance(event, h2.events.ConnectionTerminated):
            self._end("the daemon ended the session (GOAWAY)")
        # Window updates wake senders through notify_all; settings and pings are
        # answered by h2 itself.

    def _request(self, stream_id: int, headers: list[Any]) -> None:
        metadata: dict[str, list[str]] = {}
        pseudo: dict[str, str] = {}
        for name, value in headers:
            name, value = str(name), str(value)
            if name.startswith(":"):
                pseudo[name] = value
            else:
                metadata.setdefault(name.lower(), []).append(value)
        method = pseudo.get(":path", "")
        call = Call(self, stream_id, method, metadata)
        self._calls[stream_id] = call
        self.calls[method] += 1
        handler = self.services.get(method)
        if handler is None or pseudo.get(":method") != "POST":
            call._finish(grpc.UNIMPLEMENTED, f"unknown method {method}")
            call._cancel(GrpcError(grpc.UNIMPLEMENTED, "unknown method"))
            del self._calls[stream_id]
            return
        thread = threading.Thread(
            target=self._run,
            args=(call, handler),
            name=f"{self._name}-call{stream_id}",
            daemon=True,
        )
        call.thread = thread
        thread.start()

    def _run(self, call: Call, handler: Handler) -> None:
        code, message = grpc.OK, ""
        try:
            handler(call)
        except GrpcError as exc:
            code, message = exc.code, exc.message
        except Exception as exc:
            # Only the type and the start of the text: it goes to the daemon's log and
            # maybe the build's error, and must not carry more than a short reason.
            log.warning("session handler for %s failed", call.method, exc_info=True)
            text = str(exc).splitlines()[0][:120] if str(exc) else ""
            code = grpc.INTERNAL
            message = f"{call.method}: {type(exc).__name__}" + (f": {text}" if text else "")
        with self.cond:
            call._finish(code, message)  # nothing is sent if the call was reset or ended
            call.done.set()
            self._calls.pop(call.stream_id, None)
            if call.thread is not None:
                # Kept until close() joins it (it is still returning); the ones already
                # gone are dropped, so a long build's health checks do not pile up.
                self._finished_threads = [t for t in self._finished_threads if t.is_alive()]
                self._finished_threads.append(call.thread)
            self.cond.notify_all()

    # -- ending ------------------------------------------------------------------------

    def _end(self, reason: str) -> None:
        """The connection is over by itself: cancel every call, stop the threads."""
        with self.cond:
            if self._stopped.is_set():
                return
            if not self._closing and self.ended is None:
                self.ended = reason
            self._stop_locked()
        self._hang_up()

    def _stop_locked(self) -> None:
        """Cancel every call and tell the writer to stop after what is queued."""
        self._stopped.set()
        for call in list(self._calls.values()):
            call._ended = True
            call._cancel(GrpcError(grpc.CANCELLED, f"{call.method}: the session ended"))
        self._out.put(None)
        self.cond.notify_all()

    def _hang_up(self) -> None:
        """Let the writer send what is queued (a GOAWAY), then shut the socket down."""
        if threading.current_thread() is not self._writer:
            # Bounded: a daemon that stopped reading must not keep close() waiting.
            self._writer.join(2.0)
        try:
            # shutdown (not close) is what wakes a recv blocked in the reader thread.
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def close(self) -> None:
        """GOAWAY, close the socket, join every thread (handlers given a few seconds)."""
        with self.cond:
            first = not self._closing
            self._closing = True
            if first and not self._stopped.is_set():
                for call in list(self._calls.values()):
                    call._cancel(GrpcError(grpc.CANCELLED, f"{call.method}: the session closed"))
                    if not call._ended:
                        call._ended = True
                        try:
                            self._conn.reset_stream(call.stream_id, h2.errors.ErrorCodes.CANCEL)
                        except h2.exceptions.ProtocolError:
                            pass
                try:
                    self._conn.close_connection()
                except h2.exceptions.ProtocolError:
                    pass
                self._flush()
                self._stop_locked()
        self._hang_up()
        for thread in (self._reader, self._writer):
            if thread is not threading.current_thread():
                thread.join(_JOIN_TIMEOUT)
        with self.cond:
            threads = [c.thread for c in self._calls.values() if c.thread is not None]
            threads += self._finished_threads
            self._finished_threads = []
        for thread in threads:
            if thread is not threading.current_thread():
                thread.join(_JOIN_TIMEOUT)
        try:
            self.sock.close()
        except OSError:
            pass

    @property
    def alive(self) -> bool:
        """Whether the connection is still up."""
        return not self._stopped.is_set()


# -- the Engine API side: POST /session and its 101 -----------------------------------------


def _vtuple(version: str) -> tuple[int, ...]:
    try:
        return tuple(int(p) for p in version.split("."))
    except ValueError:
        return ()


def check_session_support(client: DockerClient) -> None:
    """Raise :class:`SessionError` when this daemon has no ``/session`` to offer.

    ``/session`` is there from API 1.39 (Docker 18.09); before, only on a daemon
    started with ``--experimental``.
    """
    api = _vtuple(client.api_version)
    if api and api < MIN_SESSION_API and not client.version_info().get("Experimental"):
        raise SessionError(
            f"the daemon at {client.host} speaks API {client.api_version}, which has no "
            "BuildKit session (/session needs Docker 18.09 or later, or an experimental "
            "daemon)"
        )


def _read_http_head(sock: socket.socket, timeout: float) -> tuple[int, str, dict[str, str], bytes]:
    """Read the daemon's HTTP/1.1 answer head: status, reason, headers, bytes past it."""
    sock.settimeout(timeout)
    buf = bytearray()
    try:
        while b"\r\n\r\n" not in buf:
            if len(buf) > _MAX_HTTP_HEAD:
                raise SessionError("the daemon's answer to POST /session is not HTTP")
            chunk = sock.recv(4096)
            if not chunk:
                raise SessionError("the daemon closed the connection instead of answering /session")
            buf += chunk
    except TimeoutError:
        raise SessionError(f"the daemon did not answer POST /session within {timeout:g}s") from None
    finally:
        sock.settimeout(None)
    head, _, rest = bytes(buf).partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ", 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/") or not parts[1].isdigit():
        raise SessionError("the daemon's answer to POST /session is not HTTP")
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if sep:
            headers[name.strip().lower()] = value.strip()
    return int(parts[1]), parts[2] if len(parts) > 2 else "", headers, rest


def _error_body(sock: socket.socket, headers: Mapping[str, str], rest: bytes) -> str:
    """The daemon's message in a refusal of ``/session`` (JSON ``message`` or text)."""
    import json

    try:
        length = min(int(headers.get("content-length", "0")), 16 * 1024)
    except ValueError:
        length = 0
    body = bytearray(rest)
    sock.settimeout(5.0)
    try:
        while len(body) < length:
            chunk = sock.recv(4096)
            if not chunk:
                break
            body += chunk
    except OSError:
        pass
    text = bytes(body[: length or len(body)]).decode("utf-8", "replace").strip()
    try:
        parsed = json.loads(text)
        if isinstance(parsed, dict) and parsed.get("message"):
            return str(parsed["message"])
    except ValueError:
        pass
    return text


class Session:
    """A BuildKit session on the daemon of ``client``, serving ``services``.

    Nothing is sent until :meth:`open` (or ``with``). ``id`` goes into
    ``/build?session=``; ``shared_key`` is the key under which the daemon keeps what
    this session sent (FileSync makes rebuilds incremental with it); ``name`` is shown
    by the daemon in its logs.
    """

    def __init__(
        self,
        client: DockerClient,
        services: Services,
        *,
        name: str = "jupyter-dockerbuild",
        shared_key: str = "",
        session_id: str | None = None,
        timeout: float | None = None,
    ) -> None:
        self.client = client
        self.services: dict[str, Handler] = dict(services)
        self.name = name
        self.shared_key = shared_key
        self.id = session_id or uuid.uuid4().hex
        self.timeout = client.timeout if timeout is None else timeout
        self._server: H2Server | None = None
        self._lock = threading.Lock()
        self._closed = False

    def __repr__(self) -> str:
        state = "open" if self.alive else ("closed" if self._closed else "not open")
        return f"<Session {self.id} {state} {sorted(self.methods)}>"

    @property
    def methods(self) -> list[str]:
        """Every method announced to the daemon (the health check included)."""
        return [HEALTH_CHECK, *(m for m in self.services if m != HEALTH_CHECK)]

    def request_head(self) -> bytes:
        """The ``POST /session`` request (no body), as sent."""
        lines = [
            f"POST /v{self.client.api_version}/session HTTP/1.1",
            f"Host: {self.client.http_host}",
            "User-Agent: jupyter-dockerbuild",
            "Content-Length: 0",
            "Connection: Upgrade",
            "Upgrade: h2c",
            f"X-Docker-Expose-Session-Uuid: {self.id}",
            f"X-Docker-Expose-Session-Name: {self.name}",
        ]
        if self.shared_key:
            lines.append(f"X-Docker-Expose-Session-Sharedkey: {self.shared_key}")
        lines += [f"X-Docker-Expose-Session-Grpc-Method: {m}" for m in self.methods]
        for line in lines:
            if "\r" in line or "\n" in line:
                raise SessionError("a session header contains a line break")
        return ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8")

    def open(self) -> Session:
        """``POST /session``, check the 101, start serving. Raises :class:`SessionError`."""
        with self._lock:
            if self._server is not None or self._closed:
                raise SessionError("a session can be opened only once")
            check_session_support(self.client)
            head = self.request_head()
            sock = self.client.connect(self.timeout)
            try:
                sock.sendall(head)
                status, reason, headers, rest = _read_http_head(sock, self.timeout)
                if status != 101:
                    message = _error_body(sock, headers, rest)
                    raise self._refused(status, reason, message)
                if headers.get("upgrade", "").lower() != "h2c":
                    raise SessionError(
                        f"the daemon at {self.client.host} upgraded /session to "
                        f"{headers.get('upgrade')!r}, not h2c"
                    )
            except OSError as exc:
                sock.close()
                raise SessionError(
                    f"the connection to the daemon at {self.client.host} broke while opening "
                    f"the BuildKit session ({exc.strerror or exc})"
                ) from None
            except BaseException:
                sock.close()
                raise
            self._server = H2Server(
                sock, self.services, initial=rest, name=f"session-{self.id[:8]}"
            )
        return self

    def _refused(self, status: int, reason: str, message: str) -> SessionError:
        host = self.client.host
        said = f" ({message})" if message else ""
        if status == 404:
            return SessionError(
                f"the daemon at {host} has no BuildKit session endpoint (POST /session "
                f"answered 404{said}); this build needs a daemon that offers /session "
                "(Docker 18.09 to 28 do; an older one needs --experimental)"
            )
        if status == 400:
            return SessionError(
                f"the daemon at {host} refused the BuildKit session (400{said}); it may "
                "need newer plumbing than /session, which this package does not speak"
            )
        return SessionError(
            f"the daemon at {host} refused the BuildKit session: HTTP {status} "
            f"{reason}{said}".rstrip()
        )

    def __enter__(self) -> Session:
        return self.open() if self._server is None else self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def alive(self) -> bool:
        """Whether the session is open and its connection up."""
        return self._server is not None and self._server.alive and not self._closed

    @property
    def ended(self) -> str | None:
        """Why the connection ended by itself (the daemon hung up ...); None otherwise."""
        return self._server.ended if self._server is not None else None

    @property
    def calls(self) -> Mapping[str, int]:
        """How often the daemon called each method so far."""
        return dict(self._server.calls) if self._server is not None else {}

    def close(self) -> None:
        """End the session: GOAWAY, socket closed, threads joined. Idempotent."""
        with self._lock:
            was_closed, self._closed = self._closed, True
            server = self._server
        if server is not None and not was_closed:
            server.close()


def open_session(client: DockerClient, services: Services, **kwargs: Any) -> Session:
    """Open a :class:`Session` on ``client``'s daemon (see the class for the arguments)."""
    return Session(client, services, **kwargs).open()
