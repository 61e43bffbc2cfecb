"""A build view for tests that draws every update as the live HTML and the text view do.

Tests that a value never reaches a display (a secret build arg, a ``--secret``) scan
everything such a view drew.
"""

from __future__ import annotations

import io

from jupyter_dockerbuild.ui.html import render_html
from jupyter_dockerbuild.ui.text import TextView


class RecordingView:
    """Renders every update like the live view and the text view would, and keeps it all."""

    def __init__(self) -> None:
        self.html: list[str] = []
        self.text = io.StringIO()
        self._text_view = TextView(self.text)

    def update(self, state) -> None:  # type: ignore[no-untyped-def]
        self.html.append(render_html(state, tail_lines=6))
        self._text_view.update(state)

    def close(self, state) -> None:  # type: ignore[no-untyped-def]
        self.html.append(render_html(state, tail_lines=6, final=True))
        self._text_view.close(state)
