"""Apply the user's docker config to build options: registry credentials and proxies.

What ``docker build`` sends on its own: ``X-Registry-Config`` from ``auths``, the
credential store and helpers, and the config's ``proxies`` as build args.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from ..engine.auth import proxy_build_args, registry_config_from_docker_config
from ..engine.client import resolve_endpoint
from ..engine.config import load_docker_config
from ..errors import DaemonUnavailable
from .options import BuildOptions


def apply_docker_config(
    options: BuildOptions,
    *,
    host: str | None = None,
    env: Mapping[str, str] | None = None,
) -> BuildOptions:
    """Return ``options`` with the docker config's credentials and proxies applied.

    ``host`` is the daemon address the build will use (None: found like the client
    finds it), which selects the ``proxies`` entry. Proxy values are added to
    ``secret_args`` so no display shows them.
    """
    env = os.environ if env is None else env
    config = load_docker_config(env)
    try:
        daemon_host = resolve_endpoint(host, env).host
    except DaemonUnavailable:
        daemon_host = ""  # the client will raise the same error right after
    changes: dict[str, Any] = {
        "registry_config": registry_config_from_docker_config(env, config=config)
    }
    proxies = proxy_build_args(config, daemon_host, options.build_args)
    if proxies:
        changes["build_args"] = {**options.build_args, **proxies}
        changes["secret_args"] = options.secret_args | frozenset(proxies)
        changes["implicit_args"] = options.implicit_args | frozenset(proxies)
    return options.replace(**changes)
