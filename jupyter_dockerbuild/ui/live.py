"""The live progress view: a throttled ipywidget over the build state, with a heartbeat.

One view for every place a build is drawn live. The magic and the Python API let it
show its own widget (a progress bar over an HTML widget), replaced at the end by a
static summary a saved notebook keeps; the form passes its own HTML widget (and bar) as
``target``, and the final summary is drawn into them.

Rendering is in :mod:`jupyter_dockerbuild.ui.html`; this module decides when to redraw.
Each redraw reads one :class:`~jupyter_dockerbuild.builder.state.BuildSnapshot`, taken
under the state's lock while the build thread may be folding events: the bar and the
HTML of one redraw show the same instant, and nothing can change under the render.
"""

from __future__ import annotations

import threading
import time
from typing import TYPE_CHECKING, Any

from .html import render_html, snapshot_of

if TYPE_CHECKING:  # pragma: no cover
    import ipywidgets

    from ..builder.state import BuildState

#: Seconds between heartbeat redraws, so the timers move during silent steps.
HEARTBEAT = 0.5


class LiveView:
    """Shows a BuildState live, throttled, then its final summary.

    ``update`` may be called as often as events arrive: it redraws at most
    ``refresh_rate`` times a second. From the first ``update`` a heartbeat thread
    redraws the newest state twice a second while nothing else did, so the elapsed time
    moves during silent steps. ``cancel_hint`` is shown beside "Building" (None: none).

    Without ``target`` the view displays its own widget (``.widget``) at the first
    ``update`` and, at ``close``, replaces it in the output by the static HTML + text
    summary. With ``target`` (an ``ipywidgets.HTML``) it draws into that widget and the
    final summary stays there; ``bar`` (an ``ipywidgets.IntProgress``, only with
    ``target``) then shows the steps done and is hidden at ``close``, as the final
    summary draws its own bar.
    """

    def __init__(
        self,
        *,
        tail_lines: int = 6,
        refresh_rate: float = 10.0,
        cancel_hint: str | None = None,
        target: ipywidgets.HTML | None = None,
        bar: ipywidgets.IntProgress | None = None,
    ) -> None:
        import ipywidgets as widgets

        if bar is not None and target is None:
            raise TypeError("LiveView(bar=...) needs target=: its own widget has its own bar")
        self.tail_lines = tail_lines
        self.min_interval = 1.0 / max(refresh_rate, 0.1)
        self.cancel_hint = cancel_hint
        self.widget: widgets.Widget | None = None
        self._bar: widgets.IntProgress | None
        if target is None:
            self._html = widgets.HTML(value="")
            self._bar = widgets.IntProgress(
                value=0, min=0, max=1, layout=widgets.Layout(width="100%", height="10px")
            )
            self._bar.add_class("jdb-progress")
            self.widget = widgets.VBox([self._bar, self._html])
            self.widget.add_class("jdb-widget")
        else:
            self._html = target
            self._bar = bar
        self._handle: Any = None
        self._started = False
        self._closed = False
        self._last = 0.0
        # Held by every redraw: the build thread (update, close) and the heartbeat.
        self._lock = threading.Lock()
        self._state: BuildState | None = None
        self._stop = threading.Event()
        self._heartbeat: threading.Thread | None = None
        self.messages = 0  # comm updates sent (for tests and benchmarks)

    # -- drawing (under self._lock) -------------------------------------------------

    def _render(self, state: BuildState) -> None:
        snap = snapshot_of(state, tail_lines=self.tail_lines)
        value = render_html(snap, tail_lines=self.tail_lines, cancel_hint=self.cancel_hint)
        bar = self._bar
        if bar is not None:
            total = snap.total_steps or 1
            done = sum(1 for s in snap.steps if s.status in ("done", "cached"))
            # A quiet build (-q) reports no steps: a success still fills the bar.
            done = total if snap.status == "succeeded" else done
            if bar.max != total or bar.value != done:
                with bar.hold_sync():  # one comm message for both
                    bar.max = total  # first: the value is clamped to max
                    bar.value = done
                self.messages += 1
        if value != self._html.value:
            self._html.value = value
            self.messages += 1
        self._last = time.monotonic()

    def _show(self) -> None:
        from IPython.display import display

        self._handle = display(self.widget, display_id=True)

    def _beat(self) -> None:
        while not self._stop.wait(HEARTBEAT):
            with self._lock:
                if self._closed:  # woke as the build ended: keep the final view
                    return
                state = self._state
                if state is not None and time.monotonic() - self._last >= 0.9 * HEARTBEAT:
                    self._render(state)

    # -- the View protocol ----------------------------------------------------------

    def update(self, state: BuildState) -> None:
        """Redraw if the last redraw is older than the throttle interval."""
        with self._lock:
            if self._closed:
                return
            # Keep the newest state: the heartbeat redraws it.
            self._state = state
            if not self._started:
                self._started = True
                self._render(state)
                if self.widget is not None:
                    self._show()
                self._heartbeat = threading.Thread(
                    target=self._beat, name="dockerbuild-heartbeat", daemon=True
                )
                self._heartbeat.start()
                return
            if time.monotonic() - self._last >= self.min_interval:
                self._render(state)

    def close(self, state: BuildState) -> None:
        """Show the final summary: in place of the own widget, or in ``target``."""
        from ..builder.result import render_summary

        self._stop.set()
        with self._lock:
            self._closed = True
            self._state = state
            final = render_html(
                snapshot_of(state, tail_lines=self.tail_lines, final=True),
                tail_lines=self.tail_lines,
                final=True,
                cancel_hint=self.cancel_hint,
            )
            if self.widget is None:
                self._html.value = final
                if self._bar is not None:
                    self._bar.layout.display = "none"  # the final summary draws its own
            else:
                bundle = {"text/html": final, "text/plain": render_summary(state)}
                if self._handle is None:
                    from IPython.display import display

                    display(bundle, raw=True)
                else:
                    self._handle.update(bundle, raw=True)
                    self.widget.close()
        beat = self._heartbeat
        if beat is not None and beat is not threading.current_thread():
            beat.join(timeout=2 * HEARTBEAT)
