"""Benchmarks of jupyter-dockerbuild against the docker CLI and docker-py (issue 8).

Four tools build the same Dockerfile from the same context directory on the same
daemon, alternating A B C D A B C D ...:

* ``cli``      ``DOCKER_BUILDKIT=0 docker build`` (classic builder; checked in its output)
* ``dockerpy`` docker-py ``APIClient.build(path=..., decode=True)``, stream consumed
* ``api``      ``jupyter_dockerbuild.build(context=...)``
* ``magic``    ``%%dockerbuild`` executed in a real ipykernel through jupyter_client (the
  kernel has a frontend, so the live view runs: an HTML output updated in place through
  its display id; its iopub messages are counted)

docker-py and the Python API run in warm worker processes (``worker.py``); the magic in a
kernel that already loaded the extension and built once. The CLI is a fresh process each
time, as users run it. Every RUN uses ``--network none``, every tool ``--rm --force-rm``.
Raw numbers go to ``bench/results/<stamp>.json``; ``bench/RESULTS.md`` is regenerated
from the newest full runs. Not part of the test suite. Entry point: ``bench/run.sh``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from queue import Empty
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
BASE = "local/busybox:latest"
LABEL = "org.jupyter-dockerbuild.bench"
TAG_REPO = "jdb-bench"
TOOLS = ("cli", "dockerpy", "api", "magic")
TOOL_NAMES = {
    "cli": "docker CLI (classic)",
    "dockerpy": "docker-py APIClient",
    "api": "jupyter_dockerbuild.build",
    "magic": "%%dockerbuild (kernel, live view)",
}
BIG_TOTAL = 1 << 30  # 1 GiB
BIG_FILES = 2000


def log(msg: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


# -- scenarios -----------------------------------------------------------------------


@dataclass
class Scenario:
    key: str
    title: str
    dockerfile: str
    no_cache: bool
    runs: int
    files: dict[str, str]
    big: bool = False


def scenarios(quick: bool) -> list[Scenario]:
    label = f"LABEL {LABEL}=1"
    # Run-to-run noise on this shared machine is large (±30 % and more): more runs
    # where a run is short; the 1 GiB one keeps 3 to stay within ~10 minutes.
    runs = 2 if quick else 7
    return [
        Scenario(
            "s1",
            "cold 8-step build (no cache)",
            f"FROM {BASE}\n{label}\nENV BENCH=1\nWORKDIR /work\nCOPY hello.txt /work/\n"
            "RUN echo five > /work/five\nRUN for i in 1 2 3; do echo line $i; done\n"
            "RUN cat /work/hello.txt /work/five\n",
            True,
            runs,
            {"hello.txt": "hello from the benchmark\n"},
        ),
        Scenario(
            "s2",
            "RUN seq 1 1000000 (1M lines of output)",
            f"FROM {BASE}\n{label}\nRUN seq 1 1000000\n",
            True,
            runs,
            {},
        ),
        Scenario(
            "s3",
            "1 GiB context in 2,000 files (COPY . /data; RUN du -sh /data)",
            f"FROM {BASE}\n{label}\nCOPY . /data\nRUN du -sh /data\n",
            True,
            1 if quick else 3,
            {},
            big=True,
        ),
        Scenario(
            "s4",
            "fully cached rebuild of the 8-step build",
            f"FROM {BASE}\n{label}\nENV BENCH=4\nWORKDIR /work\nCOPY hello.txt /work/\n"
            "RUN echo five > /work/five\nRUN for i in 1 2 3; do echo line $i; done\n"
            "RUN cat /work/hello.txt /work/five\n",
            False,
            3 if quick else 9,
            {"hello.txt": "hello from the benchmark\n"},
        ),
    ]


def make_big_context(root: Path) -> None:
    """1 GiB in 2,000 files (20 folders): windows of one random 2 MiB block, written fast.

    Each file is a different slice, so nothing is trivially identical; the daemon does
    not compress, so random-looking bytes are as good as fresh urandom here.
    """
    block = os.urandom(2 << 20)
    base, extra = divmod(BIG_TOTAL, BIG_FILES)
    for i in range(BIG_FILES):
        folder = root / "data" / f"d{i // 100:02d}"
        folder.mkdir(parents=True, exist_ok=True)
        size = base + (1 if i < extra else 0)
        offset = (i * 7919) % (1 << 20)
        (folder / f"f{i:04d}.bin").write_bytes(block[offset : offset + size])


# -- helpers -------------------------------------------------------------------------


def status_kb(pid: int | str, field: str) -> int:
    with open(f"/proc/{pid}/status") as fh:
        for line in fh:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process, all its threads (``/proc/PID/stat``)."""
    with open(f"/proc/{pid}/stat") as fh:
        fields = fh.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def reset_peak(pid: int) -> None:
    try:
        with open(f"/proc/{pid}/clear_refs", "w") as fh:
            fh.write("5")
    except OSError:
        pass


