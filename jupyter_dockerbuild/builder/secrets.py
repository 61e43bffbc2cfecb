"""Build secrets: ``--secret id=NAME,src=PATH|env=VAR`` and the session's ``GetSecret``.

A build secret reaches a ``RUN --mount=type=secret`` step and nothing else: BuildKit
asks the client session for it (``moby.buildkit.secrets.v1.Secrets/GetSecret``, buildkit
``session/secrets/secrets.proto``) while the step runs, mounts it on a tmpfs, and keeps
it out of the layers, the image config and the history. So the notebook side holds only
*references*: the options, the magic line, the form's widgets and the notebook file name
a file or an environment variable, never the value, and :class:`SecretStore` reads the
value when the daemon asks for it, sends it, and keeps no copy.

The accepted forms are docker buildx's (``util/buildflags/secrets.go``), one CSV record:
``id=NAME`` with ``src=PATH`` (or ``source=``), ``env=VAR``, and ``type=file|env``
(``type=env,src=VAR`` names a variable). ``id=NAME`` alone means the environment
variable ``NAME`` if it is set, else the file ``NAME``, as BuildKit's
``secretsprovider.NewStore`` resolves it. Each form is checked before any request:
a missing or oversized file, an unset variable and bad syntax are
:class:`~jupyter_dockerbuild.errors.OptionsError` naming ``--secret``.

What the daemon is told for an id it did not get is NOT_FOUND: BuildKit then skips an
optional mount and fails a ``required=true`` one ("secret NAME not found"), as with
buildx (``secretsprovider.go``).
"""

from __future__ import annotations

import csv
import os
import re
import stat
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from ..engine import grpc, protobuf
from ..errors import GrpcError, OptionsError, StreamError

__all__ = [
    "GET_SECRET",
    "MAX_SECRET_SIZE",
    "SecretSpec",
    "SecretStore",
    "build_secrets",
    "check_secrets",
    "decode_request",
    "parse_secret",
    "secret_services",
]

#: The method BuildKit calls for a secret mount.
GET_SECRET = "/moby.buildkit.secrets.v1.Secrets/GetSecret"
#: BuildKit refuses larger secrets (``secretsprovider.MaxSecretSize``, 500 KB).
MAX_SECRET_SIZE = 500 * 1024

_FLAG = "--secret"
_OPTION = "secrets"
_KEYS = {"id", "src", "source", "env", "type"}


def _error(spec: str, detail: str) -> OptionsError:
    return OptionsError(f"{_FLAG} {spec}: {detail}", option=_OPTION, detail=detail)


@dataclass(frozen=True)
class SecretSpec:
    """One ``--secret``: its id and where its value is (a file or a variable), not the value."""

    id: str
    #: A file path as typed (relative to the kernel's working directory; ``~`` is
    #: expanded when it is read, as a shell would have), or None.
    src: str | None = None
    #: An environment variable name, or None.
    env: str | None = None

    def __repr__(self) -> str:
        where = f"env={self.env}" if self.env is not None else f"src={self.src}"
        return f"SecretSpec(id={self.id}, {where})"


def _fields(text: str) -> list[str]:
    """The CSV fields of one spec (buildx reads it as a CSV record, quotes allowed)."""
    try:
        rows = list(csv.reader([text], strict=True))
    except csv.Error as exc:
        raise _error(text, f"not a CSV list of key=value fields ({exc})") from None
    return [f.strip() for f in rows[0]] if rows else []


