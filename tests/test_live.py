"""The live view while the build thread folds events: one instant per redraw, no crash.

The build thread mutates the ``BuildState`` while the view's heartbeat draws it from
another thread. A redraw must show one instant (the header's "done" count is the number
of done rows, the bar agrees with both) and must never fail on a structure changing
under it. The switch interval is made tiny so the threads interleave inside a render.
"""

from __future__ import annotations

import re
import sys
import threading
import time
from collections.abc import Iterator

import pytest

from jupyter_dockerbuild.builder.state import BuildState
from jupyter_dockerbuild.ui.html import render_html

STEPS = 30
DOCKERFILE = "".join(f"RUN step-{i}\n" for i in range(1, STEPS + 1))
_HEADER = re.compile(r'class="jdb-title">Building [^<(]*\((\d+)/(\d+)\)')
_DONE_ROW = 'class="jdb-step jdb-done"'


def _fold_a_build(state: BuildState) -> None:
    """Feed ``state`` a whole classic build, event by event, as the daemon sends it."""
    for i in range(1, STEPS + 1):
        state.apply({"stream": f"Step {i}/{STEPS} : RUN step-{i}"})
        state.apply({"stream": "\n"})
        state.apply({"stream": " ---> Running in 0123456789ab\n"})
        for j in range(4):
            state.apply({"stream": f"output of step {i}, line {j}\n"})
        state.apply({"stream": "Removing intermediate container 0123456789ab\n"})
        state.apply({"stream": f" ---> {i:012x}\n"})


@pytest.fixture
def builds() -> Iterator[list[BuildState]]:
    """A thread folding build after build; ``builds[-1]`` is the one in progress."""
    states: list[BuildState] = [BuildState(DOCKERFILE)]
    stop = threading.Event()

    def run() -> None:
        while not stop.is_set():
            # A small log cap: the log's deque then changes at every line as well.
            state = BuildState(DOCKERFILE, log_limit=1024)
            states.append(state)
            _fold_a_build(state)

    old = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    try:
        yield states
    finally:
        stop.set()
        thread.join()
        sys.setswitchinterval(old)


def _check_one_instant(html: str) -> bool:
    """True if the header's count agrees with the rows (False if there is no count)."""
    match = _HEADER.search(html)
    if match is None:
        return False
    done, total = int(match.group(1)), int(match.group(2))
    rows = html.count('class="jdb-step ')
    assert total == rows == STEPS, (total, rows)
    assert html.count(_DONE_ROW) == done, f"header says {done} done, rows say otherwise"
    return True


def test_render_of_a_state_the_build_thread_mutates_shows_one_instant(builds):
    checked = finals = 0
    deadline = time.monotonic() + 2.0
    while time.monotonic() < deadline:
        state = builds[-1]
        # The final form reads the log too (its deque is what changed under a reader).
        final = checked % 4 == 0
        html = render_html(state, final=final)
        checked += _check_one_instant(html)
        finals += final
    assert checked > 100 and finals > 25, (checked, finals)


def test_live_view_bar_and_html_come_from_one_snapshot(builds):
    widgets = pytest.importorskip("ipywidgets")
    from jupyter_dockerbuild.ui.live import LiveView

    target, bar = widgets.HTML(), widgets.IntProgress()
    errors: list[BaseException] = []
    seen: list[bool] = []

    def on_html(change: dict) -> None:
        # Runs in whichever thread drew (build thread or heartbeat), right after the
        # bar was set for the same redraw.
        try:
            html = change["new"]
            if 'class="jdb-log"' not in html and _check_one_instant(html):  # not the final
                assert bar.value == html.count(_DONE_ROW), (bar.value, html.count(_DONE_ROW))
                seen.append(True)
        except BaseException as exc:  # reported by the test thread
            errors.append(exc)

    target.observe(on_html, names="value")
    hook = threading.excepthook
    threading.excepthook = lambda args: errors.append(args.exc_value)
    view = LiveView(target=target, bar=bar, refresh_rate=1000.0)
    try:
        deadline = time.monotonic() + 2.0
        while time.monotonic() < deadline:
            view.update(builds[-1])
        last = builds[-1]
        view.close(last)
    finally:
        threading.excepthook = hook
    assert not errors, errors[0]
    assert len(seen) > 50, len(seen)
    # The final summary stays in the form's widget; the bar gives way to its own.
    assert 'class="jdb-log"' in target.value and bar.layout.display == "none"
    closed = target.value
    time.sleep(0.7)  # a heartbeat would have redrawn by now
    assert target.value == closed


