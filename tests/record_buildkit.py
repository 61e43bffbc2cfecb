"""Record the daemon's real BuildKit ``/build?version=2`` responses into ``tests/data``.

Run by hand, never by pytest (the name does not start with ``test_``)::

    PYTHONPATH=$PWD /work/main/.venv/bin/python tests/record_buildkit.py [--only NAME ...]

Each case sends one ``POST /v1.41/build?version=2&networkmode=none&t=...`` with a tar body
and no session over a raw unix socket, and saves exactly what came back (status line,
headers, chunked body with its framing) in ``tests/data/buildkit-streams/NAME.raw``, the
request and the reads as they arrived in ``NAME.meta.json``, and one row per capture in
``INDEX.tsv``. A raw socket rather than ``requests`` because the point is the bytes on the
wire: no library may de-chunk or reassemble them first.

Every ``FROM`` is ``local/busybox:latest`` (built from the host's static busybox when
missing) or an earlier stage, so the daemon never looks up a registry; ``networkmode=none``
because this daemon has no default bridge. Tagged images are removed afterwards and the
script fails if a container or a step process is left behind.
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import gzip
import hashlib
import http.server
import io
import json
import os
import socket
import sys
import tarfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import quote, urlencode

from jupyter_dockerbuild.builder.base import BASE_IMAGE, ensure_base_image
from jupyter_dockerbuild.engine.client import DockerClient, HTTPError

OUT = Path(__file__).resolve().parent / "data" / "buildkit-streams"
SOCKET = "/var/run/docker.sock"
API = "1.41"
TAG_PREFIX = "bk-rec-"
#: Makes the cache-mount steps' cache keys new on every recording, so their RUN reruns.
NONCE = uuid.uuid4().hex[:8]


@dataclass
class Case:
    """One recorded request: the Dockerfile, extra context files and query parameters."""

    name: str
    about: str
    dockerfile: str
    params: list[tuple[str, str]] = field(default_factory=list)
    #: Extra context files: path -> (content, mode).
    files: dict[str, tuple[bytes, int]] = field(default_factory=dict)
    #: Close the connection this many seconds after the response started (cancel).
    cancel_after: float | None = None
    #: A string in the command line of the step's process, to check it is gone.
    process_marker: str | None = None
    tag: bool = True
    #: Cancel with ``POST /build/cancel?id=<buildid>`` instead of closing the connection.
    cancel_via_api: bool = False


B = BASE_IMAGE

CASES = [
    Case(
        "b01_success_multistep",
        "multi-step success, no cache: COPY, ENV, WORKDIR, a RUN printing stdout and stderr "
        "(and a last line without newline)",
        f"FROM {B}\n"
        "COPY hello.txt /hello.txt\n"
        "ENV GREETING=hi\n"
        "WORKDIR /work\n"
        "RUN echo out-line-1 && echo err-line-1 >&2 && echo out-line-2 && sleep 0.3 "
        "&& echo err-line-2 >&2 && printf 'no-newline'\n"
        'RUN cat /hello.txt && echo "$GREETING from $(pwd)"\n',
        [("nocache", "1")],
        {"hello.txt": (b"hello from the context\n", 0o644)},
    ),
    Case(
        "b02_cached_rebuild",
        "the same build as b01 again without nocache: every step CACHED",
        "",  # filled in from b01 below
        [],
        {},
    ),
    Case(
        "b03_cache_mount_first",
        "RUN --mount=type=cache: appends a line to a file in the cache mount and prints the "
        "line count; the build arg RUNNO only changes the step's cache key so it reruns",
        f"FROM {B}\nARG RUNNO\n"
        "RUN --mount=type=cache,id=bk-rec-count,target=/cache "
        "echo run $RUNNO >> /cache/runs && echo runs=$(wc -l < /cache/runs)\n",
        [("buildargs", json.dumps({"RUNNO": f"{NONCE}-1"}))],
    ),
    Case(
        "b04_cache_mount_second",
        "the same cache mount build with RUNNO=2: the count is one more, the cache persisted",
        "",  # same as b03
        [("buildargs", json.dumps({"RUNNO": f"{NONCE}-2"}))],
    ),
    Case(
        "b04b_cache_mount_nocache",
        "the same cache mount build with nocache=1: the cache mount starts empty again",
        "",  # same as b03
        [("nocache", "1"), ("buildargs", json.dumps({"RUNNO": f"{NONCE}-3"}))],
    ),
    Case(
        "b05_copy_chmod",
        "COPY --chmod=0751, then a RUN prints the mode",
        f"FROM {B}\nCOPY --chmod=0751 tool.sh /usr/local/bin/tool.sh\n"
        "RUN stat -c 'mode=%a' /usr/local/bin/tool.sh && tool.sh\n",
        [("nocache", "1")],
        {"tool.sh": (b"#!/bin/sh\necho tool ran\n", 0o644)},
    ),
    Case(
        "b06_parallel_stages",
        "two independent stages (each RUN sleeps 1.5 s) that run at the same time, and a "
        "final stage copying from both",
        f"FROM {B} AS a\n"
        "RUN echo a-start && sleep 1.5 && echo a > /a && echo a-end\n"
        f"FROM {B} AS b\n"
        "RUN echo b-start && sleep 1.5 && echo b > /b && echo b-end\n"
        f"FROM {B}\n"
        "COPY --from=a /a /a\n"
        "COPY --from=b /b /b\n"
        "RUN cat /a /b\n",
        [("nocache", "1")],
    ),
    Case(
        "b07_unused_failing_stage",
        "a stage whose RUN would fail is not needed by the target: BuildKit skips it",
        f"FROM {B} AS broken\nRUN echo never-runs && exit 1\nFROM {B}\nRUN echo final-stage-ran\n",
        [("nocache", "1")],
    ),
    Case(
        "b08_fail_exit3_stage2",
        "three stages; stage 2's RUN prints to both streams and exits 3",
        f"FROM {B} AS one\n"
        "RUN echo stage-one > /one\n"
        f"FROM {B} AS two\n"
        "RUN echo about-to-fail && echo on-stderr >&2 && exit 3\n"
        f"FROM {B}\n"
        "COPY --from=one /one /one\n"
        "COPY --from=two /bin/busybox /two\n"
        "RUN cat /one\n",
        [("nocache", "1")],
    ),
    Case(
        "b09_flood_instant",
        "one RUN writes 1,000,000 lines (6.9 MB) to stdout at once and 200,000 to stderr: "
        "BuildKit clips each stream's log at its speed limit",
        f"FROM {B}\nRUN seq 1 1000000 && seq 1 200000 >&2\n",
        [("nocache", "1")],
    ),
    Case(
        "b10_flood_slow",
        "one RUN writes 180 KiB per second for 13 s to stdout: under the speed limit, so "
        "BuildKit clips at its size limit instead",
        f"FROM {B}\n"
        "RUN for i in $(seq 1 13); do seq $((i*1000000)) $((i*1000000+23039)); sleep 1; done\n",
        [("nocache", "1")],
    ),
    Case(
        "b11_progress_cr",
        "a RUN drawing a progress bar with carriage returns, then a normal line",
        f"FROM {B}\n"
        "RUN for i in 1 2 3 4 5; do printf '\\rprogress %d%%' $((i*20)); sleep 0.2; done "
        "&& printf '\\n' && echo after-bar\n",
        [("nocache", "1")],
    ),
    Case(
        "b12_buildargs_labels",
        "build args (one used, one unused) and labels: is the unused one warned about?",
        f'FROM {B}\nARG USED=default\nLABEL stage=label-in-file\nRUN echo "USED=$USED"\n',
        [
            ("nocache", "1"),
            ("buildargs", json.dumps({"USED": "from-api", "UNUSED": "x"})),
            ("labels", json.dumps({"org.example.a": "1", "org.example.b": "two"})),
        ],
    ),
    Case(
        "b13_target",
        "--target middle of three stages: the last stage is not built",
        f"FROM {B} AS first\nRUN echo first > /f\n"
        f"FROM first AS middle\nRUN echo middle && cat /f\n"
        f"FROM middle AS last\nRUN echo last-must-not-run\n",
        [("nocache", "1"), ("target", "middle")],
    ),
    Case(
        "b14_parse_error",
        "an unknown instruction: how the BuildKit frontend reports a parse error",
        f"FROM {B}\nRUN echo ok\nFOOBAR baz\n",
        [],
        tag=True,
    ),
    Case(
        "b15_cancel",
        "a RUN that sleeps 31.5 s; the client closes the connection 2 s after the response started",
        f"FROM {B}\nRUN echo started && sleep 31.5 && echo never\n",
        [("nocache", "1")],
        cancel_after=2.0,
        process_marker="sleep 31.5",
    ),
    Case(
        "b16_heredoc",
        "a heredoc RUN: Docker 20.10's built-in Dockerfile frontend has no heredocs",
        f"FROM {B}\nRUN <<EOF\necho from-heredoc\nEOF\n",
        [("nocache", "1")],
    ),
    Case(
        "b17_copy_link",
        "COPY --link: also newer than 20.10's frontend",
        f"FROM {B}\nCOPY --link hello.txt /hello.txt\n",
        [("nocache", "1")],
        {"hello.txt": (b"hi\n", 0o644)},
    ),
    Case(
        "b18_pull_refused",
        "FROM an image on a loopback registry that refuses at once (127.0.0.1:5999)",
        "FROM 127.0.0.1:5999/nope:1\nRUN echo never\n",
        [],
    ),
    Case(
        "b19_quiet_two_tags",
        "q=1 and a second tag",
        f"FROM {B}\nRUN echo quiet-step\n",
        [("nocache", "1"), ("q", "1"), ("t", TAG_PREFIX + "b19-second:v2")],
    ),
    Case(
        "b20_dockerfile_path",
        "dockerfile=sub/Build.df (a Dockerfile elsewhere in the context)",
        "",
        [("nocache", "1"), ("dockerfile", "sub/Build.df")],
        {"sub/Build.df": (f"FROM {B}\nRUN echo from-sub-dockerfile\n".encode(), 0o644)},
    ),
    Case(
        "b21_quiet_failure",
        "q=1 and a failing RUN: what a quiet build shows of the failure",
        f"FROM {B}\nRUN echo quiet-out && echo quiet-err >&2 && exit 4\n",
        [("nocache", "1"), ("q", "1")],
    ),
    Case(
        "b22_cancel_buildid",
        "buildid=...: 2 s after the response started, POST /build/cancel?id=... on a second "
        "connection; the stream is read to its end",
        f"FROM {B}\nRUN echo started && sleep 32.5 && echo never\n",
        [("nocache", "1"), ("buildid", f"bk-rec-{NONCE}")],
        cancel_after=2.0,
        process_marker="sleep 32.5",
        cancel_via_api=True,
    ),
    Case(
        "b23_add_url",
        "ADD of a 3 MiB file from an HTTP server on 127.0.0.1 (started by the recorder, "
        "sending for about 2 s): does the download report progress?",
        f"FROM {B}\nADD {{URL}} /blob.bin\nRUN wc -c /blob.bin\n",
        [("nocache", "1")],
    ),
    Case(
        "b24_two_tags",
        "two t= parameters",
        f"FROM {B}\nRUN echo two-tags\n",
        [("nocache", "1"), ("t", TAG_PREFIX + "b24-other:v1")],
    ),
    Case(
        "b25_pull_loopback_registry",
        "FROM an image on a tiny registry on 127.0.0.1 that the recorder serves (a static "
        "busybox layer sent over about 1.5 s): the pull's transfer statuses with "
        "current/total",
        f"FROM {{REGISTRY}}/bk-rec-pull:{NONCE}\nRUN echo pulled-and-ran\n",
        [("nocache", "1")],
    ),
]


def _fill_in() -> None:
    by_name = {c.name: c for c in CASES}
    b01, b02 = by_name["b01_success_multistep"], by_name["b02_cached_rebuild"]
    b02.dockerfile, b02.files = b01.dockerfile, dict(b01.files)
    for name in ("b04_cache_mount_second", "b04b_cache_mount_nocache"):
        by_name[name].dockerfile = by_name["b03_cache_mount_first"].dockerfile


_fill_in()


def _tar(case: Case) -> bytes:
    """The context as a tar, cut at its end-of-archive marker.

    tarfile pads to 10 KiB records; the daemon stops reading at the marker and a client
    that then closes may see a reset before it read the response.
    """
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        files = dict(case.files)
        if case.dockerfile:
            files.setdefault("Dockerfile", (case.dockerfile.encode(), 0o644))
        for path, (content, mode) in sorted(files.items()):
            info = tarfile.TarInfo(path)
            info.size, info.mode, info.mtime = len(content), mode, 1_700_000_000
            tar.addfile(info, io.BytesIO(content))
        end = tar.offset
    return buf.getvalue()[: end + 1024]


def _request_head(case: Case, length: int) -> tuple[str, bytes]:
    params = [("version", "2"), ("networkmode", "none")]
    if case.tag:
        params.append(("t", f"{TAG_PREFIX}{case.name.replace('_', '-')}:latest"))
    params += case.params
    line = f"POST /v{API}/build?{urlencode(params, quote_via=quote)} HTTP/1.1"
    head = (
        f"{line}\r\nHost: docker\r\nUser-Agent: jupyter-dockerbuild-recorder/1.0\r\n"
        f"Content-Type: application/x-tar\r\nContent-Length: {length}\r\n"
        "Connection: close\r\n\r\n"
    )
    return line, head.encode("latin-1")


def _processes_with(marker: str) -> list[int]:
    """PIDs whose command line contains ``marker`` (read from /proc, nothing killed)."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as fh:
                cmd = fh.read().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if marker in cmd:
            found.append(int(entry))
    return found


