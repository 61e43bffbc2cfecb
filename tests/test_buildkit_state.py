"""BuildKit's progress folded into state and printed like buildx, on the real captures.

Every capture is fed through the real JSON stream decoder cut at every offset (events
compared), byte by byte and in random pieces (whole fold and plain output compared):
however the bytes arrive, the user sees the same steps, logs, image and failure.
"""

from __future__ import annotations

import bisect
import random
import re
from typing import Any

import bkcapture as bk
import pytest
from bkcapture import Ts

from jupyter_dockerbuild.builder.buildkit_plain import PlainPrinter, format_bytes, log_time
from jupyter_dockerbuild.builder.buildkit_state import (
    MAX_CHARS,
    MAX_LINES,
    BuildKitState,
    Label,
    VertexLog,
    VertexState,
    parse_label,
)
from jupyter_dockerbuild.engine.buildkit import STDERR, STDOUT
from jupyter_dockerbuild.engine.stream import JSONStreamDecoder
from jupyter_dockerbuild.errors import StreamError

NAMES = bk.names()
#: Captures up to this size are cut at every offset; bigger ones at sampled offsets.
SMALL = 16 * 1024


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def snapshot(state: BuildKitState) -> dict[str, Any]:
    """Everything a view could show, as plain data."""
    return {
        "vertices": [
            (
                v.digest,
                v.name,
                v.number,
                v.inputs,
                v.started,
                v.completed,
                v.cached,
                v.error,
                dict(v.intervals),
                {k: (s.name, s.current, s.total, s.completed) for k, s in v.statuses.items()},
                [(line.number, line.stream, line.timestamp, line.text) for line in v.log.lines],
                (v.log.partial(STDOUT), v.log.partial(STDERR)),
                (v.log.dropped, v.log.count, dict(v.log.bytes), dict(v.log.clipped)),
            )
            for v in state
        ],
        "image_id": state.image_id,
        "tags": state.tags,
        "messages": state.messages,
        "error": state.error,
        "counts": state.counts(),
    }


def run(pieces: list[bytes]) -> tuple[dict[str, Any], str]:
    """Decode ``pieces`` with the real decoder, fold and print; the snapshot and text."""
    decoder = JSONStreamDecoder()
    printer = PlainPrinter(BuildKitState(clock=Clock()))
    out: list[str] = []
    for piece in pieces:
        for event in decoder.feed(piece):
            out.append(printer.feed(event))
    for event in decoder.close():
        out.append(printer.feed(event))
    out.append(printer.flush())
    return snapshot(printer.state), "".join(out)


def fold(name: str) -> BuildKitState:
    state = BuildKitState(clock=Clock())
    state.apply_many(bk.oracle_events(name))
    return state


def plain(name: str) -> str:
    printer = PlainPrinter(BuildKitState(clock=Clock()))
    text = "".join(printer.feed(e) for e in bk.oracle_events(name)) + printer.flush()
    if printer.state.error is not None:
        text += printer.summary()
    return text


def by_name(state: BuildKitState, prefix: str) -> VertexState:
    found = [v for v in state if v.name.startswith(prefix)]
    assert len(found) == 1, [v.name for v in state]
    return found[0]


# -- however the bytes are cut ---------------------------------------------------------


@pytest.mark.parametrize("name", NAMES)
def test_every_split_gives_the_same_events(name: str) -> None:
    body = bk.load(name).body
    expected = bk.oracle_events(name)
    # After a message's "\r\n" the decoder is exactly as new (nothing pending, no UTF-8
    # state: the newline is ASCII), so a cut at k inside message m behaves the same on
    # the window from message m-1 to m+1 as on the whole body. Windows keep "every
    # offset" linear in the body's size.
    ends = [0] + [i + 2 for i in range(len(body) - 1) if body[i : i + 2] == b"\r\n"]
    if ends[-1] != len(body):
        ends.append(len(body))
    offsets = range(len(body) + 1)
    if len(body) > SMALL:
        rng = random.Random(name)
        offsets = sorted({0, len(body), *(rng.randrange(len(body)) for _ in range(2000))})
    for k in offsets:
        m = max(0, min(len(ends) - 2, bisect.bisect_right(ends, k) - 1))
        first, last = max(0, m - 1), min(len(ends) - 1, m + 2)
        decoder = JSONStreamDecoder()
        events = decoder.feed(body[ends[first] : k])
        events += decoder.feed(body[k : ends[last]]) + decoder.close()
        assert events == expected[first:last], f"split at {k}"


