"""Build options: parse what a user types, check it, and turn it into a ``/build`` request.

Pure: no IO except reading environment variables handed in by the caller. The daemon
silently accepts nonsense (``memory=64m`` becomes "no limit", any non-empty string is a
true boolean), so every value is checked here before a request is sent, and each error
names the flag and the value that were wrong.

Names follow ``docker build``: ``tags`` is ``-t``, ``memory`` is ``-m/--memory`` and so on.
:data:`FLAGS` maps each option to its flag so messages can say ``--memory-swap`` rather
than ``memswap``.
"""

from __future__ import annotations

import ipaddress
import json
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import MISSING, dataclass, field, fields, replace
from typing import Any

from ..errors import OptionsError
from ..units import format_size, format_size_flag

#: Option name -> the ``docker build`` flag a user types for it.
FLAGS: dict[str, str] = {
    "dockerfile": "-f/--file",
    "tags": "-t/--tag",
    "extra_hosts": "--add-host",
    "remote": "--remote",
    "quiet": "-q/--quiet",
    "no_cache": "--no-cache",
    "cache_from": "--cache-from",
    "pull": "--pull",
    "rm": "--rm",
    "force_rm": "--force-rm",
    "memory": "-m/--memory",
    "memory_swap": "--memory-swap",
    "cpu_shares": "--cpu-shares",
    "cpuset_cpus": "--cpuset-cpus",
    "cpu_period": "--cpu-period",
    "cpu_quota": "--cpu-quota",
    "build_args": "--build-arg",
    "shm_size": "--shm-size",
    "squash": "--squash",
    "labels": "--label",
    "network": "--network",
    "target": "--target",
    "platform": "--platform",
    "isolation": "--isolation",
}

#: The kernel refuses a memory cgroup limit below this; dockerd says "Minimum memory
#: limit allowed is 6MB" only once a RUN step starts, so check it up front.
MIN_MEMORY = 6 * 1024 * 1024
#: CFS bounds from the kernel (1 ms .. 1 s for the period, at least 1 ms for the quota).
MIN_CPU_PERIOD, MAX_CPU_PERIOD = 1000, 1_000_000
MIN_CPU_QUOTA = 1000

_UNITS = {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3, "t": 1024**4, "p": 1024**5}
# go-units RAMInBytes, which the docker CLI uses: "512m", "2g", "1.5GiB", "100", "1kb".
_SIZE_RE = re.compile(r"^(\d+(?:\.\d+)?) ?([kmgtp]?)(?:i?b)?$", re.IGNORECASE)

# Docker's reference grammar (distribution/reference): lowercase path components
# separated by '/', an optional registry host[:port] first, then an optional ':tag'.
_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_DOMAIN_PART = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_DOMAIN = rf"(?:{_DOMAIN_PART}(?:\.{_DOMAIN_PART})*|\[[0-9a-fA-F:]+\])(?::[0-9]+)?"
_NAME_RE = re.compile(rf"^(?:{_DOMAIN}/)?{_COMPONENT}(?:/{_COMPONENT})*$")
_TAG_RE = re.compile(r"^[\w][\w.-]{0,127}$")
_CPUSET_RE = re.compile(r"^\d+(?:-\d+)?(?:,\d+(?:-\d+)?)*$")
_ARG_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_FALSE_WORDS = {"", "0", "no", "false", "none", "off"}

Size = int | str | None


def parse_size(value: Size, flag: str, *, allow_unlimited: bool = False) -> int | None:
    """Parse a size like the docker CLI does (``512m``, ``2g``, ``1.5GiB``, bytes).

    Units are binary (``k`` = 1024). ``None`` or ``""`` means "not set". With
    ``allow_unlimited``, ``-1`` is accepted and means unlimited (``--memory-swap``).
    """
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise OptionsError(f"{flag}: expected a size like 512m or 2g, got {value!r}")
    if isinstance(value, int):
        number = value
    else:
        text = str(value).strip()
        if allow_unlimited and text == "-1":
            return -1
        match = _SIZE_RE.match(text)
        if not match:
            raise OptionsError(
                f"{flag}: {text!r} is not a size; use a number of bytes or a unit "
                "b, k, m, g, t (e.g. 512m, 2g, 1.5GiB)"
            )
        number = int(float(match.group(1)) * _UNITS[match.group(2).lower()])
    if allow_unlimited and number == -1:
        return -1
    if number <= 0:
        raise OptionsError(f"{flag}: size must be positive, got {value!r}")
    return number


