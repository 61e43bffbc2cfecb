"""The IPython layer: the magics, Tab completion, and how a build result displays."""

from __future__ import annotations

from typing import Any


def register(ipython: Any) -> None:
    """Register the magics and the completer (called by ``%load_ext jupyter_dockerbuild``)."""
    from .complete import register as register_completion
    from .display import register_display
    from .image_magics import register as register_image_magics
    from .login import register as register_login
    from .magics import DockerBuildMagics

    ipython.register_magics(DockerBuildMagics)
    register_image_magics(ipython)
    register_login(ipython)
    register_completion(ipython)
    register_display(ipython)