def docker(*args: str, check: bool = False) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["docker", *args], capture_output=True, text=True, check=check)


def remove_image(ref: str) -> None:
    docker("rmi", ref)


def cleanup_images() -> int:
    """Remove every image the benchmarks made (label or jdb-bench/ tag); return count."""
    ids: set[str] = set()
    for flt in (f"label={LABEL}", f"reference={TAG_REPO}/*"):
        out = docker("images", "-a", "-q", "--no-trunc", "--filter", flt).stdout.split()
        ids.update(out)
    containers = docker("ps", "-a", "-q", "--filter", f"label={LABEL}").stdout.split()
    if containers:
        docker("rm", "-f", *containers)
    removed = 0
    # Children first: repeat until nothing more goes (parents of a removed image go too).
    for _ in range(5):
        left = [i for i in ids if docker("image", "inspect", i).returncode == 0]
        if not left:
            break
        for image in left:
            if docker("rmi", "-f", image).returncode == 0:
                removed += 1
    return removed


def machine_info() -> dict[str, Any]:
    mem_kb = 0
    with open("/proc/meminfo") as fh:
        for line in fh:
            if line.startswith("MemTotal:"):
                mem_kb = int(line.split()[1])
    cpu = ""
    with open("/proc/cpuinfo") as fh:
        for line in fh:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    fmt = "{{.Client.Version}} (client API {{.Client.APIVersion}}) / {{.Server.Version}} "
    fmt += "(daemon API {{.Server.APIVersion}})"
    versions: dict[str, str] = {}
    for mod in ("docker", "jupyter_client", "ipykernel", "ipywidgets", "requests"):
        try:
            versions[mod] = __import__(mod).__version__
        except Exception:
            versions[mod] = "?"
    head = subprocess.run(
        ["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"], capture_output=True, text=True
    ).stdout.strip()
    return {
        "date": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "nproc": os.cpu_count(),
        "cpu": cpu,
        "mem_gib": round(mem_kb / 2**20, 1),
        "kernel": platform.release(),
        "docker": docker("version", "--format", fmt).stdout.strip(),
        "python": platform.python_version(),
        "versions": versions,
        "git": head,
        "loadavg_start": os.getloadavg(),
    }


def stats(values: list[float]) -> dict[str, float]:
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


# -- the four tools --------------------------------------------------------------------


def run_cli(sc: Scenario, ctx: Path, tag: str) -> dict[str, Any]:
    cmd = ["docker", "build", "--network", "none", "--rm", "--force-rm", "-t", tag]
    if sc.no_cache:
        cmd.append("--no-cache")
    cmd.append(str(ctx))
    env = {**os.environ, "DOCKER_BUILDKIT": "0"}
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env)
    assert proc.stdout is not None
    fd = proc.stdout.fileno()
    buf = bytearray()
    first_step = None
    # Big reads, so that draining 1M lines costs the harness little; the CLI's output
    # is timestamped once, when the daemon announces "Step 1/N".
    while data := os.read(fd, 1 << 20):
        start = max(0, len(buf) - 8)
        buf += data
        if first_step is None and b"Step 1/" in buf[start:]:
            first_step = time.perf_counter() - t0
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - t0
    proc.stdout.close()
    proc.returncode = os.waitstatus_to_exitcode(status)
    text = buf.decode(errors="replace")
    built = re.search(r"Successfully built ([0-9a-f]{12})", text)
    return {
        "ok": proc.returncode == 0 and built is not None,
        "seconds": seconds,
        # Step lines and "Sending build context" only exist with the classic builder.
        "classic": "Sending build context to Docker daemon" in text and "Step 1/" in text,
        "image_id": built.group(1) if built else None,
        "steps": len(re.findall(r"^Step \d+/\d+ :", text, re.M)),
        "cached": text.count(" ---> Using cache"),
        "peak_rss_kb": usage.ru_maxrss,
        "cpu_seconds": usage.ru_utime + usage.ru_stime,
        "first_step_s": first_step,
        "error": None if proc.returncode == 0 else text[-500:],
    }


