"""Tab completion inside ``%%dockerbuild`` cells, answered by the kernel.

On the magic line it offers the magic's flags, read from the option table the magic's
argument parser is made of (so the list can never drift from what ``%%dockerbuild?``
documents); where an instruction starts (not on a continued line or in a heredoc body,
as :func:`~jupyter_dockerbuild.builder.dockerfile.parse` sees the cell), the Dockerfile
instructions; after ``FROM``, the images the daemon has locally (asked with a short
timeout and cached for a few seconds, so an unreachable daemon never stalls typing).
Works in every Jupyter frontend, because the frontend asks the kernel.
"""

from __future__ import annotations

import json
import time
from typing import Any

from IPython.core.completer import CompletionContext, SimpleCompletion, context_matcher

from ..builder.dockerfile import INSTRUCTIONS, parse
from ..builder.options import magic_flags

_IMAGES_TTL = 5.0
_images_cache: tuple[float, list[str]] = (0.0, [])


def local_images(host: str | None = None) -> list[str]:
    """Tags of the daemon's images (cached briefly; empty if the daemon does not answer)."""
    global _images_cache
    stamp, names = _images_cache
    if time.monotonic() - stamp < _IMAGES_TTL:
        return names
    from ..engine.client import DockerClient

    try:
        client = DockerClient(host, timeout=0.5)
        try:
            # Only tagged images: the containerd image store works out every listed
            # image's size, so a daemon with 80 dangling images took ~0.8 s here (26.1)
            # and the short timeout gave no completions at all; this way it takes 0.07 s.
            images = client.get_json(
                "/images/json", params={"filters": json.dumps({"dangling": ["false"]})}
            )
        finally:
            client.close()
        names = sorted(
            {t for img in images for t in (img.get("RepoTags") or []) if t != "<none>:<none>"}
        )
    except Exception:  # completion must never raise into the frontend
        names = []
    _images_cache = (time.monotonic(), names)
    return names


def _result(completions: list[SimpleCompletion], token: str) -> dict[str, Any]:
    # suppress: inside a %%dockerbuild cell, Python names are never what is wanted.
    return {"completions": completions, "suppress": bool(completions), "matched_fragment": token}


@context_matcher()
def dockerbuild_matcher(context: CompletionContext) -> dict[str, Any]:
    """IPython matcher: flags, instructions and local images in ``%%dockerbuild`` cells."""
    lines = context.full_text.split("\n")
    first = next((i for i, ln in enumerate(lines) if ln.strip()), None)
    if first is None or not lines[first].lstrip().startswith("%%dockerbuild"):
        return {"completions": [], "suppress": False}
    token = context.token
    if context.cursor_line == first:
        if token.startswith("-"):
            return _result(
                [SimpleCompletion(f, type="flag") for f in magic_flags() if f.startswith(token)],
                token,
            )
        return {"completions": [], "suppress": False}
    if context.cursor_line < first or context.cursor_line >= len(lines):
        return {"completions": [], "suppress": False}
    # The cell below the magic line is the Dockerfile: its line 1 is the cell's first + 1.
    line = context.cursor_line - first
    instruction = parse("\n".join(lines[first + 1 :])).at(line)
    if instruction is not None and instruction.line != line:
        return {"completions": [], "suppress": False}  # a continued line, a heredoc body
    before = lines[context.cursor_line][: context.cursor_position]
    words = before.split()
    if len(words) <= 1 and not before.endswith(" "):
        prefix = token.upper()
        return _result(
            [SimpleCompletion(i, type="instruction") for i in INSTRUCTIONS if i.startswith(prefix)],
            token,
        )
    if words and words[0].upper() == "FROM" and len(words) <= 2:
        return _result(
            [SimpleCompletion(n, type="image") for n in local_images() if n.startswith(token)],
            token,
        )
    return {"completions": [], "suppress": False}


def register(ipython: Any) -> None:
    """Add the matcher to the shell's completer (once)."""
    completer = getattr(ipython, "Completer", None)
    if completer is not None and dockerbuild_matcher not in completer.custom_matchers:
        completer.custom_matchers.append(dockerbuild_matcher)