@pytest.mark.parametrize("name", NAMES)
def test_fold_and_plain_text_do_not_depend_on_how_bytes_arrive(name: str) -> None:
    body = bk.load(name).body
    reference = run([body])
    assert reference[0] == snapshot(fold(name))  # the decoder agrees with the oracle
    small = len(body) <= SMALL
    # Byte by byte: every offset is a read boundary at once.
    if small:
        assert run([body[i : i + 1] for i in range(len(body))]) == reference
    rng = random.Random(f"{name}-pieces")
    ends = [i + 2 for i in range(len(body) - 1) if body[i : i + 2] == b"\r\n"]
    if not small:
        ends = rng.sample(ends, 1)
    cuts = {c for end in ends for c in (end - 1, end, end + 1) if 0 < c < len(body)}
    for cut in sorted(cuts):  # around every message end (the decoder's edge cases)
        assert run([body[:cut], body[cut:]]) == reference, f"split at {cut}"
    for _ in range(30 if small else 1):
        points = sorted(rng.sample(range(1, len(body)), min(len(body) - 1, rng.randint(1, 400))))
        pieces = [body[a:b] for a, b in zip([0, *points], [*points, len(body)], strict=True)]
        assert run(pieces) == reference


# -- what the captures show ------------------------------------------------------------


def test_multistep_success() -> None:
    state = fold("b01_success_multistep")
    meta = bk.meta("b01_success_multistep")
    assert state.image_id == meta["tagged_image_ids"]["bk-rec-b01-success-multistep:latest"]
    assert state.tags == ["bk-rec-b01-success-multistep:latest"]
    assert state.finished and state.error is None and not state.running()
    assert state.counts() == (9, 9)
    assert all(v.done and not v.error for v in state)
    run4 = by_name(state, "[4/5] RUN")
    assert run4.label == Label(run4.name[len("[4/5] ") :], None, 4, 5)
    assert run4.log.tail(10, STDOUT) == ["out-line-1", "out-line-2", "no-newline"]
    assert run4.log.tail(10, STDERR) == ["err-line-1", "err-line-2"]
    assert run4.log.text(STDERR) == "err-line-1\nerr-line-2\n"
    assert 0.3 < (run4.duration() or 0) < 1.0  # the RUN slept 0.3 s
    meta_vertex = by_name(state, "[internal] load metadata")
    assert meta_vertex.label.kind == "internal" and meta_vertex.label.step is None
    run5 = by_name(state, "[5/5] RUN")
    assert run5.log.tail(5) == ["hello from the context", "hi from /work"]
    assert run5.inputs == (run4.digest,)
    assert state.header() == f"FINISHED {state.elapsed():.1f}s (9/9)"
    assert 0.3 < state.elapsed() < 2.0


def test_cached_rebuild_reports_every_step_cached_and_the_same_image() -> None:
    first, again = fold("b01_success_multistep"), fold("b02_cached_rebuild")
    steps = [v for v in again if v.label.step is not None and v.label.step > 1]
    assert [v.label.step for v in steps] == [2, 3, 4, 5]
    assert all(v.cached and v.done for v in steps)
    assert not any(v.log.count for v in again)
    assert again.image_id == first.image_id
    assert "CACHED" in plain("b02_cached_rebuild")


def _runs(name: str) -> int:
    (line,) = [t for v in fold(name) for t in v.log.tail(5) if t.startswith("runs=")]
    return int(line.split("=")[1])


def test_cache_mount_persists_between_builds_and_nocache_empties_it() -> None:
    assert _runs("b04_cache_mount_second") == _runs("b03_cache_mount_first") + 1
    assert _runs("b04b_cache_mount_nocache") == 1
    state = fold("b03_cache_mount_first")
    run = by_name(state, "[stage-0 2/2] RUN --mount=type=cache")
    assert run.label.stage == "stage-0" and run.label.instruction.startswith("RUN --mount")


