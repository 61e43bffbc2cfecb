"""The progress model on the daemon's real captures: events in, steps/log/result out.

No daemon: each test folds a capture's messages into a ``BuildState`` built from a
Dockerfile reconstructed from its ``Step k/N`` lines, with a fake clock (event ``i``
arrives at ``t = 101 + i``), and checks concrete values taken from the capture.
"""

from __future__ import annotations

import random
import re
import string

import pytest
from capture import (
    FakeClock,
    events,
    fold,
    load_capture,
    reconstruct_dockerfile,
    step_headers,
    stream_captures,
)

from jupyter_dockerbuild.builder.dockerfile import parse
from jupyter_dockerbuild.builder.result import render_summary
from jupyter_dockerbuild.builder.state import (
    STEP_TAIL,
    BuildState,
    CappedLog,
    Download,
    strip_ansi,
)
from jupyter_dockerbuild.ui.html import render_html

S01_ID = "sha256:de593cde475b2459f19b925e821b8e41d463baec11f33a53fe851f68853863fb"
S02_ERROR = (
    'The command \'/bin/sh -c echo "about to fail" && echo "err msg" >&2 && exit 3\' '
    "returned a non-zero code: 3"
)
MARK_RE = re.compile(r"\n\.\.\. \[([\d,]+) characters of log truncated\] \.\.\.\n")


def build(name: str, *, line_offset: int = 0, extra: tuple[str, ...] = (), **kwargs):
    """Fold capture ``name`` into a state; returns (state, clock, {step: dockerfile line})."""
    dockerfile, where = reconstruct_dockerfile(name, extra)
    clock = FakeClock()
    state = BuildState(dockerfile, line_offset=line_offset, clock=clock, **kwargs)
    fold(state, name, clock)
    clock.t += 1
    return state, clock, where


def stream_text(name: str) -> str:
    return "".join(e["stream"] for e in events(name) if "stream" in e)


def all_output(state: BuildState) -> list[str]:
    return [line for step in state.steps for line, _ in step.output]


# -- s01: a successful build ------------------------------------------------------


def test_s01_success() -> None:
    state, _, where = build("s01_success_multistep", line_offset=1, tags=["probe-base:latest"])
    assert state.status == "running" and state.total_steps == 7
    state.finish()
    assert state.status == "succeeded"
    assert state.image_id == S01_ID
    assert state.tagged == ["probe-base:latest"]
    assert [s.instruction for s in state.steps] == [
        "FROM scratch",
        "COPY busybox /bin/busybox",
        'RUN ["/bin/busybox","--install","-s","/bin"]',
        "ENV FOO=bar",
        'RUN echo "hello from build" && echo "second line" && echo "to stderr" >&2',
        "WORKDIR /app",
        'CMD ["/bin/sh"]',
    ]
    # ` ---> Using cache` marks steps 2 and 3 cached.
    assert [s.cached for s in state.steps] == [False, True, True, False, False, False, False]
    assert [s.status for s in state.steps] == ["done", "cached", "cached"] + ["done"] * 4
    assert [s.line for s in state.steps] == [4, 6, 8, 10, 11, 17, 18] == list(where.values())
    # Step 5's output: stderr flagged (colour codes stripped), stdout in two lines.
    step5 = state.steps[4]
    assert list(step5.output) == [
        ("to stderr", True),
        ("hello from build", False),
        ("second line", False),
    ]
    assert step5.lines_total == 3
    # Bookkeeping lines are in no step's tail, but they are in the log.
    assert all_output(state) == ["to stderr", "hello from build", "second line"]
    log = state.log_text()
    for line in (
        " ---> Running in f65377cb27ce\n",
        "Removing intermediate container f65377cb27ce\n",
        " ---> Using cache\n",
        " ---> d375570a9557\n",
        "Successfully built de593cde475b\n",
        "Successfully tagged probe-base:latest\n",
    ):
        assert line in log
    assert log == strip_ansi(stream_text("s01_success_multistep"))
    assert "\x1b" not in log and "\x1b[91mto stderr\n\x1b[0m" in state.raw_log()
    assert state.log_total == len(stream_text("s01_success_multistep")) == 851

    result = state.result()
    assert result.ok and result.short_id == "de593cde475b"
    assert result.tags == ("probe-base:latest",)
    assert [s.line for s in result.steps] == [5, 7, 9, 11, 12, 18, 19]  # + line_offset
    assert result.error is None and result.exit_code is None and result.failed_step is None
    assert result.warnings == () and result.unused_build_args == ()
    # Fake clock: event i at t=101+i; a step runs from its header to its " ---> <id>".
    assert [s.duration for s in result.steps] == [2.0, 3.0, 3.0, 4.0, 6.0, 4.0, 4.0]
    assert result.elapsed == 37.0  # 36 events, created at 100, finished at 137
    assert repr(result) == (
        "<BuildResult succeeded de593cde475b tags=['probe-base:latest'] 7 steps in 37.0s>"
    )


