"""Build options: one table declares them; parsing, checks and renderings come from it.

:data:`OPTIONS` holds one :class:`Option` per ``docker build`` flag we support (and per
flag of our own: ``--push``, ``--context``, ``--var``, ``--out``, ``-H``, ``--text``,
``--form``). Each
record says everything about its option: Python name and aliases, flags, value kind,
``/build`` query key, help, how it is written on a ``docker build`` command and on a
``%%dockerbuild`` line, the form group it sits in, its checks, and which builders honour
it. Everything else is made from the table: the fields of :class:`BuildOptions`,
:meth:`BuildOptions.from_user`, :meth:`~BuildOptions.validate`,
:meth:`~BuildOptions.to_query`, :meth:`~BuildOptions.to_cli`, the magic's argument
parser (:func:`add_arguments`, :func:`magic_values`), the flags completion offers and
the form's fields. Adding an option is adding a row.

Pure: no IO except reading environment variables handed in by the caller, and checking
that the files and sockets ``--secret`` and ``--ssh`` name exist (:mod:`.secrets`,
:mod:`.ssh`; their contents are never read here). The daemon
silently accepts nonsense (``memory=64m`` becomes "no limit", any non-empty string is a
true boolean), so every value is checked here before a request is sent; each
:class:`~jupyter_dockerbuild.errors.OptionsError` names the flag and the value that were
wrong, and carries the option's name in ``.option``.
"""

from __future__ import annotations

import argparse
import enum
import ipaddress
import json
import os
import re
import shlex
from collections.abc import Callable, Iterable, Mapping
from dataclasses import MISSING, dataclass, field, fields, make_dataclass, replace
from typing import Any, Literal

from ..errors import OptionsError
from ..units import format_size, format_size_flag
from .secrets import check_secrets
from .ssh import check_ssh

#: The kernel refuses a memory cgroup limit below this; dockerd says "Minimum memory
#: limit allowed is 6MB" only once a RUN step starts, so check it up front.
MIN_MEMORY = 6 * 1024 * 1024
#: CFS bounds from the kernel (1 ms .. 1 s for the period, at least 1 ms for the quota).
MIN_CPU_PERIOD, MAX_CPU_PERIOD = 1000, 1_000_000
MIN_CPU_QUOTA = 1000
#: The CFS period ``--cpus`` uses in the docker CLI (100 ms).
CPU_PERIOD = 100_000

#: Builder names for :attr:`Option.builders`.
CLASSIC, BUILDKIT = "classic", "buildkit"
_BOTH = frozenset({CLASSIC, BUILDKIT})
# moby's builder-next (builder/builder-next/builder.go in 20.10, daemon/internal/
# builder-next/builder.go in master) never reads these from the build options: cgroup
# limits, container removal, squash and isolation.
_CLASSIC_ONLY = frozenset({CLASSIC})
#: What ``--builder`` accepts.
BUILDERS = ("auto", BUILDKIT, CLASSIC)
#: Networks BuildKit runs RUN steps on (builder-next refuses any other name).
BUILDKIT_NETWORKS = ("default", "host", "none")
_CLASSIC_HINT = "use the classic builder (--builder classic)"
_BUILDKIT_HINT = "use BuildKit (--builder buildkit)"
# Given to BuildKit through the client session, which the classic builder has not.
_BUILDKIT_ONLY = frozenset({BUILDKIT})

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


# -- value parsers (also public: the form checks single fields with them) ------------------


def _error(option: str | None, flag: str, detail: str) -> OptionsError:
    return OptionsError(f"{flag}: {detail}", option=option, detail=detail)


def parse_size(
    value: Size, flag: str, *, allow_unlimited: bool = False, option: str | None = None
) -> int | None:
    """Parse a size like the docker CLI does (``512m``, ``2g``, ``1.5GiB``, bytes).

    Units are binary (``k`` = 1024). ``None`` or ``""`` means "not set". With
    ``allow_unlimited``, ``-1`` is accepted and means unlimited (``--memory-swap``).
    """
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise _error(option, flag, f"expected a size like 512m or 2g, got {value!r}")
    if isinstance(value, int):
        number = value
    else:
        text = str(value).strip()
        if allow_unlimited and text == "-1":
            return -1
        match = _SIZE_RE.match(text)
        if not match:
            raise _error(
                option,
                flag,
                f"{text!r} is not a size; use a number of bytes or a unit b, k, m, g, t "
                "(e.g. 512m, 2g, 1.5GiB)",
            )
        number = int(float(match.group(1)) * _UNITS[match.group(2).lower()])
    if allow_unlimited and number == -1:
        return -1
    if number <= 0:
        raise _error(option, flag, f"size must be positive, got {value!r}")
    return number


def parse_int(value: Any, flag: str, *, option: str | None = None) -> int | None:
    """Parse a whole number (``None`` or ``""`` mean "not set")."""
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise _error(option, flag, f"expected a whole number, got {value!r}")
    try:
        return int(str(value).strip(), 10) if not isinstance(value, int) else value
    except ValueError:
        raise _error(option, flag, f"expected a whole number, got {value!r}") from None


def parse_bool(value: Any, flag: str, *, option: str | None = None) -> bool:
    """Parse a boolean the way a person writes it (``true``, ``0``, ``no`` ...)."""
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in _FALSE_WORDS:
        return False
    if text in {"1", "yes", "true", "on"}:
        return True
    raise _error(option, flag, f"expected true or false, got {value!r}")


def cpus_to_cfs(cpus: str | float) -> tuple[int, int]:
    """``cpus=1.5`` as the ``(cpu_period, cpu_quota)`` the classic builder takes.

    Like the docker CLI's ``--cpus``: a 100 ms period and a quota of ``cpus`` times that.
    """
    if isinstance(cpus, str):
        try:
            value = float(cpus.strip())
        except ValueError:
            raise _error(
                "cpus", "--cpus", f"{cpus!r} is not a number of CPUs; use e.g. 1, 1.5 or 0.25"
            ) from None
    else:
        value = float(cpus)
    quota = round(value * CPU_PERIOD)
    if not value > 0 or quota < 1000:
        raise _error("cpus", "--cpus", f"{cpus!r} must be at least 0.01")
    return CPU_PERIOD, quota


