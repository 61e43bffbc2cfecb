"""Record a daemon's exact HTTP answers (status line, headers, chunked body) for tests/data.

    python tests/data/record_engine.py SOCKET OUTDIR

``SOCKET`` is the daemon's unix socket (``scripts/modern-engine.sh env`` names it); the
daemon needs ``local/busybox:latest`` (``jupyter_dockerbuild.ensure_base_image()``).
Every build is ``FROM local/busybox:latest`` with ``networkmode=none``: nothing is pulled.
Writes ``NAME.raw`` per request and ``INDEX.tsv`` (capture, request line, status line).
"""

from __future__ import annotations

import io
import socket
import sys
import tarfile
from pathlib import Path

BASE = "FROM local/busybox:latest\n"
BUILD = "/v1.45/build?networkmode=none&rm=1&forcerm=1"
REQUESTS = {
    "ping": ("GET", "/_ping", None),
    "version": ("GET", "/version", None),
    "build_run_env_rm": ("POST", BUILD + "&nocache=1", BASE + "RUN echo hello-26\nENV A=1\n"),
    "build_run_exit3": (
        "POST",
        BUILD + "&nocache=1",
        BASE + "RUN echo about-to-fail && echo err-msg >&2 && exit 3\n",
    ),
    "build_parse_error": ("POST", BUILD, BASE + "FOOBAR baz\n"),
}


def context(dockerfile: str) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        data = dockerfile.encode()
        info = tarfile.TarInfo("Dockerfile")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def exchange(path: str, method: str, target: str, body: bytes) -> bytes:
    head = f"{method} {target} HTTP/1.1\r\nHost: docker\r\nConnection: close\r\n"
    if method == "POST":
        head += f"Content-Type: application/x-tar\r\nContent-Length: {len(body)}\r\n"
    with socket.socket(socket.AF_UNIX) as s:
        s.connect(path)
        s.sendall(head.encode() + b"\r\n" + body)
        data = b""
        try:
            while chunk := s.recv(65536):
                data += chunk
        except ConnectionResetError:
            pass  # the daemon may reset once it has answered (and not read all of the body)
    return data


def main(path: str, out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    index = ["capture\trequest\tstatus"]
    for name, (method, target, dockerfile) in REQUESTS.items():
        body = context(dockerfile) if dockerfile is not None else b""
        raw = exchange(path, method, target, body)
        (out / f"{name}.raw").write_bytes(raw)
        status = raw.split(b"\r\n", 1)[0].decode()
        index.append(f"{name}\t{method} {target} HTTP/1.1\t{status}")
    (out / "INDEX.tsv").write_text("\n".join(index) + "\n")


if __name__ == "__main__":
    main(sys.argv[1], Path(sys.argv[2]))