def test_s01_nocache() -> None:
    state, _, _ = build("s01_success_multistep_nocache")
    state.finish()
    assert state.image_id == (
        "sha256:48a791ca9c81a0d731b80c6b2f7eeb391095a076f5d23d78e1982b81a0985a2a"
    )
    assert not any(s.cached for s in state.steps)
    assert [s.status for s in state.steps] == ["done"] * 7
    # Here stdout came first, in two messages, then stderr.
    assert list(state.steps[4].output) == [
        ("hello from build", False),
        ("second line", False),
        ("to stderr", True),
    ]
    assert state.tagged == ["probe-s01-nocache:latest"]


# -- failures ---------------------------------------------------------------------


def test_s02_failing_run() -> None:
    # The Dockerfile had a 4th step that the daemon never reached.
    state, clock, where = build("s02_run_exit3", line_offset=1, extra=("RUN echo never",))
    assert where == {1: 4, 2: 6, 3: 8, 4: 13}
    assert [s.status for s in state.steps] == ["done", "done", "failed", "waiting"]
    assert state.error is not None
    assert (state.error.step, state.error.code, state.error.message) == (3, 3, S02_ERROR)
    assert state.tail() == [("about to fail", False), ("err msg", True)]
    assert state.tail(1) == [("err msg", True)]
    assert list(state.steps[1].output) == [("before-fail", False)]
    assert state.steps[3].instruction == "RUN echo never"  # the step that never ran
    state.finish()
    assert state.status == "failed"
    assert state.tail() == [("about to fail", False), ("err msg", True)]
    result = state.result()
    assert not result.ok and result.exit_code == 3 and result.error == S02_ERROR
    assert result.failed_step is not None
    assert result.failed_step.number == 3
    assert result.failed_step.line == where[3] + 1 == 9
    assert result.failed_step.status == "failed"
    assert result.failed_step.duration == 5.0  # header at event 9 (t=110), error at t=115
    assert result.log.endswith(f"err msg\nERROR: {S02_ERROR}\n")
    assert clock.t == 116.0 and result.elapsed == 16.0


def test_s05_oom_kill() -> None:
    state, _, _ = build("s05_oom_kill_64m")
    state.finish()
    assert state.error is not None
    assert state.error.code == 137 and state.error.step == 3
    assert "returned a non-zero code: 137" in state.error.message
    assert [s.status for s in state.steps] == ["done", "done", "failed"]
    assert list(state.steps[1].output) == [("Killed", True), ("exit-status-of-pipe=137", False)]
    assert state.tail() == [("Killed", True)]
    assert state.result().exit_code == 137


def test_s03_from_unknown_image_fails_at_step_1() -> None:
    name = "s03_from_unknown_image_loopback_registry"
    state, _, where = build(name, line_offset=1, extra=("RUN echo unreached",))
    state.finish()
    assert state.error is not None and state.error.step == 1 and state.error.code is None
    assert state.error.message == (
        'Get "http://127.0.0.1:5999/v2/": dial tcp 127.0.0.1:5999: connect: connection refused'
    )
    assert [s.status for s in state.steps] == ["failed", "waiting"]
    result = state.result()
    assert result.failed_step is not None
    assert result.failed_step.instruction == "FROM 127.0.0.1:5999/probe-nope:1.0"
    assert result.failed_step.line == where[1] + 1 == 5
    assert state.tail() == []


