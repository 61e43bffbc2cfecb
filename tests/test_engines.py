"""What newer engines send differently, from real captures of Docker 26.1.5 (API 1.45).

``tests/data/docker-26.1/`` holds exact HTTP responses (status line, headers, chunked
body) recorded from Debian 13's docker.io 26.1.5 started by ``scripts/modern-engine.sh``;
``INDEX.tsv`` lists the request of each. The daemon tests run against that engine in the
matrix too; these pin the differences down without a daemon.
"""

from __future__ import annotations

import csv
import json
from functools import cache
from pathlib import Path

from capture import Capture, FakeClock, parse_response

from jupyter_dockerbuild.builder.classic import explain_error
from jupyter_dockerbuild.builder.options import BuildOptions
from jupyter_dockerbuild.builder.state import BuildState
from jupyter_dockerbuild.engine.client import negotiate_version

DATA = Path(__file__).parent / "data" / "docker-26.1"


@cache
def capture(name: str) -> Capture:
    return parse_response((DATA / f"{name}.raw").read_bytes())


def events(name: str) -> list[dict]:
    return [json.loads(part) for part in capture(name).body.split(b"\r\n") if part.strip()]


def folded(name: str, dockerfile: str, line_offset: int = 0) -> BuildState:
    clock = FakeClock()
    state = BuildState(dockerfile, line_offset=line_offset, clock=clock)
    for i, event in enumerate(events(name)):
        clock.t = 101.0 + i
        state.apply(event)
    state.finish()
    return state


def test_index_lists_every_capture():
    with open(DATA / "INDEX.tsv", newline="", encoding="utf-8") as fh:
        rows = {row["capture"]: row for row in csv.DictReader(fh, delimiter="\t")}
    assert set(rows) == {p.stem for p in DATA.glob("*.raw")}
    for name, row in rows.items():
        assert row["status"].split()[1] == str(capture(name).status)
        assert capture(name).complete


def test_version_and_ping_negotiate_1_45():
    version = json.loads(capture("version").body)
    assert (version["Version"], version["ApiVersion"], version["MinAPIVersion"]) == (
        "26.1.5+dfsg1",
        "1.45",
        "1.24",
    )
    assert negotiate_version(version["ApiVersion"], version["MinAPIVersion"]) == "1.45"
    ping = capture("ping")
    assert ping.body == b"OK" and ping.headers["api-version"] == "1.45"
    # BuildKit is the default builder; /build without version=2 is still the classic one.
    assert ping.headers["builder-version"] == "2"


DOCKERFILE_OK = "FROM local/busybox:latest\nRUN echo hello-26\nENV A=1\n"


def test_removed_intermediate_container_is_bookkeeping_not_output():
    # 20.10 says "Removing intermediate container <id>"; 26.1 " ---> Removed ...".
    sent = [e.get("stream", "") for e in events("build_run_env_rm")]
    assert sum(s.startswith(" ---> Removed intermediate container ") for s in sent) == 2
    state = folded("build_run_env_rm", DOCKERFILE_OK)
    assert state.status == "succeeded"
    assert [s.status for s in state.steps] == ["done", "done", "done"]
    assert [list(s.output) for s in state.steps] == [[], [("hello-26", False)], []]
    assert [s.lines_total for s in state.steps] == [0, 1, 0]
    assert " ---> Removed intermediate container " in state.log_text()  # the log keeps it
    aux = [e["aux"]["ID"] for e in events("build_run_env_rm") if "aux" in e]
    assert state.image_id == aux[-1] and len(state.image_id) == 71
    assert state.image_id.startswith("sha256:")
    # Timing: step 2 ends at its " ---> <id>", not at the bookkeeping line before it.
    result = state.result()
    assert all(s.duration is not None and s.duration > 0 for s in result.steps)


def test_failed_run_keeps_its_output_and_exit_code():
    dockerfile = "FROM local/busybox:latest\nRUN echo about-to-fail && echo err-msg >&2 && exit 3\n"
    state = folded("build_run_exit3", dockerfile)
    assert state.status == "failed"
    assert state.error is not None and state.error.code == 3 and state.error.step == 2
    assert list(state.steps[1].output) == [("about-to-fail", False), ("err-msg", True)]
    message = explain_error(state.error.message, state.error.code, BuildOptions(), state)
    # The step, its line and the daemon's words, which quote the command once.
    assert message == (
        "step 2/2 (line 2): The command '/bin/sh -c echo about-to-fail && echo err-msg >&2 "
        "&& exit 3' returned a non-zero code: 3"
    )
    assert message.count("about-to-fail") == 1


def test_parse_error_names_the_cell_line_on_both_engines():
    body = json.loads(capture("build_parse_error").body)
    assert capture("build_parse_error").status == 400
    modern = body["message"]
    assert modern == "dockerfile parse error on line 2: unknown instruction: FOOBAR"
    old = "dockerfile parse error line 2: unknown instruction: FOOBAR"  # dockerd 20.10
    for message in (old, modern):
        # In the magic the Dockerfile starts on the cell's second line.
        state = BuildState("FROM local/busybox:latest\nFOOBAR baz\n", line_offset=1)
        assert explain_error(message, None, BuildOptions(), state) == f"{message} (cell line 3)"
