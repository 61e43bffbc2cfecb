"""jupyter-dockerbuild: build Docker images from a notebook cell.

``%load_ext jupyter_dockerbuild`` registers the ``%%dockerbuild`` cell magic. The same
builds are available from Python through :func:`build`. Importing this package opens no
socket and draws nothing: the heavy modules load when first used.
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"

__all__ = ["__version__", "load_ipython_extension"]


def load_ipython_extension(ipython: Any) -> None:
    """Register the ``%%dockerbuild`` magics with an IPython shell."""
    from .magic import register

    register(ipython)


def _jupyter_labextension_paths() -> list[dict[str, str]]:
    """Tell JupyterLab where the prebuilt extension lives inside the package."""
    return [{"src": "labextension", "dest": "jupyter-dockerbuild"}]
