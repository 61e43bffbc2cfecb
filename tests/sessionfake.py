"""A fake daemon side for BuildKit session tests: the gRPC client, written with ``h2``.

What a real daemon cannot show (a corrupt frame, a reset at a chosen moment) is driven
from here; everything else is tested against the real daemon too. :class:`FakeDaemon`
speaks HTTP/2 as a client over one end of a socket pair whose other end an
:class:`~jupyter_dockerbuild.engine.session.H2Server` serves; it is single-threaded
and every read has a deadline, so a broken server fails a test instead of hanging it.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import h2.config
import h2.connection
import h2.events

from jupyter_dockerbuild.engine import grpc
from jupyter_dockerbuild.engine.session import H2Server


@dataclass
class Reply:
    """What came back for one call."""

    headers: dict[str, str] = field(default_factory=dict)
    messages: list[bytes] = field(default_factory=list)
    trailers: dict[str, str] = field(default_factory=dict)
    reset: int | None = None
    ended: bool = False
    deframer: grpc.Deframer = field(default_factory=grpc.Deframer)

    @property
    def status(self) -> int | None:
        """grpc-status from the trailers (or the trailers-only headers)."""
        value = self.trailers.get("grpc-status", self.headers.get("grpc-status"))
        return int(value) if value is not None else None

    @property
    def message(self) -> str:
        """grpc-message, still percent-encoded."""
        return self.trailers.get("grpc-message", self.headers.get("grpc-message", ""))


class FakeDaemon:
    """The daemon's side of a session: starts calls, reads replies, with deadlines."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.sock.settimeout(0.2)
        self.conn = h2.connection.H2Connection(
            h2.config.H2Configuration(client_side=True, header_encoding="utf-8")
        )
        self.conn.initiate_connection()
        self.replies: dict[int, Reply] = {}
        self.closed = False
        self.goaway: Any = None
        self.sent = bytearray()  # every byte sent, for the cut-and-fuzz tests
        self.flush()

    def flush(self) -> None:
        """Send what h2 has queued."""
        data = self.conn.data_to_send()
        if data:
            self.sent += data
            self.sock.sendall(data)

    def start(self, method: str, metadata: Iterable[tuple[str, str]] = ()) -> int:
        """Open a call (HEADERS) and return its stream id."""
        sid = self.conn.get_next_available_stream_id()
        headers = [
            (":method", "POST"),
            (":scheme", "http"),
            (":path", method),
            (":authority", "localhost"),
            ("content-type", "application/grpc"),
            ("te", "trailers"),
            *metadata,
        ]
        self.conn.send_headers(sid, headers)
        self.replies[sid] = Reply()
        self.flush()
        return sid

    def send(self, sid: int, message: bytes, *, end: bool = False) -> None:
        """One request message on a call, within the server's window."""
        data = grpc.frame(message)
        deadline = time.monotonic() + 10
        while data:
            size = min(len(data), self.conn.local_flow_control_window(sid), 16384)
            if size <= 0:
                if time.monotonic() > deadline:
                    raise AssertionError(f"the server gave no window on stream {sid} in 10 s")
                self.pump(0.005)
                continue
            self.conn.send_data(sid, data[:size])
            data = data[size:]
            self.flush()
        if end:
            self.end(sid)

    def end(self, sid: int) -> None:
        """Half-close the call (no more request messages)."""
        self.conn.end_stream(sid)
        self.flush()

    def reset(self, sid: int) -> None:
        """RST_STREAM(CANCEL), what the daemon sends when it gives up on a call."""
        self.conn.reset_stream(sid, 8)
        self.flush()

    def pump(self, timeout: float) -> bool:
        """Read for up to ``timeout`` seconds; False once the server hung up."""
        deadline = time.monotonic() + timeout
        while not self.closed:
            self.sock.settimeout(max(0.001, min(0.2, deadline - time.monotonic())))
            try:
                data = self.sock.recv(65536)
            except TimeoutError:
                if time.monotonic() >= deadline:
                    return True
                continue
            except OSError:
                self.closed = True
                break
            if not data:
                self.closed = True
                break
            for event in self.conn.receive_data(data):
                self._event(event)
            self.flush()
            if time.monotonic() >= deadline:
                return True
        return False

    def _event(self, event: Any) -> None:
        reply = self.replies.get(getattr(event, "stream_id", 0) or 0)
        if isinstance(event, h2.events.ResponseReceived) and reply is not None:
            reply.headers = dict(event.headers)
        elif isinstance(event, h2.events.TrailersReceived) and reply is not None:
            reply.trailers = dict(event.headers)
        elif isinstance(event, h2.events.DataReceived):
            self.conn.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
            if reply is not None:
                reply.messages += reply.deframer.feed(event.data)
        elif isinstance(event, h2.events.StreamEnded) and reply is not None:
            reply.ended = True
        elif isinstance(event, h2.events.StreamReset) and reply is not None:
            reply.reset = event.error_code
            reply.ended = True
        elif isinstance(event, h2.events.ConnectionTerminated):
            self.goaway = event

    def wait(self, sid: int, timeout: float = 5.0, *, messages: int | None = None) -> Reply:
        """Read until the call ended (or has ``messages`` messages); fail on the deadline."""
        reply = self.replies[sid]
        deadline = time.monotonic() + timeout
        while not (reply.ended or (messages is not None and len(reply.messages) >= messages)):
            if time.monotonic() > deadline:
                raise AssertionError(f"no answer on stream {sid} within {timeout}s: {reply}")
            if not self.pump(0.05):
                break
        return reply

    def call(self, method: str, *messages: bytes, timeout: float = 5.0) -> Reply:
        """A whole call: request messages, half-close, wait for the end."""
        sid = self.start(method)
        for i, message in enumerate(messages):
            self.send(sid, message, end=i == len(messages) - 1)
        if not messages:
            self.end(sid)
        return self.wait(sid, timeout)


def pair(services: grpc.Services, **kwargs: Any) -> tuple[H2Server, FakeDaemon]:
    """A served session end and the fake daemon on the other."""
    ours, theirs = socket.socketpair()
    server = H2Server(ours, services, **kwargs)
    return server, FakeDaemon(theirs)


def session_threads() -> list[threading.Thread]:
    """The threads a session runs (named ``session...``), still alive."""
    return [t for t in threading.enumerate() if t.name.startswith("session") and t.is_alive()]
