"""The live progress widget: a throttled ipywidget over the build state.

Rendering is in :mod:`jupyter_dockerbuild.ui.html`; this module only decides when to
redraw and swaps the widget for a static summary at the end.
"""

from __future__ import annotations

import threading
import time
from typing import TYPE_CHECKING, Any

from .html import render_html

if TYPE_CHECKING:  # pragma: no cover
    from ..builder.state import BuildState


class WidgetView:
    """Shows a BuildState as a live ipywidget, then as a static summary.

    ``update`` may be called as often as events arrive: it redraws at most
    ``refresh_rate`` times a second. A heartbeat thread redraws twice a second while the
    build runs, so the elapsed time moves during silent steps.
    """

    def __init__(self, *, tail_lines: int = 6, refresh_rate: float = 10.0) -> None:
        import ipywidgets as widgets

        self.tail_lines = tail_lines
        self.min_interval = 1.0 / max(refresh_rate, 0.1)
        self._html = widgets.HTML(value="")
        self._bar = widgets.IntProgress(
            value=0, min=0, max=1, layout=widgets.Layout(width="100%", height="10px")
        )
        self._bar.add_class("jdb-progress")
        self.widget = widgets.VBox([self._bar, self._html])
        self.widget.add_class("jdb-widget")
        self._handle: Any = None
        self._last = 0.0
        self._lock = threading.RLock()
        self._state: BuildState | None = None
        self._stop = threading.Event()
        self._heartbeat: threading.Thread | None = None
        self.messages = 0  # comm updates sent (for tests and benchmarks)

    def _show(self) -> None:
        from IPython.display import display

        self._handle = display(self.widget, display_id=True)

    def _render(self, state: BuildState) -> None:
        with self._lock:
            total = state.total_steps or len(state.steps) or 1
            done = sum(1 for s in state.steps if s.status in ("done", "cached"))
            if self._bar.max != total:
                self._bar.max = total
                self.messages += 1
            if self._bar.value != done:
                self._bar.value = done
                self.messages += 1
            try:
                value = render_html(state, tail_lines=self.tail_lines)
            except RuntimeError:  # a deque mutated under the heartbeat: next tick redraws
                return
            if value != self._html.value:
                self._html.value = value
                self.messages += 1
            self._last = time.monotonic()

    def _beat(self) -> None:
        while not self._stop.wait(0.5):
            state = self._state
            if state is None:
                continue
            with self._lock:
                if time.monotonic() - self._last >= 0.45:
                    self._render(state)

    def update(self, state: BuildState) -> None:
        """Redraw if the last redraw is older than the throttle interval."""
        with self._lock:
            # Keep the newest state: the heartbeat redraws it, and the magic paints a
            # placeholder state before run_build creates the real one.
            self._state = state
            if self._handle is None:
                self._render(state)
                self._show()
                self._heartbeat = threading.Thread(
                    target=self._beat, name="dockerbuild-heartbeat", daemon=True
                )
                self._heartbeat.start()
                return
            if time.monotonic() - self._last >= self.min_interval:
                self._render(state)

    def close(self, state: BuildState) -> None:
        """Replace the live widget by the static final summary (HTML + plain text)."""
        from ..builder.result import render_summary

        self._stop.set()
        with self._lock:
            bundle = {
                "text/html": render_html(state, tail_lines=self.tail_lines, final=True),
                "text/plain": render_summary(state),
            }
            if self._handle is None:
                from IPython.display import display

                display(bundle, raw=True)
            else:
                self._handle.update(bundle, raw=True)
                self.widget.close()
