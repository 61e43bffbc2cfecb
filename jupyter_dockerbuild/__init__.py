"""jupyter-dockerbuild: build Docker images from a notebook cell.

``%load_ext jupyter_dockerbuild`` registers the ``%%dockerbuild`` cell magic. The same
builds are available from Python through :func:`build`. Importing this package opens no
socket and draws nothing: the heavy modules load when first used.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

__all__ = [
    "BASE_IMAGE",
    "BuildCancelled",
    "BuildError",
    "BuildForm",
    "BuildInterrupted",
    "BuildOptions",
    "BuildResult",
    "DockerBuildError",
    "DockerClient",
    "PushError",
    "__version__",
    "build",
    "compare",
    "ensure_base_image",
    "history",
    "load_ipython_extension",
    "login",
    "logout",
    "prune",
    "push",
    "run_image",
]

if TYPE_CHECKING:  # pragma: no cover
    from .builder.state import BuildResult

_LAZY = {
    "BASE_IMAGE": "builder.base",
    "ensure_base_image": "builder.base",
    "BuildOptions": "builder.options",
    "BuildResult": "builder.result",
    "DockerClient": "engine.client",
    "BuildError": "errors",
    "BuildForm": "ui.form",
    "history": "images.history",
    "compare": "images.compare",
    "prune": "images.prune",
    "push": "images.push",
    "login": "engine.registry",
    "logout": "engine.registry",
    "run_image": "images.run",
    "BuildCancelled": "errors",
    "BuildInterrupted": "errors",
    "DockerBuildError": "errors",
    "PushError": "errors",
}


def __getattr__(name: str) -> Any:
    """Import public names on first use, so ``import jupyter_dockerbuild`` stays cheap."""
    if name in _LAZY:
        import importlib

        module = importlib.import_module(f".{_LAZY[name]}", __name__)
        return getattr(module, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def build(
    dockerfile: str | None = None,
    *,
    context: str | os.PathLike[str] | None = None,
    files: Mapping[str, str | bytes] | None = None,
    host: str | None = None,
    progress: bool | str = False,
    builder: str | None = None,
    **options: Any,
) -> BuildResult:
    """Build an image from ``dockerfile`` text and return its :class:`BuildResult`.

    ``options`` are the ``docker build`` flags as keywords: ``tags=["myenv:1"]``,
    ``build_args={"PYVER": "3.12"}`` (or ``["PYVER=3.12"]``), ``memory="2g"``,
    ``memory_swap``, ``cpu_shares``, ``cpuset_cpus``, ``cpu_period``, ``cpu_quota``,
    ``shm_size``, ``labels``, ``network``, ``extra_hosts``, ``cache_from``, ``no_cache``,
    ``pull``, ``rm``, ``force_rm``, ``squash``, ``quiet``, ``dockerfile`` path (as
    ``file=``), ``target``, ``platform``, ``isolation``, ``remote``,
    ``secrets=["id=NAME,src=PATH"]`` and ``ssh=["default"]`` (BuildKit: see ``--secret``,
    ``--ssh``); ``push=True`` pushes
    every tag to its registry after the build (``result.pushed`` has the digests; a failed
    push raises :class:`PushError` whose ``.result`` is the build's). ``context`` adds a
    directory (filtered by its ``.dockerignore``), ``files`` adds in-memory files.
    ``progress=True`` prints the build like the docker CLI; ``"live"`` (or its old name
    ``"widget"``) shows the live HTML view in a notebook, updated in place, that ends as
    the summary. ``builder`` is ``"buildkit"``, ``"classic"`` or ``"auto"`` (None:
    ``DOCKER_BUILDKIT`` if set, else auto: BuildKit when the Dockerfile needs it, classic
    for per-build resource limits, else classic); ``result.builder`` says
    which ran. Raises :class:`BuildError` (with ``.result``) if the build fails, and
    :class:`BuildInterrupted` (a ``KeyboardInterrupt``, with ``.result``: the cancelled
    build's log and steps so far) if it is interrupted.
    """
    from .builder.options import BuildOptions
    from .builder.pipeline import execute
    from .ui.text import make_view

    # from_user takes the aliases (file=, tag=, cpus=) like every entry point.
    opts = BuildOptions.from_user(**options)
    view = None
    if progress:
        view = make_view(widget=progress in ("live", "widget"), quiet=opts.quiet)
    return execute(
        dockerfile, opts, context_dir=context, files=files, host=host, view=view, builder=builder
    )


def load_ipython_extension(ipython: Any) -> None:
    """Register the ``%%dockerbuild`` magics with an IPython shell."""
    from .ipython import register

    register(ipython)


def _register_display() -> None:
    """Inside IPython, display build results as their HTML summary (see ipython.display).

    Only when IPython is already loaded (a notebook, the IPython shell): a plain Python
    import must stay cheap and must not load IPython for nothing.
    """
    import sys

    if "IPython" in sys.modules:
        from .ipython.display import register_in_current_shell

        register_in_current_shell()


_register_display()


def _jupyter_labextension_paths() -> list[dict[str, str]]:
    """Tell JupyterLab where the prebuilt extension lives inside the package."""
    return [{"src": "labextension", "dest": "jupyter-dockerbuild"}]