def cfs_to_cpus(period: int, quota: int) -> str:
    """The number of CPUs a CFS period and quota give, as one would type it (``1.5``)."""
    return f"{quota / period:.3f}".rstrip("0").rstrip(".")


def validate_tag(tag: str) -> str:
    """Check one ``-t`` value against Docker's reference grammar; return it unchanged."""
    original = tag

    def bad(detail: str) -> OptionsError:
        return _error("tags", "-t/--tag", detail)

    if not tag or tag != tag.strip():
        raise bad(f"{original!r} is not a valid image name (empty or spaces)")
    if "@" in tag:
        raise bad(f"{original!r} has a digest; a build can only create name:tag references")
    name, tag_part = tag, None
    # The last ':' is a tag separator only if it comes after the last '/' (else it is
    # a registry port, as in localhost:5000/x).
    colon = tag.rfind(":")
    if colon > tag.rfind("/"):
        name, tag_part = tag[:colon], tag[colon + 1 :]
    if len(name) > 255:
        raise bad(f"{original!r}: the name is longer than 255 characters")
    if not _NAME_RE.match(name):
        hint = " (repository names must be lowercase)" if name != name.lower() else ""
        raise bad(
            f"{original!r} is not a valid image name{hint}; use lowercase letters, "
            "digits and separators . _ - /, like myenv:1 or localhost:5000/team/env:latest"
        )
    if tag_part is not None and not _TAG_RE.match(tag_part):
        raise bad(
            f"{original!r} has an invalid tag {tag_part!r}; a tag is up to 128 "
            "letters, digits, '_', '.' or '-', not starting with '.' or '-'"
        )
    return tag


def validate_arg_name(name: str) -> str:
    """Check a build-arg name (letters, digits, ``_``; not starting with a digit)."""
    if not _ARG_NAME_RE.match(name):
        raise _error(
            "build_args",
            "--build-arg",
            f"{name!r} is not a valid build-arg name (letters, digits, '_')",
        )
    return name


def bare_names(items: Any) -> frozenset[str]:
    """The ``--build-arg NAME`` items without ``=``: they take the environment's value.

    A value from the environment is where secrets live, so these are masked wherever
    they are displayed (the docker CLI never prints them either).
    """
    if items is None or isinstance(items, (Mapping, str)):
        return frozenset()
    return frozenset(i for i in items if isinstance(i, str) and "=" not in i)