def parse_secret(text: str, env: Mapping[str, str] | None = None) -> SecretSpec:
    """Parse one ``--secret`` value into a :class:`SecretSpec` (syntax only, no IO).

    ``env`` decides what ``id=NAME`` alone means (the variable if set there, else the
    file); it defaults to ``os.environ``.
    """
    env = os.environ if env is None else env
    if not isinstance(text, str) or not text.strip():
        raise _error(repr(text), "expected id=NAME,src=PATH or id=NAME,env=VARIABLE")
    text = text.strip()
    values: dict[str, str] = {}
    kind = None
    for item in _fields(text):
        key, sep, value = item.partition("=")
        key = key.strip().lower()
        if not sep:
            raise _error(text, f"{item!r} is not a key=value pair (id=, src=, env=, type=)")
        if key not in _KEYS:
            raise _error(text, f"unknown key {key!r}; use id=, src=, env= or type=file|env")
        if key == "type":
            if value not in ("file", "env"):
                raise _error(text, f"type={value!r} is not a secret type; use file or env")
            kind = value
            continue
        values["src" if key == "source" else key] = value
    secret_id = values.get("id", "")
    if not secret_id:
        raise _error(text, "the secret has no id; give id=NAME (the RUN --mount's id)")
    src, var = values.get("src") or None, values.get("env") or None
    if kind == "env" and var is None:
        src, var = None, src  # type=env,src=VAR names a variable (as buildx reads it)
    if src is not None and var is not None:
        raise _error(text, "give either src= (a file) or env= (a variable), not both")
    if src is None and var is None:
        # BuildKit's store: the variable of that name if it is set, else the file.
        if secret_id in env:
            var = secret_id
        else:
            src = secret_id
    return SecretSpec(secret_id, src=src, env=var)


def _check_source(spec: SecretSpec, text: str, env: Mapping[str, str]) -> None:
    """That the value is there now (read later, when the daemon asks)."""
    if spec.env is not None:
        if spec.env not in env:
            raise _error(text, f"the environment variable {spec.env} is not set in the kernel")
        if len(env[spec.env].encode()) > MAX_SECRET_SIZE:
            raise _error(text, f"${spec.env} is larger than BuildKit's limit of 500 KiB")
        return
    path = os.path.expanduser(spec.src or "")
    try:
        info = os.stat(path)
    except FileNotFoundError:
        implicit = " (id alone means a variable of that name, or a file)" if path == spec.id else ""
        raise _error(text, f"no file {path!r}{implicit}") from None
    except OSError as exc:
        raise _error(text, f"cannot read {path!r}: {exc.strerror}") from None
    if not stat.S_ISREG(info.st_mode):
        raise _error(text, f"{path!r} is not a regular file")
    if info.st_size > MAX_SECRET_SIZE:
        raise _error(text, f"{path!r} is larger than BuildKit's limit of 500 KiB")
    if not os.access(path, os.R_OK):
        raise _error(text, f"{path!r} is not readable")


def check_secrets(items: Iterable[str], env: Mapping[str, str] | None = None) -> tuple[str, ...]:
    """Check every ``--secret`` (syntax, then that its file or variable exists).

    Returns the items as typed (stripped): what the magic line and the form show, and
    what :class:`SecretStore` resolves again at build time.
    """
    env = os.environ if env is None else env
    out = []
    for item in items:
        spec = parse_secret(item, env)
        _check_source(spec, item.strip(), env)
        out.append(item.strip())
    return tuple(out)


