"""The user's docker configuration: registry credentials and proxies for a build.

What ``docker build`` (classic builder) sends, read the way the docker CLI reads it:

* ``X-Registry-Config``: every credential the CLI can find (``GetAllCredentials`` in
  ``cli/config/configfile``): the default store, which is the credential helper named
  by ``credsStore`` (``docker-credential-<name> list``, then ``get`` for each server)
  or else the ``auths`` of ``config.json``, overridden by the per-registry helpers of
  ``credHelpers`` and by ``DOCKER_AUTH_CONFIG``. A Docker Hub entry is also filed
  under the index server key ``https://index.docker.io/v1/``, the key the daemon
  looks up first. Encoded as base64url JSON.
* Proxies: ``proxies.<daemon host>`` or ``proxies.default`` of ``config.json`` become
  the build args ``HTTP_PROXY``/``http_proxy`` ... unless the user gave that name
  (``ParseProxyConfig``). They are marked secret: a proxy URL may carry a password.

No value read here is ever logged or put in a message: warnings name the helper and
the registry only. :func:`apply_docker_config` is what the magic calls.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import os
import re
import subprocess
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from ..errors import HelperError
from .config import load_docker_config

log = logging.getLogger(__name__)

#: The key the docker CLI files Docker Hub credentials under (``registry.IndexServer``).
INDEX_SERVER = "https://index.docker.io/v1/"
_HUB_HOSTS = {"docker.io", "index.docker.io", "registry-1.docker.io"}
#: config.json ``proxies`` field -> build arg (set in upper and lower case).
PROXY_KEYS = {
    "httpProxy": "HTTP_PROXY",
    "httpsProxy": "HTTPS_PROXY",
    "noProxy": "NO_PROXY",
    "ftpProxy": "FTP_PROXY",
    "allProxy": "ALL_PROXY",
}
#: The fields of the daemon's AuthConfig that we send (empty ones are left out).
_AUTH_FIELDS = ("username", "password", "email", "serveraddress", "identitytoken", "registrytoken")
_SECRET_FIELDS = ("username", "password", "identitytoken", "registrytoken")
_NOT_FOUND = "credentials not found in native keychain"
_HELPER_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
#: A helper may ask a keychain or gpg-agent; don't hang a cell forever on it.
HELPER_TIMEOUT = 60.0

Auths = dict[str, dict[str, str]]


def convert_to_hostname(url: str) -> str:
    """``https://host:port/v1/`` -> ``host:port`` (the CLI's ``ConvertToHostname``)."""
    if "://" in url:
        try:
            parts = urlsplit(url)
            if parts.hostname:
                return parts.netloc.rsplit("@", 1)[-1]
        except ValueError:
            pass
    return url.split("/", 1)[0]


def _decode_file_auths(auths: Any) -> Auths:
    """``auths`` of a config file as the CLI loads them: ``auth`` split into user/password."""
    out: Auths = {}
    if not isinstance(auths, dict):
        return out
    for server, entry in auths.items():
        if not isinstance(entry, dict):
            continue
        creds = {k: entry[k] for k in _AUTH_FIELDS if isinstance(entry.get(k), str) and entry[k]}
        auth = entry.get("auth")
        if isinstance(auth, str) and auth:
            try:
                decoded = base64.b64decode(auth, validate=True).decode("utf-8")
            except (binascii.Error, ValueError, UnicodeDecodeError):
                log.warning("ignoring the credentials for %s in config.json: bad 'auth'", server)
                continue
            user, sep, password = decoded.partition(":")
            if not sep or not user:
                log.warning("ignoring the credentials for %s in config.json: bad 'auth'", server)
                continue
            creds.update(username=user, password=password.strip("\x00"))
        creds["serveraddress"] = str(server)
        out[str(server)] = creds
    return out