def test_live_view_bar_needs_a_target():
    widgets = pytest.importorskip("ipywidgets")
    from jupyter_dockerbuild.ui.live import LiveView

    with pytest.raises(TypeError, match="target"):
        LiveView(bar=widgets.IntProgress())


class _Handle:
    def __init__(self, sent: list) -> None:
        self.sent = sent

    def update(self, bundle: dict, raw: bool = False) -> None:
        self.sent.append(("update", bundle))


def test_own_output_is_html_updated_in_place_and_no_widget(monkeypatch):
    """Saved at any moment, the view's output is static HTML and text, never a widget."""
    import IPython.display

    from jupyter_dockerbuild.ui.html import INTERRUPT_HINT
    from jupyter_dockerbuild.ui.live import LiveView

    widgets = pytest.importorskip("ipywidgets")
    instances = widgets.widgets.widget._instances
    before = len(instances)
    sent: list = []

    def display(bundle, raw=False, display_id=None):
        assert raw and display_id is True
        sent.append(("display", bundle))
        return _Handle(sent)

    monkeypatch.setattr(IPython.display, "display", display)
    state = BuildState("FROM x\nRUN for i in $(seq 3); do echo $i; done\n")
    view = LiveView(refresh_rate=1000.0, cancel_hint=INTERRUPT_HINT)
    view.update(state)
    state.apply({"stream": "Step 1/2 : FROM x"})
    state.apply({"stream": "\n"})
    state.apply({"stream": "Step 2/2 : RUN for i in $(seq 3); do echo $i; done\n"})
    state.apply({"stream": "tick-1\ntick-2\n"})
    time.sleep(0.002)
    view.update(state)
    view.update(state)  # nothing changed: nothing sent
    state.apply({"aux": {"ID": "sha256:" + "ab" * 32}})
    state.finish()
    view.close(state)

    assert len(instances) == before, "the live view made widgets"
    kinds = [k for k, _ in sent]
    assert kinds[0] == "display" and set(kinds[1:]) == {"update"}, kinds
    assert view.messages == len(sent)
    live = [b for _, b in sent[:-1]]
    for bundle in live:
        assert set(bundle) == {"text/html", "text/plain"}
        assert "mathjax_ignore" in bundle["text/html"] and 'class="jdb-bar"' in bundle["text/html"]
        assert bundle["text/plain"].startswith("Building")
    # The running step's tail is in the HTML and in its text twin, with the hint.
    running = live[-1]
    assert "tick-2" in running["text/html"] and INTERRUPT_HINT in running["text/html"]
    assert " ▶  2 RUN for i in $(seq 3); do echo $i; done" in running["text/plain"]
    assert "      tick-2" in running["text/plain"] and INTERRUPT_HINT in running["text/plain"]
    # Redraws that change nothing are not sent.
    assert len({b["text/html"] for b in live}) == len(live)
    final = sent[-1][1]
    assert 'class="jdb-log"' in final["text/html"] and "Built sha256:abab" in final["text/html"]
    assert final["text/plain"].startswith("Built sha256:abab")
    count = len(sent)
    time.sleep(0.7)  # a heartbeat would have redrawn by now
    assert len(sent) == count


def test_live_text_follows_the_status_while_the_tags_are_pushed():
    from jupyter_dockerbuild.ui.html import INTERRUPT_HINT
    from jupyter_dockerbuild.ui.live import live_text

    state = BuildState("FROM x\n", tags=("127.0.0.1:5443/a:1",))
    state.apply({"stream": "Step 1/1 : FROM x\n"})
    running = live_text(state.snapshot(), cancel_hint=INTERRUPT_HINT)
    assert running.startswith("Building") and INTERRUPT_HINT in running
    state.apply({"aux": {"ID": "sha256:" + "cd" * 32}})
    state.finish()
    built = live_text(state.snapshot(), cancel_hint=INTERRUPT_HINT)
    # Built (not "Building"): only a push would still be interruptible here.
    assert built.splitlines()[0].startswith("Built sha256:cdcdcdcdcdcd in ")
    assert INTERRUPT_HINT not in built
