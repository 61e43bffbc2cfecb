"""The plain-text view and summary on the daemon's real captures (no daemon, fake clock)."""

from __future__ import annotations

import io

from capture import FakeClock, events, reconstruct_dockerfile

from jupyter_dockerbuild.builder.result import render_summary
from jupyter_dockerbuild.builder.state import BuildState
from jupyter_dockerbuild.ui.text import TextView

S01_ID = "sha256:de593cde475b2459f19b925e821b8e41d463baec11f33a53fe851f68853863fb"
S02_ERROR = (
    'The command \'/bin/sh -c echo "about to fail" && echo "err msg" >&2 && exit 3\' '
    "returned a non-zero code: 3"
)


def run_view(
    name: str,
    view: TextView,
    *,
    extra: tuple[str, ...] = (),
    end: str = "finish",
    **kwargs,
) -> tuple[BuildState, list[str]]:
    """Fold the capture, calling ``view.update`` after each event; returns the state and
    what the output held after each update."""
    out = view.out
    assert isinstance(out, io.StringIO)
    clock = FakeClock()
    dockerfile, _ = reconstruct_dockerfile(name, extra)
    state = BuildState(dockerfile, clock=clock, line_offset=1, **kwargs)
    snapshots = []
    for i, event in enumerate(events(name)):
        clock.t = 101.0 + i
        state.apply(event)
        view.update(state)
        snapshots.append(out.getvalue())
    clock.t += 1
    getattr(state, end)()
    view.close(state)
    return state, snapshots


def test_s01_prints_the_log_as_it_arrives_then_the_summary() -> None:
    out = io.StringIO()
    state, snapshots = run_view("s01_success_multistep", TextView(out), tags=["probe-base:latest"])
    # After each event, exactly the daemon's text so far (colours kept for the terminal).
    so_far = ""
    for event, shown in zip(events("s01_success_multistep"), snapshots, strict=True):
        so_far += event.get("stream", "")
        assert shown == so_far
    text = out.getvalue()
    assert text.startswith(so_far) and "\x1b[91mto stderr\n\x1b[0m" in text
    summary = text[len(so_far) :]
    assert summary == (f"Built {S01_ID} in 37.0s  probe-base:latest  (7 steps, 2 cached)\n")
    assert summary.startswith("Built sha256:")
    assert state.status == "succeeded"


def test_s02_failure_names_step_and_cell_line() -> None:
    out = io.StringIO()
    state, snapshots = run_view("s02_run_exit3", TextView(out), extra=("RUN echo never",))
    # The error line arrives with the errorDetail event, before the summary.
    assert snapshots[-1].endswith(f"err msg\n\x1b[0mERROR: {S02_ERROR}\n")
    last = out.getvalue().splitlines()[-1]
    # Step 3 starts on line 8 of the reconstructed Dockerfile: cell line 9.
    assert last == f"Failed after 16.0s at step 3/4 (cell line 9): {S02_ERROR}"
    assert last.startswith("Failed after")
    assert state.result().failed_step is not None


def test_quiet_prints_only_the_summary() -> None:
    out = io.StringIO()
    run_view("s08_quiet_q1", TextView(out, quiet=True))
    assert out.getvalue() == (
        "Built sha256:31034e7c10957899a30c96bf5b51398822513b66178543216293d16b3bd4cdc5 in 2.0s\n"
    )
    out = io.StringIO()
    run_view("s02_run_exit3", TextView(out, quiet=True), extra=("RUN echo never",))
    assert out.getvalue() == f"Failed after 16.0s at step 3/4 (cell line 9): {S02_ERROR}\n"


def test_warnings_follow_the_summary_line() -> None:
    out = io.StringIO()
    run_view("s04_buildargs_unconsumed", TextView(out))
    tail = out.getvalue().splitlines()[-2:]
    assert tail == [
        "Built sha256:12c579913e0686f46542ccf4aa254aa72b88e3bc74f63d729ffda193477802fb"
        " in 24.0s  (4 steps, 0 cached)",
        " ⚠ [Warning] One or more build-args [UNDECLARED1 ANOTHER_UNUSED] were not consumed",
    ]


def test_render_summary_of_a_cancelled_state() -> None:
    out = io.StringIO()
    state, _ = run_view("s06_cancel_close_after_2s", TextView(out), end="cancel")
    expected = (
        "Cancelled after 8.0s at step 2/2\n"
        " ✓  1 FROM probe-base:latest  2.0s\n"
        " ■  2 RUN echo start-sleep; sleep 30; echo done-sleep  4.0s\n"
        " 2 steps (0 cached)"
    )
    assert render_summary(state) == expected
    assert render_summary(state.result()) == expected
    assert out.getvalue().endswith("start-sleep\nCancelled after 8.0s at step 2/2\n")


