"""The session's Auth service: registry credentials for the daemon's BuildKit, on request.

BuildKit ignores ``X-Registry-Config``; when it pulls a base image (or a cache) from a
registry that asks for credentials, it calls back into the session
(``moby.filesync.v1.Auth``, buildkit ``session/auth/auth.proto``):

- ``GetTokenAuthority`` first: answered UNIMPLEMENTED (no method here), which makes the
  daemon skip client-side tokens and fall back to ``Credentials``; ``FetchToken`` and
  ``VerifyTokenAuthority`` are only called after an authority was given, so they are
  UNIMPLEMENTED too (buildkit ``util/resolver/authorizer.go``).
- ``Credentials{Host}`` -> ``{Username, Secret}``, found exactly as for the classic
  builder and ``docker push`` (:func:`~.auth.credentials_for_registry`:
  ``DOCKER_AUTH_CONFIG``, the credential helpers, ``auths``). An identity token goes
  as the secret with no username (buildkit's ``authprovider.toCredentials``). A
  registry with nothing configured gets an empty answer: an anonymous pull.

Values are never logged or put in a status message; a helper that fails ends the call
with its :class:`~jupyter_dockerbuild.errors.HelperError` sentence, which names the
helper and the registry only.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Mapping
from typing import Any

from ..errors import GrpcError, HelperError, StreamError
from . import grpc, protobuf
from .auth import credentials_for_registry
from .config import load_docker_config

CREDENTIALS = "/moby.filesync.v1.Auth/Credentials"


def parse_credentials_request(data: bytes) -> str:
    """The ``Host`` of a ``CredentialsRequest`` (field 1)."""
    host = ""
    try:
        for number, wire, value in protobuf.fields(data):
            if number == 1 and wire == protobuf.LENGTH and isinstance(value, memoryview):
                host = bytes(value).decode("utf-8")
    except (StreamError, UnicodeDecodeError) as exc:
        raise GrpcError(
            grpc.INVALID_ARGUMENT, f"bad CredentialsRequest ({type(exc).__name__})"
        ) from None
    return host


def credentials_response(username: str, secret: str) -> bytes:
    """A ``CredentialsResponse{Username: 1, Secret: 2}`` (empty fields left out)."""
    out = b""
    if username:
        out += protobuf.bytes_field(1, username)
    if secret:
        out += protobuf.bytes_field(2, secret)
    return out


class RegistryAuth:
    """Answers ``Credentials`` from the user's docker config (read once, helpers lazily).

    ``hosts`` lists the registries the daemon asked about, in order (no values).
    """

    def __init__(
        self, env: Mapping[str, str] | None = None, config: Mapping[str, Any] | None = None
    ) -> None:
        self._env = dict(os.environ if env is None else env)
        self._config = load_docker_config(self._env) if config is None else config
        self._cache: dict[str, tuple[str, str]] = {}
        self._lock = threading.Lock()
        self.hosts: list[str] = []

    def lookup(self, host: str) -> tuple[str, str]:
        """``(username, secret)`` for ``host``; ``("", "")`` when nothing is configured."""
        with self._lock:
            self.hosts.append(host)
            if host in self._cache:
                return self._cache[host]
        creds = credentials_for_registry(host, self._config, self._env)
        if creds.get("identitytoken"):
            found = ("", creds["identitytoken"])
        else:
            found = (creds.get("username", ""), creds.get("password", ""))
        with self._lock:
            self._cache[host] = found
        return found

    def credentials(self, request: bytes, metadata: Mapping[str, list[str]]) -> bytes:
        """The ``Credentials`` method."""
        host = parse_credentials_request(request)
        if not host:
            raise GrpcError(grpc.INVALID_ARGUMENT, "CredentialsRequest without a host")
        try:
            username, secret = self.lookup(host)
        except HelperError as exc:
            raise GrpcError(grpc.UNAVAILABLE, str(exc)) from None
        return credentials_response(username, secret)

    def services(self) -> grpc.Services:
        """What to serve: ``Credentials`` (the token methods stay UNIMPLEMENTED)."""
        return {CREDENTIALS: grpc.unary(self.credentials)}