def test_s08_quiet_failure_flushes_the_whole_log() -> None:
    state, _, _ = build("s08_quiet_q1_failure")
    state.finish()
    assert state.status == "failed" and state.error is not None
    assert (state.error.step, state.error.code) == (2, 3)
    assert state.tail() == [("hidden-err", True), ("hidden", False)]


def test_fail_outside_the_stream() -> None:
    state2 = BuildState(reconstruct_dockerfile("s01_success_multistep")[0], clock=FakeClock())
    fold(state2, "s01_success_multistep", until=20)  # in step 5, after "to stderr"
    state2.fail("connection reset by peer")
    assert state2.status == "failed"
    assert state2.error is not None and state2.error.step == 5 and state2.error.code is None
    assert state2.error.message == "connection reset by peer"
    assert state2.steps[4].status == "failed"
    # After an in-stream error, fail() keeps code and step and replaces the message.
    s02, _, _ = build("s02_run_exit3")
    s02.fail("explained")
    assert s02.error is not None and (s02.error.step, s02.error.code) == (3, 3)
    assert s02.result().error == "explained"


def test_stream_ending_without_image_is_a_failure() -> None:
    state, _, _ = build("s06_cancel_close_after_2s")
    state.finish()
    assert state.status == "failed"
    assert state.error is not None
    assert state.error.message == "the build ended without an image id"
    assert state.error.step == 2 and state.steps[1].status == "failed"


# -- success variants ---------------------------------------------------------------


def test_s13_multistage_last_aux_wins() -> None:
    state, _, _ = build("s13_multistage_full")
    auxes = [e["aux"]["ID"] for e in events("s13_multistage_full") if "aux" in e]
    assert len(auxes) == 2
    state.finish()
    assert (
        state.image_id
        == auxes[-1]
        == ("sha256:7b4dd76896789753a889adb0511416ddedd8f676f6c8a66dd7db8f6ff33de7dc")
    )
    assert [s.status for s in state.steps] == ["done"] * 4
    assert [list(s.output) for s in state.steps] == [
        [],
        [("in-first", False)],
        [],
        [("in-second", False)],
    ]
    # Step 2 starts at event 3 (t=104) and ends at its " ---> <id>" (event 8, t=109).
    assert state.result().steps[1].duration == 5.0


def test_s14_download_progress() -> None:
    clock = FakeClock()
    name = "s14_add_url_progress_status"
    state = BuildState(reconstruct_dockerfile(name)[0], clock=clock)
    fold(state, name, clock, until=6)  # up to the first progress message
    assert state.downloads == {"download": Download("Downloading", 226304, 20000000)}
    assert state.current is not None and state.current.number == 2
    fold(state, name, clock)
    state.finish()
    assert state.downloads == {"download": Download("Downloading", 20000000, 20000000)}
    assert state.status == "succeeded"
    assert state.image_id == (
        "sha256:b5b25f5477296f63aedcb6d060105f75bffb38504d47fb00feab4d19c5c27782"
    )
    assert "20MB/20MB" not in state.log_text()  # progress bars stay out of the log
    assert state.steps[2].output[-1] == (
        "-rw-------    1 0        0         20000000 Nov 26 21:26 /blob.bin",
        False,
    )


def test_s04_unused_build_args() -> None:
    state, _, _ = build("s04_buildargs_unconsumed")
    state.finish()
    assert state.unused_build_args == ["UNDECLARED1", "ANOTHER_UNUSED"]  # the daemon's order
    warning = "[Warning] One or more build-args [UNDECLARED1 ANOTHER_UNUSED] were not consumed"
    assert state.warnings == [warning]
    assert warning in state.log_text()
    assert warning not in all_output(state)
    result = state.result()
    assert result.ok and result.unused_build_args == ("UNDECLARED1", "ANOTHER_UNUSED")
    assert result.warnings == (warning,)
    assert list(state.steps[3].output) == [("DECLARED=from-api WITHDEFAULT=dflt", False)]


