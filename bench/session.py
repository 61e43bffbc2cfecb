"""BuildKit with a session against ``docker buildx build`` and the classic CLI (issue 14).

Run as root on a machine with the modern engines (``scripts/modern-engine.sh``)::

    bench/run.sh --session [--quick] [--runs N] [--only big,small] [--engine trixie]
                           [--tools ours,buildx,classic]

Three tools build the same context on the same daemon (the trixie engine by default,
Docker 26.1), every connection going through :class:`wirecount.WireCounter`, a
unix-socket proxy that counts what the client sent:

* ``ours``    ``jupyter_dockerbuild.build(context=DIR, builder="buildkit")`` in this
  (warm) process: the context as a tar body, or through the session's FileSync where
  the package does that (the counter tells which: ``build`` or ``session`` bytes);
  ``ours-tar`` and ``ours-filesync`` force one (``JUPYTER_DOCKERBUILD_CONTEXT``)
* ``buildx``  ``docker buildx build --builder default`` (the daemon's own BuildKit, the
  ``docker`` driver), Debian 13's docker-buildx run in the engine's chroot (installed
  by ``scripts/modern-engine.sh buildx``), a fresh process per build as users run it
* ``classic`` ``DOCKER_BUILDKIT=0 docker build`` from the same chroot (the legacy builder:
  the whole context as a tar every time)

Scenarios:

* ``big``   a 1 GiB context in 2,000 files; each tool has a context directory of its own
  (its own random bytes, so no tool reuses another's BuildKit cache or the daemon's copy
  of another's context). Two Dockerfiles in turn: ``COPY . /data`` (the daemon copies the
  whole 1 GiB into a new layer at every rebuild, whoever sends the context) and
  ``COPY data/d00 /d00`` (one folder, 5 %: the context transfer is most of the time).
  For each: a first build, then per run one file that step copies rewritten with new
  bytes and a rebuild, whose time and bytes sent are measured. Targets: the rebuild
  sends under 1 % of the context, takes at most 1.1x buildx's time and under 0.1x the
  classic CLI's.
* ``small`` a 6-step build of a one-file context, cold (``--no-cache``) and fully cached;
  target: within 1.1x buildx.

``--quick`` makes the big context 32 MiB in 200 files and runs twice: a sanity check in a
few minutes, not a measurement. The context directories live in the chroot's /tmp
(under /var/cache/jupyter-dockerbuild/engines/ENGINE, the same disk as the daemon's
data) and are removed at the end with every image tagged ``jdb-bench-session:*``; the
BuildKit cache records the benchmark made are pruned by id. Results go to
``bench/results/session/<stamp>.json`` and a markdown table is printed;
``bench/SESSION.md`` keeps the numbers of the last full run. Not part of the test suite.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(HERE))

from wirecount import WireCounter  # noqa: E402

import jupyter_dockerbuild as jd  # noqa: E402

BASE = "local/busybox:latest"
TAG_REPO = "jdb-bench-session"
TOOLS = ("ours", "buildx", "classic")
#: ``ours-tar`` / ``ours-filesync``: ours with ``JUPYTER_DOCKERBUILD_CONTEXT`` set so.
CONTEXT_ENV = "JUPYTER_DOCKERBUILD_CONTEXT"
SMALL_DOCKERFILE = (
    f"FROM {BASE}\nENV BENCH=1\nWORKDIR /work\nCOPY hello.txt /work/\n"
    "RUN echo five > /work/five\nRUN for i in 1 2 3; do echo line $i; done\n"
    "RUN cat /work/hello.txt /work/five\n"
)
BIG_DOCKERFILE = f"FROM {BASE}\nCOPY . /data\n"
BLACKHOLE = "http://127.0.0.1:9"


def log(msg: str) -> None:
    print(f"[session-bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


# -- the engine ----------------------------------------------------------------------


class Engine:
    """The modern engine's chroot, socket and a byte-counting proxy in front of it."""

    def __init__(self, name: str) -> None:
        script = REPO / "scripts" / "modern-engine.sh"
        status = subprocess.run([script, "status", name], capture_output=True, text=True)
        if status.returncode != 0:
            raise SystemExit(f"the {name} engine is not running: {script} start {name}")
        env = dict(
            line.split("=", 1)
            for line in subprocess.run(
                [script, "env", name], capture_output=True, text=True, check=True
            ).stdout.splitlines()
            if "=" in line
        )
        self.name = name
        self.status = status.stdout.strip()
        self.root = Path(env["JUPYTER_DOCKERBUILD_ENGINE_ROOT"])
        self.socket = env["DOCKER_HOST"].removeprefix("unix://")
        # Installs docker-cli and docker-buildx in the chroot once (safe while it runs).
        subprocess.run([script, "buildx", name], check=True, stdout=subprocess.DEVNULL)
        listen = f"/run/jdb-bench-wc-{uuid.uuid4().hex[:8]}.sock"
        self.proxy_in_chroot = f"unix://{listen}"
        self.proxy = WireCounter(self.socket, str(self.root) + listen)
        self.host = f"unix://{self.proxy.listen}"

    def chroot_cmd(self, args: list[str], buildkit: bool | None = None) -> list[str]:
        """``args`` run in the chroot against the proxy (the env of ``modern-engine.sh exec``)."""
        env = [
            "PATH=/usr/sbin:/usr/bin:/sbin:/bin",
            "HOME=/root",
            f"DOCKER_HOST={self.proxy_in_chroot}",
            "BUILDX_BUILDER=default",
            f"HTTP_PROXY={BLACKHOLE}",
            f"HTTPS_PROXY={BLACKHOLE}",
            "NO_PROXY=localhost,127.0.0.1,::1",
        ]
        if buildkit is not None:
            env.append(f"DOCKER_BUILDKIT={int(buildkit)}")
        # chroot directly, not through the script: its bash start would be timed too.
        return ["chroot", str(self.root), "env", "-i", *env, *args]

    def in_chroot(self, path: Path) -> str:
        return "/" + str(path.relative_to(self.root))


