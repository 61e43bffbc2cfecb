"""Benchmarks of the BuildKit builder (issue 13), on the same daemon, alternating tools.

Two comparisons, each run ``--runs`` times in the order A B C A B C ...:

1. **Our BuildKit path against a raw API call with the same tar.** ``raw`` is
   ``POST /build?version=2&networkmode=none`` over the unix socket with ``http.client``,
   the tar made once by :func:`jupyter_dockerbuild.builder.context.build_context`, the
   body read to the end and nothing decoded. ``api`` is
   ``jupyter_dockerbuild.build(builder="buildkit")`` from a warm process: the tar, the
   request, the fold into vertices, the plain-text log, the result. The difference is
   what we add. Three builds: a cold 6-step one, a flood (``RUN seq 1 1000000``, which
   BuildKit clips at 200 KiB), and a fully cached rebuild.
2. **A multi-stage build**: three independent 2-second stages and a final one, with
   ``api`` on BuildKit, ``api`` on the classic builder, and the docker CLI's classic
   builder (``DOCKER_BUILDKIT=0 docker build``; this host's CLI has no buildx).

Every RUN runs without a network, every ``FROM`` is ``local/busybox:latest``. Results go
to ``bench/results/buildkit/<stamp>.json`` (not beside ``bench.py``'s, which
``report.py`` reads) and a table is printed; ``bench/BUILDKIT.md``
holds the numbers of the last full run and what they mean. Not part of the test suite.
Run: ``PYTHONPATH=. .venv/bin/python bench/buildkit.py [--runs 5]``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import http.client
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(REPO))

import jupyter_dockerbuild as jd  # noqa: E402
from jupyter_dockerbuild.builder.context import build_context  # noqa: E402

BASE = "local/busybox:latest"
TAG_REPO = "jdb-bench-bk"
SOCKET = "/var/run/docker.sock"

COLD = (
    f"FROM {BASE}\nENV BENCH=1\nWORKDIR /work\nCOPY hello.txt /work/\n"
    "RUN echo five > /work/five\nRUN for i in 1 2 3; do echo line $i; done\n"
    "RUN cat /work/hello.txt /work/five\n"
)
FLOOD = f"FROM {BASE}\nRUN seq 1 1000000\n"
STAGES = (
    f"FROM {BASE} AS a\nRUN sleep 2 && echo a > /a\n"
    f"FROM {BASE} AS b\nRUN sleep 2 && echo b > /b\n"
    f"FROM {BASE} AS c\nRUN sleep 2 && echo c > /c\n"
    f"FROM {BASE}\nCOPY --from=a /a /a\nCOPY --from=b /b /b\nCOPY --from=c /c /c\n"
)
FILES = {"hello.txt": "hello from the benchmark\n"}


class _UnixHTTP(http.client.HTTPConnection):
    def __init__(self, path: str) -> None:
        super().__init__("localhost", timeout=600)
        self.path = path

    def connect(self) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.connect(self.path)


def raw_build(tar: bytes, query: list[tuple[str, str]]) -> dict[str, Any]:
    """The bare request: POST the tar, read the body to its end, decode nothing."""
    t0 = time.perf_counter()
    conn = _UnixHTTP(SOCKET)
    conn.request(
        "POST",
        "/v1.41/build?" + urlencode(query),
        body=tar,
        headers={"Content-Type": "application/x-tar"},
    )
    resp = conn.getresponse()
    size = 0
    while chunk := resp.read(1 << 16):
        size += len(chunk)
    conn.close()
    return {"seconds": time.perf_counter() - t0, "ok": resp.status == 200, "bytes": size}


def api_build(dockerfile: str, builder: str, tag: str, no_cache: bool) -> dict[str, Any]:
    t0 = time.perf_counter()
    kw: dict[str, Any] = {"network": "none"} if builder == "classic" else {}
    result = jd.build(dockerfile, files=FILES, builder=builder, tags=[tag], no_cache=no_cache, **kw)
    return {
        "seconds": time.perf_counter() - t0,
        "ok": result.ok and result.builder == builder,
        "log_chars": len(result.log),
    }


def cli_build(dockerfile: str, ctx: Path, tag: str) -> dict[str, Any]:
    (ctx / "Dockerfile").write_text(dockerfile)
    env = {**os.environ, "DOCKER_BUILDKIT": "0"}
    cmd = ["docker", "build", "--network", "none", "--no-cache", "-t", tag, str(ctx)]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    seconds = time.perf_counter() - t0
    classic = "Step 1/" in proc.stdout
    return {"seconds": seconds, "ok": proc.returncode == 0 and classic}


def summary(values: list[float]) -> dict[str, float]:
    return {
        "median": statistics.median(values),
        "min": min(values),
        "max": max(values),
        "n": len(values),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    jd.ensure_base_image()
    stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    out: dict[str, Any] = {"date": stamp, "runs": args.runs, "loadavg": os.getloadavg()}
    tags: list[str] = []

    def tag() -> str:
        name = f"{TAG_REPO}:{uuid.uuid4().hex[:8]}"
        tags.append(name)
        return name

    try:
        # 1. our BuildKit path against the raw request with the same tar.
        overhead: dict[str, Any] = {}
        for key, dockerfile, no_cache in (
            ("cold 6-step build", COLD, True),
            ("RUN seq 1 1000000 (clipped by BuildKit)", FLOOD, True),
            ("fully cached rebuild", COLD, False),
        ):
            tar = b"".join(build_context(dockerfile, files=FILES))
            times: dict[str, list[float]] = {"raw": [], "api": []}
            api_build(dockerfile, "buildkit", tag(), no_cache)  # warm: imports, cache
            for _ in range(args.runs):
                query = [("version", "2"), ("networkmode", "none"), ("t", tag())]
                if no_cache:
                    query.append(("nocache", "1"))
                raw = raw_build(tar, query)
                assert raw["ok"], raw
                times["raw"].append(raw["seconds"])
                api = api_build(dockerfile, "buildkit", tag(), no_cache)
                assert api["ok"], api
                times["api"].append(api["seconds"])
            overhead[key] = {k: summary(v) for k, v in times.items()}
            overhead[key]["added_ms"] = 1000 * (
                overhead[key]["api"]["median"] - overhead[key]["raw"]["median"]
            )
        out["overhead"] = overhead

        # 2. a multi-stage build: BuildKit, our classic builder, the docker CLI's.
        with tempfile.TemporaryDirectory(prefix="jdb-bench-bk-") as tmp:
            ctx = Path(tmp)
            stages: dict[str, list[float]] = {"buildkit": [], "classic": [], "cli": []}
            for _ in range(args.runs):
                for builder in ("buildkit", "classic"):
                    res = api_build(STAGES, builder, tag(), True)
                    assert res["ok"], res
                    stages[builder].append(res["seconds"])
                res = cli_build(STAGES, ctx, tag())
                assert res["ok"], res
                stages["cli"].append(res["seconds"])
            out["multistage"] = {k: summary(v) for k, v in stages.items()}
    finally:
        client = jd.DockerClient()
        for name in tags:
            if client.image_exists(name):
                client.delete(f"/images/{name}", params={"force": "1"})
        client.close()

    (HERE / "results" / "buildkit").mkdir(parents=True, exist_ok=True)
    path = HERE / "results" / "buildkit" / f"{stamp}.json"
    path.write_text(json.dumps(out, indent=1) + "\n")
    print(f"\nwritten {path.relative_to(REPO)}  (load {out['loadavg']})\n")
    print("| build | raw API call (median) | jupyter_dockerbuild.build (median) | added |")
    print("| --- | ---: | ---: | ---: |")
    for key, row in out["overhead"].items():
        print(
            f"| {key} | {row['raw']['median']:.2f} s | {row['api']['median']:.2f} s "
            f"| {row['added_ms']:+.0f} ms |"
        )
    print("\n| multi-stage build (3 independent 2 s stages) | median | min | max |")
    print("| --- | ---: | ---: | ---: |")
    names = {
        "buildkit": "jupyter_dockerbuild, BuildKit",
        "classic": "jupyter_dockerbuild, classic builder",
        "cli": "docker CLI, classic (DOCKER_BUILDKIT=0)",
    }
    for key, row in out["multistage"].items():
        print(f"| {names[key]} | {row['median']:.2f} s | {row['min']:.2f} s | {row['max']:.2f} s |")


if __name__ == "__main__":
    main()