class Worker:
    """A warm docker-py or Python-API process (bench/worker.py)."""

    def __init__(self, tool: str, env: dict[str, str]) -> None:
        self.tool = tool
        self.proc = subprocess.Popen(
            [sys.executable, str(HERE / "worker.py"), tool],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env=env,
            cwd=str(REPO),
        )
        hello = json.loads(self._readline())
        self.can_reset_peak = hello["can_reset_peak"]

    def _readline(self) -> str:
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"worker {self.tool} died (exit {self.proc.poll()})")
        return line

    def build(self, sc: Scenario, ctx: Path, tag: str) -> dict[str, Any]:
        assert self.proc.stdin is not None
        req = {"context": str(ctx), "tag": tag, "no_cache": sc.no_cache}
        self.proc.stdin.write(json.dumps(req) + "\n")
        self.proc.stdin.flush()
        return dict(json.loads(self._readline()))

    def close(self) -> None:
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


class Kernel:
    """An ipykernel driven through jupyter_client, timing cells from execute to reply."""

    def __init__(self, env: dict[str, str]) -> None:
        from jupyter_client.manager import KernelManager

        self.km = KernelManager(kernel_name="python3")
        t0 = time.perf_counter()
        self.km.start_kernel(env=env, cwd=str(REPO))
        self.kc = self.km.client()
        self.kc.start_channels()
        self.kc.wait_for_ready(timeout=120)
        self.startup = time.perf_counter() - t0
        # Drain what the start-up left on iopub.
        while True:
            try:
                self.kc.get_iopub_msg(timeout=0.2)
            except Empty:
                break

    @property
    def pid(self) -> int:
        return int(self.km.provisioner.pid)  # type: ignore[union-attr]

    def execute(self, code: str, timeout: float = 600.0) -> dict[str, Any]:
        """Run ``code``; return the reply, its time, and every iopub message's arrival."""
        import zmq

        shell, iopub = self.kc.shell_channel, self.kc.iopub_channel
        poller = zmq.Poller()
        poller.register(shell.socket, zmq.POLLIN)
        poller.register(iopub.socket, zmq.POLLIN)
        t0 = time.perf_counter()
        msg_id = self.kc.execute(code)
        reply: dict[str, Any] | None = None
        t_reply = 0.0
        idle = False
        msgs: list[tuple[float, str, int, dict[str, Any]]] = []
        deadline = t0 + timeout
        while reply is None or not idle:
            wait_ms = int(max(0.0, deadline - time.perf_counter()) * 1000)
            ready = dict(poller.poll(wait_ms))
            if not ready:
                raise TimeoutError(f"kernel silent for {timeout}s")
            now = time.perf_counter() - t0
            if shell.socket in ready:
                msg = shell.get_msg(timeout=0)
                if msg["parent_header"].get("msg_id") == msg_id:
                    reply, t_reply = msg, now
            if iopub.socket in ready:
                msg = iopub.get_msg(timeout=0)
                if msg["parent_header"].get("msg_id") != msg_id:
                    continue
                kind = msg["msg_type"]
                if kind == "status" and msg["content"]["execution_state"] == "idle":
                    idle = True
                msgs.append((now, kind, len(json.dumps(msg["content"])), msg["content"]))
        assert reply is not None
        return {"reply": reply["content"], "seconds": t_reply, "msgs": msgs}

    def close(self) -> None:
        self.kc.stop_channels()
        self.km.shutdown_kernel(now=True)


