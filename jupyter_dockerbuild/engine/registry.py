"""Registries: which one an image name points at, logging in and out, explaining refusals.

* :func:`split_reference` finds the registry host of an image name the way the docker
  CLI and daemon normalise names (``team/app:1`` is Docker Hub, ``127.0.0.1:5443/team/
  app:1`` is the registry at ``127.0.0.1:5443``).
* :func:`login` checks credentials with the daemon's ``POST /auth`` and stores them the
  way ``docker login`` does (``cli/command/registry/login.go``): in the credential helper
  configured for the registry (``credHelpers``, else ``credsStore``) with an empty entry
  left in ``auths``, else as base64 ``auth`` in ``config.json``, written atomically.
  :func:`logout` erases them like ``docker logout`` (the helper's ``erase``, the entry).
* :func:`explain_registry_error` turns the daemon's messages about a registry (pull,
  push, login) into one sentence naming the registry and what to do.

No password, token or ``auth`` value is ever logged, printed or put in a message.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..errors import HelperError, HTTPError, RegistryError
from .auth import (
    INDEX_SERVER,
    auth_config_key,
    convert_to_hostname,
    credentials_for_registry,
    helper_erase,
    helper_for,
    helper_store,
)
from .config import load_docker_config_for_update, save_docker_config

if TYPE_CHECKING:  # pragma: no cover
    from .client import DockerClient

#: What an image name without a registry host means (``reference.ParseNormalizedNamed``).
DOCKER_HUB = "docker.io"
_LEGACY_HUB = "index.docker.io"
_TAG_RE = re.compile(r"[\w][\w.-]{0,127}")


@dataclass(frozen=True)
class Reference:
    """An image name split like Docker does: ``host/path:tag`` (or ``@digest``)."""

    host: str
    path: str
    tag: str | None
    digest: str | None
    #: False when the name had no registry part and so means Docker Hub.
    explicit_host: bool

    @property
    def repository(self) -> str:
        """``host/path`` as the daemon names the repository (``/images/{name}/push``)."""
        return f"{self.host}/{self.path}" if self.explicit_host else self.path

    def __str__(self) -> str:
        out = self.repository
        if self.tag:
            out += f":{self.tag}"
        if self.digest:
            out += f"@{self.digest}"
        return out


def split_reference(name: str) -> Reference:
    """Split an image name; the host is :data:`DOCKER_HUB` when none is written.

    The first ``/``-separated part is a registry host when it contains ``.`` or
    ``:``, or is ``localhost``, or has an uppercase letter (``splitDockerDomain``).
    Raises ``ValueError`` for an empty name or a malformed tag.
    """
    text = name.strip()
    if not text:
        raise ValueError("empty image name")
    rest, _, digest = text.partition("@")
    slash = rest.find("/")
    first = rest[:slash] if slash >= 0 else ""
    if slash >= 0 and (
        any(c in first for c in ".:") or first == "localhost" or first.lower() != first
    ):
        host, remainder, explicit = first, rest[slash + 1 :], True
    else:
        host, remainder, explicit = DOCKER_HUB, rest, False
    if host == _LEGACY_HUB:
        host = DOCKER_HUB
    tag = None
    colon = remainder.rfind(":")
    if colon > remainder.rfind("/"):
        remainder, tag = remainder[:colon], remainder[colon + 1 :]
        if not _TAG_RE.fullmatch(tag):
            raise ValueError(f"{name!r} has a malformed tag {tag!r}")
    if not remainder:
        raise ValueError(f"{name!r} names no repository")
    return Reference(host, remainder, tag, digest or None, explicit)


# -- explaining what the daemon says about a registry --------------------------------

#: ``Get "https://host:port/v2/": ...`` and similar: the registry the daemon talked to.
_URL_HOST_RE = re.compile(r"https?://([^/\"\s]+)/v[12]/")
_MANIFEST_RE = re.compile(r"manifest for (\S+) not found")
#: The containerd image store's word for it: every registry host answered 404.
_RESOLVE_NOT_FOUND_RE = re.compile(r'failed to resolve reference "([^"]+)": \S+: not found\s*$')
#: Docker 23+'s last word on a wrong password for a registry it may also reach over HTTP.
_LOGIN_HTTP_400_RE = re.compile(r"login attempt to http://[^/\s]+/v2/ failed with status: 400\b")
_TLS_MARKERS = ("x509:", "certificate signed by unknown authority", "tls: failed to verify")
_AUTH_MARKERS = (
    "unauthorized",
    "authentication required",
    "no basic auth credentials",
    "401 unauthorized",
    "client sent an http request to an https server",
    "denied: requested access",
    "pull access denied",
)
_BROKEN_MARKERS = (
    "connection reset by peer",
    "broken pipe",
    "unexpected eof",
    ": eof",
    "use of closed network connection",
    "http2: server sent goaway",
    "http2: stream closed",
    "server closed idle connection",
)


def _creds_sent_for(registry: str, registry_config: str | None) -> bool:
    """Whether an ``X-Registry-Config`` value holds credentials for ``registry``.

    Only the keys are looked at; the decoded secrets are dropped at once.
    """
    if not registry_config:
        return False
    try:
        decoded = json.loads(base64.urlsafe_b64decode(registry_config.encode("ascii")))
    except (ValueError, binascii.Error, UnicodeError):
        return False
    if not isinstance(decoded, dict):
        return False
    wanted = auth_config_key(registry)
    return any(auth_config_key(str(key)) == wanted for key in decoded)


def _insecure_by_default(host: str | None) -> bool:
    """Registries dockerd treats as insecure without being told: 127.0.0.0/8, localhost."""
    if not host:
        return False
    name = host.rsplit(":", 1)[0] if host.count(":") == 1 else host
    return name == "localhost" or name.startswith("127.")


def image_of_instruction(instruction: str) -> str | None:
    """The image a step pulls: ``FROM [--platform=..] IMAGE``, ``COPY --from=IMAGE``."""
    words = instruction.split()
    if not words:
        return None
    if words[0].upper() == "FROM":
        return next((w for w in words[1:] if not w.startswith("--")), None)
    if words[0].upper() == "COPY":
        return next((w[len("--from=") :] for w in words[1:] if w.startswith("--from=")), None)
    return None


def _registry_of(message: str, image: str | None) -> str | None:
    if image:
        try:
            ref = split_reference(image)
        except ValueError:
            ref = None
        if ref is not None and "$" not in image:
            return ref.host
    match = _URL_HOST_RE.search(message)
    if match:
        return match.group(1)
    match = _MANIFEST_RE.search(message) or _RESOLVE_NOT_FOUND_RE.search(message)
    if match:
        try:
            return split_reference(match.group(1)).host
        except ValueError:
            return None
    return None


def explain_registry_error(
    message: str,
    *,
    image: str | None = None,
    instruction: str | None = None,
    registry: str | None = None,
    registry_config: str | None = None,
    sent_credentials: bool | None = None,
    action: str = "pull",
) -> str | None:
    """One sentence for a daemon error about a registry, or None if it is not one.

    ``image`` is the image being pulled or pushed (it names the registry when the
    daemon's text does not), or ``instruction`` the ``FROM`` line that pulls it;
    ``registry`` names the registry directly. Whether credentials were
    sent for it is ``sent_credentials`` or read from the keys of ``registry_config``
    (the build's ``X-Registry-Config``). ``action`` is ``"pull"``, ``"push"`` or
    ``"login"``. The daemon's own text is kept at the end, in parentheses.
    """
    lowered = message.lower()
    if image is None and instruction:
        image = image_of_instruction(instruction)
        if image is None:
            return None  # a RUN or ADD <url> step: whatever failed, it was no registry
    host = registry or _registry_of(message, image)
    if host in (DOCKER_HUB, "registry-1.docker.io") and registry is None:
        # Docker Hub pulls keep the builder's own advice (build the base locally):
        # these machines reach no public registry.
        return None
    name = f"registry {host}" if host else "the registry"
    login_hint = f"%docker_login {host}" if host else "%docker_login REGISTRY"
    cli_hint = f"docker login {host}" if host else "docker login"
    if sent_credentials is None:
        sent_credentials = bool(host) and _creds_sent_for(host or "", registry_config)
    said = f" (daemon: {message.strip()})"

    if any(m in lowered for m in _TLS_MARKERS):
        where = f"/etc/docker/certs.d/{host}/ca.crt" if host else "/etc/docker/certs.d/HOST:PORT/"
        if "valid for" in lowered or "doesn't contain any ip sans" in lowered:
            why = "its certificate is not issued for that name"
            fix = "connect with a name its certificate lists, or give it a certificate for this one"
        elif "expired" in lowered or "not yet valid" in lowered:
            why = "its certificate has expired or is not yet valid"
            fix = "renew the registry's certificate"
        else:
            why = "its certificate is signed by a CA the daemon does not trust"
            fix = (
                f"put that CA certificate in {where} on the daemon's host (read at the next "
                "request, no restart needed)"
            )
        return f"the Docker daemon does not trust the TLS certificate of {name}: {why}; {fix}{said}"
    if "server gave http response to https client" in lowered:
        return (
            f"{name} speaks plain HTTP but the daemon expects HTTPS: give the registry TLS, or "
            f"list it in the daemon's insecure-registries{said}"
        )
    if "connection refused" in lowered:
        return f"{name} is not reachable (connection refused): is the registry running?{said}"
    if "no such host" in lowered:
        return f"the registry name {host or '?'} does not resolve on the daemon's host{said}"
    if "i/o timeout" in lowered or "deadline exceeded" in lowered or "timeout awaiting" in lowered:
        return f"{name} did not answer in time (timeout): is it up and reachable?{said}"
    if not sent_credentials and action != "login" and _insecure_by_default(host):
        # dockerd tries HTTPS on a 127.0.0.0/8 registry, and after its 401 falls back to
        # plain HTTP on the TLS port, which ends in "Client sent an HTTP request to an
        # HTTPS server" or a reset: the real cause is the missing credentials.
        if "client sent an http request" in lowered or "connection reset by peer" in lowered:
            return (
                f"{name} needs credentials and the docker config has none for it: log in "
                f"with {login_hint} (or {cli_hint}){said}"
            )
    if action == "login" and _LOGIN_HTTP_400_RE.search(message):
        # Docker 20.10 stopped at the HTTPS endpoint's "401 Unauthorized". From 23.0
        # (moby's registry Service.Auth) only a typed unauthorized error, a token server's,
        # stops the login; a basic-auth 401 is an untyped status error, so the daemon goes
        # on to the plain-HTTP endpoint of a registry it treats as insecure (127.0.0.0/8,
        # insecure-registries), i.e. the same TLS port, which answers 400 Bad Request, and
        # returns that last error. Right credentials end at HTTPS with 200.
        return (
            f"{name} refused the user name or password: check them and log in again "
            f"({login_hint}); the daemon then retried over plain HTTP, which the registry's "
            f"HTTPS port answers with 400 Bad Request{said}"
        )
    if any(m in lowered for m in _BROKEN_MARKERS):
        return (
            f"the connection to {name} broke during the {action} (the registry or something "
            f"in front of it dropped it): try again{said}"
        )
    if any(m in lowered for m in _AUTH_MARKERS):
        if action == "login":
            return (
                f"{name} refused the user name or password: check them and log in again "
                f"({login_hint}){said}"
            )
        if "denied" in lowered and sent_credentials:
            return (
                f"{name} denied access to this repository for the stored credentials: log in "
                f"as a user allowed to {action} it ({login_hint}){said}"
            )
        if sent_credentials and "no basic auth credentials" not in lowered:
            return (
                f"{name} refused the stored credentials (wrong user name or password, or "
                f"expired): log in again with {login_hint} (or {cli_hint}){said}"
            )
        return (
            f"{name} needs credentials and the docker config has none for it: log in with "
            f"{login_hint} (or {cli_hint}){said}"
        )
    missing = "manifest unknown" in lowered or _RESOLVE_NOT_FOUND_RE.search(message)
    if missing and host and host != DOCKER_HUB:
        what = image or "that image"
        return (
            f"{name} has no image {what} (manifest unknown): push it there first, or check "
            f"the name and tag{said}"
        )
    return None


# -- login and logout, like docker login / docker logout -----------------------------


@dataclass(frozen=True)
class LoginResult:
    """A successful login: which registry, as whom, and where the credentials went."""

    registry: str
    username: str
    #: ``"docker-credential-<name>"`` or ``"config.json"``.
    stored_in: str
    #: True when the stored credentials still worked and nothing was asked.
    reused: bool = False
    status: str = "Login Succeeded"

    def __str__(self) -> str:
        how = "with the stored credentials" if self.reused else f"as {self.username}"
        return f"{self.status}: {self.registry} {how} (credentials in {self.stored_in})"


def _trim_eol(text: str) -> str:
    """Drop one terminal line ending, like the CLI's ``readSecretFromStdin``."""
    for eol in ("\r\n", "\n", "\r"):
        if text.endswith(eol):
            return text[: -len(eol)]
    return text


def _auth_entry(username: str, password: str, token: str) -> dict[str, str]:
    """A config.json ``auths`` entry as the CLI's ``SaveToWriter`` writes it."""
    entry: dict[str, str] = {}
    if username or password:
        entry["auth"] = base64.b64encode(f"{username}:{password}".encode()).decode("ascii")
    if token:
        entry["identitytoken"] = token
    return entry


def store_credentials(
    config: dict[str, Any],
    registry: str,
    username: str,
    password: str,
    *,
    token: str = "",
    env: Mapping[str, str] | None = None,
) -> str:
    """Store credentials like the CLI's ``storeCredentials``; return where they went.

    With a helper for ``registry`` the secret goes to ``docker-credential-<name>
    store`` first and config.json gets an empty entry (the CLI's native store keeps
    only an email there); without one, ``auth`` goes into config.json. config.json is
    written atomically and only after the helper succeeded.
    """
    key = auth_config_key(registry)
    helper = helper_for(config, key)
    auths = config.get("auths")
    if not isinstance(auths, dict):
        auths = {}
        config["auths"] = auths
    if helper is not None:
        if token:
            helper_store(helper, key, "<token>", token)
        else:
            helper_store(helper, key, username, password)
        auths[key] = {}
        where = f"docker-credential-{helper}"
    else:
        auths[key] = _auth_entry(username, "" if token else password, token)
        where = "config.json"
    save_docker_config(config, env)
    return where


def login(
    registry: str,
    username: str | None = None,
    *,
    password: str | None = None,
    password_stdin: bool = False,
    client: DockerClient | None = None,
    env: Mapping[str, str] | None = None,
    ask_username: Callable[[str], str] | None = None,
    ask_password: Callable[[str], str] | None = None,
    stdin: Any = None,
) -> LoginResult:
    """Log in to ``registry`` like ``docker login REGISTRY``; return a :class:`LoginResult`.

    Without ``username`` and ``password`` the stored credentials are tried first (as
    the CLI does); otherwise, or if they fail, the user name is asked (``input``) and
    the password too, without echo (``getpass``; in Jupyter, a password box whose
    value never reaches the notebook). ``password_stdin`` reads it from standard input
    instead, for scripts. The daemon checks them (``POST /auth``) before anything is
    stored; a refusal raises :class:`RegistryError` naming the registry.
    """
    import getpass

    ask_username = ask_username or input
    ask_password = ask_password or getpass.getpass
    server = (registry or "").strip()
    if not server:
        raise RegistryError("name the registry to log in to, e.g. %docker_login 127.0.0.1:5443")
    if server in (DOCKER_HUB, _LEGACY_HUB, INDEX_SERVER):
        key = INDEX_SERVER
    else:
        key = convert_to_hostname(server)
    if password is not None and password_stdin:
        raise RegistryError("give the password either as an argument or on stdin, not both")
    if password_stdin and not username:
        raise RegistryError("reading the password from stdin needs the user name (-u USER)")
    if username is not None and not username.strip():
        raise RegistryError("the user name is empty")
    # Refuse a broken config.json before asking anything: we could not store the result.
    config = load_docker_config_for_update(env)
    owns = client is None
    if client is None:
        # Imported here: the classic builder's error explanations import this module,
        # and the HTTP stack must not load before a build's first paint.
        from .client import DockerClient

        client = DockerClient(env=env)
    try:
        if username is None and password is None and not password_stdin:
            reused = _try_stored(client, key, config, env)
            if reused is not None:
                return reused
        stored_user = ""
        if username is None:
            try:
                stored_user = credentials_for_registry(key, config, env).get("username", "")
            except HelperError:
                stored_user = ""
            prompt = f"Username ({stored_user}): " if stored_user else "Username: "
            username = ask_username(prompt).strip() or stored_user
            if not username:
                raise RegistryError(f"no user name given for registry {key}")
        username = username.strip()
        if password_stdin:
            password = _trim_eol((stdin or sys.stdin).read())
        elif password is None:
            password = _ask(ask_password, key)
        if not password.strip():
            raise RegistryError(f"the password for registry {key} is empty; nothing was stored")
        answer = _check(client, key, username, password)
        token = str(answer.get("IdentityToken") or "")
        where = store_credentials(config, key, username, password, token=token, env=env)
        return LoginResult(
            key, username, where, status=str(answer.get("Status") or "Login Succeeded")
        )
    finally:
        if owns:
            client.close()


def _ask(ask_password: Callable[[str], str], registry: str) -> str:
    try:
        return ask_password("Password: ")
    except (EOFError, OSError, NotImplementedError) as exc:
        # ipykernel raises StdinNotImplementedError (a NotImplementedError) when the
        # frontend cannot answer input requests (nbclient, voila).
        raise RegistryError(
            f"cannot ask for the password of registry {registry} here ({type(exc).__name__}): "
            "pass it from a script with --password-stdin, or password= in Python"
        ) from None


def _check(client: DockerClient, registry: str, username: str, password: str) -> dict[str, Any]:
    """``POST /auth``; a refusal becomes one sentence naming the registry."""
    body = {"username": username, "password": password, "serveraddress": registry}
    try:
        return client.auth(body)
    except HTTPError as exc:
        explained = explain_registry_error(
            exc.message, registry=registry, sent_credentials=True, action="login"
        )
        raise RegistryError(
            explained or f"login to registry {registry} failed: {exc.message}", registry=registry
        ) from None


def _try_stored(
    client: DockerClient, key: str, config: dict[str, Any], env: Mapping[str, str] | None
) -> LoginResult | None:
    """Log in with the stored credentials if they still work (the CLI's first try)."""
    try:
        stored = credentials_for_registry(key, config, env)
    except HelperError:
        return None
    user, password = stored.get("username", ""), stored.get("password", "")
    if not user or not password:
        return None
    try:
        answer = client.auth({"username": user, "password": password, "serveraddress": key})
    except HTTPError:
        return None  # expired or changed: ask, like the CLI
    helper = helper_for(config, key)
    where = f"docker-credential-{helper}" if helper else "config.json"
    return LoginResult(
        key, user, where, reused=True, status=str(answer.get("Status") or "Login Succeeded")
    )


@dataclass(frozen=True)
class LogoutResult:
    """What a logout removed: the registry and the places its credentials were erased."""

    registry: str
    erased: tuple[str, ...]
    warnings: tuple[str, ...] = ()

    def __str__(self) -> str:
        if not self.erased:
            return f"Not logged in to {self.registry}: no credentials were stored for it"
        return f"Removed the login credentials for {self.registry} ({', '.join(self.erased)})"


def logout(registry: str, *, env: Mapping[str, str] | None = None) -> LogoutResult:
    """Erase the credentials for ``registry`` like ``docker logout REGISTRY``.

    Tries the name as given, its hostname and the ``http://``/``https://`` forms (old
    configs used those keys); each is erased from its helper (``erase``) and removed
    from ``auths``. config.json is rewritten (atomically) only if it changed.
    """
    server = (registry or "").strip()
    if not server:
        raise RegistryError("name the registry to log out of, e.g. %docker_logout 127.0.0.1:5443")
    if server in (DOCKER_HUB, _LEGACY_HUB, INDEX_SERVER):
        host, names = INDEX_SERVER, [INDEX_SERVER]
    else:
        host = convert_to_hostname(server)
        names = list(dict.fromkeys([server, host, f"http://{host}", f"https://{host}"]))
    config = load_docker_config_for_update(env)
    auths = config.get("auths") if isinstance(config.get("auths"), dict) else {}
    erased: list[str] = []
    warnings: list[str] = []
    changed = False
    for name in names:
        helper = helper_for(config, auth_config_key(name) if name == host else name)
        if helper is not None:
            try:
                if helper_erase(helper, name):
                    erased.append(f"docker-credential-{helper}")
            except HelperError as exc:
                warnings.append(str(exc))
        if isinstance(auths, dict) and name in auths:
            entry = auths.pop(name)
            changed = True
            if isinstance(entry, dict) and (entry.get("auth") or entry.get("identitytoken")):
                erased.append("config.json")
    if changed:
        save_docker_config(config, env)
    return LogoutResult(host, tuple(dict.fromkeys(erased)), tuple(warnings))
