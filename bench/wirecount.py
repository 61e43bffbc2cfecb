"""A unix-socket proxy in front of the daemon's socket that counts the bytes each way.

A benchmark points a client (``DOCKER_HOST=unix://<listen>``) at :class:`WireCounter`,
which relays every connection to the daemon's socket unchanged and counts the bytes the
client sent (``up``) and received (``down``), per kind of request:

* ``build``   ``POST /build`` (a classic or tar-body BuildKit build: the context is its body)
* ``session`` ``POST /session`` (BuildKit's session: FileSync's DiffCopy carries the context)
* ``grpc``    ``POST /grpc`` (buildx's BuildKit control API over the daemon's socket)
* ``other``   everything else (``/_ping``, ``/version``, ``/images/...``)

A connection may carry several requests (keep-alive): a chunk from the client that starts
with an HTTP request line starts a new request. After ``/session`` or ``/grpc`` the
connection is upgraded to HTTP/2 and nothing is parsed any more. Pure Python, a thread
per direction; relaying copies through a 1 MiB buffer. Not part of the package.

    with WireCounter("/var/run/docker.sock", "/tmp/x.sock") as wc:
        ...  # run a build against unix:///tmp/x.sock
        print(wc.totals())
"""

from __future__ import annotations

import os
import re
import socket
import threading
from dataclasses import dataclass, field

__all__ = ["WireCounter"]

_REQUEST_RE = re.compile(rb"^(GET|HEAD|POST|PUT|DELETE|PATCH|OPTIONS) (/\S*) HTTP/1\.[01]\r\n")
_VERSION_PREFIX = re.compile(r"^/v\d+\.\d+")
KINDS = ("build", "session", "grpc", "other")


def _kind(path: str) -> str:
    path = _VERSION_PREFIX.sub("", path.split("?", 1)[0])
    if path == "/build":
        return "build"
    if path == "/session":
        return "session"
    if path.startswith("/grpc"):
        return "grpc"
    return "other"


@dataclass
class _Conn:
    kind: str = "other"
    upgraded: bool = False
    requests: list[str] = field(default_factory=list)


class WireCounter:
    """Relay ``listen`` to ``upstream`` (unix sockets), counting bytes (see the module)."""

    def __init__(self, upstream: str, listen: str) -> None:
        self.upstream = upstream
        self.listen = listen
        self._lock = threading.Lock()
        self._counts: dict[str, list[int]] = {k: [0, 0] for k in KINDS}
        self._requests: list[str] = []
        self._socks: set[socket.socket] = set()
        self._threads: list[threading.Thread] = []
        self._server: socket.socket | None = None

    # -- lifecycle ---------------------------------------------------------------------

    def start(self) -> WireCounter:
        if os.path.exists(self.listen):
            os.unlink(self.listen)
        server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        server.bind(self.listen)
        os.chmod(self.listen, 0o660)
        server.listen(64)
        self._server = server
        thread = threading.Thread(target=self._accept, name="wirecount-accept", daemon=True)
        thread.start()
        self._threads.append(thread)
        return self

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            # shutdown wakes the accept() of the other thread; close alone may not.
            try:
                server.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            server.close()
        with self._lock:
            socks = list(self._socks)
        for sock in socks:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        for thread in self._threads:
            thread.join(timeout=5)
        if os.path.exists(self.listen):
            os.unlink(self.listen)

    def __enter__(self) -> WireCounter:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- what was counted ----------------------------------------------------------------

    def reset(self) -> None:
        """Start counting from zero (connections open now keep their kind)."""
        with self._lock:
            self._counts = {k: [0, 0] for k in KINDS}
            self._requests = []

    def totals(self) -> dict[str, object]:
        """``{"up": n, "down": n, "by_kind": {kind: {"up": n, "down": n}}, "requests": [...]}``."""
        with self._lock:
            by_kind = {k: {"up": u, "down": d} for k, (u, d) in self._counts.items() if u or d}
            return {
                "up": sum(u for u, _ in self._counts.values()),
                "down": sum(d for _, d in self._counts.values()),
                "by_kind": by_kind,
                "requests": list(self._requests),
            }

    # -- relaying ------------------------------------------------------------------------

    def _accept(self) -> None:
        while self._server is not None:
            try:
                client, _ = self._server.accept()
            except OSError:
                return
            try:
                daemon = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                daemon.connect(self.upstream)
            except OSError:
                client.close()
                continue
            conn = _Conn()
            with self._lock:
                self._socks.update((client, daemon))
            done = threading.Barrier(2, action=lambda c=client, d=daemon: self._close(c, d))
            for src, dst, up in ((client, daemon, True), (daemon, client, False)):
                t = threading.Thread(
                    target=self._pump, args=(src, dst, up, conn, done), daemon=True
                )
                t.start()
                self._threads.append(t)

    def _close(self, a: socket.socket, b: socket.socket) -> None:
        with self._lock:
            self._socks.difference_update((a, b))
        a.close()
        b.close()

    def _pump(
        self,
        src: socket.socket,
        dst: socket.socket,
        up: bool,
        conn: _Conn,
        done: threading.Barrier,
    ) -> None:
        buf = bytearray(1 << 20)
        view = memoryview(buf)
        index = 0 if up else 1
        try:
            while True:
                n = src.recv_into(buf)
                if n == 0:
                    break
                if up and not conn.upgraded:
                    match = _REQUEST_RE.match(buf[: min(n, 4096)])
                    if match:
                        path = match.group(2).decode("latin-1")
                        conn.kind = _kind(path)
                        conn.upgraded = conn.kind in ("session", "grpc")
                        with self._lock:
                            self._requests.append(f"{match.group(1).decode()} {path}")
                with self._lock:
                    self._counts[conn.kind][index] += n
                dst.sendall(view[:n])
        except OSError:
            pass
        finally:
            try:
                dst.shutdown(socket.SHUT_WR)
            except OSError:
                pass
            try:
                done.wait(timeout=3600)
            except threading.BrokenBarrierError:
                pass