def test_s08_quiet_success_image_from_single_message() -> None:
    (event,) = events("s08_quiet_q1")
    assert event == {
        "stream": "sha256:31034e7c10957899a30c96bf5b51398822513b66178543216293d16b3bd4cdc5\n"
    }
    state = BuildState("FROM probe-base:latest\nRUN echo hi\n", clock=FakeClock())
    state.apply(event)
    state.finish()
    assert state.status == "succeeded"
    assert state.image_id == event["stream"].strip()
    assert list(state.preamble) == []  # not taken for output
    # q=1 says nothing of the steps: built (the image exists), but how is unknown.
    assert [s.status for s in state.steps] == ["unreported", "unreported"]
    summary = render_summary(state)
    assert " 2 steps: not reported by the daemon (quiet: it sent only the image id)" in summary
    final = render_html(state, final=True)
    assert "full log (1 line) · 2 steps not reported by the daemon" in final
    assert 'class="jdb-step jdb-unreported"' in final and "jdb-waiting" not in final
    assert event["stream"].strip() in final  # the log: what the daemon sent


def test_s15_several_tags() -> None:
    tags = ["probe-s15-a", "probe-s15-b:v2", "localhost:5000/probe-s15-c:1"]
    state, _, _ = build("s15_multiple_tags", tags=tags)
    state.finish()
    assert state.tagged == ["probe-s15-a:latest", "probe-s15-b:v2", "localhost:5000/probe-s15-c:1"]
    assert state.result().tags == tuple(tags)
    assert state.image_id == (
        "sha256:0c943cee4637fc7badd592b3b2c09bb0787a114d663352c71a99473e0ef6b934"
    )


# -- cancel -------------------------------------------------------------------------


def test_s06_cancel() -> None:
    state, clock, _ = build("s06_cancel_close_after_2s", line_offset=1)
    # The stream just stops (the client closed the connection) in step 2.
    assert state.status == "running"
    assert [s.status for s in state.steps] == ["done", "running"]
    assert state.tail() == [("start-sleep", False)]
    clock.t = 110.0
    state.cancel()
    assert state.status == "cancelled"
    assert [s.status for s in state.steps] == ["done", "cancelled"]
    result = state.result()
    assert result.status == "cancelled" and result.error is None and result.failed_step is None
    assert result.elapsed == 10.0
    # step 1 ends at its " ---> <id>" (t=103); step 2 runs from t=104 to the cancel at 110
    assert [s.duration for s in result.steps] == [2.0, 6.0]


def test_s06_half_close_reports_build_cancelled() -> None:
    state, _, _ = build("s06_halfclose_shut_wr")
    state.finish()
    assert state.status == "failed"
    assert state.error is not None and state.error.message == "Build cancelled"
    assert "Build cancelled\nERROR: Build cancelled\n" in state.log_text()
    # The cancel came after step 1 had committed its image: no step is blamed for it.
    assert state.steps[0].status == "done" and state.error.step is None


# -- big output: bounded memory, exact counts -----------------------------------------


