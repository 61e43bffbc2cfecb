"""Views of a build: plain text like the docker CLI, and the choice of view.

The text view prints the daemon's log as it arrives (terminal IPython, nbconvert, the
Python API with ``progress=True``), then a ``--push`` like ``docker push`` prints it, and a
summary at the end; :func:`render_summary` is
the same summary as a string, used for ``text/plain`` outputs and result reprs. The
live HTML view is :class:`~jupyter_dockerbuild.ui.live.LiveView`; both only read the state.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any, TextIO

from ..builder.result import SUMMARY_AFTER, render_summary
from ..builder.state import BuildState
from ..units import format_count

if TYPE_CHECKING:  # pragma: no cover
    from ..builder.pipeline import View

__all__ = ["TextView", "make_view"]


class TextView:
    """Print the build like the docker CLI: the daemon's log as it comes, then a summary."""

    def __init__(self, out: TextIO | None = None, *, quiet: bool = False) -> None:
        self._out = out
        self.quiet = quiet
        self._cursor = 0
        # One printer per tag's push (by the push state's id): each prints what changed.
        self._printers: dict[int, Any] = {}

    @property
    def out(self) -> TextIO:
        """Where the text goes."""
        # Looked up at each write: IPython and pytest swap sys.stdout per cell/test.
        return self._out if self._out is not None else sys.stdout

    def update(self, state: BuildState) -> None:
        """Print the log text that arrived since the last call (then a push's progress)."""
        if self.quiet:
            return
        if state.log_total != self._cursor:
            text, self._cursor = state.log_since(self._cursor)
            self.out.write(skip_overwritten(text))
            self.out.flush()
        if state.pushes:
            self._print_pushes(state)

    def _print_pushes(self, state: BuildState) -> None:
        # Loaded with the push itself (the HTTP stack is loaded by then).
        from ..images.push import PushPrinter

        for push in list(state.pushes):
            printer = self._printers.get(id(push))
            if printer is None:
                printer = self._printers[id(push)] = PushPrinter(self.out)
                self.out.write(f"Pushing {push.reference}\n")
            printer(push)
        self.out.flush()

    def close(self, state: BuildState) -> None:
        """Print whatever is left and the final summary line(s)."""
        if not self.quiet:
            self.update(state)
        result = state.result()
        summary = render_summary(result).splitlines()
        # The step list was already printed as it ran; keep the head, the warnings, the
        # bases and the pushed digests.
        lines = [summary[0], *[ln for ln in summary[1:] if ln.startswith(SUMMARY_AFTER)]]
        if result.ok and not self.quiet:
            cached = sum(1 for s in result.steps if s.cached)
            lines[0] += f"  ({format_count(len(result.steps), 'step')}, {cached} cached)"
        self.out.write("\n".join(lines) + "\n")
        self.out.flush()


def skip_overwritten(text: str) -> str:
    r"""``text`` without the progress-bar frames a later ``\r`` in it overwrites.

    A terminal shows the same (the last frame, after a ``\r``), but a pipe, a file or a
    notebook's stream output no longer receives 20,000 frames of a ``pip install``. A
    line's first frame may continue text written before, so it stays unless a later
    frame replaces it; a trailing ``\r`` stays so the next write still overwrites.
    """
    if "\r" not in text:
        return text
    out: list[str] = []
    for line in text.split("\n"):
        if "\r" in line:
            frames = line.split("\r")
            last = max((i for i, f in enumerate(frames) if f), default=0)
            pending = "\r" if line.endswith("\r") else ""
            line = ("\r" if last else "") + frames[last] + pending
        out.append(line)
    return "\n".join(out)


def _in_kernel() -> bool:
    """True inside a Jupyter kernel (a frontend that renders HTML outputs)."""
    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover
        return False
    shell = get_ipython()
    return shell is not None and getattr(shell, "kernel", None) is not None


def make_view(
    *,
    widget: bool = True,
    quiet: bool = False,
    tail_lines: int = 6,
    refresh_rate: float = 10.0,
    **_: Any,
) -> View:
    """The live HTML view inside a Jupyter kernel, else plain text like the docker CLI.

    ``widget`` (its old name: the live view was a widget once) False asks for text.
    """
    if widget and _in_kernel():
        from .html import INTERRUPT_HINT
        from .live import LiveView

        # In a cell (magic or Python API) an interrupt cancels the build: say so.
        return LiveView(
            tail_lines=tail_lines, refresh_rate=refresh_rate, cancel_hint=INTERRUPT_HINT
        )
    return TextView(quiet=quiet)