class SecretStore:
    """The build's secrets by id; each value is read only when the daemon asks for it.

    A later ``--secret`` with the same id replaces an earlier one (buildkit's store is a
    map too). ``env`` is where ``env=`` values are read (default ``os.environ``, read at
    the time of the request).
    """

    def __init__(self, items: Iterable[str], env: Mapping[str, str] | None = None) -> None:
        self._env = os.environ if env is None else env
        self._specs: dict[str, SecretSpec] = {}
        for item in items:
            spec = parse_secret(item, self._env)
            self._specs[spec.id] = spec

    @property
    def ids(self) -> tuple[str, ...]:
        """The ids given, in order (no values)."""
        return tuple(self._specs)

    def __repr__(self) -> str:
        return f"SecretStore({', '.join(self._specs) or 'empty'})"

    def read(self, secret_id: str) -> bytes:
        """The value of ``secret_id``; :class:`GrpcError` (NOT_FOUND ...) when it can't be."""
        spec = self._specs.get(secret_id)
        if spec is None:
            # BuildKit reads NOT_FOUND as "no such secret": an optional mount is skipped.
            raise GrpcError(grpc.NOT_FOUND, f"secret {secret_id} not found")
        if spec.env is not None:
            value = self._env.get(spec.env)
            if value is None:
                raise GrpcError(
                    grpc.FAILED_PRECONDITION,
                    f"secret {secret_id}: ${spec.env} is no longer set in the kernel",
                )
            data = value.encode()
        else:
            try:
                with open(os.path.expanduser(spec.src or ""), "rb") as fh:
                    data = fh.read(MAX_SECRET_SIZE + 1)
            except OSError as exc:
                raise GrpcError(
                    grpc.FAILED_PRECONDITION,
                    f"secret {secret_id}: cannot read {spec.src}: {exc.strerror}",
                ) from None
        if len(data) > MAX_SECRET_SIZE:
            raise GrpcError(grpc.RESOURCE_EXHAUSTED, f"secret {secret_id} is larger than 500 KiB")
        return data


def decode_request(message: bytes) -> str:
    """The ``ID`` of a ``GetSecretRequest`` (its ``annotations`` are not needed).

    Raises :class:`GrpcError` INVALID_ARGUMENT for bytes that are not that message.
    """
    secret_id: str | None = None
    try:
        for number, wire, value in protobuf.fields(message):
            if number == 1:
                if wire != protobuf.LENGTH or not isinstance(value, memoryview):
                    raise GrpcError(grpc.INVALID_ARGUMENT, "GetSecretRequest.ID is not a string")
                secret_id = bytes(value).decode("utf-8")
            elif number == 2 and isinstance(value, memoryview):
                # An annotations map entry: must be a well-formed message too.
                for _ in protobuf.fields(value):
                    pass
    except StreamError as exc:
        raise GrpcError(grpc.INVALID_ARGUMENT, f"malformed GetSecretRequest: {exc}") from None
    except UnicodeDecodeError:
        raise GrpcError(grpc.INVALID_ARGUMENT, "GetSecretRequest.ID is not UTF-8") from None
    if not secret_id:
        raise GrpcError(grpc.INVALID_ARGUMENT, "GetSecretRequest has no ID")
    return secret_id


def secret_services(store: SecretStore) -> dict[str, grpc.Handler]:
    """The session's Secrets service answering from ``store``."""

    def get_secret(request: bytes, _metadata: Mapping[str, list[str]]) -> bytes:
        # GetSecretResponse{bytes data = 1}: the value goes to the daemon only.
        return protobuf.bytes_field(1, store.read(decode_request(request)))

    return {GET_SECRET: grpc.unary(get_secret)}


class _Plan(Protocol):
    """What a session provider reads and fills (:class:`.session.SessionPlan`)."""

    options: Any
    env: Mapping[str, str]
    services: dict[str, grpc.Handler]


def build_secrets(plan: _Plan) -> None:
    """Session provider: serve the build's ``--secret``s (nothing when there are none)."""
    if plan.options.secrets:
        plan.services.update(secret_services(SecretStore(plan.options.secrets, env=plan.env)))


# BuildKit's words when a required secret mount's id was not given (secrets.GetSecret
# wraps NOT_FOUND and UNIMPLEMENTED alike): "secret ID not found: not found" in Docker
# 20.10, "secret ID: not found" from 26 on.
_NOT_FOUND_RE = re.compile(r"secret (\S+?):? not found")


def explain_missing_secret(message: str) -> str | None:
    """A sentence naming the flag, for BuildKit's "secret NAME not found" (None: not that)."""
    match = _NOT_FOUND_RE.search(message)
    if match is None:
        return None
    name = match.group(1)
    return (
        f"the step needs the secret {name!r}, which the build was not given; add "
        f"--secret id={name},src=PATH (a file) or --secret id={name},env=VARIABLE"
    )