def test_copy_chmod_mode_is_printed_by_the_next_step() -> None:
    assert "mode=751" in by_name(fold("b05_copy_chmod"), "[3/3] RUN").log.tail(5)


def test_parallel_stages_overlap_and_print_as_interleaved_blocks() -> None:
    state = fold("b06_parallel_stages")
    a, b = by_name(state, "[a 2/2] RUN"), by_name(state, "[b 2/2] RUN")
    assert a.label.stage == "a" and b.label.stage == "b"
    assert a.started is not None and b.started is not None
    assert a.completed is not None and b.completed is not None
    assert a.started < b.completed and b.started < a.completed  # really at the same time
    assert a.log.tail(5) == ["a-start", "a-end"] and b.log.tail(5) == ["b-start", "b-end"]
    final = by_name(state, "[stage-2 4/4] RUN")
    assert final.log.tail(5) == ["a", "b"]
    text = plain("b06_parallel_stages")
    numbers = {m[2]: m[1] for m in re.finditer(r"^#(\d+) \[(a|b) 2/2\] RUN", text, re.M)}
    assert set(numbers) == {"a", "b"}
    for stage in "ab":
        n = numbers[stage]
        assert re.search(rf"^#{n} \d\.\d{{3}} {stage}-start$", text, re.M)
        assert re.search(rf"^#{n} \d\.\d{{3}} {stage}-end$", text, re.M)
        assert re.search(rf"^#{n} DONE 1\.\d+s$", text, re.M)
    # Output of one moved on before the other finished: the interruption mark.
    assert re.search(r"^#\d+ \.\.\.$", text, re.M)


def test_an_unused_failing_stage_is_skipped() -> None:
    state = fold("b07_unused_failing_stage")
    assert not [v for v in state if "never-runs" in v.name]
    assert {v.label.stage for v in state if v.label.step} == {"stage-1"}
    assert state.error is None and state.image_id is not None


def test_failing_run_in_stage_two_of_three() -> None:
    state = fold("b08_fail_exit3_stage2")
    failed = state.failed_vertex()
    assert failed is not None
    assert (failed.label.stage, failed.label.step, failed.label.total) == ("two", 2, 2)
    assert failed.exit_code == 3 and state.exit_code == 3
    assert failed.log.tail(5) == ["about-to-fail", "on-stderr"]
    assert failed.log.tail(5, STDERR) == ["on-stderr"]
    assert state.error is not None and state.error.endswith("exit code: 3")
    assert state.finished and state.image_id is None
    assert not [v for v in state if v.failed and v is not failed]
    done, total = state.counts()
    assert done < total  # the final stage never ran
    text = plain("b08_fail_exit3_stage2")
    assert re.search(r"^#\d+ ERROR: executor failed running .*exit code: 3$", text, re.M)
    assert text.endswith(
        "------\n > [two 2/2] RUN echo about-to-fail && echo on-stderr >&2 && exit 3:\n"
        "about-to-fail\non-stderr\n------\n"
        f"ERROR: {state.error}\n"
    )


def test_an_instant_flood_is_clipped_by_buildkit_at_200kib_per_second() -> None:
    state = fold("b09_flood_instant")
    run = by_name(state, "[2/2] RUN seq")
    assert run.log.clipped == {STDOUT: "200KiB/s", STDERR: "200KiB/s"}
    # 200 KiB of output plus the clip notice, per stream.
    notice = len("\n[output clipped, log limit 200KiB/s reached]\n")
    assert run.log.bytes == {STDOUT: 204800 + notice, STDERR: 204800 + notice}
    assert run.log.tail(1, STDOUT) == ["[output clipped, log limit 200KiB/s reached]"]
    text = plain("b09_flood_instant")
    assert text.count("[output clipped, log limit 200KiB/s reached]") == 2