# -- contexts ------------------------------------------------------------------------


def make_context(root: Path, total: int, files: int) -> None:
    """``total`` bytes in ``files`` files (100 per folder), slices of fresh random bytes."""
    block = os.urandom(2 << 20)
    base, extra = divmod(total, files)
    for i in range(files):
        folder = root / "data" / f"d{i // 100:02d}"
        folder.mkdir(parents=True, exist_ok=True)
        size = base + (1 if i < extra else 0)
        offset = (i * 7919) % (1 << 20)
        (folder / f"f{i:04d}.bin").write_bytes(block[offset : offset + size])
    (root / "Dockerfile").write_text(BIG_DOCKERFILE)


def change_one_file(root: Path, run: int, files: int) -> Path:
    """Rewrite one of the first ``files`` files (another each run) with new bytes."""
    i = (run * 37) % files
    path = root / "data" / f"d{i // 100:02d}" / f"f{i:04d}.bin"
    path.write_bytes(os.urandom(path.stat().st_size))
    return path


# -- the tools -----------------------------------------------------------------------


class Runner:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.tags: list[str] = []
        #: Each tool's last image: removed after its next build, so that a run of 1 GiB
        #: layers holds one image per tool on the disk, not one per build.
        self.last: dict[str, str] = {}
        self.client = jd.DockerClient(f"unix://{engine.socket}")

    def tag(self) -> str:
        name = f"{TAG_REPO}:{uuid.uuid4().hex[:10]}"
        self.tags.append(name)
        return name

    def run(self, tool: str, ctx: Path, *, no_cache: bool = False) -> dict[str, Any]:
        proxy = self.engine.proxy
        proxy.reset()
        tag = self.tag()
        t0 = time.perf_counter()
        if tool.startswith("ours"):
            mode = tool.partition("-")[2]
            saved = os.environ.pop(CONTEXT_ENV, None)
            if mode:
                os.environ[CONTEXT_ENV] = mode
            try:
                result = jd.build(
                    context=str(ctx),
                    builder="buildkit",
                    host=self.engine.host,
                    tags=[tag],
                    no_cache=no_cache,
                )
            finally:
                os.environ.pop(CONTEXT_ENV, None)
                if saved is not None:
                    os.environ[CONTEXT_ENV] = saved
            ok, detail = result.ok and result.builder == "buildkit", ""
        else:
            where = self.engine.in_chroot(ctx)
            if tool == "buildx":
                args = ["docker", "buildx", "build", "--builder", "default", "--progress"]
                args += ["plain", "--network", "none", "-t", tag]
                cmd = self.engine.chroot_cmd(args + (["--no-cache"] if no_cache else []) + [where])
            else:
                args = ["docker", "build", "--network", "none", "-t", tag]
                cmd = self.engine.chroot_cmd(
                    args + (["--no-cache"] if no_cache else []) + [where], buildkit=False
                )
            proc = subprocess.run(cmd, capture_output=True, text=True)
            ok = proc.returncode == 0 and (tool != "classic" or "Successfully built" in proc.stdout)
            detail = (proc.stdout + proc.stderr)[-600:]
        seconds = time.perf_counter() - t0
        # The counter's threads may still be relaying the last bytes of a hang-up.
        time.sleep(0.05)
        wire = proxy.totals()
        if not ok:
            raise RuntimeError(f"{tool} failed building {ctx}: {detail}")
        previous, self.last[tool] = self.last.get(tool), tag
        if previous and self.client.image_exists(previous):
            self.client.delete(f"/images/{previous}", params={"force": "1"})
        return {"seconds": seconds, "up": wire["up"], "by_kind": wire["by_kind"]}

    def cleanup(self) -> None:
        try:
            for name in self.tags:
                if self.client.image_exists(name):
                    self.client.delete(f"/images/{name}", params={"force": "1"})
        finally:
            self.client.close()