def test_s07_large_output_tail_bounded_and_count_exact() -> None:
    name = "s07_large_output_200k"
    body = load_capture(name).body
    # From the bytes: the RUN output lies between "Running in" and "Removing"; each
    # line ends in an escaped \n in the JSON.
    start = body.index(b"Running in")
    start = body.index(b"\r\n", start) + 2
    end = body.index(b'{"stream":"Removing intermediate')
    expected_lines = body[start:end].count(b"\\n")
    assert expected_lines == 200000  # `seq 1 200000`

    clock = FakeClock()
    state = BuildState(reconstruct_dockerfile(name)[0], clock=clock)
    evs = events(name)
    running = next(i for i, e in enumerate(evs) if "Running in" in e.get("stream", ""))
    removing = next(i for i, e in enumerate(evs) if "Removing" in e.get("stream", ""))
    for i, event in enumerate(evs):
        state.apply(event)
        if running < i < removing:
            # Messages cut lines anywhere: the tail must still hold whole numbers in
            # sequence, the last one possibly partial.
            lines = [line for line, _ in state.tail(40)]
            numbers = [int(x) for x in lines[:-1]]
            assert numbers == list(range(numbers[0], numbers[0] + len(numbers))), i
            assert str(numbers[-1] + 1).startswith(lines[-1]), i
    state.finish()
    step = state.steps[1]
    assert step.lines_total == expected_lines
    assert len(step.output) == STEP_TAIL == 200
    assert [line for line, _ in step.output] == [str(n) for n in range(199801, 200001)]
    assert state.log_total == len(stream_text(name))
    assert "truncated" not in state.log_text()  # 1.4 MB is under the default cap


def test_s07_utf8_output_keeps_replacement_characters() -> None:
    state, _, _ = build("s07_utf8_split_and_binary")
    state.finish()
    lines = [line for line, _ in state.steps[1].output]
    assert len(lines) == 3 == state.steps[1].lines_total
    assert lines[0].count("€") == 19991 and lines[0].count("\ufffd") == 27
    assert lines[1:] == ["bin:\ufffd\ufffd:end", "tab\there\x01ctl"]


def test_small_log_limit_truncates_in_the_middle() -> None:
    name = "s07_large_output_200k"
    limit = 64 * 1024
    clock = FakeClock()
    state = BuildState(reconstruct_dockerfile(name)[0], clock=clock, log_limit=limit)
    full = stream_text(name)
    pieces = [e["stream"] for e in events(name) if "stream" in e]
    seen, cursor = [], 0
    for event in events(name):
        state.apply(event)
        text, cursor = state.log_since(cursor)
        seen.append(text)
    # A reader that keeps up gets every character, although the log dropped most.
    assert "".join(seen) == full and cursor == len(full) == state.log_total
    log = state.raw_log()
    mark = MARK_RE.search(log)
    assert mark is not None
    dropped = int(mark.group(1).replace(",", ""))
    head, tail = log[: mark.start()], log[mark.end() :]
    assert len(head) + dropped + len(tail) == len(full)
    assert full.startswith(head) and full.endswith(tail)
    assert head.startswith(
        "Step 1/2 : FROM probe-base:latest\n ---> de593cde475b\n"
        "Step 2/2 : RUN seq 1 200000\n ---> Running in d8ef6cf18fa2\n1\n2\n3\n"
    )
    assert tail.endswith(
        "199999\n200000\nRemoving intermediate container d8ef6cf18fa2\n"
        " ---> 1dfe1b0bdbae\nSuccessfully built 1dfe1b0bdbae\n"
    )
    assert len(head) + len(tail) <= limit + max(map(len, pieces))
    assert dropped > len(full) - 2 * limit
    # A reader that fell behind gets the mark, then the newest text.
    late, end = state.log_since(len(head) + 10)
    assert end == len(full) and late == log[mark.start() :]
    assert state.log_since(5) == (log[5:], len(full))
    assert state.log_since(len(full)) == ("", len(full))
    # The step's counters do not depend on the log cap.
    assert state.steps[1].lines_total == 200000


def _text(rng: random.Random, start: int, n: int) -> str:
    # Position-dependent characters, so an off-by-one shows as a wrong character.
    alphabet = string.ascii_letters + string.digits + "\n€"
    return "".join(alphabet[(start + i) % len(alphabet)] for i in range(n))