def parse_key_values(
    items: Iterable[str] | Mapping[str, Any] | None,
    flag: str,
    *,
    env: Mapping[str, str] | None = None,
    option: str | None = None,
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
        raise _error(option, flag, f"expected a list of KEY=VALUE items, got the string {items!r}")
    else:
        pairs = []
        for item in items:
            if not isinstance(item, str):
                raise _error(option, flag, f"expected KEY=VALUE, got {item!r}")
            key, sep, val = item.partition("=")
            if not sep:
                pairs.append((key, env.get(key) if env is not None else ""))
            else:
                pairs.append((key, val))
    out: dict[str, str | None] = {}
    for key, val in pairs:
        key = str(key).strip()
        if not key:
            raise _error(option, flag, "an item has an empty name")
        if env is not None:
            validate_arg_name(key)
        out[key] = None if val is None else str(val)
    return out


def validate_extra_host(entry: str) -> str:
    """Check one ``--add-host host:ip`` value (``host-gateway`` allowed as the ip)."""
    host, sep, ip = entry.partition(":")
    if not sep or not host or not ip:
        raise _error("extra_hosts", "--add-host", f"{entry!r} must be HOST:IP, e.g. db:10.0.0.5")
    if ip != "host-gateway":
        try:
            ipaddress.ip_address(ip.strip("[]"))
        except ValueError:
            raise _error(
                "extra_hosts", "--add-host", f"{entry!r}: {ip!r} is not an IP address"
            ) from None
    return entry


def _str_list(value: Any, flag: str, option: str) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    try:
        items = list(value)
    except TypeError:
        raise _error(option, flag, f"expected a list of strings, got {value!r}") from None
    for item in items:
        if not isinstance(item, str):
            raise _error(option, flag, f"expected strings, got {item!r}")
    return items


# -- checks: (option, parsed value[, all options]) -> None or raise ---------------------------


def _each(check: Callable[[str], object]) -> Check:
    def run(_opt: Option, items: Any) -> None:
        for item in items:
            check(item)

    return run


def _inside_context(opt: Option, path: str) -> None:
    if not path or path.startswith("/") or ".." in path.replace("\\", "/").split("/"):
        raise opt.error(f"{path!r} must be a relative path inside the build context")


def _image_names(opt: Option, images: Any) -> None:
    for image in images:
        if not image or image != image.strip():
            raise opt.error(f"{image!r} is not an image name")


def _label_names(opt: Option, labels: Any) -> None:
    for key in labels:
        if not key:
            raise opt.error("a label has an empty name")


def _min_memory(opt: Option, memory: int) -> None:
    if memory < MIN_MEMORY:
        raise opt.error(
            f"{format_size(memory)} is below the minimum of 6MiB that Docker allows",
            short=f"{format_size(memory)} is below Docker's minimum of 6MiB",
        )


def _swap_covers_memory(opt: Option, swap: int, options: Any) -> None:
    if swap == -1:
        return
    if options.memory is None:
        raise opt.error(
            message="--memory-swap needs -m/--memory too (it is memory plus swap); "
            "use --memory-swap -1 for unlimited swap"
        )
    if swap < options.memory:
        raise opt.error(
            message=f"--memory-swap ({format_size(swap)}) must be at least "
            f"-m/--memory ({format_size(options.memory)}), or -1 for unlimited swap"
        )


def _shares_range(opt: Option, shares: int) -> None:
    if shares < 0 or shares == 1:
        raise opt.error(f"{shares} is out of range; use 2 or more (1024 is the default weight)")


def _period_range(opt: Option, period: int) -> None:
    if not MIN_CPU_PERIOD <= period <= MAX_CPU_PERIOD:
        raise opt.error(
            f"{period} must be between {MIN_CPU_PERIOD} and {MAX_CPU_PERIOD} microseconds"
        )


def _quota_min(opt: Option, quota: int) -> None:
    if quota < MIN_CPU_QUOTA and quota != -1:
        raise opt.error(
            f"{quota} is below the minimum of {MIN_CPU_QUOTA} microseconds (-1 means no limit)"
        )


def _builder_name(opt: Option, value: str) -> None:
    if value not in BUILDERS:
        raise opt.error(f"{value!r} is not a builder; use buildkit, classic or auto")


def _builder_honours(opt: Option, value: str, options: Any) -> None:
    if value in (BUILDKIT, CLASSIC):
        refused = refusal(options, value)
        if refused is not None:
            raise refused


def _quota_needs_period(opt: Option, _quota: int, options: Any) -> None:
    if options.cpu_period is None:
        raise opt.error(
            message="--cpu-quota needs --cpu-period: the quota is CPU time per period, "
            "e.g. --cpu-period 100000 --cpu-quota 50000 for half a CPU"
        )


def _cpuset(opt: Option, cpus: str) -> None:
    if not _CPUSET_RE.match(cpus):
        raise opt.error(f"{cpus!r} is not a CPU list; use e.g. 0, 0-1 or 0,2")


# -- the table -------------------------------------------------------------------------------


class Kind(str, enum.Enum):
    """What an option's value is; decides parsing, argparse action and rendering."""

    TEXT = "text"  #: a string
    SIZE = "size"  #: bytes, typed as 512m / 2g (``unlimited`` also takes -1)
    INT = "int"  #: a whole number
    BOOL = "bool"  #: true/false; ``--flag`` or ``--flag=false``
    LIST = "list"  #: repeatable strings
    PAIRS = "pairs"  #: repeatable KEY=VALUE, a mapping
    CPUS = "cpus"  #: a number of CPUs, stored as cpu_period + cpu_quota
    SWITCH = "switch"  #: our own on/off flags of the magic (no value)


#: ``Option.cli_default`` when the docker CLI's default is ours.
_SAME: Any = object()

Check = Callable[["Option", Any], None]
Relation = Callable[["Option", Any, Any], None]
Group = Literal["tags", "build_args", "resources", "options"]


@dataclass(frozen=True)
class Option:
    """One option, declared once. See the module docstring for what is made from it."""

    #: Python name: the :class:`BuildOptions` field and keyword (our own: the magic's).
    name: str
    #: What a user types on the magic line (and on ``docker build``); ``()``: no flag.
    flags: tuple[str, ...]
    kind: Kind
    help: str
    #: The ``/build`` query key; ``None`` for options the daemon never sees.
    query: str | None = None
    #: Position in the query string (kept stable so requests stay comparable).
    query_rank: int = 0
    #: A list sent as one JSON array (``cachefrom``) instead of one key per item.
    query_json: bool = False
    #: Sent even at its default (``rm``, ``forcerm``: the daemon's defaults differ).
    always_sent: bool = False
    metavar: str | None = None
    default: Any = None
    #: When not given, take the value of this option (``--rm=false`` turns off force-rm).
    default_from: str | None = None
    #: The docker CLI's default when it differs from ours (``--force-rm``).
    cli_default: Any = _SAME
    #: Written on command lines as this flag (default: the longest one).
    cli_flag: str | None = None
    #: On a ``docker build`` line: "flag", "global" (``docker -H X build``), "context"
    #: (the positional directory), "then" (a command after it: ``&& docker push TAG``)
    #: or ``None`` (no equivalent).
    on_cli: Literal["flag", "global", "context", "then"] | None = "flag"
    #: A :class:`BuildOptions` field the pipeline acts on after the build, never sent to
    #: ``/build`` (``--push``): every entry point takes it like a build option.
    after_build: bool = False
    #: Written on the equivalent ``%%dockerbuild`` line.
    on_magic: bool = True
    #: The form group of its field; ``None``: no field (passed through unchanged).
    group: Group | None = None
    #: Checks of the parsed value alone, then relations to other options.
    checks: tuple[Check, ...] = ()
    relations: tuple[Relation, ...] = ()
    #: Python keywords accepted for it by every entry point (``file=`` for dockerfile).
    aliases: tuple[str, ...] = ()
    #: Builders that honour it; a value another builder would ignore is refused with
    #: that builder (:func:`refusal`). Empty for our own options (no builder reads them).
    builders: frozenset[str] = _BOTH
    #: A :class:`BuildOptions` field that is never sent to the daemon (``builder``).
    field_only: bool = False
    #: Given to the daemon through the BuildKit session, not the query (``--secret``).
    via_session: bool = False
    #: LIST: check the items with the caller's environment; returns them as stored.
    resolve: Callable[[tuple[str, ...], Mapping[str, str] | None], tuple[str, ...]] | None = None
    #: How messages name it, when not all its flags (``--cpu-shares``).
    label_override: str | None = None
    #: argparse ``dest`` when it is not :attr:`name`.
    dest: str | None = None
    #: SIZE: also accept -1 (unlimited).
    unlimited: bool = False
    #: PAIRS: a bare KEY takes its value from the environment (build args).
    from_env: bool = False
    #: Form: placeholder of the field, what an empty field says, suggested values.
    placeholder: str = ""
    note: str = ""
    choices: tuple[str, ...] = ()

    @property
    def label(self) -> str:
        """How messages name the option: ``-m/--memory``."""
        return self.label_override or "/".join(self.flags) or f"--{self.name}"

    @property
    def long_flag(self) -> str:
        """The long flag (``--memory``); ``--cpus`` style for flagless ones."""
        return max(self.flags, key=len) if self.flags else "--" + self.name.replace("_", "-")

    @property
    def is_build(self) -> bool:
        """True for a :class:`BuildOptions` field (sent, ``builder`` or ``after_build``)."""
        return self.query is not None or self.field_only or self.after_build or self.via_session

    def error(
        self, detail: str = "", *, message: str | None = None, short: str | None = None
    ) -> OptionsError:
        """An :class:`OptionsError` about this option: ``"<label>: <detail>"``."""
        text = message if message is not None else f"{self.label}: {detail}"
        return OptionsError(text, option=self.name, detail=short or (message or detail))

    def parse(self, value: Any, *, env: Mapping[str, str] | None = None) -> Any:
        """Parse a user-typed value (string, list, mapping...) into the stored type."""
        flag, name = self.label, self.name
        if self.kind is Kind.SIZE:
            return parse_size(value, flag, allow_unlimited=self.unlimited, option=name)
        if self.kind is Kind.INT:
            return parse_int(value, flag, option=name)
        if self.kind is Kind.BOOL:
            return parse_bool(value, flag, option=name)
        if self.kind is Kind.LIST:
            items = tuple(_str_list(value, flag, name))
            return self.resolve(items, env) if self.resolve is not None and items else items
        if self.kind is Kind.CPUS:
            return None if value is None or value == "" else cpus_to_cfs(value)
        if self.kind is Kind.PAIRS:
            if self.from_env:
                env = os.environ if env is None else env
                return parse_key_values(value, flag, env=env, option=name)
            return {k: v or "" for k, v in parse_key_values(value, flag, option=name).items()}
        if value is None or value == "":
            return self.default
        if not isinstance(value, str):
            raise self.error(f"expected text, got {value!r}")
        return value

    def check(self, value: Any) -> None:
        """Run the checks of a parsed value alone (not those involving other options)."""
        if value is None or value == () or value == {}:
            return
        for check in self.checks:
            check(self, value)

    def read(self, value: Any, *, env: Mapping[str, str] | None = None) -> Any:
        """Parse and check one typed value; what a form does for a single field."""
        parsed = self.parse(value, env=env)
        self.check(parsed)
        return parsed

    def default_for(self, given: Mapping[str, Any]) -> Any:
        """The value of this option when not given, from the ``given`` (parsed) others."""
        if self.default_from is not None and self.default_from in given:
            return given[self.default_from]
        return self.default

    def query_items(self, value: Any) -> list[tuple[str, str]]:
        """The ``/build`` query parameters for ``value`` (none at the daemon's default)."""
        key = self.query
        if key is None:
            return []
        if self.kind is Kind.BOOL:
            if self.always_sent:
                return [(key, "1" if value else "0")]
            return [(key, "1")] if value else []
        if self.kind is Kind.LIST:
            if self.query_json:
                return [(key, json.dumps(list(value)))] if value else []
            return [(key, item) for item in value]
        if self.kind is Kind.PAIRS:
            return [(key, json.dumps(dict(value)))] if value else []
        if self.kind in (Kind.SIZE, Kind.INT):
            return [] if value is None else [(key, str(value))]
        return [(key, value)] if value and value != self.default else []

    def cli_words(self, value: Any, *, magic: bool) -> list[str]:
        """How ``value`` is written on a ``docker build`` (or ``%%dockerbuild``) line."""
        flag = self.cli_flag or self.long_flag
        if self.kind is Kind.BOOL:
            cli_default = self.default if self.cli_default is _SAME else self.cli_default
            if value == self.default and (magic or value == cli_default):
                return []
            return [flag] if value else [f"{flag}=false"]
        if self.kind is Kind.LIST:
            return [w for item in value for w in (flag, shlex.quote(item))]
        if self.kind is Kind.PAIRS:
            return [w for k, v in value.items() for w in (flag, shlex.quote(f"{k}={v}"))]
        if value is None or value == self.default:
            return []
        text = format_size_flag(value) if self.kind is Kind.SIZE else str(value)
        return [flag, shlex.quote(text)]

    def argparse_kwargs(self) -> dict[str, Any]:
        """Keyword arguments of ``ArgumentParser.add_argument`` for this option."""
        kwargs: dict[str, Any] = {"dest": self.dest or self.name, "help": self.help}
        if self.kind is Kind.SWITCH:
            kwargs.update(action="store_true", default=False)
        elif self.kind is Kind.BOOL and not self.default:
            kwargs.update(action="store_true", default=None)
        elif self.kind is Kind.BOOL:
            # --rm alone means true; --rm=false (or --rm false) turns it off.
            kwargs.update(nargs="?", const="true", default=None, metavar="BOOL")
        elif self.kind in (Kind.LIST, Kind.PAIRS):
            kwargs.update(action="append", default=[], metavar=self.metavar)
        else:
            kwargs.update(default=None, metavar=self.metavar)
        return kwargs


_HOST_HELP = (
    "Docker daemon to use, like DOCKER_HOST (unix:///path or tcp://host:port; TLS from "
    "DOCKER_TLS_VERIFY and DOCKER_CERT_PATH). Default: %%config DockerBuildMagics.host, "
    "then DOCKER_HOST, then the current docker context, then the local socket."
)

#: Every option, in the order help, command lines and the form show them.
OPTIONS: tuple[Option, ...] = (
    Option(
        "tags", ("-t", "--tag"), Kind.LIST, query="t", query_rank=2, cli_flag="-t",
        metavar="NAME[:TAG]", aliases=("tag",), group="tags", checks=(_each(validate_tag),),
        help="Name and optionally a tag for the image; repeat for several tags.",
        placeholder="name:tag, then Enter",
    ),
    Option(
        "dockerfile", ("-f", "--file"), Kind.TEXT, query="dockerfile", query_rank=1,
        cli_flag="-f", default="Dockerfile", metavar="PATH", aliases=("file",),
        checks=(_inside_context,),
        help="Path of the Dockerfile inside the context (default: Dockerfile). When the "
        "cell has no instructions (only a comment) and --context is given, that file of "
        "the directory is built. A cell's own Dockerfile leaves the directory's files "
        "alone (sent under a hidden name, like docker build -f - DIR), so -f then goes "
        "only without --context, naming where the cell text is written.",
    ),
    Option(
        "build_args", ("--build-arg",), Kind.PAIRS, query="buildargs", query_rank=19,
        metavar="KEY[=VALUE]", from_env=True, group="build_args",
        help="Set a build-time variable; KEY alone takes its value from the kernel's "
        "environment (and is never displayed).",
    ),
    Option(
        "extra_hosts", ("--add-host",), Kind.LIST, query="extrahosts", query_rank=3,
        metavar="HOST:IP", group="options", checks=(_each(validate_extra_host),),
        help="Add a line to /etc/hosts of RUN steps; repeatable.", placeholder="host:ip ⏎",
    ),
    Option(
        "labels", ("--label",), Kind.PAIRS, query="labels", query_rank=20,
        metavar="KEY=VALUE", group="options", checks=(_label_names,),
        help="Set metadata (a label) on the image; repeatable.", placeholder="key=value ⏎",
    ),
    Option(
        "cache_from", ("--cache-from",), Kind.LIST, query="cachefrom", query_rank=11,
        query_json=True, metavar="IMAGE", group="options", checks=(_image_names,),
        help="Images to consider as cache sources; repeatable.", placeholder="image ⏎",
    ),
    Option(
        "memory", ("-m", "--memory"), Kind.SIZE, query="memory", query_rank=12,
        metavar="SIZE", group="resources", checks=(_min_memory,), builders=_CLASSIC_ONLY,
        help="Memory limit of RUN steps, e.g. 512m, 2g (at least 6m).",
        placeholder="e.g. 512m, 2g", note="no limit",
    ),
    Option(
        "memory_swap", ("--memory-swap",), Kind.SIZE, query="memswap", query_rank=13,
        unlimited=True, metavar="SIZE", group="resources", relations=(_swap_covers_memory,),
        builders=_CLASSIC_ONLY,
        help="Memory plus swap limit (at least --memory), or -1 for unlimited swap.",
        placeholder="1g, or -1", note="unset: swap = memory",
    ),
    Option(
        "shm_size", ("--shm-size",), Kind.SIZE, query="shmsize", query_rank=17,
        metavar="SIZE", group="resources",
        help="Size of /dev/shm in RUN steps, e.g. 128m (default 64m).",
        placeholder="default 64m", note="default 64MiB",
    ),
    Option(
        "cpus", (), Kind.CPUS, group="resources", builders=_CLASSIC_ONLY, on_magic=False,
        on_cli=None,
        help="Number of CPUs, like docker run --cpus: sets cpu_period to 100000 and "
        "cpu_quota to that many periods (a Python keyword and a form field; no flag).",
        placeholder="e.g. 1.5", note="no limit",
    ),
    Option(
        "cpu_period", ("--cpu-period",), Kind.INT, query="cpuperiod", query_rank=15,
        metavar="USEC", group="resources", checks=(_period_range,), builders=_CLASSIC_ONLY,
        help="CFS period in microseconds (1000-1000000).",
        placeholder="µs, e.g. 100000", note="CFS period",
    ),
    Option(
        "cpu_quota", ("--cpu-quota",), Kind.INT, query="cpuquota", query_rank=16,
        metavar="USEC", group="resources", checks=(_quota_min,),
        relations=(_quota_needs_period,), builders=_CLASSIC_ONLY,
        help="CFS quota per period in microseconds (needs --cpu-period, >= 1000).",
        placeholder="µs, e.g. 150000", note="CPU time per period",
    ),
    Option(
        "cpu_shares", ("-c", "--cpu-shares"), Kind.INT, query="cpushares", query_rank=14,
        label_override="--cpu-shares", metavar="N", group="resources",
        checks=(_shares_range,), builders=_CLASSIC_ONLY,
        help="CPU shares (relative weight, default 1024).",
        placeholder="default 1024", note="relative weight",
    ),
    Option(
        "cpuset_cpus", ("--cpuset-cpus",), Kind.TEXT, query="cpusetcpus", query_rank=18,
        metavar="LIST", group="resources", checks=(_cpuset,), builders=_CLASSIC_ONLY,
        help="CPUs RUN steps may use, e.g. 0-1 or 0,2.",
        placeholder="e.g. 0-1", note="which CPUs",
    ),
    Option(
        "network", ("--network",), Kind.TEXT, query="networkmode", query_rank=21,
        metavar="MODE", group="options", choices=("default", "none", "host", "bridge"),
        help="Network mode of RUN steps: default, none, host, or a network name.",
        placeholder="default",
    ),
    Option(
        "target", ("--target",), Kind.TEXT, query="target", query_rank=22, metavar="STAGE",
        group="options", help="Build only up to this stage of a multi-stage Dockerfile.",
        placeholder="last stage",
    ),
    Option(
        "platform", ("--platform",), Kind.TEXT, query="platform", query_rank=23,
        metavar="OS/ARCH", help="Platform of the image if the daemon is multi-platform capable.",
    ),
    Option(
        "builder", ("--builder",), Kind.TEXT, field_only=True, metavar="NAME", on_cli=None,
        group="options", choices=BUILDERS, checks=(_builder_name,),
        relations=(_builder_honours,), builders=frozenset(), placeholder="auto",
        help="Which builder runs the build: buildkit (the daemon's BuildKit, for RUN "
        "--mount, COPY --chmod ...), classic, or auto (BuildKit when the Dockerfile needs "
        "it, else classic; both needed at once is refused). Default: "
        "%%config DockerBuildMagics.builder, then DOCKER_BUILDKIT, then auto.",
    ),
    Option(
        "isolation", ("--isolation",), Kind.TEXT, query="isolation", query_rank=24,
        metavar="TECH", builders=_CLASSIC_ONLY,
        help="Container isolation technology (Windows daemons).",
    ),
    Option(
        "remote", ("--remote",), Kind.TEXT, query="remote", query_rank=4, metavar="URL",
        help="Build from a Git repository or HTTP(S) context URL instead of the cell.",
    ),
    Option(
        "no_cache", ("--no-cache",), Kind.BOOL, query="nocache", query_rank=6, default=False,
        group="options", help="Do not use the build cache.",
    ),
    Option(
        "pull", ("--pull",), Kind.BOOL, query="pull", query_rank=7, default=False,
        group="options", help="Always try to pull a newer version of the base image.",
    ),
    Option(
        "rm", ("--rm",), Kind.BOOL, query="rm", query_rank=9, default=True, always_sent=True,
        group="options", builders=_CLASSIC_ONLY,
        help="Remove intermediate containers after a successful build (default true; "
        "--rm=false keeps them).",
    ),
    Option(
        # Our default (on) exists so failures leave nothing behind; a user who asks to
        # keep intermediate containers with --rm=false means it: then it follows --rm.
        "force_rm", ("--force-rm",), Kind.BOOL, query="forcerm", query_rank=10, default=True,
        default_from="rm", cli_default=False, always_sent=True, group="options",
        builders=_CLASSIC_ONLY,
        help="Always remove intermediate containers, even after a failure (default true "
        "here, so a failed build leaves no container).",
    ),
    Option(
        "quiet", ("-q", "--quiet"), Kind.BOOL, query="q", query_rank=5, default=False,
        group="options", help="Suppress the build output; show only the image id.",
    ),
    Option(
        "squash", ("--squash",), Kind.BOOL, query="squash", query_rank=8, default=False,
        group="options", builders=_CLASSIC_ONLY,
        help="Squash the new layers into one (needs an experimental daemon).",
    ),
    Option(
        # Client-side, like `docker buildx build --push`: the pipeline pushes each tag once
        # the build succeeded. The classic `docker build` has no --push, so its equivalent
        # command is the build followed by `&& docker push TAG` for each tag.
        "push", ("--push",), Kind.BOOL, default=False, after_build=True, on_cli="then",
        help="After a successful build, push every tag to its registry (like docker buildx "
        "build --push); each tag must name its registry, e.g. -t 127.0.0.1:5443/team/app:1. "
        "A failed push fails the cell and keeps the image on the daemon.",
    ),
    Option(
        # Only the reference is an option (a file, a variable): the value is read when
        # BuildKit asks the session for it, and is never stored, shown or saved.
        "secrets", ("--secret",), Kind.LIST, via_session=True, builders=_BUILDKIT_ONLY,
        metavar="id=NAME,src=PATH|env=VAR", aliases=("secret",), group="options",
        resolve=check_secrets, placeholder="id=NAME,src=PATH ⏎",
        help="A secret for RUN --mount=type=secret,id=NAME (BuildKit), like docker buildx "
        "build --secret: id=NAME,src=PATH reads a file, id=NAME,env=VAR a variable of the "
        "kernel, id=NAME alone the variable NAME if set, else the file NAME. The value "
        "reaches only that step: not the image, its history, the log or the notebook; "
        "repeatable.",
    ),
    Option(
        "ssh", ("--ssh",), Kind.LIST, via_session=True, builders=_BUILDKIT_ONLY,
        metavar="default|ID=SOCKET", group="options", resolve=check_ssh,
        placeholder="default ⏎",
        help="Forward an ssh agent to RUN --mount=type=ssh (BuildKit), like docker buildx "
        "build --ssh: default (or any ID alone) forwards $SSH_AUTH_SOCK, ID=SOCKET that "
        "agent socket; steps can list and use its keys, not add or remove them; "
        "repeatable.",
    ),
    # Our own: the magic reads these itself; the daemon never sees them.
    Option(
        "context", ("--context",), Kind.TEXT, metavar="DIR", on_cli="context",
        builders=frozenset(),
        help="Also send this directory as the build context, filtered by its "
        ".dockerignore like the docker CLI does.",
    ),
    Option(
        "var", ("--var",), Kind.LIST, metavar="PATH[=VARIABLE]", on_cli=None, on_magic=False,
        builders=frozenset(),
        help="Add a notebook variable (str or bytes) to the context as the file PATH; "
        "PATH alone uses the variable of that name.",
    ),
    Option(
        "out", ("--out",), Kind.TEXT, metavar="NAME", on_cli=None, on_magic=False,
        builders=frozenset(),
        help="Store the build result (image id, tags, steps, log) in this variable, also "
        "when the build fails or is interrupted; with --form, the form (its .result is the "
        "last build).",
    ),
    Option(
        "host", ("-H", "--host"), Kind.TEXT, metavar="HOST", dest="docker_host",
        cli_flag="-H", on_cli="global", builders=frozenset(), help=_HOST_HELP,
    ),
    Option(
        "form", ("--form",), Kind.SWITCH, on_cli=None, on_magic=False, builders=frozenset(),
        help="Show an interactive form (tags, build args, resource limits, options, Build "
        "and Cancel) pre-filled with the other flags instead of building now; builds run "
        "in the background. The cell's value is the form (BuildForm).",
    ),
    Option(
        "text", ("--text",), Kind.SWITCH, on_cli=None, on_magic=False, builders=frozenset(),
        help="Print plain text progress instead of the live HTML view.",
    ),
)  # fmt: skip

#: Option by Python name.
OPTION: dict[str, Option] = {o.name: o for o in OPTIONS}
#: The fields of :class:`BuildOptions`, in table order: the options sent to the daemon,
#: and ``push`` (acted on by the pipeline after the build).
BUILD_OPTIONS: tuple[Option, ...] = tuple(o for o in OPTIONS if o.is_build)
#: Python keywords every entry point accepts: the build options, ``cpus``, the aliases.
KEYWORDS: dict[str, str] = {
    **{o.name: o.name for o in OPTIONS if o.is_build or o.kind is Kind.CPUS},
    **{a: o.name for o in OPTIONS for a in o.aliases},
}
#: Option name -> how messages name its flag (``memory_swap`` -> ``--memory-swap``).
FLAGS: dict[str, str] = {o.name: o.label for o in BUILD_OPTIONS}
#: Fields of BuildOptions that no user types: set by the pipeline or the form.
_INTERNAL = ("registry_config", "secret_args", "implicit_args")


def not_honoured(options: Any, builder: str) -> list[tuple[Option, str]]:
    """The options of ``options`` that ``builder`` would ignore, and how to name each.

    An option the table says ``builder`` does not honour counts when its value is not
    the default (``--rm=false``, a memory limit); BuildKit also takes only the default,
    host and none networks.
    """
    found: list[tuple[Option, str]] = []
    for opt in BUILD_OPTIONS:
        if not opt.builders or builder in opt.builders:
            continue
        value = getattr(options, opt.name)
        # A list or mapping left empty is its default too (the table says None).
        if value != opt.default and value not in ((), {}):
            found.append((opt, opt.label))
    network = getattr(options, "network", None)
    if builder == BUILDKIT and network and network not in BUILDKIT_NETWORKS:
        found.append((OPTION["network"], f"--network {network}"))
    return found


def refusal(options: Any, builder: str) -> OptionsError | None:
    """Why ``builder`` cannot run a build with ``options`` (None: it can), in one line."""
    found = not_honoured(options, builder)
    if not found:
        return None
    opt, name = found[0]
    if opt.name == "network":
        return opt.error(
            message=f"{name}: BuildKit runs RUN steps only on the "
            f"{', '.join(BUILDKIT_NETWORKS)} networks; {_CLASSIC_HINT} for a named network",
            short=f"BuildKit takes only {', '.join(BUILDKIT_NETWORKS)}",
        )
    others = f" (also {', '.join(n for _, n in found[1:])})" if len(found) > 1 else ""
    who = "BuildKit" if builder == BUILDKIT else "the classic builder"
    hint = _CLASSIC_HINT if builder == BUILDKIT else _BUILDKIT_HINT
    return opt.error(
        message=f"{name}: {who} ignores this option{others}; {hint}, which honours it",
        short=f"{who} ignores it",
    )


def canonical_keywords(values: Mapping[str, Any]) -> dict[str, Any]:
    """``values`` with aliases resolved (``file`` -> ``dockerfile``); unknown ones refused.

    The one place where an unknown keyword is caught: a typo never silently does nothing.
    Internal field names (``secret_args`` ...) pass through.
    """
    unknown = sorted(k for k in values if k not in KEYWORDS and k not in _INTERNAL)
    if unknown:
        raise OptionsError(
            f"unknown build option(s) {', '.join(unknown)}; valid options are "
            + ", ".join(sorted(KEYWORDS))
        )
    out: dict[str, Any] = {}
    for key, value in values.items():
        name = KEYWORDS.get(key, key)
        if name in out:
            other = next(k for k in values if KEYWORDS.get(k, k) == name and k != key)
            both = " and ".join(sorted((other, key)))
            raise OPTION[name].error(message=f"{both} are the same option; give one")
        out[name] = value
    return out


def _expand_cpus(values: dict[str, Any]) -> None:
    """Replace ``cpus`` by the ``cpu_period``/``cpu_quota`` it stands for."""
    cpus = values.pop("cpus", None)
    if cpus is None or cpus == "":
        return
    if values.get("cpu_period") not in (None, "") or values.get("cpu_quota") not in (None, ""):
        raise OPTION["cpus"].error(
            message="cpus sets cpu_period and cpu_quota; give either cpus or those two"
        )
    values["cpu_period"], values["cpu_quota"] = OPTION["cpus"].parse(cpus)


def _field_type(opt: Option) -> str:
    return {
        Kind.SIZE: "int | None",
        Kind.INT: "int | None",
        Kind.BOOL: "bool",
        Kind.LIST: "tuple[str, ...]",
        Kind.PAIRS: "Mapping[str, str | None]",
    }.get(opt.kind, "str" if opt.default is not None else "str | None")


def _field(opt: Option) -> Any:
    if opt.kind is Kind.PAIRS:
        return field(default_factory=dict)
    return field(default=() if opt.kind is Kind.LIST else opt.default)


# The fields come from the table, so a new option needs no edit here.
_Fields = make_dataclass(
    "_Fields",
    [(o.name, _field_type(o), _field(o)) for o in BUILD_OPTIONS]
    + [
        # Base64url JSON for ``X-Registry-Config``; secret, never shown (``repr=False``).
        ("registry_config", "str | None", field(default=None, repr=False, compare=False)),
        # Names of build args whose values must never be displayed (from the
        # environment or marked secret in the form).
        ("secret_args", "frozenset[str]", field(default=frozenset())),
        # Build args added from the docker config (proxies): the docker CLI adds them
        # by itself, so the equivalent command leaves them out.
        ("implicit_args", "frozenset[str]", field(default=frozenset())),
    ],
    frozen=True,
)


class BuildOptions(_Fields):
    """Every ``/build`` parameter, named like the ``docker build`` flags, checked.

    The fields are the build options of :data:`OPTIONS` (``tags``, ``memory``,
    ``build_args`` ..., and ``push``, which the pipeline does after the build), plus
    ``registry_config``, ``secret_args`` and ``implicit_args``. Build it with
    :meth:`from_user`, which parses sizes and ``K=V`` lists and raises
    :class:`~jupyter_dockerbuild.errors.OptionsError` naming the culprit. ``to_query``
    and ``headers`` give what is sent.
    """

    @classmethod
    def from_user(cls, *, env: Mapping[str, str] | None = None, **values: Any) -> BuildOptions:
        """Parse user-typed values (strings, lists, mappings) into checked options.

        Keywords are the options' names or aliases (``file=``, ``tag=``, ``cpus=``).
        ``env`` is where a bare ``--build-arg NAME`` takes its value (defaults to
        ``os.environ``). Unknown keywords raise :class:`OptionsError` listing the valid
        ones, so a typo never silently does nothing.
        """
        given = canonical_keywords(values)
        _expand_cpus(given)
        parsed: dict[str, Any] = {}
        secret = frozenset(given.pop("secret_args", None) or ())
        for name, value in given.items():
            if name in _INTERNAL:
                parsed[name] = value
                continue
            opt = OPTION[name]
            parsed[name] = opt.parse(value, env=env)
            if opt.from_env:
                secret |= bare_names(value)
        for opt in BUILD_OPTIONS:
            if opt.name not in parsed and opt.default_from in parsed:
                parsed[opt.name] = opt.default_for(parsed)
        if secret:
            parsed["secret_args"] = secret
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
        for opt in BUILD_OPTIONS:
            value = getattr(self, opt.name)
            opt.check(value)
            if value is not None:
                for relation in opt.relations:
                    relation(opt, value, self)

    def to_query(self) -> list[tuple[str, str]]:
        """Return the ``/build`` query parameters, repeated keys kept in order.

        Only values that differ from the daemon's defaults are sent, except ``rm`` and
        ``forcerm`` which are always explicit. Sizes go as integers of bytes: the
        daemon reads ``memory=64m`` as 0, i.e. no limit.
        """
        query: list[tuple[str, str]] = []
        for opt in sorted(BUILD_OPTIONS, key=lambda o: o.query_rank):
            query.extend(opt.query_items(getattr(self, opt.name)))
        return query

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

    def _build_arg_words(self) -> list[str]:
        words: list[str] = []
        for key, value in self.build_args.items():
            if key in self.implicit_args:
                continue
            shown = key if key in self.secret_args or value is None else f"{key}={value}"
            words += [OPTION["build_args"].long_flag, shlex.quote(shown)]
        return words

    def to_cli(
        self, *, magic: bool = False, context: str | None = None, host: str | None = None
    ) -> str:
        """Return the equivalent ``docker build`` command (or ``%%dockerbuild`` line).

        ``context`` and ``host`` are our own ``--context`` and ``-H``. Secret build args
        appear as ``--build-arg NAME`` (taken from the environment), never with their
        value. ``--push`` is ``&& docker push TAG`` per tag after ``docker build``.
        """
        own = {"context": context, "host": host}
        words: list[str] = []
        for opt in BUILD_OPTIONS:
            if opt.name == "build_args":
                words += self._build_arg_words()
            elif magic or opt.on_cli == "flag":
                words += opt.cli_words(getattr(self, opt.name), magic=magic)
        if magic:
            for name, value in own.items():
                if value is not None and OPTION[name].on_magic:
                    words += OPTION[name].cli_words(os.fspath(value), magic=True)
            return " ".join(["%%dockerbuild", *words])
        hosted = OPTION["host"].cli_words(host, magic=False) if host else []
        head = ["docker", *hosted, "build"]
        builder = getattr(self, "builder", None)
        if builder in (BUILDKIT, CLASSIC):
            # The docker CLI has no flag for it: its environment variable says it.
            head.insert(0, f"DOCKER_BUILDKIT={1 if builder == BUILDKIT else 0}")
        # The Dockerfile comes on stdin; a context directory is the positional argument.
        tail = ["-f", "-", shlex.quote(os.fspath(context))] if context is not None else ["-"]
        if self.push:  # on_cli="then": what the CLI runs after the build
            for tag in self.tags:
                tail += ["&&", "docker", *hosted, "push", shlex.quote(tag)]
        return " ".join([*head, *words, *tail])


# -- the magic's argument parser -------------------------------------------------------------


def add_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Add every flagged option of the table to ``parser`` (the magic's), in table order."""
    for opt in OPTIONS:
        if opt.flags:
            parser.add_argument(*opt.flags, **opt.argparse_kwargs())
    return parser


def magic_values(args: argparse.Namespace) -> dict[str, Any]:
    """The build options a parsed magic line gives, as :meth:`BuildOptions.from_user` keywords.

    Only what was typed: a flag left out is not passed, so defaults (and ``--rm=false``
    turning off force-rm) are decided in one place, ``from_user``.
    """
    values: dict[str, Any] = {}
    for opt in OPTIONS:
        if not opt.flags or not opt.is_build:
            continue
        value = getattr(args, opt.dest or opt.name)
        if value is not None and value != []:
            values[opt.name] = value
    return values


def option_for_flags(flags: str | None) -> str | None:
    """The option argparse names as ``-m/--memory`` (or by one flag); ``None`` if none."""
    for opt in OPTIONS:
        if flags and (flags == "/".join(opt.flags) or flags in opt.flags):
            return opt.name
    return None


def magic_flags() -> list[str]:
    """Every flag of ``%%dockerbuild``, long ones first (what completion offers)."""
    flags = {f for opt in OPTIONS for f in opt.flags}
    return sorted(flags, key=lambda f: (not f.startswith("--"), f))


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