def test_a_slow_flood_is_clipped_at_2mib_and_memory_stays_bounded() -> None:
    state = fold("b10_flood_slow")
    run = by_name(state, "[2/2] RUN for i")
    assert run.log.clipped == {STDOUT: "2MiB"}
    assert run.log.bytes[STDOUT] == 2 * 1024 * 1024 + len(
        "\n[output clipped, log limit 2MiB reached]\n"
    )
    assert len(run.log.lines) == MAX_LINES
    assert sum(len(line.text) for line in run.log.lines) <= MAX_CHARS
    assert run.log.dropped == run.log.count - MAX_LINES > 200_000
    assert run.log.tail(1) == ["[output clipped, log limit 2MiB reached]"]
    # The oldest kept line is where the budget cut, and numbering never restarts.
    assert run.log.lines[0].number == run.log.dropped + 1
    text = plain("b10_flood_slow")
    assert re.search(r"^#\d+ \[\d+ lines not kept\]$", text, re.M)


def test_carriage_return_progress_keeps_the_last_frame_like_a_terminal() -> None:
    events = bk.oracle_events("b11_progress_cr")
    state = BuildKitState(clock=Clock())
    frames = []
    for event in events:
        change = state.apply(event)
        for digest in change.vertices:
            vertex = state.vertices[digest]
            if vertex.name.startswith("[2/2] RUN") and vertex.log.partial():
                frames.append(vertex.log.partial())
    assert frames[:5] == [f"progress {p}%" for p in (20, 40, 60, 80, 100)]
    run = by_name(state, "[2/2] RUN")
    assert run.log.tail(5) == ["progress 100%", "after-bar"]
    assert re.search(
        r"^#\d+ \d\.\d{3} progress 100%\n#\d+ \d\.\d{3} after-bar$", plain("b11_progress_cr"), re.M
    )


def test_build_args_reach_the_step_and_no_warning_is_sent() -> None:
    state = fold("b12_buildargs_labels")
    run = by_name(state, "[2/2] RUN")
    assert run.name == '[2/2] RUN echo "USED=from-api"'  # the value is in the name
    assert run.log.tail(1) == ["USED=from-api"]
    assert state.warnings == []
    labels = bk.meta("b12_buildargs_labels")["labels"]
    assert labels["org.example.b"] == "two" and labels["stage"] == "label-in-file"


def test_target_stops_at_the_middle_stage() -> None:
    state = fold("b13_target")
    assert {v.label.stage for v in state if v.label.step} == {"first", "middle"}
    assert by_name(state, "[middle 1/1] RUN").log.tail(5) == ["middle", "first"]
    from_vertex = by_name(state, "[first 1/2] FROM")
    assert from_vertex.cached and from_vertex.done


@pytest.mark.parametrize(
    ("name", "words"),
    [
        ("b14_parse_error", "dockerfile parse error line 3: unknown instruction: FOOBAR"),
        ("b16_heredoc", "dockerfile parse error line 3: unknown instruction: ECHO"),
        ("b17_copy_link", "dockerfile parse error line 2: Unknown flag: link"),
    ],
)
def test_frontend_errors_arrive_in_the_stream(name: str, words: str) -> None:
    state = fold(name)
    assert state.error is not None and words in state.error
    assert state.finished and state.image_id is None and state.failed_vertex() is None
    assert bk.index()[name][1] == "HTTP/1.1 200 OK"


def test_closing_the_connection_leaves_the_step_running_in_the_state() -> None:
    capture = bk.load("b15_cancel")
    assert not capture.complete
    state = fold("b15_cancel")
    (running,) = state.running()
    assert running.name.startswith("[2/2] RUN echo started")
    assert running.log.tail(1) == ["started"]
    assert not state.finished and state.error is None
    assert bk.meta("b15_cancel")["step_process_gone_within_s"] is not None


def test_cancel_by_build_id_ends_with_canceled() -> None:
    state = fold("b22_cancel_buildid")
    assert state.cancelled and state.finished and state.failed_vertex() is None
    run = by_name(state, "[2/2] RUN")
    assert run.canceled and not run.failed and run.exit_code == 137
    text = plain("b22_cancel_buildid")
    assert re.search(r"^#\d+ CANCELED$", text, re.M)
    assert not re.search(r"^#\d+ ERROR:", text, re.M)
    assert text.endswith("#5 CANCELED\nERROR: context canceled\n")


def test_a_refused_pull_fails_the_metadata_vertex() -> None:
    state = fold("b18_pull_refused")
    failed = state.failed_vertex()
    assert failed is not None and failed.label.kind == "internal"
    assert "127.0.0.1:5999" in failed.name and "connection refused" in failed.error
    assert state.exit_code is None