@pytest.mark.parametrize("seed", range(40))
def test_capped_log_since_matches_reference(seed: int) -> None:
    rng = random.Random(seed)
    limit = rng.choice([1024, 1500, 3000])
    log = CappedLog(limit)
    ref = ""
    reader, cursor = "", 0
    largest = 0
    for _ in range(rng.randint(1, 120)):
        n = rng.choice([0, 1, 5, 40, 200, 700, 1500]) + rng.randint(0, 9)
        piece = _text(rng, len(ref), n)
        log.append(piece)
        ref += piece
        largest = max(largest, n)
        assert log.total == len(ref)
        # A reader that polls after every append sees exactly what was appended.
        got, cursor = log.since(cursor)
        reader += got
        assert reader == ref
        # Any cursor: the reference minus what was dropped, with the mark in its place.
        text = log.text()
        mark = MARK_RE.search(text)
        if mark is None:
            assert text == ref and log.dropped == 0
            head, tail, kept_from = ref, "", len(ref)
        else:
            head, tail = text[: mark.start()], text[mark.end() :]
            dropped = int(mark.group(1).replace(",", ""))
            assert dropped == log.dropped > 0
            assert len(head) + dropped + len(tail) == len(ref)
            assert ref.startswith(head) and ref.endswith(tail)
            assert len(head) >= limit // 4  # the head is kept whole
            assert tail.endswith(piece)  # the newest text is always kept
            # A soft cap: the head may overshoot by one piece, the tail keeps >= 1 piece.
            assert len(head) + len(tail) <= limit + 2 * largest
            kept_from = len(ref) - len(tail)
        for c in {0, len(head) - 1, len(head), kept_from - 1, kept_from, len(ref), 10**9} | {
            rng.randint(0, len(ref)) for _ in range(5)
        }:
            if c < 0:
                continue
            got, new = log.since(c)
            assert new == len(ref)
            if c >= kept_from or mark is None:
                assert got == ref[c:], (seed, c)
            elif c < len(head):
                assert got == ref[c : len(head)] + mark.group(0) + tail, (seed, c)
            else:
                assert got == mark.group(0) + tail, (seed, c)


def test_capped_log_minimum_and_empty_appends() -> None:
    log = CappedLog(10)
    assert log.limit == 1024  # a cap below 1 KiB would make no sense
    log.append("")
    assert log.total == 0 and log.text() == "" and log.since(0) == ("", 0)
    log.append("abc")
    assert log.since(1) == ("bc", 3)


# -- the Dockerfile's steps against the captures ---------------------------------------


@pytest.mark.parametrize("name", [n for n in stream_captures() if step_headers(n)])
def test_every_capture_folds_consistently(name: str) -> None:
    headers = step_headers(name)
    total = headers[0][1]
    # Failed builds stop early: the Dockerfile also had the steps never reached.
    unreached = tuple(f"RUN echo unreached-{k}" for k in range(len(headers) + 1, total + 1))
    dockerfile, where = reconstruct_dockerfile(name, unreached)
    found = parse(dockerfile).instructions
    assert [i.line for i in found] == list(where.values())
    keywords = [t.split()[0] for _, _, t in headers] + ["RUN"] * len(unreached)
    assert [i.keyword for i in found] == keywords
    clock = FakeClock()
    state = BuildState(dockerfile, clock=clock)
    fold(state, name, clock)
    state.finish()
    assert state.total_steps == total == len(state.steps)
    for number, _, text in headers:
        step = state.steps[number - 1]
        assert (step.instruction, step.line) == (text, where[number])
        assert step.status != "waiting"
    assert all(s.status == "waiting" for s in state.steps[len(headers) :])
    errors = [e for e in events(name) if "errorDetail" in e]
    auxes = [e["aux"]["ID"] for e in events(name) if "aux" in e]
    tagged = [
        e["stream"][len("Successfully tagged ") :].strip()
        for e in events(name)
        if e.get("stream", "").startswith("Successfully tagged ")
    ]
    assert state.tagged == tagged
    if errors:
        assert state.status == "failed" and state.error is not None
        assert state.error.message == errors[-1]["errorDetail"]["message"]
        assert state.error.code == errors[-1]["errorDetail"].get("code")
        # The failed step is the one running when the error came; only the half-close
        # capture errs between steps (after step 1's " ---> <id>").
        assert (state.result().failed_step is None) == (name == "s06_halfclose_shut_wr")
    elif auxes:
        assert state.status == "succeeded" and state.image_id == auxes[-1]
    else:  # the cancelled capture: the stream just stopped
        assert name == "s06_cancel_close_after_2s"
        assert state.status == "failed" and state.image_id is None


