"""How a :class:`~jupyter_dockerbuild.builder.result.BuildResult` shows in a notebook.

Displayed (``first``, the value of ``--out NAME``, ``jd.build(...)`` as a cell's last
line), a result shows the same HTML summary its build's live view ended with, beside the
plain-text summary of its ``repr``.

Why a formatter registered here and not ``BuildResult._repr_html_``: the result lives in
``builder/`` (layer 3), the HTML renderer in ``ui/`` (layer 4), and a layer may not reach
up, not even with an import deferred into a method (``tests/test_layers.py``). Moving
the renderer down would pull the whole build view (ANSI colours, step rows, pushes) into
the build layer, for the sake of one method. IPython's HTML formatter takes a printer by
the type's *name*, so nothing is imported until a result is displayed. It is registered
by ``%load_ext jupyter_dockerbuild`` and when the package is imported inside IPython (a
result made by ``jd.build()`` without the extension displays the same).
"""

from __future__ import annotations

from typing import Any

__all__ = ["register_display", "register_in_current_shell", "result_html"]

_RESULT_TYPE = ("jupyter_dockerbuild.builder.result", "BuildResult")


def result_html(result: Any) -> str:
    """The result's HTML summary (escaped, never typeset as maths)."""
    from ..ui.html import render_result

    return render_result(result)


def register_display(ipython: Any) -> None:
    """Make ``ipython`` display every BuildResult as its HTML summary."""
    formatters = getattr(getattr(ipython, "display_formatter", None), "formatters", None)
    if not formatters or "text/html" not in formatters:
        return  # a shell without rich display: the text repr is all there is
    formatters["text/html"].for_type_by_name(*_RESULT_TYPE, result_html)


def register_in_current_shell() -> None:
    """:func:`register_display` for the running IPython shell, if there is one."""
    from IPython import get_ipython

    shell = get_ipython()
    if shell is not None:
        register_display(shell)