def test_quiet_build_gives_the_image_id_as_text() -> None:
    state = fold("b19_quiet_two_tags")
    meta = bk.meta("b19_quiet_two_tags")
    assert state.image_id == meta["tagged_image_ids"]["bk-rec-b19-second:v2"]
    assert list(state) == [] and state.finished


def test_quiet_failure_still_has_the_log() -> None:
    state = fold("b21_quiet_failure")
    failed = state.failed_vertex()
    assert failed is not None and failed.exit_code == 4
    assert failed.log.tail(2) == ["quiet-out", "quiet-err"]


def test_add_url_and_two_tags() -> None:
    state = fold("b23_add_url")
    url = [v for v in state if v.name.startswith("http://127.0.0.1:")]
    assert len(url) == 1 and url[0].label == Label(url[0].name) and url[0].done
    assert by_name(state, "[3/3] RUN").log.tail(1) == ["3145728 /blob.bin"]
    assert fold("b24_two_tags").tags == ["bk-rec-b24-two-tags:latest", "bk-rec-b24-other:v1"]


def test_pull_statuses_give_current_and_total() -> None:
    state = fold("b25_pull_loopback_registry")
    pull = by_name(state, "[1/2] FROM 127.0.0.1:")
    layer = [s for s in pull.statuses.values() if s.total > 100_000]
    assert len(layer) == 1 and layer[0].current == layer[0].total and layer[0].completed
    assert by_name(state, "[2/2] RUN").log.tail(1) == ["pulled-and-ran"]
    size = format_bytes(layer[0].total)
    assert re.search(
        rf"^#\d+ sha256:[0-9a-f]{{64}} {re.escape(size)} / {re.escape(size)} \d+\.\ds done$",
        plain("b25_pull_loopback_registry"),
        re.M,
    )


# -- the plain format ------------------------------------------------------------------


def test_plain_output_of_a_whole_build() -> None:
    text = plain("b01_success_multistep")
    blocks = text.split("\n\n")
    assert blocks[0].startswith("#1 [internal] load remote build context\n")
    run4 = next(b for b in blocks if "[4/5] RUN" in b).splitlines()
    n = run4[0].split()[0]
    assert run4[0] == f"{n} " + by_name(fold("b01_success_multistep"), "[4/5]").name
    assert [re.sub(r" \d\.\d{3} ", " T ", line) for line in run4[1:]] == [
        f"{n} T err-line-1",
        f"{n} T out-line-1",
        f"{n} T out-line-2",
        f"{n} T err-line-2",
        f"{n} T no-newline",
        f"{n} DONE 0.4s",
    ]
    export = blocks[-1].splitlines()
    assert export[0].endswith(" exporting to image") and export[-1].endswith(" DONE 0.0s")
    assert any(
        line.endswith("naming to docker.io/library/bk-rec-b01-success-multistep:latest done")
        for line in export
    )
    assert [int(m) for m in re.findall(r"^#(\d+) \S", text, re.M)] == sorted(
        int(m) for m in re.findall(r"^#(\d+) \S", text, re.M)
    )


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(0.3124, "0.312"), (9.9994, "9.999"), (12.345, "12.35"), (123.45, "123.5")],
)
def test_log_time_precision(seconds: float, text: str) -> None:
    assert log_time(seconds) == text


@pytest.mark.parametrize(
    ("num", "text"),
    [
        (0, "0B"),
        (999, "999B"),
        (1000, "1.00kB"),
        (1234, "1.23kB"),
        (1027956, "1.03MB"),
        (5 * 10**9, "5.00GB"),
    ],
)
def test_format_bytes_like_go_units(num: int, text: str) -> None:
    assert format_bytes(num) == text


D1, D2 = "sha256:" + "1" * 64, "sha256:" + "2" * 64


def _feed(printer: PlainPrinter, **parts: tuple[bytes, ...]) -> str:
    return printer.feed(bk.trace(bk.status_response(**parts)))