def _parse_int(value: Any, flag: str) -> int | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise OptionsError(f"{flag}: expected a whole number, got {value!r}")
    try:
        return int(str(value).strip(), 10) if not isinstance(value, int) else value
    except ValueError:
        raise OptionsError(f"{flag}: expected a whole number, got {value!r}") from None


def parse_bool(value: Any, flag: str) -> bool:
    """Parse a boolean the way a person writes it (``true``, ``0``, ``no`` ...)."""
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in _FALSE_WORDS:
        return False
    if text in {"1", "yes", "true", "on"}:
        return True
    raise OptionsError(f"{flag}: expected true or false, got {value!r}")


def validate_tag(tag: str) -> str:
    """Check one ``-t`` value against Docker's reference grammar; return it unchanged."""
    original = tag
    if not tag or tag != tag.strip():
        raise OptionsError(f"-t/--tag: {original!r} is not a valid image name (empty or spaces)")
    if "@" in tag:
        raise OptionsError(
            f"-t/--tag: {original!r} has a digest; a build can only create name:tag references"
        )
    name, tag_part = tag, None
    # The last ':' is a tag separator only if it comes after the last '/' (else it is
    # a registry port, as in localhost:5000/x).
    colon = tag.rfind(":")
    if colon > tag.rfind("/"):
        name, tag_part = tag[:colon], tag[colon + 1 :]
    if len(name) > 255:
        raise OptionsError(f"-t/--tag: {original!r}: the name is longer than 255 characters")
    if not _NAME_RE.match(name):
        hint = " (repository names must be lowercase)" if name != name.lower() else ""
        raise OptionsError(
            f"-t/--tag: {original!r} is not a valid image name{hint}; use lowercase letters, "
            "digits and separators . _ - /, like myenv:1 or localhost:5000/team/env:latest"
        )
    if tag_part is not None and not _TAG_RE.match(tag_part):
        raise OptionsError(
            f"-t/--tag: {original!r} has an invalid tag {tag_part!r}; a tag is up to 128 "
            "letters, digits, '_', '.' or '-', not starting with '.' or '-'"
        )
    return tag


def parse_key_values(
    items: Iterable[str] | Mapping[str, Any] | None,
    flag: str,
    *,
    env: Mapping[str, str] | None = None,
) -> dict[str, str | None]:
    """Parse ``K=V`` items (or a mapping) into a dict, keeping the last value of a key.

    With ``env`` given (build args), a bare ``K`` takes its value from ``env`` like the
    docker CLI; if ``K`` is not set there it maps to ``None``, which the daemon treats
    as "use the Dockerfile's default". Without ``env`` (labels) a bare ``K`` means "".
    """
    if items is None:
        return {}
    if isinstance(items, Mapping):
        pairs: list[tuple[str, Any]] = list(items.items())
    elif isinstance(items, str):
        raise OptionsError(f"{flag}: expected a list of KEY=VALUE items, got the string {items!r}")
    else:
        pairs = []
        for item in items:
            if not isinstance(item, str):
                raise OptionsError(f"{flag}: expected KEY=VALUE, got {item!r}")
            key, sep, val = item.partition("=")
            if not sep:
                pairs.append((key, env.get(key) if env is not None else ""))
            else:
                pairs.append((key, val))
    out: dict[str, str | None] = {}
    for key, val in pairs:
        key = str(key).strip()
        if not key:
            raise OptionsError(f"{flag}: an item has an empty name")
        if env is not None and not _ARG_NAME_RE.match(key):
            raise OptionsError(
                f"{flag}: {key!r} is not a valid build-arg name (letters, digits, '_')"
            )
        out[key] = None if val is None else str(val)
    return out


def validate_extra_host(entry: str) -> str:
    """Check one ``--add-host host:ip`` value (``host-gateway`` allowed as the ip)."""
    host, sep, ip = entry.partition(":")
    if not sep or not host or not ip:
        raise OptionsError(f"--add-host: {entry!r} must be HOST:IP, e.g. db:10.0.0.5")
    if ip != "host-gateway":
        try:
            ipaddress.ip_address(ip.strip("[]"))
        except ValueError:
            raise OptionsError(f"--add-host: {entry!r}: {ip!r} is not an IP address") from None
    return entry


