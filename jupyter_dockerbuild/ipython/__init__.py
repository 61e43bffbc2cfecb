"""The IPython layer: the ``%%dockerbuild`` and image magics, and Tab completion."""

from __future__ import annotations

from typing import Any


def register(ipython: Any) -> None:
    """Register the magics and the completer (called by ``%load_ext jupyter_dockerbuild``)."""
    from .complete import register as register_completion
    from .image_magics import register as register_image_magics
    from .login import register as register_login
    from .magics import DockerBuildMagics

    ipython.register_magics(DockerBuildMagics)
    register_image_magics(ipython)
    register_login(ipython)
    register_completion(ipython)