def _stats(values: list[float]) -> dict[str, float]:
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


def _transport(by_kind: dict[str, dict[str, int]]) -> str:
    session = by_kind.get("session", {}).get("up", 0)
    body = by_kind.get("build", {}).get("up", 0)
    return "session (FileSync)" if session > body else "tar body"


# -- scenarios -----------------------------------------------------------------------


#: The two Dockerfiles of the big context: the whole context into the image (the daemon
#: copies 1 GiB into a new layer at every rebuild, for every tool), and one folder of it
#: (5 %: what the context transfer costs shows).
BIG_VARIANTS = {
    "all": ("COPY . /data", None),
    "part": ("COPY data/d00 /d00", 100),
}


def bench_big(
    runner: Runner, work: Path, quick: bool, runs: int, tools: list[str], before: set[str]
) -> dict[str, Any]:
    total, files = (32 << 20, 200) if quick else (1 << 30, 2000)
    out: dict[str, Any] = {"context_bytes": total, "files": files, "runs": runs}
    dirs = {}
    for tool in tools:
        dirs[tool] = work / f"big-{tool}"
        t0 = time.perf_counter()
        make_context(dirs[tool], total, files)
        log(
            f"big: {tool}'s context ({total >> 20} MiB, {files} files) "
            f"in {time.perf_counter() - t0:.1f} s"
        )
    for variant, (step, within) in BIG_VARIANTS.items():
        res_v: dict[str, Any] = {"step": step, "tools": {}}
        out[variant] = res_v
        for tool in tools:
            (dirs[tool] / "Dockerfile").write_text(f"FROM {BASE}\n{step}\n")
            first = runner.run(tool, dirs[tool])
            log(
                f"big {variant}: {tool} first build {first['seconds']:.2f} s, "
                f"{first['up'] / 2**20:.1f} MiB up"
            )
            res_v["tools"][tool] = {"first": first, "rebuilds": []}
        for run in range(runs):
            for k, tool in enumerate(tools):
                # A file of its own per build: no build finds another's COPY in the cache.
                n = run * len(tools) + k + (0 if variant == "all" else 1000)
                changed = change_one_file(dirs[tool], n, within or files)
                res = runner.run(tool, dirs[tool])
                res["changed_bytes"] = changed.stat().st_size
                res_v["tools"][tool]["rebuilds"].append(res)
                log(
                    f"big {variant}: run {run + 1}/{runs} {tool} rebuild {res['seconds']:.2f} s, "
                    f"{res['up'] / 2**10:.0f} KiB up ({_transport(res['by_kind'])})"
                )
        for tool in tools:
            row = res_v["tools"][tool]
            row["seconds"] = _stats([r["seconds"] for r in row["rebuilds"]])
            row["up"] = _stats([r["up"] for r in row["rebuilds"]])
            row["transport"] = _transport(row["rebuilds"][-1]["by_kind"])
        res_v["ratios"] = {
            tool: {
                "bytes_of_context": res_v["tools"][tool]["up"]["median"] / total,
                "time_vs_buildx": res_v["tools"][tool]["seconds"]["median"]
                / res_v["tools"]["buildx"]["seconds"]["median"],
                "time_vs_classic": res_v["tools"][tool]["seconds"]["median"]
                / res_v["tools"]["classic"]["seconds"]["median"],
            }
            for tool in tools
            if tool.startswith("ours") and "buildx" in tools and "classic" in tools
        }
        # The 1 GiB layers of this variant go before the next one makes its own.
        log(f"big {variant}: pruned {prune_our_cache(runner.engine, before)} cache records")
    for tool in tools:
        shutil.rmtree(dirs[tool])
    return out