def test_render_summary_of_a_success_lists_steps() -> None:
    state, _ = run_view("s01_success_multistep", TextView(io.StringIO()))
    assert render_summary(state) == "\n".join(
        [
            f"Built {S01_ID} in 37.0s",
            " ✓  1 FROM scratch  2.0s",
            " ✓  2 COPY busybox /bin/busybox  CACHED",
            ' ✓  3 RUN ["/bin/busybox","--install","-s","/bin"]  CACHED',
            " ✓  4 ENV FOO=bar  4.0s",
            ' ✓  5 RUN echo "hello from build" && echo "second line" && echo "to stderr" >&2  6.0s',
            " ✓  6 WORKDIR /app  4.0s",
            ' ✓  7 CMD ["/bin/sh"]  4.0s',
            " 7 steps (2 cached)",
        ]
    )


def test_live_summary_times_the_running_step_on_the_state_clock() -> None:
    clock = FakeClock()
    state = BuildState(reconstruct_dockerfile("s06_cancel_close_after_2s")[0], clock=clock)
    for i, event in enumerate(events("s06_cancel_close_after_2s")):
        clock.t = 101.0 + i
        state.apply(event)
    clock.t = 200.0
    lines = render_summary(state).splitlines()
    assert lines[2] == " ▶  2 RUN echo start-sleep; sleep 30; echo done-sleep  96.0s"


def test_view_reading_a_truncated_log() -> None:
    name = "s07_large_output_200k"
    full = "".join(e.get("stream", "") for e in events(name))
    # Updating after every event: everything is printed although the log keeps 64 KiB.
    out = io.StringIO()
    run_view(name, TextView(out), log_limit=64 * 1024)
    assert out.getvalue().startswith(full)
    # Updating only at the end: the head, the truncation mark, the newest text.
    clock = FakeClock()
    state = BuildState("", clock=clock, log_limit=64 * 1024)
    for event in events(name):
        state.apply(event)
    late = io.StringIO()
    view = TextView(late)
    view.update(state)
    text = late.getvalue()
    assert text == state.raw_log()
    assert text.startswith("Step 1/2 : FROM probe-base:latest\n")
    assert "characters of log truncated] ...\n" in text
    assert text.endswith("Successfully built 1dfe1b0bdbae\n")
    assert len(text) < 200 * 1024 < len(full)
    view.update(state)  # nothing new: nothing printed
    assert late.getvalue() == text


def _screen(text: str) -> list[str]:
    r"""What a terminal shows after ``text``: ``\r`` goes back to column 0 and overwrites."""
    lines = [[]]
    col = 0
    for char in text:
        if char == "\n":
            lines.append([])
            col = 0
        elif char == "\r":
            col = 0
        else:
            line = lines[-1]
            if col < len(line):
                line[col] = char
            else:
                line.append(char)
            col += 1
    return ["".join(line) for line in lines]


def test_text_view_skips_overwritten_progress_frames() -> None:
    frames = 500
    body = (
        "Progress: "
        + "".join(f"\rDownloading {i}/{frames}" for i in range(frames))
        + "\r\n50%\r100%\rdone\nplain line\n"
    )
    head = ["Step 1/1 : RUN bar\n", " ---> Running in 0123456789ab\n"]
    for size in (1, 7, 64, len(body)):
        out = io.StringIO()
        view = TextView(out)
        state = BuildState("RUN bar\n")
        for text in head:
            state.apply({"stream": text})
        raw = "".join(head)
        for start in range(0, len(body), size):
            state.apply({"stream": body[start : start + size]})
            raw += body[start : start + size]
            view.update(state)
        written = out.getvalue()
        # The same screen as the raw stream, without the frames nobody could see.
        assert _screen(written) == _screen(raw), size
        # At most one frame (or a piece of one) per write: not every frame the bar drew.
        updates = -(-len(body) // size)
        assert written.count("Downloading") <= min(frames, updates + 1), size
        if size == len(body):
            assert written.count("Downloading") == 1


def test_a_one_step_build_says_one_step_everywhere() -> None:
    from jupyter_dockerbuild.ui.html import render_html

    state = BuildState("FROM scratch\n")
    state.apply({"stream": "Step 1/1 : FROM scratch\n"})
    state.apply({"stream": " ---> \n"})
    state.apply({"aux": {"ID": "sha256:" + "2" * 64}})
    state.apply({"stream": "Successfully built 222222222222\n"})
    state.finish()
    out = io.StringIO()
    TextView(out).close(state)
    assert out.getvalue().rstrip().endswith("(1 step, 0 cached)"), out.getvalue()
    assert render_summary(state).splitlines()[-1] == " 1 step (0 cached)"
    assert " 1 step in " in repr(state.result())
    final = render_html(state, final=True)
    assert "· 1 step (0 cached)" in final and "1 steps" not in final