def frontend_stats(msgs: list[tuple[float, str, int, dict[str, Any]]]) -> dict[str, Any]:
    """What the frontend had to process: every iopub message but status/execute_input."""
    shown = [m for m in msgs if m[1] not in ("status", "execute_input")]
    first_open = next((t for t, k, _, _ in msgs if k == "comm_open"), None)
    first_display = next((t for t, k, _, _ in msgs if k == "display_data"), None)
    # The most messages the frontend got in any one second of the cell.
    times = [m[0] for m in shown]
    peak = 0
    lo = 0
    for hi, t in enumerate(times):
        while t - times[lo] >= 1.0:
            lo += 1
        peak = max(peak, hi - lo + 1)
    # When the view first showed a step started or over: the daemon had said "Step 1/N".
    first_step = next(
        (
            t
            for t, k, _, c in msgs
            if k in ("display_data", "update_display_data")
            and any(
                cls in str(c.get("data", {}).get("text/html", ""))
                for cls in ("jdb-running", "jdb-done", "jdb-cached")
            )
        ),
        None,
    )
    # The live view: one HTML output with a display id, then updates of it in place.
    live = any(
        k == "display_data"
        and "jdb-build" in c.get("data", {}).get("text/html", "")
        and c.get("transient", {}).get("display_id")
        for _, k, _, c in msgs
    )
    return {
        "frontend_msgs": len(shown),
        "view_updates": sum(1 for m in shown if m[1] == "update_display_data"),
        "frontend_bytes": sum(m[2] for m in shown),
        "first_comm_open": first_open,
        "first_display": first_display,
        "live_mode": live,
        "peak_msgs_1s": peak,
        "first_step_s": first_step,
    }


def run_magic(kernel: Kernel, sc: Scenario, ctx: Path, tag: str) -> dict[str, Any]:
    flags = f"-t {tag} --network none --context {ctx}"
    if sc.no_cache:
        flags += " --no-cache"
    pid = kernel.pid
    reset_peak(pid)
    rss_before = status_kb(pid, "VmRSS")
    cpu0 = cpu_seconds(pid)
    out = kernel.execute(f"%%dockerbuild {flags}\n{sc.dockerfile}")
    cpu = cpu_seconds(pid) - cpu0
    hwm = status_kb(pid, "VmHWM")
    fe = frontend_stats(out["msgs"])
    reply = out["reply"]
    summary = ""
    for _, kind, _, content in out["msgs"]:
        if kind in ("update_display_data", "display_data"):
            summary = content.get("data", {}).get("text/plain", "") or summary
    built = re.match(r"Built (sha256:[0-9a-f]{64})", summary)
    counts = re.search(r"(\d+) steps \((\d+) cached\)", summary)
    seconds = out["seconds"]
    return {
        "ok": reply["status"] == "ok" and built is not None,
        "seconds": seconds,
        "image_id": built.group(1) if built else None,
        "steps": int(counts.group(1)) if counts else None,
        "cached": int(counts.group(2)) if counts else None,
        "rss_before_kb": rss_before,
        "hwm_kb": hwm,
        "rss_growth_kb": max(0, hwm - rss_before),
        "cpu_seconds": cpu,
        "msgs_per_s": fe["frontend_msgs"] / max(seconds, 1e-9),
        "error": None if reply["status"] == "ok" else f"{reply['ename']}: {reply['evalue']}",
        **fe,
    }


# -- running -------------------------------------------------------------------------