# -- the daemon's numbering vs ours ---------------------------------------------------


def test_api_labels_add_steps_lines_kept_where_keyword_matches() -> None:
    # labels= on the API makes the daemon append one LABEL step per label: 3 -> 5 steps.
    dockerfile = (
        "# probe with labels\n"
        "FROM probe-base:latest\n"
        "\n"
        "RUN echo visible-output; cat /etc/hosts | grep -i probe || true\n"
        "# a label of our own\n"
        "LABEL from.dockerfile=yes\n"
    )
    clock = FakeClock()
    state = BuildState(dockerfile, clock=clock, line_offset=1)
    assert state.total_steps == 3
    fold(state, "s08_labels_extrahosts", clock)
    state.finish()
    assert state.total_steps == 5 and len(state.steps) == 5
    assert [s.line for s in state.steps] == [2, 4, 6, None, None]
    assert [s.instruction for s in state.steps][3:] == [
        "LABEL com.example.probe=v1",
        "LABEL from.dockerfile=overridden-by-api",
    ]
    assert [s.status for s in state.steps] == ["done"] * 5
    assert [s.line for s in state.result().steps] == [3, 5, 7, None, None]


def test_mismatched_keyword_drops_the_line() -> None:
    # Our parse says step 2 is a COPY but the daemon runs a RUN there: don't point at it.
    dockerfile = "FROM probe-base:latest\nCOPY x /x\nRUN echo hidden; echo hidden-err >&2; exit 3\n"
    clock = FakeClock()
    state = BuildState(dockerfile, clock=clock)
    fold(state, "s08_quiet_q1_failure", clock)
    assert state.total_steps == 2 and len(state.steps) == 2  # trust the daemon's count
    assert [s.line for s in state.steps] == [1, None]
    assert state.steps[1].instruction == "RUN echo hidden; echo hidden-err >&2; exit 3"


def test_lowercase_keywords_keep_their_lines() -> None:
    # Keywords are case-insensitive and the daemon echoes the instruction as written
    # ("Step 2/4 : run echo before-fail"): lines must survive either way.
    dockerfile, where = reconstruct_dockerfile("s02_run_exit3", ("RUN echo never",))
    lower = "\n".join(
        line.replace("FROM ", "from ", 1).replace("RUN ", "run ", 1)
        for line in dockerfile.split("\n")
    )
    for echo_lower in (False, True):
        state = BuildState(lower, clock=FakeClock())
        for event in events("s02_run_exit3"):
            text = event.get("stream", "")
            if echo_lower and text.startswith("Step "):
                event = {"stream": re.sub(r" : (FROM|RUN) ", lambda m: m.group(0).lower(), text)}
            state.apply(event)
        assert [s.line for s in state.steps] == [where[1], where[2], where[3], where[4]]
        assert state.result().failed_step is not None
        assert state.result().failed_step.line == where[3]


# -- the clock ------------------------------------------------------------------------


def test_injected_clock_drives_running_durations() -> None:
    clock = FakeClock()
    name = "s06_cancel_close_after_2s"
    state = BuildState(reconstruct_dockerfile(name)[0], clock=clock)
    fold(state, name, clock)  # step 2 started at event 3: t=104
    clock.t = 130.0
    assert state.elapsed() == 30.0
    assert state.steps[1].duration(clock()) == 26.0
    # Mid-build results (the text/plain summary of a live build) use the same clock.
    assert [s.duration for s in state.result().steps] == [2.0, 26.0]
    assert state.result().elapsed == 30.0


def test_clock_starting_at_zero() -> None:
    clock = FakeClock(0.0)
    state = BuildState("FROM scratch\n", clock=clock)
    state.apply({"stream": "Step 1/1 : FROM scratch"})
    assert state.steps[0].duration(0.0) == 0.0
    assert state.result().steps[0].duration == 0.0
    clock.t = 2.5
    assert state.result().steps[0].duration == 2.5


