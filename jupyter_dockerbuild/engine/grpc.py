"""gRPC over the BuildKit session, the part that is not HTTP/2: framing, statuses, handlers.

Pure, no IO. In a BuildKit session the daemon is the gRPC *client* and the notebook
serves the calls (``engine/session.py`` does the HTTP/2). A gRPC message on the wire is a
5-byte prefix (a compressed flag, then the length as a big-endian uint32) and the
protobuf bytes; a call ends with the trailers ``grpc-status`` and ``grpc-message``.

A service method is a :data:`Handler`: a function given a :class:`Stream` that reads the
request messages with ``recv()`` and answers with ``send()``. Returning ends the call with
status 0; raising :class:`~jupyter_dockerbuild.errors.GrpcError` ends it with that
status. Unary methods recv once and send once; streaming ones (FileSync's DiffCopy, SSH
forwarding) loop. Each call runs in its own thread, so a handler may block in ``recv``.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Mapping
from typing import Protocol
from urllib.parse import quote

from ..errors import GrpcError

OK = 0
CANCELLED = 1
UNKNOWN = 2
INVALID_ARGUMENT = 3
DEADLINE_EXCEEDED = 4
NOT_FOUND = 5
PERMISSION_DENIED = 7
RESOURCE_EXHAUSTED = 8
FAILED_PRECONDITION = 9
UNIMPLEMENTED = 12
INTERNAL = 13
UNAVAILABLE = 14

#: Largest message accepted from the daemon; gRPC's own default receive limit is 4 MiB,
#: and the daemon's messages to the session (requests, FileSync's stat/req packets) are
#: small. Larger is refused with RESOURCE_EXHAUSTED instead of buffered.
MAX_MESSAGE = 16 * 1024 * 1024

_PREFIX = struct.Struct(">BI")


def frame(message: bytes) -> bytes:
    """One uncompressed gRPC length-prefixed message."""
    return _PREFIX.pack(0, len(message)) + message


class Deframer:
    """Cuts a call's DATA bytes, arriving in pieces of any size, into whole messages.

    ``feed`` returns the messages completed by the bytes given; ``pending`` says whether
    a message was left half-sent (a truncated call when the stream ends there).
    """

    def __init__(self, max_message: int = MAX_MESSAGE) -> None:
        self._buf = bytearray()
        self._max = max_message

    def feed(self, data: bytes) -> list[bytes]:
        """Take the next bytes; return the messages they complete, in order."""
        self._buf += data
        out: list[bytes] = []
        while len(self._buf) >= _PREFIX.size:
            flag, length = _PREFIX.unpack_from(self._buf)
            if flag not in (0, 1):
                raise GrpcError(INTERNAL, f"bad gRPC message flag {flag}")
            if flag == 1:
                # No grpc-encoding was offered by the session, so a compressed message
                # is a protocol error (what grpc-go answers too).
                raise GrpcError(UNIMPLEMENTED, "compressed gRPC messages are not accepted")
            if length > self._max:
                raise GrpcError(
                    RESOURCE_EXHAUSTED, f"gRPC message of {length} bytes exceeds {self._max}"
                )
            if len(self._buf) < _PREFIX.size + length:
                break
            out.append(bytes(self._buf[_PREFIX.size : _PREFIX.size + length]))
            del self._buf[: _PREFIX.size + length]
        return out

    @property
    def pending(self) -> bool:
        """Whether a message was begun and not finished."""
        return bool(self._buf)


def status_trailers(code: int, message: str = "") -> list[tuple[str, str]]:
    """The trailers ending a call; the message percent-encoded as the gRPC spec asks."""
    trailers = [("grpc-status", str(code))]
    if message:
        trailers.append(("grpc-message", quote(message, safe=" !\"#$&'()*+,-./:;<=>?@[\\]^_`{|}~")))
    return trailers


class Stream(Protocol):
    """One call, as its handler sees it."""

    #: The full method path, e.g. ``/moby.filesync.v1.FileSync/DiffCopy``.
    method: str
    #: The call's request headers (gRPC metadata), keys lower-case, values in order.
    metadata: Mapping[str, list[str]]

    def recv(self, timeout: float | None = None) -> bytes | None:
        """The next request message; None once the daemon has half-closed the call.

        Raises :class:`~jupyter_dockerbuild.errors.GrpcError` (CANCELLED) when the
        daemon reset the call or the session ended, and on a timeout (DEADLINE).
        """
        ...

    def send(self, message: bytes) -> None:
        """Send one response message (the protobuf bytes; framing is added)."""
        ...


Handler = Callable[[Stream], None]

#: Full method path -> handler. What a session serves, and announces to the daemon
#: (one ``X-Docker-Expose-Session-Grpc-Method`` header each).
Services = Mapping[str, Handler]


def unary(func: Callable[[bytes, Mapping[str, list[str]]], bytes]) -> Handler:
    """A handler for a unary method from ``func(request, metadata) -> response``."""

    def handle(stream: Stream) -> None:
        request = stream.recv()
        if request is None:
            raise GrpcError(INVALID_ARGUMENT, f"{stream.method}: no request message")
        stream.send(func(request, stream.metadata))

    return handle