def record(case: Case, out: Path, client: DockerClient) -> dict[str, Any]:
    """Send ``case``'s request; write ``NAME.raw`` and ``NAME.meta.json``; return the meta."""
    body = _tar(case)
    line, head = _request_head(case, len(body))
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.connect(SOCKET)
    t0 = time.monotonic()
    sock.sendall(head + body)
    raw = bytearray()
    reads: list[tuple[float, int]] = []
    first: float | None = None
    cancelled = False
    cancel_answer: Any = None
    seen_marker: list[int] = []
    sock.settimeout(0.2)
    while True:
        now = time.monotonic()
        if case.cancel_after is not None and first is not None and not cancelled:
            if case.process_marker and not seen_marker:
                seen_marker = _processes_with(case.process_marker)
            if now - first >= case.cancel_after:
                cancelled = True
                if not case.cancel_via_api:
                    break
                build_id = dict(case.params)["buildid"]
                resp = client.request("POST", "/build/cancel", params={"id": build_id})
                cancel_answer = [resp.status_code, resp.text]
        if now - t0 > 120:
            raise RuntimeError(f"{case.name}: no end of the response after 120 s")
        try:
            data = sock.recv(65536)
        except TimeoutError:
            continue
        if not data:
            break
        if first is None:
            first = time.monotonic()
        reads.append((round(time.monotonic() - t0, 4), len(data)))
        raw += data
    sock.close()
    meta: dict[str, Any] = {
        "about": case.about,
        "request": head.decode("latin-1"),
        "dockerfile": case.dockerfile,
        "files": {p: {"mode": oct(m), "size": len(c)} for p, (c, m) in case.files.items()},
        "context_bytes": len(body),
        "reads": reads,
        "duration_s": round(time.monotonic() - t0, 3),
    }
    if cancelled:
        meta["cancelled_after_s"] = case.cancel_after
        meta["cancelled_by"] = (
            "POST /build/cancel?id=<buildid>" if case.cancel_via_api else "closing the connection"
        )
        if cancel_answer is not None:
            meta["cancel_answer"] = cancel_answer
        meta["step_process_seen_before_cancel"] = bool(seen_marker)
        gone_after = None
        for i in range(100):
            if not _processes_with(case.process_marker or "\0never"):
                gone_after = round(i * 0.05, 2)
                break
            time.sleep(0.05)
        meta["step_process_gone_within_s"] = gone_after
    (out / f"{case.name}.raw").write_bytes(bytes(raw))
    status = bytes(raw).split(b"\r\n", 1)[0].decode("latin-1")
    meta["status_line"] = status
    meta["request_line"] = line
    return meta