# -- carriage-return progress bars (pip, tqdm, curl, apt) ------------------------------

BAR_FRAMES = 30
BAR_BODY = (
    "".join(f"\rDownloading {i}/{BAR_FRAMES}" for i in range(BAR_FRAMES))
    + "\r\n"
    + "50%\r100%\rdone\n"
)
BAR_LINES = [f"Downloading {BAR_FRAMES - 1}/{BAR_FRAMES}", "done"]


def _terminal_line(text: str) -> str:
    """What a terminal shows on the last line of ``text`` (a reference, written apart)."""
    frames = [f for f in text.split("\n")[-1].split("\r") if f]
    return frames[-1] if frames else ""


def _bar_state() -> BuildState:
    state = BuildState("FROM local/busybox\nRUN bar\n")
    for text in (
        "Step 1/2 : FROM local/busybox\n",
        " ---> 0123456789ab\n",
        "Step 2/2 : RUN bar\n",
        " ---> Running in 0123456789ab\n",
    ):
        state.apply({"stream": text})
    return state


def _bar_end(state: BuildState) -> None:
    for text in (" ---> 123456789abc\n", "Successfully built 123456789abc\n"):
        state.apply({"stream": text})
    state.apply({"aux": {"ID": "sha256:" + "1" * 64}})
    state.finish()


@pytest.mark.parametrize("stderr", [False, True], ids=["stdout", "stderr"])
def test_progress_bar_frames_collapse_split_at_every_offset(stderr: bool) -> None:
    wrap = (lambda t: f"\x1b[91m{t}\x1b[0m") if stderr else (lambda t: t)
    for cut in range(len(BAR_BODY) + 1):
        state = _bar_state()
        if BAR_BODY[:cut]:
            state.apply({"stream": wrap(BAR_BODY[:cut])})
        # Mid-line, the tail ends with the frame on screen, never a row per frame.
        shown = [line for line, _ in state.tail(12)]
        assert "\r" not in "".join(shown), (cut, shown)
        assert len(shown) <= 2, (cut, shown)
        if _terminal_line(BAR_BODY[:cut]):
            assert shown[-1] == _terminal_line(BAR_BODY[:cut]), cut
        if BAR_BODY[cut:]:
            state.apply({"stream": wrap(BAR_BODY[cut:])})
        _bar_end(state)
        step = state.steps[1]
        assert [line for line, _ in step.output] == BAR_LINES, cut
        assert step.lines_total == 2, cut
        log = state.log_text()
        assert "\r" not in log, cut
        assert log.splitlines()[-4:-2] == BAR_LINES, (cut, log)
        assert state.result().log == log
        # The raw log keeps every frame the daemon sent.
        assert strip_ansi(state.raw_log()).count("Downloading ") == BAR_FRAMES


def test_progress_bar_one_character_at_a_time() -> None:
    state = _bar_state()
    sizes = []
    for char in BAR_BODY:
        state.apply({"stream": char})
        sizes.append(sum(len(line) for line, _ in state.tail(12)))
    _bar_end(state)
    assert [line for line, _ in state.steps[1].output] == BAR_LINES
    # What the live view is given stays one line's worth, whatever the frame count.
    assert max(sizes) <= 2 * len(BAR_LINES[0]) + 2


def test_progress_bar_final_html_counts_one_line_per_bar() -> None:
    state = _bar_state()
    cut = BAR_BODY.index("\r\n")
    state.apply({"stream": BAR_BODY[:cut]})
    live = render_html(state)
    assert live.count("Downloading") == 1, live
    state.apply({"stream": BAR_BODY[cut:]})
    _bar_end(state)
    final = render_html(state, final=True)
    log = state.log_text()
    assert f"full log ({len(log.splitlines())} lines)" in final
    assert final.count(f"Downloading {BAR_FRAMES - 1}/{BAR_FRAMES}") == 1
    assert "Downloading 0/" not in final