def _run_helper(name: str, action: str, stdin: str) -> str:
    """Run ``docker-credential-<name> <action>``; return stdout. Never logs its output."""
    if not _HELPER_NAME_RE.match(name):
        raise HelperError(f"{name!r} is not a credential helper name")
    program = f"docker-credential-{name}"
    try:
        proc = subprocess.Popen(
            [program, action],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
    except FileNotFoundError:
        raise HelperError(f"{program} is not on PATH") from None
    except OSError as exc:
        raise HelperError(f"{program} cannot be run ({type(exc).__name__})") from None
    try:
        stdout, _ = proc.communicate(stdin.encode("utf-8"), timeout=HELPER_TIMEOUT)
    except subprocess.TimeoutExpired:
        # Kill it and stop listening: a grandchild holding the pipes must not hang us
        # (subprocess.run would wait for it to close them).
        proc.kill()
        for pipe in (proc.stdin, proc.stdout, proc.stderr):
            if pipe is not None:
                pipe.close()
        proc.wait()
        raise HelperError(f"{program} {action} did not answer in {HELPER_TIMEOUT:g}s") from None
    out = stdout.decode("utf-8", "replace")
    if proc.returncode != 0:
        if out.strip() == _NOT_FOUND:
            raise KeyError(stdin)
        raise HelperError(f"{program} {action} exited with code {proc.returncode}")
    return out


def _helper_json(name: str, action: str, arg: str) -> dict[str, Any]:
    """Run ``docker-credential-<name> <action>`` and decode its JSON object answer."""
    out = _run_helper(name, action, arg)
    try:
        reply = json.loads(out)
    except ValueError:
        reply = None
    if not isinstance(reply, dict):
        raise HelperError(f"docker-credential-{name} {action} answered with non-JSON")
    return reply


def helper_get(name: str, server: str) -> dict[str, str]:
    """Credentials for ``server`` from a helper; ``{}`` when it has none (not an error)."""
    try:
        reply = _helper_json(name, "get", server)
    except KeyError:
        return {}
    user, secret = str(reply.get("Username") or ""), str(reply.get("Secret") or "")
    # "<token>" is how helpers store an identity token instead of a password.
    if user == "<token>":
        return {"identitytoken": secret, "serveraddress": server}
    return {"username": user, "password": secret, "serveraddress": server}


def helper_list(name: str) -> list[str]:
    """The servers a helper holds credentials for (``list``: server -> username)."""
    return [str(k) for k in _helper_json(name, "list", "unused")]


def _env_auths(env: Mapping[str, str]) -> Auths:
    """``DOCKER_AUTH_CONFIG`` (a config.json in a variable), as newer CLIs read it."""
    raw = env.get("DOCKER_AUTH_CONFIG")
    if not raw:
        return {}
    try:
        config = json.loads(raw)
    except ValueError:
        log.warning("ignoring DOCKER_AUTH_CONFIG: it is not JSON")
        return {}
    return _decode_file_auths(config.get("auths") if isinstance(config, dict) else None)


def get_all_credentials(config: Mapping[str, Any], env: Mapping[str, str] | None = None) -> Auths:
    """Every credential the docker CLI would send with a build, keyed by server.

    Mirrors ``ConfigFile.GetAllCredentials``: with ``credsStore`` the helper's list
    replaces ``auths`` (whose entries only contribute an email), else ``auths``
    is used; then each ``credHelpers`` registry is asked of its own helper, and
    ``DOCKER_AUTH_CONFIG`` wins over both. A failing helper is skipped with a warning
    naming the helper, never its output. Entries without any secret are dropped.
    """
    env = os.environ if env is None else env
    file_auths = _decode_file_auths(config.get("auths"))
    env_auths = _env_auths(env)
    auths: Auths = {}
    store = config.get("credsStore")
    if isinstance(store, str) and store:
        try:
            for server in helper_list(store):
                creds = helper_get(store, server)
                entry = {k: v for k, v in file_auths.get(server, {}).items() if k == "email"}
                entry.update(creds)
                entry.setdefault("serveraddress", server)
                auths[server] = entry
        except HelperError as exc:
            # The CLI drops the whole default store when its helper fails.
            log.warning("no credentials from credsStore %r: %s", store, exc)
            auths = {}
    else:
        auths.update(file_auths)
    auths.update(env_auths)
    helpers = config.get("credHelpers")
    if isinstance(helpers, dict):
        for registry, helper in helpers.items():
            if registry in env_auths:
                continue
            if not isinstance(helper, str) or not helper:
                continue
            try:
                creds = helper_get(helper, str(registry))
            except HelperError as exc:
                log.warning("no credentials for registry %s: %s", registry, exc)
                continue
            entry = {k: v for k, v in file_auths.get(registry, {}).items() if k == "email"}
            entry.update(creds)
            auths[str(registry)] = entry
    out = {}
    for server, creds in auths.items():
        kept = {k: v for k, v in creds.items() if k in _AUTH_FIELDS and v}
        if any(kept.get(k) for k in _SECRET_FIELDS):
            out[server] = kept
    return out


def alias_docker_hub(auths: Auths) -> Auths:
    """File Docker Hub credentials under :data:`INDEX_SERVER` too, if not there already.

    The daemon looks the index server key up first for ``docker.io`` images, then
    compares hostnames; a helper entry keyed ``docker.io`` would be missed by the first.
    """
    if INDEX_SERVER in auths:
        return auths
    for server, creds in auths.items():
        if convert_to_hostname(server) in _HUB_HOSTS:
            return {**auths, INDEX_SERVER: dict(creds)}
    return auths


def encode_registry_config(auths: Mapping[str, Mapping[str, str]]) -> str | None:
    """The ``X-Registry-Config`` header value (base64url JSON), or None if empty."""
    if not auths:
        return None
    data = json.dumps({k: dict(v) for k, v in auths.items()}).encode("utf-8")
    return base64.urlsafe_b64encode(data).decode("ascii")


def registry_config_from_docker_config(
    env: Mapping[str, str] | None = None,
    *,
    config: Mapping[str, Any] | None = None,
) -> str | None:
    """Build the ``X-Registry-Config`` header value from the user's docker config.

    Reads ``$DOCKER_CONFIG/config.json`` (or ``~/.docker/config.json``) and its
    credential helpers like ``docker build`` does (:func:`get_all_credentials`).
    Returns ``None`` when there is no config or no credentials.
    """
    config = load_docker_config(env) if config is None else config
    return encode_registry_config(alias_docker_hub(get_all_credentials(config, env)))


def proxy_build_args(
    config: Mapping[str, Any], daemon_host: str, given: Mapping[str, Any] | None = None
) -> dict[str, str]:
    """Proxy build args from ``proxies`` in config.json, like ``ParseProxyConfig``.

    ``proxies.<daemon_host>`` if present, else ``proxies.default``; each set proxy
    becomes ``NAME`` and ``name`` unless that exact name is already in ``given``.
    """
    proxies = config.get("proxies")
    if not isinstance(proxies, dict):
        return {}
    chosen = proxies.get(daemon_host) if daemon_host in proxies else proxies.get("default")
    if not isinstance(chosen, dict):
        return {}
    given = given or {}
    out: dict[str, str] = {}
    for field, name in PROXY_KEYS.items():
        value = chosen.get(field)
        if not isinstance(value, str) or not value:
            continue
        for key in (name, name.lower()):
            if key not in given:
                out[key] = value
    return out


# -- one registry's credentials (push, login), like the CLI's GetAuthConfig ----------


def auth_config_key(registry: str) -> str:
    """The key credentials for ``registry`` are filed under (``getAuthConfigKey``).

    Docker Hub's names map to :data:`INDEX_SERVER`; every other registry is its
    ``host[:port]`` (a URL is reduced to that, as the CLI does).
    """
    host = convert_to_hostname(registry)
    return INDEX_SERVER if host in _HUB_HOSTS or registry == INDEX_SERVER else host


def helper_for(config: Mapping[str, Any], key: str) -> str | None:
    """The credential helper for ``key``: ``credHelpers[key]``, else ``credsStore``."""
    helpers = config.get("credHelpers")
    if isinstance(helpers, dict):
        helper = helpers.get(key)
        if isinstance(helper, str) and helper:
            return helper
    store = config.get("credsStore")
    return store if isinstance(store, str) and store else None


def credentials_for_registry(
    registry: str,
    config: Mapping[str, Any] | None = None,
    env: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """The credentials the docker CLI would use for ``registry`` (push, login), or ``{}``.

    Mirrors ``ConfigFile.GetAuthConfig``: ``DOCKER_AUTH_CONFIG`` first, then the
    helper named by ``credHelpers``/``credsStore`` (a helper that fails raises
    :class:`HelperError` naming it), else ``auths`` (the exact key, or a legacy key
    such as ``https://host/v1/`` with the same hostname).
    """
    env = os.environ if env is None else env
    config = load_docker_config(env) if config is None else config
    key = auth_config_key(registry)
    env_auths = _env_auths(env)
    if key in env_auths:
        return _kept(env_auths[key])
    helper = helper_for(config, key)
    if helper is not None:
        return _kept(helper_get(helper, key))
    file_auths = _decode_file_auths(config.get("auths"))
    if key in file_auths:
        return _kept(file_auths[key])
    for server, creds in file_auths.items():
        if convert_to_hostname(server) == key:
            return _kept({**creds, "serveraddress": key})
    return {}


def _kept(creds: Mapping[str, str]) -> dict[str, str]:
    """Only the AuthConfig fields, only when one of them is a secret."""
    kept = {k: v for k, v in creds.items() if k in _AUTH_FIELDS and v}
    return kept if any(kept.get(k) for k in _SECRET_FIELDS) else {}


def encode_registry_auth(creds: Mapping[str, str]) -> str:
    """The ``X-Registry-Auth`` header value: base64url JSON of one AuthConfig.

    An empty one (``{}``) is still sent, as the CLI does: the daemon then answers
    with its own "no basic auth credentials" instead of a 400 for a missing header.
    """
    data = json.dumps(dict(creds), separators=(",", ":")).encode("utf-8")
    return base64.urlsafe_b64encode(data).decode("ascii")


def helper_store(name: str, server: str, username: str, secret: str) -> None:
    """``docker-credential-<name> store``: the protocol's JSON on stdin."""
    payload = json.dumps({"ServerURL": server, "Username": username, "Secret": secret})
    try:
        _run_helper(name, "store", payload)
    except KeyError:
        raise HelperError(f"docker-credential-{name} store refused the credentials") from None


def helper_erase(name: str, server: str) -> bool:
    """``docker-credential-<name> erase``; False when it held nothing for ``server``."""
    try:
        _run_helper(name, "erase", server)
    except KeyError:
        return False
    return True
