r"""HTML a notebook shows as written: escaped, and never typeset as maths.

Notebook frontends typeset ``$...$``, ``\(...\)`` and ``\[...\]`` in HTML outputs, and
Dockerfiles and logs are full of ``$``: ``RUN for i in $(seq 1 40); do b="$b#"; done``
would come out in italics. Each renderer opts out differently, as their sources say:

- MathJax 3 (JupyterLab 4, Notebook 7) skips elements of class ``mathjax_ignore`` (its
  ``ignoreHtmlClass`` default, which JupyterLab keeps) and the inside of ``pre``,
  ``code``, ``script``, ``style``, ``textarea`` (``skipHtmlTags``).
- MathJax 2 (nbconvert's HTML export, Notebook 6) skips class ``tex2jax_ignore``, and the
  same tags.
- KaTeX (the jupyterlab-katex extension) honours no class at all, only ``ignoredTags``:
  ``script noscript style textarea pre code``.

So every HTML output of the package has both classes on its root element
(:func:`block`), and every piece of text in it that a user or a daemon wrote goes inside
a ``<code>`` that looks like the text around it (:func:`literal`).

The lowest layer (beside :mod:`~jupyter_dockerbuild.units`): the images and UI layers
both draw HTML.
"""

from __future__ import annotations

import html
from typing import Any

__all__ = ["NO_MATH", "block", "escape", "literal"]

#: The classes that make MathJax 3 and MathJax 2 leave an element's text alone.
NO_MATH = "mathjax_ignore tex2jax_ignore"

# JupyterLab gives an inline <code> a grey background and padding; a literal must read
# like the text around it (font, colour and wrapping inherited).
_LITERAL_STYLE = "font:inherit;color:inherit;background:none;padding:0;border:0;white-space:inherit"


def escape(value: Any) -> str:
    """``value`` as HTML text (quotes escaped too, so it can go in an attribute)."""
    return html.escape(str(value), quote=True)


def literal(value: Any, style: str = "") -> str:
    """``value`` escaped inside a ``<code>`` that no maths renderer typesets.

    It looks like the surrounding text; ``style`` adds CSS (e.g. ``white-space:pre-wrap``).
    """
    css = _LITERAL_STYLE + (";" + style if style else "")
    return f'<code style="{css}">{escape(value)}</code>'


def block(inner: str, css_class: str = "", style: str = "", tag: str = "div") -> str:
    """``inner`` (HTML) in a root element that carries :data:`NO_MATH` and ``css_class``."""
    classes = f"{css_class} {NO_MATH}".strip()
    style_attr = f' style="{escape(style)}"' if style else ""
    return f'<{tag} class="{classes}"{style_attr}>{inner}</{tag}>'
