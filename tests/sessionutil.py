"""A gRPC call as a session handler sees it, without HTTP/2: for testing services alone.

:class:`CallStream` implements the :class:`~jupyter_dockerbuild.engine.grpc.Stream`
protocol from a list of request messages (then the half-close), records what the
handler sends, and :func:`run_call` runs a handler the way the session does: returning
is status 0, a :class:`GrpcError` its code. Each call runs in a thread with a deadline,
so a handler that would hang fails the test instead of blocking it.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping

from jupyter_dockerbuild.engine import grpc
from jupyter_dockerbuild.errors import GrpcError


class CallStream:
    """The requests of one call, replayed; ``sent`` collects the responses."""

    def __init__(
        self,
        method: str,
        requests: Iterable[bytes],
        metadata: Mapping[str, list[str]] | None = None,
    ) -> None:
        self.method = method
        self.metadata = dict(metadata or {})
        self._requests = list(requests)
        self.sent: list[bytes] = []

    def recv(self, timeout: float | None = None) -> bytes | None:
        return self._requests.pop(0) if self._requests else None

    def send(self, message: bytes) -> None:
        self.sent.append(bytes(message))


def run_call(
    handler: grpc.Handler, stream: CallStream, *, deadline: float = 10.0
) -> tuple[int, str]:
    """``(status code, message)`` of ``handler`` on ``stream``; fails past ``deadline``."""
    outcome: list[tuple[int, str]] = []
    crash: list[BaseException] = []

    def call() -> None:
        try:
            handler(stream)
            outcome.append((grpc.OK, ""))
        except GrpcError as exc:
            outcome.append((exc.code, exc.message))
        except BaseException as exc:  # anything else is a bug of the handler
            crash.append(exc)

    thread = threading.Thread(target=call, daemon=True)
    thread.start()
    thread.join(deadline)
    assert not thread.is_alive(), f"{stream.method} did not end within {deadline} s"
    if crash:
        raise crash[0]
    return outcome[0]