class _SlowBlob(http.server.BaseHTTPRequestHandler):
    """Serves 3 MiB of zeros in 64 KiB pieces over about 2 s (for b23_add_url)."""

    SIZE = 3 * 1024 * 1024
    PIECE = 64 * 1024

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(self.SIZE))
        self.end_headers()
        for _ in range(self.SIZE // self.PIECE):
            self.wfile.write(b"\0" * self.PIECE)
            time.sleep(2.0 / (self.SIZE // self.PIECE))

    do_HEAD = do_GET

    def log_message(self, format: str, *args: Any) -> None:
        pass


class _Registry(http.server.BaseHTTPRequestHandler):
    """Just enough of the registry API for one pull: a manifest, a config, a slow layer."""

    blobs: ClassVar[dict[str, tuple[str, bytes]]] = {}
    manifests: ClassVar[dict[str, bytes]] = {}
    #: Seconds over which the layer is sent, so the daemon reports progress on the way.
    SLOW = 1.5

    def _send(self, status: int, body: bytes, ctype: str, digest: str | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        if digest:
            self.send_header("Docker-Content-Digest", digest)
        self.end_headers()
        if self.command == "HEAD":
            return
        pieces = 32 if len(body) > 100_000 else 1
        step = -(-len(body) // pieces)
        for i in range(0, len(body), step):
            self.wfile.write(body[i : i + step])
            if pieces > 1:
                time.sleep(self.SLOW / pieces)

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0]
        if path in ("/v2", "/v2/"):
            return self._send(200, b"{}", "application/json")
        if "/manifests/" in path:
            ref = path.rsplit("/", 1)[1]
            manifest = self.manifests.get(ref)
            if manifest is None:  # by digest, as the daemon asks after resolving the tag
                by_digest = {_digest(m): m for m in self.manifests.values()}
                manifest = by_digest.get(ref)
            if manifest is not None:
                return self._send(200, manifest, MANIFEST_TYPE, _digest(manifest))
        if "/blobs/" in path:
            digest = path.rsplit("/", 1)[1]
            if digest in self.blobs:
                ctype, blob = self.blobs[digest]
                return self._send(200, blob, ctype, digest)
        return self._send(404, b'{"errors":[{"code":"NOT_FOUND"}]}', "application/json")

    do_HEAD = do_GET

    def log_message(self, format: str, *args: Any) -> None:
        pass


MANIFEST_TYPE = "application/vnd.docker.distribution.manifest.v2+json"


def _digest(blob: bytes) -> str:
    return "sha256:" + hashlib.sha256(blob).hexdigest()


def _image_for_registry(tag: str) -> None:
    """Put a one-layer image (static busybox, /bin/sh, a nonce file) under ``tag``."""
    from jupyter_dockerbuild.builder.base import find_static_busybox

    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as tar:
        for name in ("bin/",):
            info = tarfile.TarInfo(name.rstrip("/"))
            info.type, info.mode = tarfile.DIRTYPE, 0o755
            tar.addfile(info)
        tar.add(find_static_busybox(), "bin/busybox")
        for link in ("sh", "echo"):
            info = tarfile.TarInfo(f"bin/{link}")
            info.type, info.linkname = tarfile.SYMTYPE, "busybox"
            tar.addfile(info)
        nonce = f"{tag}\n".encode()
        info = tarfile.TarInfo("nonce")
        info.size = len(nonce)
        tar.addfile(info, io.BytesIO(nonce))
    layer_tar = raw.getvalue()
    layer = gzip.compress(layer_tar, mtime=0)
    config = json.dumps(
        {
            "architecture": "amd64",
            "os": "linux",
            "config": {"Env": ["PATH=/bin"], "Cmd": ["/bin/sh"]},
            "rootfs": {
                "type": "layers",
                "diff_ids": ["sha256:" + hashlib.sha256(layer_tar).hexdigest()],
            },
        }
    ).encode()
    digest = _digest
    _Registry.blobs[digest(config)] = ("application/vnd.docker.container.image.v1+json", config)
    _Registry.blobs[digest(layer)] = ("application/vnd.docker.image.rootfs.diff.tar.gzip", layer)
    _Registry.manifests[tag] = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": MANIFEST_TYPE,
            "config": {
                "mediaType": "application/vnd.docker.container.image.v1+json",
                "size": len(config),
                "digest": digest(config),
            },
            "layers": [
                {
                    "mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip",
                    "size": len(layer),
                    "digest": digest(layer),
                }
            ],
        }
    ).encode()


def _with_server(case: Case) -> tuple[Case, http.server.HTTPServer | None]:
    """Fill ``{URL}`` or ``{REGISTRY}`` in the Dockerfile with a loopback server's address."""
    if "{URL}" in case.dockerfile:
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _SlowBlob)
        url = f"http://127.0.0.1:{server.server_address[1]}/blob.bin"
        dockerfile = case.dockerfile.replace("{URL}", url)
    elif "{REGISTRY}" in case.dockerfile:
        _image_for_registry(NONCE)
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Registry)
        dockerfile = case.dockerfile.replace("{REGISTRY}", f"127.0.0.1:{server.server_address[1]}")
    else:
        return case, None
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return dataclasses.replace(case, dockerfile=dockerfile), server