def test_warnings_jobs_and_switching_with_built_messages() -> None:
    # Docker 20.10 sends no warnings and no moving job totals: built messages stand in.
    printer = PlainPrinter(BuildKitState(clock=Clock()))
    t0 = Ts(1_700_000_000)
    out = _feed(printer, vertexes=(bk.vertex(D1, "[a 1/1] RUN one", started=t0),))
    assert out == "#1 [a 1/1] RUN one\n"
    out = _feed(printer, vertexes=(bk.vertex(D2, "[b 1/1] RUN two", started=t0),))
    assert out == ""  # #1 is shown and running: #2 waits
    out = _feed(printer, logs=(bk.vertex_log(D2, b"from two\n", 1, Ts(1_700_000_001)),))
    assert out == ""
    out = _feed(printer, warnings=(bk.vertex_warning(D1, b"careful"),))
    assert out == "#1 WARN: careful\n"
    job = bk.vertex_status("sha256:layer", D1, "downloading", 10, 1000, Ts(1_700_000_002), t0)
    assert _feed(printer, statuses=(job,)) == "#1 sha256:layer 10B / 1.00kB 2.0s\n"
    small_step = bk.vertex_status(
        "sha256:layer", D1, "downloading", 40, 1000, Ts(1_700_000_003), t0
    )
    assert _feed(printer, statuses=(small_step,)) == ""  # under 5% and 5 s: not repeated
    big_step = bk.vertex_status("sha256:layer", D1, "downloading", 500, 1000, Ts(1_700_000_004), t0)
    assert _feed(printer, statuses=(big_step,)) == "#1 sha256:layer 500B / 1.00kB 4.0s\n"
    # #2 waited more than 10 s of daemon time: it is shown, interrupting #1.
    late = bk.vertex_log(D2, b"still two\n", 1, Ts(1_700_000_012))
    assert _feed(printer, logs=(late,)) == (
        "#1 ...\n\n#2 [b 1/1] RUN two\n#2 1.000 from two\n#2 12.00 still two\n"
    )
    done = bk.vertex(D1, "[a 1/1] RUN one", started=t0, completed=Ts(1_700_000_013, 500_000_000))
    assert _feed(printer, vertexes=(done,)) == "#2 ...\n\n#1 [a 1/1] RUN one\n#1 DONE 13.5s\n"
    failed = bk.vertex(
        D2, "[b 1/1] RUN two", started=t0, completed=Ts(1_700_000_014), error="exit code: 2"
    )
    assert _feed(printer, vertexes=(failed,)) == "\n#2 [b 1/1] RUN two\n#2 ERROR: exit code: 2\n"
    assert printer.state.exit_code == 2
    assert [w.short for w in printer.state.warnings] == [b"careful"]


def test_a_waiting_vertex_is_shown_as_soon_as_the_shown_one_ends() -> None:
    printer = PlainPrinter(BuildKitState(clock=Clock()))
    t0 = Ts(1_700_000_000)
    _feed(printer, vertexes=(bk.vertex(D1, "one", started=t0), bk.vertex(D2, "two", started=t0)))
    assert _feed(printer, logs=(bk.vertex_log(D2, b"waiting\n", 1, Ts(1_700_000_001)),)) == ""
    out = _feed(printer, vertexes=(bk.vertex(D1, "one", started=t0, completed=Ts(1_700_000_002)),))
    assert out == "#1 DONE 2.0s\n\n#2 two\n#2 1.000 waiting\n"


# -- labels and logs -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "label"),
    [
        ("[stage-1 2/5] RUN make", Label("RUN make", "stage-1", 2, 5)),
        ("[3/4] COPY a b", Label("COPY a b", None, 3, 4)),
        ("[linux/amd64 build 2/3] RUN x", Label("RUN x", "build", 2, 3, "linux/amd64")),
        ("[internal] load metadata for x", Label("load metadata for x", kind="internal")),
        ("[auth] library/x:pull token", Label("library/x:pull token", kind="auth")),
        ("exporting to image", Label("exporting to image")),
        ("[a 2/2] RUN echo [1/2] x", Label("RUN echo [1/2] x", "a", 2, 2)),
        ("", Label("")),
    ],
)
def test_parse_label(name: str, label: Label) -> None:
    assert parse_label(name) == label


