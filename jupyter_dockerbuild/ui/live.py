"""The live progress view: throttled HTML output over the build state, with a heartbeat.

One view for every place a build is drawn live. The magic and the Python API show a
plain HTML output (``text/html`` + ``text/plain``) and update it in place through its
display handle (``update_display_data``); when the build ends the same output becomes the
static summary. No widget is involved: whatever moment a notebook is saved at, the output
it keeps is readable HTML (and text), never a widget view whose model is gone when the
notebook is reopened ("Error displaying widget: model not found", ``VBox(children=...``).
Cancelling is the kernel interrupt (■), which the view's hint says.

The form passes its own HTML widget (and bar) as ``target`` (it is a widget by nature);
the view draws into them, under the same throttle and heartbeat, and the final summary
stays there.

Rendering is in :mod:`jupyter_dockerbuild.ui.html`; this module decides when to redraw.
Each redraw reads one :class:`~jupyter_dockerbuild.builder.state.BuildSnapshot`, taken
under the state's lock while the build thread may be folding events: the bar and the
HTML of one redraw show the same instant, and nothing can change under the render.
"""

from __future__ import annotations

import contextvars
import threading
import time
from typing import TYPE_CHECKING, Any

from .html import render_html, snapshot_of

if TYPE_CHECKING:  # pragma: no cover
    import ipywidgets

    from ..builder.state import BuildSnapshot, BuildState

__all__ = ["HEARTBEAT", "LiveView", "live_text"]

#: Seconds between heartbeat redraws, so the timers move during silent steps.
HEARTBEAT = 0.5

_MARKS = {"done": "✓", "cached": "✓", "failed": "✗", "cancelled": "■", "running": "▶"}


def live_text(snap: BuildSnapshot, *, tail_lines: int = 6, cancel_hint: str | None = None) -> str:
    """The ``text/plain`` twin of a live redraw: header, step rows, running tails.

    What a frontend without HTML (nbconvert to text, a terminal client) shows while the
    build runs; the final summary's text is :func:`~..builder.result.render_summary`.
    """
    total = snap.total_steps
    done = sum(1 for s in snap.steps if s.status in ("done", "cached"))
    live = snap.status in ("pending", "running")
    if live:
        head = f"Building {snap.elapsed:.1f}s" + (f" ({done}/{total})" if total else "")
    elif snap.status == "succeeded":  # built, its tags being pushed (--push)
        head = f"Built {(snap.image_id or '')[:19]} in {snap.elapsed:.1f}s"
    else:
        head = f"{snap.status.capitalize()} after {snap.elapsed:.1f}s"
    pushing = any(p.status in ("pending", "running") for p in snap.pushes)
    if cancel_hint and (live or pushing):
        head += f"  {cancel_hint}"
    lines = [head]
    for step in snap.steps:
        right = (
            "CACHED" if step.cached else ("" if step.duration is None else f"{step.duration:.1f}s")
        )
        row = f" {_MARKS.get(step.status, ' ')} {step.number:>2} {step.instruction}  {right}"
        lines.append(row.rstrip())
        if step.status == "running" and tail_lines > 0:
            tail = snap.tail if snap.tails is None else snap.tails.get(step.number, ())
            lines.extend(f"      {text}" for text, _err in tail[-tail_lines:])
    for push in snap.pushes:
        lines.append(f" {push.status} {push.reference}  {push.done}/{len(push.layers)} layers")
    return "\n".join(lines)


class LiveView:
    """Shows a BuildState live, throttled, then its final summary.

    ``update`` may be called as often as events arrive: it redraws at most
    ``refresh_rate`` times a second. From the first ``update`` a heartbeat thread
    redraws the newest state twice a second while nothing else did, so the elapsed time
    moves during silent steps. ``cancel_hint`` is shown beside "Building" (None: none).

    Without ``target`` the view displays an HTML output at the first ``update``
    (``.handle`` is its display handle), updates it in place at each redraw and, at
    ``close``, turns it into the static HTML + text summary. With ``target`` (an
    ``ipywidgets.HTML``) it draws into that widget and the final summary stays there;
    ``bar`` (an ``ipywidgets.IntProgress``, only with ``target``) then shows the steps
    done and is hidden at ``close``, as the final summary draws its own bar.
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
        if bar is not None and target is None:
            raise TypeError("LiveView(bar=...) needs target=: its own output draws its own bar")
        self.tail_lines = tail_lines
        self.min_interval = 1.0 / max(refresh_rate, 0.1)
        self.cancel_hint = cancel_hint
        self._target = target
        self._bar = bar
        #: The display handle of the view's own output (None with ``target``, or before
        #: the first ``update``).
        self.handle: Any = None
        self._shown = False
        self._sent_html: str | None = None
        self._started = False
        self._closed = False
        self._last = 0.0
        # Held by every redraw: the build thread (update, close) and the heartbeat.
        self._lock = threading.Lock()
        self._state: BuildState | None = None
        self._stop = threading.Event()
        self._heartbeat: threading.Thread | None = None
        self.messages = 0  # frontend messages sent (for tests and benchmarks)

    # -- drawing (under self._lock) -------------------------------------------------

    def _render(self, state: BuildState) -> None:
        snap = snapshot_of(state, tail_lines=self.tail_lines)
        if self._target is None:
            self._render_output(snap)
        else:
            self._render_target(snap)
        self._last = time.monotonic()

    def _render_output(self, snap: BuildSnapshot) -> None:
        value = render_html(
            snap, tail_lines=self.tail_lines, cancel_hint=self.cancel_hint, bar=True
        )
        if value == self._sent_html:
            return  # nothing visible changed: no message
        bundle = {
            "text/html": value,
            "text/plain": live_text(snap, tail_lines=self.tail_lines, cancel_hint=self.cancel_hint),
        }
        self._send(bundle)
        self._sent_html = value

    def _send(self, bundle: dict[str, str]) -> None:
        from IPython.display import display

        if not self._shown:
            self._shown = True
            # None outside IPython (display printed the text): then only close draws.
            self.handle = display(bundle, raw=True, display_id=True)
            self.messages += 1
        elif self.handle is not None:
            self.handle.update(bundle, raw=True)
            self.messages += 1

    def _render_target(self, snap: BuildSnapshot) -> None:
        target = self._target
        assert target is not None
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
        if value != target.value:
            target.value = value
            self.messages += 1

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
                # The heartbeat runs in a copy of the cell's context: ipykernel 7 keeps the
                # parent header (which cell an output belongs to) in a context variable
                # (a bare thread falls back to the kernel's latest one), and JupyterLab
                # applies a display update only to the cell its parent names.
                context = contextvars.copy_context()
                self._heartbeat = threading.Thread(
                    target=context.run,
                    args=(self._beat,),
                    name="dockerbuild-heartbeat",
                    daemon=True,
                )
                self._heartbeat.start()
                return
            if time.monotonic() - self._last >= self.min_interval:
                self._render(state)

    def close(self, state: BuildState) -> None:
        """Show the final summary: in place of the live output, or in ``target``."""
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
            if self._target is not None:
                self._target.value = final
                if self._bar is not None:
                    self._bar.layout.display = "none"  # the final summary draws its own
            else:
                bundle = {"text/html": final, "text/plain": render_summary(state)}
                if self.handle is None:
                    from IPython.display import display

                    display(bundle, raw=True)
                else:
                    self.handle.update(bundle, raw=True)
                self.messages += 1
        beat = self._heartbeat
        if beat is not None and beat is not threading.current_thread():
            beat.join(timeout=2 * HEARTBEAT)