def bench_small(runner: Runner, work: Path, runs: int, tools: list[str]) -> dict[str, Any]:
    ctx = work / "small"
    ctx.mkdir()
    (ctx / "Dockerfile").write_text(SMALL_DOCKERFILE)
    (ctx / "hello.txt").write_text("hello from the benchmark\n")
    out: dict[str, Any] = {"runs": runs}
    for key, no_cache in (("cold", True), ("cached", False)):
        times: dict[str, list[float]] = {t: [] for t in tools}
        ups: dict[str, list[float]] = {t: [] for t in tools}
        for tool in tools:
            runner.run(tool, ctx, no_cache=no_cache)  # warm: the cache, imports, the chroot
        for _ in range(runs):
            for tool in tools:
                res = runner.run(tool, ctx, no_cache=no_cache)
                times[tool].append(res["seconds"])
                ups[tool].append(res["up"])
        row: dict[str, Any] = {
            t: {"seconds": _stats(times[t]), "up": _stats(ups[t])} for t in tools
        }
        if "buildx" in tools:
            row["ratios_vs_buildx"] = {
                t: row[t]["seconds"]["median"] / row["buildx"]["seconds"]["median"]
                for t in tools
                if t.startswith("ours")
            }
        out[key] = row
        log(f"small {key}: " + ", ".join(f"{t} {row[t]['seconds']['median']:.2f} s" for t in tools))
    return out


def prune_our_cache(engine: Engine, before: set[str]) -> int:
    """Remove the big BuildKit cache records made during the run, by id (nothing else).

    Records other builds made meanwhile are new too: only those of 1 MiB and more (the
    benchmark's context copies and COPY layers) go, each by its own id.
    """
    client = jd.DockerClient(f"unix://{engine.socket}")
    removed = 0
    try:
        after = client.get_json("/system/df").get("BuildCache") or []
        for record in after:
            if record["ID"] in before or record.get("InUse") or record.get("Size", 0) < 1 << 20:
                continue
            filters = json.dumps({"id": [record["ID"]]})
            try:
                client.post_json("/build/prune", params={"filters": filters})
                removed += 1
            except jd.DockerBuildError:
                pass
    finally:
        client.close()
    return removed


# -- report --------------------------------------------------------------------------


def _fmt_bytes(n: float) -> str:
    for unit, size in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= size:
            return f"{n / size:.1f} {unit}"
    return f"{n:.0f} B"


NAMES = {
    "ours": "jupyter_dockerbuild.build (BuildKit)",
    "ours-tar": "jupyter_dockerbuild.build, BuildKit, tar body",
    "ours-filesync": "jupyter_dockerbuild.build, BuildKit, FileSync",
    "buildx": "docker buildx build (default builder)",
    "classic": "docker build, DOCKER_BUILDKIT=0",
}