def run_scenario(
    sc: Scenario,
    work: Path,
    workers: dict[str, Worker],
    kernel: Kernel,
    tools: tuple[str, ...],
) -> dict[str, Any]:
    ctx = work / sc.key
    ctx.mkdir()
    if sc.big:
        t0 = time.perf_counter()
        make_big_context(ctx)
        log(f"{sc.key}: wrote 1 GiB context in {time.perf_counter() - t0:.1f}s")
    (ctx / "Dockerfile").write_text(sc.dockerfile)
    for name, text in sc.files.items():
        (ctx / name).write_text(text)
    if not sc.no_cache:
        # Warm the cache (untimed), so every timed build is a full cache hit.
        warm = workers["api"].build(sc, ctx, f"{TAG_REPO}/{sc.key}:warm")
        if not warm["ok"]:
            raise RuntimeError(f"{sc.key}: warm-up build failed: {warm}")
    runs: dict[str, list[dict[str, Any]]] = {t: [] for t in tools}
    for i in range(sc.runs):
        for tool in tools:
            tag = f"{TAG_REPO}/{sc.key}:{tool}-r{i}"
            failures: list[str] = []
            for _attempt in range(3):
                if tool == "cli":
                    res = run_cli(sc, ctx, tag)
                elif tool == "magic":
                    res = run_magic(kernel, sc, ctx, tag)
                else:
                    res = workers[tool].build(sc, ctx, tag)
                if res["ok"]:
                    break
                # Other developers' tests share this daemon; one that prunes stopped
                # containers can remove a build's intermediate container mid-build
                # ("mount does not exist"). Such a run measures nothing: retry, count it.
                failures.append(str(res.get("error"))[-300:])
                log(f"{sc.key} run {i + 1} {tool}: build failed, retrying: {failures[-1]!r}")
                remove_image(tag)
            res["run"] = i
            res["failed_attempts"] = failures
            runs[tool].append(res)
            extra = ""
            if "msgs_per_s" in res:
                extra = f" {res['frontend_msgs']} msgs ({res['msgs_per_s']:.1f}/s)"
            if res.get("rss_growth_kb") is not None:
                extra += f" rss+{res['rss_growth_kb'] / 1024:.0f}MB"
            extra += f" cpu {res['cpu_seconds']:.2f}s"
            log(
                f"{sc.key} run {i + 1}/{sc.runs} {tool:8s} {res['seconds']:7.3f}s "
                f"{'ok' if res['ok'] else 'FAILED ' + str(res.get('error'))[:300]}{extra}"
            )
            remove_image(tag)
    if not sc.no_cache:
        remove_image(f"{TAG_REPO}/{sc.key}:warm")
    shutil.rmtree(ctx, ignore_errors=True)
    return {"title": sc.title, "runs": runs, "no_cache": sc.no_cache}