def test_log_carriage_returns_across_chunks() -> None:
    log = VertexLog()
    for chunk in [b"abc\r", b"\n", b"one\rtwo", b"\r", b"three\r", b"\r\n", b"x\r\ry\n", b"keep\r"]:
        log.write(STDOUT, chunk)
    # CRLF ends a line; a CR followed by text replaces it; a bare trailing CR changes nothing.
    assert [line.text for line in log.lines] == ["abc", "three", "y"]
    assert log.partial() == "keep"
    log.close()
    assert log.tail(1) == ["keep"]


def test_log_utf8_split_anywhere_and_invalid_bytes() -> None:
    text = "héllo wörld ✓ 日本\n".encode()
    for cut in range(len(text) + 1):
        log = VertexLog()
        log.write(STDOUT, text[:cut])
        log.write(STDOUT, text[cut:])
        assert log.tail(1) == ["héllo wörld ✓ 日本"]
    log = VertexLog()
    log.write(STDERR, b"bad \xff\xfe byte\n")
    assert log.tail(1, STDERR) == ["bad \ufffd\ufffd byte"]


def test_log_streams_never_mix_within_a_line() -> None:
    log = VertexLog()
    log.write(STDOUT, b"out-")
    log.write(STDERR, b"err-")
    log.write(STDOUT, b"rest\n")
    log.write(STDERR, b"rest\n")
    assert [(line.stream, line.text) for line in log.lines] == [
        (STDOUT, "out-rest"),
        (STDERR, "err-rest"),
    ]


def test_log_budget_by_lines_chars_and_line_length() -> None:
    log = VertexLog(max_lines=3, max_chars=10_000, max_line_chars=8)
    for i in range(10):
        log.write(STDOUT, f"{i}\n".encode())
    assert [line.text for line in log.lines] == ["7", "8", "9"]
    assert (log.dropped, log.count) == (7, 10)
    assert [line.number for line in log.since(8)] == [9, 10]
    assert log.since(2) == list(log.lines)  # older lines are gone: what is kept
    log.write(STDOUT, b"0123456789abcdef\n")
    assert log.tail(1) == ["[8 characters cut] 89abcdef"]
    chars = VertexLog(max_lines=100, max_chars=20)
    for _ in range(10):
        chars.write(STDOUT, b"12345\n")
    assert len(chars.lines) == 4 and chars.dropped == 6


def test_corrupt_trace_leaves_the_state_unchanged() -> None:
    state = fold("b01_success_multistep")
    before = snapshot(state)
    with pytest.raises(StreamError, match="BuildKit trace payload is corrupt"):
        state.apply(bk.trace(bk.status_response(vertexes=(bk.vertex(D1, "x"),))[:-3]))
    assert snapshot(state) == before


def test_elapsed_uses_the_local_clock_while_running() -> None:
    clock = Clock()
    state = BuildKitState(clock=clock)
    state.apply(
        bk.trace(bk.status_response(vertexes=(bk.vertex(D1, "[1/2] RUN x", started=Ts(5)),)))
    )
    clock.t += 12.34
    assert state.header() == "Building 12.3s (0/1)"
    state.apply(
        bk.trace(
            bk.status_response(
                vertexes=(bk.vertex(D1, "[1/2] RUN x", started=Ts(5), completed=Ts(7)),)
            )
        )
    )
    state.apply({"id": "moby.image.id", "aux": {"ID": "sha256:" + "9" * 64}})
    assert state.header() == "FINISHED 2.0s (1/1)"


def test_a_repeated_report_without_a_start_does_not_reset_a_started_vertex() -> None:
    state = BuildKitState(clock=Clock())
    state.apply(
        bk.trace(bk.status_response(vertexes=(bk.vertex(D1, "[1/1] RUN x", started=Ts(5)),)))
    )
    state.apply(bk.trace(bk.status_response(vertexes=(bk.vertex(D1, "[1/1] RUN x"),))))
    (vertex,) = state
    assert vertex.running and vertex.started == 5.0 and vertex.number == 1


def test_a_restarted_vertex_counts_its_runs_once_each() -> None:
    v = VertexState(D1, "x", parse_label("x"))
    v.intervals = {1.0: 2.0, 1.5: 2.5, 4.0: None}
    assert v.duration() == 1.5
    assert v.duration(now=5.0) == 2.5
    assert v.last_start == 4.0