def report(out: dict[str, Any]) -> str:
    tools = out["tools"]
    lines = [f"{out['date']}, {out['engine']}, git {out['git']}, load {out['loadavg']}"]
    big = out.get("big")
    for variant in BIG_VARIANTS if big else ():
        res = big[variant]
        lines += [
            "",
            f"`{res['step']}`, rebuilt after one file changed, "
            f"{_fmt_bytes(big['context_bytes'])} context in {big['files']} files "
            f"({big['runs']} runs, medians):",
            "",
            "| tool | context sent as | first build | rebuild | sent by the rebuild |",
            "| --- | --- | ---: | ---: | ---: |",
        ]
        for tool in tools:
            row = res["tools"][tool]
            lines.append(
                f"| {NAMES[tool]} | {row['transport']} | {row['first']['seconds']:.2f} s | "
                f"{row['seconds']['median']:.2f} s | {_fmt_bytes(row['up']['median'])} |"
            )
        for tool, r in res["ratios"].items():
            lines += [
                "",
                f"{tool}: sends {100 * r['bytes_of_context']:.3f} % of the context (target "
                f"< 1 %), {r['time_vs_buildx']:.2f}x buildx's time (target <= 1.1), "
                f"{r['time_vs_classic']:.2f}x the classic CLI's (target < 0.1)",
            ]
    small = out.get("small")
    if small:
        ours = [t for t in tools if t.startswith("ours")]
        lines += [
            "",
            f"Small 6-step build ({small['runs']} runs, medians):",
            "",
            "| build | "
            + " | ".join(NAMES[t] for t in tools)
            + "".join(f" | {t} / buildx" for t in ours)
            + " |",
            "| --- |" + " ---: |" * (len(tools) + len(ours)),
        ]
        for key in ("cold", "cached"):
            row = small[key]
            cells = " | ".join(f"{row[t]['seconds']['median']:.2f} s" for t in tools)
            ratios = "".join(
                f" | {row['ratios_vs_buildx'][t]:.2f}" for t in ours if "ratios_vs_buildx" in row
            )
            lines.append(f"| {key} | {cells}{ratios} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--engine", default="trixie")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--runs", type=int)
    parser.add_argument("--only", default="big,small")
    parser.add_argument(
        "--tools",
        default=",".join(TOOLS),
        help="comma-separated: ours, ours-tar, ours-filesync, buildx, classic",
    )
    args = parser.parse_args(argv)
    tools = args.tools.split(",")
    unknown = [t for t in tools if t not in NAMES]
    if unknown:
        raise SystemExit(f"unknown tool {unknown[0]!r}; known: {', '.join(NAMES)}")
    if os.geteuid() != 0:
        raise SystemExit("bench/session.py needs root (the engine's chroot runs buildx)")
    only = set(args.only.split(","))
    runs = args.runs or (2 if args.quick else 5)
    engine = Engine(args.engine)
    os.environ.pop("DOCKER_HOST", None)
    direct = jd.DockerClient(f"unix://{engine.socket}")
    jd.ensure_base_image(client=direct)
    before = {r["ID"] for r in direct.get_json("/system/df").get("BuildCache") or []}
    direct.close()
    stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    git = subprocess.run(
        ["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"], capture_output=True, text=True
    ).stdout.strip()
    out: dict[str, Any] = {
        "date": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "engine": engine.status,
        "git": git,
        "quick": args.quick,
        "tools": tools,
        "loadavg": [round(x, 2) for x in os.getloadavg()],
    }
    work = engine.root / "tmp" / f"jdb-bench-session-{uuid.uuid4().hex[:8]}"
    work.mkdir(parents=True)
    runner = Runner(engine)
    engine.proxy.start()
    try:
        if "small" in only:
            small_runs = runs if args.quick else max(runs, 7)
            out["small"] = bench_small(runner, work, small_runs, tools)
        if "big" in only:
            out["big"] = bench_big(runner, work, args.quick, runs, tools, before)
    finally:
        engine.proxy.stop()
        shutil.rmtree(work, ignore_errors=True)
        runner.cleanup()
        log(f"pruned {prune_our_cache(engine, before)} BuildKit cache records of this run")
    out["loadavg_end"] = [round(x, 2) for x in os.getloadavg()]
    text = report(out)
    if not args.quick:
        (HERE / "results" / "session").mkdir(parents=True, exist_ok=True)
        path = HERE / "results" / "session" / f"{stamp}.json"
        path.write_text(json.dumps(out, indent=1) + "\n")
        log(f"written {path.relative_to(REPO)}")
    print(text)


if __name__ == "__main__":
    main()
