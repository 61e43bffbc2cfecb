"""The docker CLI's configuration file: where it is and what it says.

``$DOCKER_CONFIG/config.json`` or ``~/.docker/config.json``. Read by the endpoint
discovery (contexts) and by the credential code, so it sits below both.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping
from typing import Any

log = logging.getLogger(__name__)


def docker_config_dir(env: Mapping[str, str] | None = None) -> str:
    """``$DOCKER_CONFIG``, else ``~/.docker`` (the CLI's ``config.Dir()``)."""
    env = os.environ if env is None else env
    return env.get("DOCKER_CONFIG") or os.path.join(os.path.expanduser("~"), ".docker")


def load_docker_config(env: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The parsed ``config.json``, or ``{}`` when it is missing or not a JSON object.

    A broken config is ignored rather than fatal: a build may need no credentials.
    """
    path = os.path.join(docker_config_dir(env), "config.json")
    try:
        with open(path, encoding="utf-8") as fh:
            config = json.load(fh)
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        log.warning("ignoring the docker config.json: it cannot be read (%s)", type(exc).__name__)
        return {}
    return config if isinstance(config, dict) else {}