def run_startup(n: int, env: dict[str, str], work: Path) -> dict[str, Any]:
    """Scenario 5: %load_ext and first paint, each in a fresh kernel."""
    sc = scenarios(False)[3]
    ctx = work / "s5"
    ctx.mkdir()
    (ctx / "Dockerfile").write_text(sc.dockerfile)
    for name, text in sc.files.items():
        (ctx / name).write_text(text)
    rows = []
    for i in range(n):
        kernel = Kernel(env)
        try:
            # A trivial cell first, so load_ext is not charged with the first execute.
            kernel.execute("1")
            load = kernel.execute("%load_ext jupyter_dockerbuild")
            assert load["reply"]["status"] == "ok", load["reply"]
            tag = f"{TAG_REPO}/s5:r{i}"
            cold = run_magic(kernel, sc, ctx, tag)
            warm = run_magic(kernel, sc, ctx, tag)
            row = {
                "kernel_start": kernel.startup,
                "load_ext": load["seconds"],
                "cold_first_display": cold["first_display"],
                "cold_first_comm_open": cold["first_comm_open"],
                "cold_total": cold["seconds"],
                "warm_first_display": warm["first_display"],
                "warm_first_comm_open": warm["first_comm_open"],
                "warm_total": warm["seconds"],
                "live_mode": cold["live_mode"] and warm["live_mode"],
                "ok": cold["ok"] and warm["ok"],
            }
            rows.append(row)
            log(
                f"s5 run {i + 1}/{n} kernel {kernel.startup:.2f}s load_ext "
                f"{row['load_ext'] * 1000:.0f}ms first paint cold "
                f"{(row['cold_first_display'] or -1) * 1000:.0f}ms warm "
                f"{(row['warm_first_display'] or -1) * 1000:.0f}ms"
            )
            remove_image(tag)
        finally:
            kernel.close()
    shutil.rmtree(ctx, ignore_errors=True)
    return {"rows": rows}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="fewer runs (a smoke run)")
    ap.add_argument("--only", default="s1,s2,s3,s4,s5", help="scenarios, e.g. s2,s4")
    ap.add_argument(
        "--no-report",
        action="store_true",
        help="do not rewrite RESULTS.md (--quick and --only never do: they print their tables)",
    )
    args = ap.parse_args(argv)
    only = set(args.only.split(","))

    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH")) if p)
    env.pop("DOCKER_BUILDKIT", None)
    sys.path.insert(0, str(REPO))
    import jupyter_dockerbuild

    jupyter_dockerbuild.ensure_base_image()
    left = cleanup_images()
    if left:
        log(f"removed {left} images left over by an earlier benchmark run")
    if "s3" in only:
        free = shutil.disk_usage("/var/lib/docker" if os.path.isdir("/var/lib/docker") else "/")
        if free.free < 10 * 2**30:
            log(f"only {free.free / 2**30:.1f} GiB free: skipping s3 (needs ~4 GiB)")
            only.discard("s3")

    info = machine_info()
    info["quick"] = args.quick
    info["command"] = "bench/run.sh" + (" --quick" if args.quick else "")
    if args.only != ap.get_default("only"):
        info["command"] += f" --only {args.only}"
    results: dict[str, Any] = {"machine": info, "scenarios": {}}
    t_start = time.perf_counter()
    work = Path(tempfile.mkdtemp(prefix="jdb-bench-"))
    workers: dict[str, Worker] = {}
    kernel: Kernel | None = None
    try:
        todo = [s for s in scenarios(args.quick) if s.key in only]
        if todo:
            workers = {t: Worker(t, env) for t in ("dockerpy", "api")}
            kernel = Kernel(env)
            load = kernel.execute("%load_ext jupyter_dockerbuild")
            assert load["reply"]["status"] == "ok", load["reply"]
            # One untimed build per tool: imports and connections warm, like a session.
            warm = scenarios(True)[3]
            results["warmup"] = {}
            for tool in TOOLS:
                ctx = work / f"warm-{tool}"
                ctx.mkdir()
                (ctx / "Dockerfile").write_text(warm.dockerfile)
                (ctx / "hello.txt").write_text(warm.files["hello.txt"])
                tag = f"{TAG_REPO}/warm:{tool}"
                if tool == "cli":
                    res = run_cli(warm, ctx, tag)
                    if not res["classic"]:
                        raise SystemExit("DOCKER_BUILDKIT=0 docker build: not the classic builder")
                elif tool == "magic":
                    res = run_magic(kernel, warm, ctx, tag)
                    if not res["live_mode"]:
                        raise SystemExit("%%dockerbuild did not show the live view in the kernel")
                else:
                    res = workers[tool].build(warm, ctx, tag)
                if not res["ok"]:
                    raise SystemExit(f"warm-up build with {tool} failed: {res.get('error')}")
                results["warmup"][tool] = res["seconds"]
        for sc in todo:
            assert kernel is not None
            log(f"== {sc.key}: {sc.title} ({sc.runs} runs)")
            results["scenarios"][sc.key] = run_scenario(sc, work, workers, kernel, TOOLS)
        if kernel is not None:
            kernel.close()
            kernel = None
        if "s5" in only:
            log("== s5: %load_ext and time to first paint, fresh kernels")
            results["startup"] = run_startup(2 if args.quick else 5, env, work)
    finally:
        for w in workers.values():
            w.close()
        if kernel is not None:
            kernel.close()
        shutil.rmtree(work, ignore_errors=True)
        removed = cleanup_images()
        log(f"cleanup: removed {removed} images")
    info["loadavg_end"] = os.getloadavg()
    info["wall_seconds"] = round(time.perf_counter() - t_start, 1)
    stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    out_dir = HERE / "results"
    out_dir.mkdir(exist_ok=True)
    out_path = out_dir / f"{stamp}{'-quick' if args.quick else ''}.json"
    out_path.write_text(json.dumps(results, indent=1, default=str) + "\n")
    log(f"raw results: {out_path.relative_to(REPO)} ({info['wall_seconds']}s)")
    from report import summary, write_report

    if args.quick or args.only != ap.get_default("only"):
        # A smoke run: print its tables, leave RESULTS.md to full runs.
        print(summary(results))
    elif not args.no_report:
        log(f"wrote {write_report(out_path).relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