def _image_ids(meta: dict[str, Any], raw: bytes) -> list[str]:
    """Every ``moby.image.id`` in the capture (parsed crudely; the tests do it properly)."""
    out = []
    for part in raw.split(b"\r\n"):
        if b'"moby.image.id"' in part:
            out.append(json.loads(part)["aux"]["ID"])
    return out


def main(argv: list[str] | None = None) -> int:
    """Record the cases (all, or ``--only`` some) and rewrite INDEX.tsv."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", nargs="*", default=None, help="case names to record")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args(argv)
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    client = DockerClient()
    ensure_base_image(client=client)
    before = {c["Id"] for c in client.containers(all=True)}
    built: set[str] = set()
    cases = [c for c in CASES if args.only is None or c.name in args.only]
    problems: list[str] = []
    for case in cases:
        case, server = _with_server(case)
        try:
            meta = record(case, out, client)
        finally:
            if server is not None:
                server.shutdown()
                server.server_close()
        raw = (out / f"{case.name}.raw").read_bytes()
        ids = _image_ids(meta, raw)
        tags = [v for k, v in case.params if k == "t"]
        if case.tag:
            tags.insert(0, f"{TAG_PREFIX}{case.name.replace('_', '-')}:latest")
        meta["tags"] = tags
        meta["image_ids_in_stream"] = ids
        built.update(ids)
        for tag in tags:
            try:
                info = client.get_json(f"/images/{quote(tag, safe='')}/json")
            except HTTPError:
                continue
            meta.setdefault("tagged_image_ids", {})[tag] = info["Id"]
            meta.setdefault("labels", info.get("Config", {}).get("Labels"))
            client.delete(f"/images/{quote(tag, safe='')}", params={"force": "1"})
        (out / f"{case.name}.meta.json").write_text(
            json.dumps(meta, indent=1, ensure_ascii=False) + "\n", encoding="utf-8"
        )
        print(f"{case.name}: {meta['status_line']} {len(raw)} bytes {meta['duration_s']}s")
        if meta.get("step_process_gone_within_s", 0) is None:
            problems.append(f"{case.name}: the step's process outlived the cancel by 5 s")
    # BuildKit's step containers never show in /containers/json (the step processes are
    # checked above); this catches a container made from one of our images. Other
    # developers' containers on the shared daemon are none of our business.
    after = [
        c
        for c in client.containers(all=True)
        if c["Id"] not in before and (c.get("ImageID") in built or TAG_PREFIX in c.get("Image", ""))
    ]
    if after:
        problems.append(f"containers left behind: {[c['Id'][:12] for c in after]}")
    _write_index(out)
    client.close()
    for problem in problems:
        print("PROBLEM:", problem, file=sys.stderr)
    return 1 if problems else 0


def _write_index(out: Path) -> None:
    rows = []
    for case in CASES:
        meta_path = out / f"{case.name}.meta.json"
        if meta_path.is_file():
            meta = json.loads(meta_path.read_text(encoding="utf-8"))
            rows.append((case.name, meta["request_line"], meta["status_line"]))
    with open(out / "INDEX.tsv", "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh, delimiter="\t", lineterminator="\n")
        writer.writerow(["capture", "request", "status"])
        writer.writerows(rows)


if __name__ == "__main__":
    sys.exit(main())
