"""A long-lived build worker for the benchmarks: docker-py or our Python API, warm.

``python bench/worker.py api|dockerpy`` imports everything once, says ``ready`` on
stdout, then reads one JSON request per line on stdin and answers one JSON line per
build. Only the build call itself is timed (what a user of an already running kernel
or script pays), with the CPU time it used (user + system, all threads), and the peak
RSS growth during the call is measured from the process's own ``VmHWM``, reset before
each build via ``/proc/self/clear_refs``.
"""

from __future__ import annotations

import json
import resource
import sys
import time
from typing import Any


def _status_kb(field: str) -> int:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def _reset_peak() -> bool:
    """Reset VmHWM to the current RSS (Linux >= 4.0); False if not allowed."""
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
        return True
    except OSError:
        return False


#: When the daemon announced "Step 1/N" in the current build (perf_counter), i.e. when
#: it had received and unpacked the whole context.
_first_step: list[float] = []


def _note_step_one(events: list[dict[str, Any]]) -> None:
    if not _first_step:
        for event in events:
            if str(event.get("stream", "")).startswith("Step 1/"):
                _first_step.append(time.perf_counter())
                break


def _time_step_one() -> None:
    """Wrap the decoder the builder uses, to timestamp "Step 1/N" (harness only)."""
    import jupyter_dockerbuild.builder.pipeline as builder

    class TimedDecoder(builder.JSONStreamDecoder):
        def feed(self, data: bytes) -> list[dict[str, Any]]:
            events = super().feed(data)
            _note_step_one(events)
            return events

    builder.JSONStreamDecoder = TimedDecoder  # type: ignore[misc]


def _build_api(req: dict[str, Any]) -> dict[str, Any]:
    import jupyter_dockerbuild as jd

    try:
        result = jd.build(
            None,
            context=req["context"],
            tags=[req["tag"]],
            no_cache=req["no_cache"],
            network="none",
        )
    except jd.BuildError as exc:
        return {"ok": False, "error": str(exc)}
    return {
        "ok": result.ok,
        "image_id": result.image_id,
        "steps": len(result.steps),
        "cached": sum(1 for s in result.steps if s.cached),
        "log_chars": len(result.log),
    }


def _build_dockerpy(client: Any, req: dict[str, Any]) -> dict[str, Any]:
    image_id = None
    error = None
    steps = cached = 0
    events = 0
    for event in client.build(
        path=req["context"],
        tag=req["tag"],
        nocache=req["no_cache"],
        network_mode="none",
        rm=True,
        forcerm=True,
        decode=True,
    ):
        events += 1
        _note_step_one([event])
        text = event.get("stream", "")
        if text.startswith("Step "):
            steps += 1
        elif text == " ---> Using cache\n":
            cached += 1
        if "aux" in event and "ID" in event["aux"]:
            image_id = event["aux"]["ID"]
        if "errorDetail" in event:
            error = event["errorDetail"].get("message")
    return {
        "ok": error is None and image_id is not None,
        "error": error,
        "image_id": image_id,
        "steps": steps,
        "cached": cached,
        "events": events,
    }


def main() -> None:
    tool = sys.argv[1]
    client = None
    if tool == "dockerpy":
        import docker

        client = docker.APIClient(base_url="unix:///var/run/docker.sock", version="auto")
    elif tool == "api":
        # Load what build() loads lazily, as a kernel that already built once would have.
        import jupyter_dockerbuild.builder.options
        import jupyter_dockerbuild.builder.pipeline
        import jupyter_dockerbuild.engine.client  # noqa: F401

        _time_step_one()
    else:
        raise SystemExit(f"unknown tool {tool!r}")
    can_reset = _reset_peak()
    print(json.dumps({"ready": True, "can_reset_peak": can_reset}), flush=True)
    for line in sys.stdin:
        req = json.loads(line)
        _reset_peak()
        rss_before = _status_kb("VmRSS")
        ru0 = resource.getrusage(resource.RUSAGE_SELF)
        _first_step.clear()
        t0 = time.perf_counter()
        try:
            if tool == "api":
                out = _build_api(req)
            else:
                out = _build_dockerpy(client, req)
        except Exception as exc:  # report, keep serving
            out = {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
        out["seconds"] = time.perf_counter() - t0
        out["first_step_s"] = _first_step[0] - t0 if _first_step else None
        ru1 = resource.getrusage(resource.RUSAGE_SELF)
        out["cpu_seconds"] = (ru1.ru_utime - ru0.ru_utime) + (ru1.ru_stime - ru0.ru_stime)
        out["rss_before_kb"] = rss_before
        out["hwm_kb"] = _status_kb("VmHWM")
        out["rss_growth_kb"] = max(0, out["hwm_kb"] - rss_before)
        print(json.dumps(out), flush=True)


if __name__ == "__main__":
    main()
