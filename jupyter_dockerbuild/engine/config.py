"""The docker CLI's configuration file: where it is and what it says.

``$DOCKER_CONFIG/config.json`` or ``~/.docker/config.json``. Read by the endpoint
discovery (contexts) and by the credential code, so it sits below both.
"""

from __future__ import annotations

import json
import logging
import os
import stat
import tempfile
from collections.abc import Mapping
from typing import Any

from ..errors import ConfigFileError

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


def docker_config_path(env: Mapping[str, str] | None = None) -> str:
    """The path of ``config.json`` (which may not exist yet)."""
    return os.path.join(docker_config_dir(env), "config.json")


def load_docker_config_for_update(env: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The config to change and save back: ``{}`` if missing, an error if unreadable.

    :func:`load_docker_config` ignores a broken file; writing ``{}`` over it would
    destroy the user's settings, so an update refuses instead (naming the file only).
    """
    path = docker_config_path(env)
    try:
        with open(path, encoding="utf-8") as fh:
            text = fh.read()
    except FileNotFoundError:
        return {}
    except OSError as exc:
        raise ConfigFileError(
            f"the docker config.json cannot be read ({type(exc).__name__}); nothing was changed"
        ) from None
    if not text.strip():
        return {}
    try:
        config = json.loads(text)
    except ValueError:
        config = None
    if not isinstance(config, dict):
        raise ConfigFileError(
            "the docker config.json is not a JSON object; fix or remove it first "
            "(nothing was changed)"
        )
    return config


def save_docker_config(config: Mapping[str, Any], env: Mapping[str, str] | None = None) -> str:
    """Write ``config.json`` atomically, like the CLI's ``ConfigFile.Save``; return its path.

    A temporary file in the same directory is written, flushed and renamed over the
    config (following a symlink to its target), so a reader sees the old file or the
    new one, never half of one; it takes the old file's mode and owner (0600 for a new
    file). On any failure the temporary file is removed and the config is untouched.
    """
    path = docker_config_path(env)
    directory = os.path.dirname(path)
    try:
        os.makedirs(directory, mode=0o700, exist_ok=True)
        target = os.path.realpath(path)
        fd, tmp = tempfile.mkstemp(prefix="config.json.", dir=os.path.dirname(target))
    except OSError as exc:
        raise ConfigFileError(
            f"cannot write the docker config.json ({type(exc).__name__}); nothing was changed"
        ) from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(config, fh, indent="\t")
            fh.flush()
            os.fsync(fh.fileno())
        try:
            st = os.stat(target)
        except FileNotFoundError:
            st = None
        if st is not None and stat.S_ISREG(st.st_mode):
            os.chmod(tmp, stat.S_IMODE(st.st_mode))
            if st.st_uid > 0 and st.st_gid > 0:
                try:
                    os.chown(tmp, st.st_uid, st.st_gid)
                except OSError:
                    pass  # the CLI ignores this too
        os.replace(tmp, target)
    except BaseException as exc:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        if isinstance(exc, OSError | TypeError | ValueError):
            raise ConfigFileError(
                f"cannot write the docker config.json ({type(exc).__name__}); nothing was changed"
            ) from None
        raise
    return target