def _str_list(value: Any, flag: str) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    try:
        items = list(value)
    except TypeError:
        raise OptionsError(f"{flag}: expected a list of strings, got {value!r}") from None
    for item in items:
        if not isinstance(item, str):
            raise OptionsError(f"{flag}: expected strings, got {item!r}")
    return items


@dataclass(frozen=True)
class BuildOptions:
    """Every ``/build`` parameter, named like the ``docker build`` flags, checked.

    Build it with :meth:`from_user`, which parses sizes and ``K=V`` lists and raises
    :class:`~jupyter_dockerbuild.errors.OptionsError` naming the culprit. ``to_query``
    and ``headers`` give what is sent.
    """

    dockerfile: str = "Dockerfile"
    tags: tuple[str, ...] = ()
    extra_hosts: tuple[str, ...] = ()
    remote: str | None = None
    quiet: bool = False
    no_cache: bool = False
    cache_from: tuple[str, ...] = ()
    pull: bool = False
    rm: bool = True
    force_rm: bool = True
    memory: int | None = None
    memory_swap: int | None = None
    cpu_shares: int | None = None
    cpuset_cpus: str | None = None
    cpu_period: int | None = None
    cpu_quota: int | None = None
    build_args: Mapping[str, str | None] = field(default_factory=dict)
    shm_size: int | None = None
    squash: bool = False
    labels: Mapping[str, str] = field(default_factory=dict)
    network: str | None = None
    target: str | None = None
    platform: str | None = None
    isolation: str | None = None
    #: Base64url JSON for ``X-Registry-Config``; secret, never shown (``repr=False``).
    registry_config: str | None = field(default=None, repr=False, compare=False)
    #: Names of build args whose values must never be displayed (from the environment
    #: or marked secret in the form).
    secret_args: frozenset[str] = frozenset()
    #: Build args added from the docker config (proxies): the docker CLI adds them by
    #: itself, so the equivalent command leaves them out.
    implicit_args: frozenset[str] = frozenset()

    @classmethod
    def from_user(cls, *, env: Mapping[str, str] | None = None, **values: Any) -> BuildOptions:
        """Parse user-typed values (strings, lists, mappings) into checked options.

        ``env`` is where a bare ``--build-arg NAME`` takes its value (defaults to
        ``os.environ``). Unknown keywords raise :class:`OptionsError` listing the valid
        ones, so a typo never silently does nothing.
        """
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise OptionsError(
                f"unknown build option(s) {', '.join(unknown)}; valid options are "
                + ", ".join(sorted(known - {"registry_config", "secret_args", "implicit_args"}))
            )
        env = os.environ if env is None else env
        parsed: dict[str, Any] = {}
        for name, value in values.items():
            flag = FLAGS.get(name, name)
            if name in {"memory", "shm_size"}:
                parsed[name] = parse_size(value, flag)
            elif name == "memory_swap":
                parsed[name] = parse_size(value, flag, allow_unlimited=True)
            elif name in {"cpu_shares", "cpu_period", "cpu_quota"}:
                parsed[name] = _parse_int(value, flag)
            elif name in {"quiet", "no_cache", "pull", "rm", "force_rm", "squash"}:
                parsed[name] = parse_bool(value, flag)
            elif name in {"tags", "extra_hosts", "cache_from"}:
                parsed[name] = tuple(_str_list(value, flag))
            elif name == "build_args":
                parsed[name] = parse_key_values(value, flag, env=env)
                # A bare NAME takes its value from the environment, where secrets live:
                # mask it wherever we display it (the docker CLI never prints it either).
                if value is not None and not isinstance(value, (Mapping, str)):
                    from_env = {i for i in value if isinstance(i, str) and "=" not in i}
                    secrets = frozenset(values.get("secret_args") or ()) | from_env
                    parsed["secret_args"] = secrets
            elif name == "labels":
                parsed[name] = {k: v or "" for k, v in parse_key_values(value, flag).items()}
            elif name == "secret_args":
                parsed[name] = parsed.get(name, frozenset()) | frozenset(value or ())
            elif value is None or value == "":
                parsed[name] = None if name != "dockerfile" else "Dockerfile"
            else:
                if not isinstance(value, str):
                    raise OptionsError(f"{flag}: expected text, got {value!r}")
                parsed[name] = value
        if parsed.get("rm") is False and "force_rm" not in parsed:
            # Our force_rm default (on) exists so failures leave nothing behind; a user
            # who asks to keep intermediate containers with --rm=false means it.
            parsed["force_rm"] = False
        options = cls(**parsed)
        options.validate()
        return options

    def __repr__(self) -> str:
        """Show the options that differ from the defaults, secrets masked."""
        shown = []
        for f in fields(self):
            value = getattr(self, f.name)
            if (
                not f.repr
                or value == f.default
                or (f.default_factory is not MISSING and value == f.default_factory())
            ):
                continue
            if f.name == "build_args":
                value = self.masked_build_args()
            shown.append(f"{f.name}={value!r}")
        return f"BuildOptions({', '.join(shown)})"

    def replace(self, **changes: Any) -> BuildOptions:
        """Return a copy with ``changes`` applied and validated."""
        options = replace(self, **changes)
        options.validate()
        return options

    def validate(self) -> None:
        """Check ranges and combinations; raise :class:`OptionsError` naming the flag."""
        for tag in self.tags:
            validate_tag(tag)
        for entry in self.extra_hosts:
            validate_extra_host(entry)
        for image in self.cache_from:
            if not image or image != image.strip():
                raise OptionsError(f"--cache-from: {image!r} is not an image name")
        df = self.dockerfile
        if not df or df.startswith("/") or ".." in df.replace("\\", "/").split("/"):
            raise OptionsError(
                f"-f/--file: {df!r} must be a relative path inside the build context"
            )
        if self.memory is not None and self.memory < MIN_MEMORY:
            raise OptionsError(
                f"-m/--memory: {format_size(self.memory)} is below the minimum of 6MiB "
                "that Docker allows"
            )
        if self.memory_swap is not None and self.memory_swap != -1:
            if self.memory is None:
                raise OptionsError(
                    "--memory-swap needs -m/--memory too (it is memory plus swap); "
                    "use --memory-swap -1 for unlimited swap"
                )
            if self.memory_swap < self.memory:
                raise OptionsError(
                    f"--memory-swap ({format_size(self.memory_swap)}) must be at least "
                    f"-m/--memory ({format_size(self.memory)}), or -1 for unlimited swap"
                )
        if self.cpu_shares is not None and (self.cpu_shares < 0 or self.cpu_shares == 1):
            raise OptionsError(
                f"--cpu-shares: {self.cpu_shares} is out of range; use 2 or more "
                "(1024 is the default weight)"
            )
        if self.cpu_period is not None and not (
            MIN_CPU_PERIOD <= self.cpu_period <= MAX_CPU_PERIOD
        ):
            raise OptionsError(
                f"--cpu-period: {self.cpu_period} must be between {MIN_CPU_PERIOD} and "
                f"{MAX_CPU_PERIOD} microseconds"
            )
        if self.cpu_quota is not None:
            if self.cpu_quota < MIN_CPU_QUOTA and self.cpu_quota != -1:
                raise OptionsError(
                    f"--cpu-quota: {self.cpu_quota} is below the minimum of {MIN_CPU_QUOTA} "
                    "microseconds (-1 means no limit)"
                )
            if self.cpu_period is None:
                raise OptionsError(
                    "--cpu-quota needs --cpu-period: the quota is CPU time per period, "
                    "e.g. --cpu-period 100000 --cpu-quota 50000 for half a CPU"
                )
        if self.cpuset_cpus is not None and not _CPUSET_RE.match(self.cpuset_cpus):
            raise OptionsError(
                f"--cpuset-cpus: {self.cpuset_cpus!r} is not a CPU list; use e.g. 0, 0-1 or 0,2"
            )
        for key in self.labels:
            if not key:
                raise OptionsError("--label: a label has an empty name")

    def to_query(self) -> list[tuple[str, str]]:
        """Return the ``/build`` query parameters, repeated keys kept in order.

        Only values that differ from the daemon's defaults are sent, except ``rm`` and
        ``forcerm`` which are always explicit. Sizes go as integers of bytes: the
        daemon reads ``memory=64m`` as 0, i.e. no limit.
        """
        q: list[tuple[str, str]] = []
        if self.dockerfile != "Dockerfile":
            q.append(("dockerfile", self.dockerfile))
        q.extend(("t", t) for t in self.tags)
        q.extend(("extrahosts", h) for h in self.extra_hosts)
        if self.remote:
            q.append(("remote", self.remote))
        for name, key in (
            ("quiet", "q"),
            ("no_cache", "nocache"),
            ("pull", "pull"),
            ("squash", "squash"),
        ):
            if getattr(self, name):
                q.append((key, "1"))
        q.append(("rm", "1" if self.rm else "0"))
        q.append(("forcerm", "1" if self.force_rm else "0"))
        if self.cache_from:
            q.append(("cachefrom", json.dumps(list(self.cache_from))))
        for name, key in (
            ("memory", "memory"),
            ("memory_swap", "memswap"),
            ("cpu_shares", "cpushares"),
            ("cpu_period", "cpuperiod"),
            ("cpu_quota", "cpuquota"),
            ("shm_size", "shmsize"),
        ):
            value = getattr(self, name)
            if value is not None:
                q.append((key, str(value)))
        if self.cpuset_cpus:
            q.append(("cpusetcpus", self.cpuset_cpus))
        if self.build_args:
            q.append(("buildargs", json.dumps(dict(self.build_args))))
        if self.labels:
            q.append(("labels", json.dumps(dict(self.labels))))
        for name, key in (
            ("network", "networkmode"),
            ("target", "target"),
            ("platform", "platform"),
            ("isolation", "isolation"),
        ):
            value = getattr(self, name)
            if value:
                q.append((key, value))
        return q

    def headers(self) -> dict[str, str]:
        """Return the request headers (content type and, if set, registry credentials)."""
        headers = {"Content-Type": "application/x-tar"}
        if self.registry_config:
            headers["X-Registry-Config"] = self.registry_config
        return headers

    def masked_build_args(self) -> dict[str, str | None]:
        """Build args for display: values of secret ones replaced by ``***``."""
        return {
            k: ("***" if k in self.secret_args and v is not None else v)
            for k, v in self.build_args.items()
        }

    def to_cli(self, *, magic: bool = False) -> str:
        """Return the equivalent ``docker build`` command (or ``%%dockerbuild`` line).

        Secret build args appear as ``--build-arg NAME`` (taken from the environment),
        never with their value.
        """
        import shlex

        parts: list[str] = ["%%dockerbuild"] if magic else ["docker", "build"]

        def add(flag: str, value: Any = None) -> None:
            parts.append(flag)
            if value is not None:
                parts.append(shlex.quote(str(value)))

        for tag in self.tags:
            add("-t", tag)
        if self.dockerfile != "Dockerfile":
            add("-f", self.dockerfile)
        for key, value in self.build_args.items():
            if key in self.implicit_args:
                continue
            if key in self.secret_args or value is None:
                add("--build-arg", key)
            else:
                add("--build-arg", f"{key}={value}")
        for key, value in self.labels.items():
            add("--label", f"{key}={value}")
        for name in ("memory", "memory_swap", "shm_size"):
            value = getattr(self, name)
            if value is not None:
                add("--" + name.replace("_", "-"), format_size_flag(value))
        for name in (
            "cpu_shares",
            "cpu_period",
            "cpu_quota",
            "cpuset_cpus",
            "network",
            "target",
            "platform",
            "isolation",
            "remote",
        ):
            value = getattr(self, name)
            if value is not None:
                add("--" + name.replace("_", "-"), value)
        for host in self.extra_hosts:
            add("--add-host", host)
        for image in self.cache_from:
            add("--cache-from", image)
        for name in ("no_cache", "pull", "squash", "quiet"):
            if getattr(self, name):
                add("--" + name.replace("_", "-"))
        if not self.rm:
            add("--rm=false")
        if not self.force_rm:
            add("--force-rm=false")
        elif not magic:
            # The CLI's default is --force-rm=false; ours is true, so spell it out.
            add("--force-rm")
        if not magic:
            parts.append("-")
        return " ".join(parts)


def registry_config_from_docker_config(
    env: Mapping[str, str] | None = None,
) -> str | None:
    """Build the ``X-Registry-Config`` header value from the user's docker config.

    Kept here for existing callers; the work (``auths``, ``credsStore`` and
    ``credHelpers`` like the docker CLI) is done by
    :func:`jupyter_dockerbuild.auth.registry_config_from_docker_config`.
    """
    from ..engine.auth import registry_config_from_docker_config as from_docker_config

    return from_docker_config(env)
