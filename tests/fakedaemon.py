"""A fake Docker daemon on 127.0.0.1, only for what the real daemon cannot show here.

It answers ``/version`` with any API range (a Docker 29 daemon that refuses < 1.44, an
ancient one) and plays a scripted ``/build`` response, e.g. a connection dropped in the
middle of a message. ``POST /session`` (a BuildKit build opens one first) is answered
101 and the upgraded connection is then held, silent, until the client hangs up; the
session's own protocol is tested in ``test_session.py``. Everything else is tested
against the real daemon.
"""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class FakeDaemon:
    """A loopback HTTP server; ``requests`` records (method, path) of what it received."""

    def __init__(
        self,
        api_version: str = "1.41",
        min_version: str = "1.12",
        build: Callable[[BaseHTTPRequestHandler], None] | None = None,
        version: str | None = None,
        session: bool = True,
        session_drop: bool = False,
    ) -> None:
        self.api_version = api_version
        self.min_version = min_version
        #: The Docker release ``/version`` reports (None: leave ``Version`` out).
        self.version = version
        self.build_handler = build
        self.requests: list[tuple[str, str]] = []
        #: Whether ``POST /session`` upgrades (False: 404, as a daemon without it).
        self.session = session
        #: Hang up the upgraded session right after the 101 (a daemon dropping it).
        self.session_drop = session_drop
        #: The headers of each ``POST /session`` (name -> every value, as sent).
        self.session_headers: list[dict[str, list[str]]] = []
        #: How many upgraded session connections the client has hung up.
        self.sessions_ended = 0
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def _json(self, status: int, body: object) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                fake.requests.append(("GET", self.path))
                if self.path == "/_ping":
                    self.send_response(200)
                    self.send_header("Content-Length", "2")
                    self.end_headers()
                    self.wfile.write(b"OK")
                elif self.path == "/version":
                    body = {"ApiVersion": fake.api_version, "MinAPIVersion": fake.min_version}
                    if fake.version is not None:
                        body["Version"] = fake.version
                    self._json(200, body)
                else:
                    self._json(404, {"message": "page not found"})

            def do_POST(self) -> None:
                fake.requests.append(("POST", self.path))
                # Drain a chunked or sized body before answering.
                if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                    while True:
                        size = int(self.rfile.readline().strip() or b"0", 16)
                        self.rfile.read(size + 2) if size else self.rfile.readline()
                        if not size:
                            break
                else:
                    self.rfile.read(int(self.headers.get("Content-Length", "0") or 0))
                if self.path.endswith("/session") and fake.session:
                    headers: dict[str, list[str]] = {}
                    for name, value in self.headers.items():
                        headers.setdefault(name, []).append(value)
                    fake.session_headers.append(headers)
                    self.wfile.write(
                        b"HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\n"
                        b"Upgrade: h2c\r\n\r\n"
                    )
                    self.wfile.flush()
                    if fake.session_drop:
                        self.connection.shutdown(socket.SHUT_RDWR)
                        self.close_connection = True
                        return
                    self.connection.settimeout(60)
                    try:
                        while self.connection.recv(65536):
                            pass  # a silent daemon: never calls the session
                    except OSError:
                        pass
                    fake.sessions_ended += 1
                    self.close_connection = True
                elif "/build/cancel" in self.path:
                    # BuildKit's cancel by build id: the daemon answers 200, empty.
                    self.send_response(200)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                elif "/build" in self.path and fake.build_handler is not None:
                    fake.build_handler(self)
                else:
                    self._json(404, {"message": "page not found"})

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def host(self) -> str:
        """The ``DOCKER_HOST`` value that points at this fake."""
        return f"tcp://127.0.0.1:{self.server.server_address[1]}"

    def __enter__(self) -> FakeDaemon:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


def chunked_stream_then_drop(messages: list[bytes]) -> Callable[[BaseHTTPRequestHandler], None]:
    """A /build handler that sends ``messages`` as chunks, then drops the connection."""

    def handler(req: BaseHTTPRequestHandler) -> None:
        req.send_response(200)
        req.send_header("Content-Type", "application/json")
        req.send_header("Transfer-Encoding", "chunked")
        req.end_headers()
        for msg in messages:
            req.wfile.write(b"%x\r\n%s\r\n" % (len(msg), msg))
        req.wfile.flush()
        # No terminating zero chunk: the daemon "died" mid-build.
        req.connection.shutdown(socket.SHUT_RDWR)
        req.close_connection = True

    return handler
