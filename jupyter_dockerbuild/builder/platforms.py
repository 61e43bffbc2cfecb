"""Refuse a BuildKit build for a platform its local base image lacks, before sending it.

With ``--platform`` (the ``platform`` query) or ``FROM --platform=...``, BuildKit
resolves each base image for that platform. A local image of another platform does not
satisfy it, so the daemon asks the base image's registry for the platform's manifest:
for ``local/busybox`` that is Docker Hub. :func:`check_base_platforms` reads the
platforms in the Dockerfile (``$BUILDPLATFORM``, ``$TARGETPLATFORM`` and ``ARG``
defaults or ``--build-arg`` values substituted), asks the daemon for each local base
(``GET /images/{name}/json``: ``Os``, ``Architecture``, ``Variant``) and raises one
sentence naming the base and the platform it has when they differ. A base on a loopback
registry (``127.0.0.1:5443/...``, ``localhost:...``) is left alone: asking it is safe
and may be what the user wants. A base the daemon does not have is left to the build (the
registry error is explained there); a platform that stays a variable is not checked.

Platforms are compared as containerd normalizes them (``x86_64`` is ``amd64``,
``aarch64`` is ``arm64``, ``arm64/v8`` is ``arm64``, ``arm`` is ``arm/v7``); a variant is
only compared when the request names one.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, NamedTuple
from urllib.parse import quote

from ..errors import HTTPError, OptionsError, UnsupportedSyntax

if TYPE_CHECKING:  # pragma: no cover
    from ..engine.client import DockerClient
    from .options import BuildOptions

__all__ = ["Platform", "check_base_platforms", "parse_platform"]

_ARCH_ALIASES = {
    "x86_64": ("amd64", None),
    "x86-64": ("amd64", None),
    "aarch64": ("arm64", None),
    "armhf": ("arm", "v7"),
    "armel": ("arm", "v6"),
    "i386": ("386", None),
    "i686": ("386", None),
}
_VAR_RE = re.compile(r"\$(?:\{([A-Za-z_][A-Za-z0-9_]*)\}|([A-Za-z_][A-Za-z0-9_]*))")


class Platform(NamedTuple):
    """``os/arch[/variant]``, normalized."""

    os: str
    arch: str
    variant: str | None

    def __str__(self) -> str:
        return "/".join(p for p in self if p)

    def satisfies(self, wanted: Platform) -> bool:
        """Whether an image of this platform is what a request for ``wanted`` finds."""
        if (self.os, self.arch) != (wanted.os, wanted.arch):
            return False
        return wanted.variant is None or wanted.variant == self.variant


def _normal(os_: str, arch: str, variant: str | None) -> Platform:
    os_, arch = os_.strip().lower(), arch.strip().lower()
    variant = (variant or "").strip().lower() or None
    if arch in _ARCH_ALIASES:
        arch, default = _ARCH_ALIASES[arch]
        variant = variant or default
    if variant and variant[0].isdigit():
        variant = "v" + variant
    if arch == "arm64" and variant == "v8":
        variant = None
    elif arch == "arm" and variant is None:
        variant = "v7"
    elif arch == "amd64" and variant == "v1":
        variant = None
    return Platform(os_, arch, variant)


def parse_platform(text: str) -> Platform | None:
    """``linux/arm64/v8`` as a :class:`Platform`; None if it is not ``os/arch[/variant]``."""
    parts = text.strip().split("/")
    if len(parts) not in (2, 3) or not all(parts):
        return None
    return _normal(parts[0], parts[1], parts[2] if len(parts) == 3 else None)


def _substitute(text: str, values: dict[str, str]) -> str | None:
    """``text`` with ``$NAME``/``${NAME}`` replaced; None if a name has no value."""
    missing = False

    def repl(match: re.Match[str]) -> str:
        nonlocal missing
        name = match.group(1) or match.group(2)
        if name not in values:
            missing = True
            return ""
        return values[name]

    out = _VAR_RE.sub(repl, text)
    return None if missing else out


def _loopback_registry(host: str) -> bool:
    """Whether a registry host is this machine (``127.x``, ``localhost``, ``[::1]``)."""
    if host.startswith("["):
        name = host[1:].split("]", 1)[0]
    else:
        name = host.rsplit(":", 1)[0]
    return name in ("localhost", "::1") or name.startswith("127.")


def _daemon_platform(client: DockerClient) -> Platform:
    info = client.version_info()
    return _normal(str(info.get("Os") or "linux"), str(info.get("Arch") or "amd64"), None)


def check_base_platforms(
    client: DockerClient, dockerfile: str, options: BuildOptions, *, line_offset: int
) -> None:
    """Raise if a base image would be looked up in its registry for another platform."""
    from ..engine.registry import DOCKER_HUB, split_reference
    from .dockerfile import parse

    df = parse(dockerfile)
    target_text = (options.platform or "").strip() or None
    if target_text is None and not any(s.platform for s in df.stages):
        return  # the daemon's own platform everywhere: nothing to look up
    here = _daemon_platform(client)
    target = parse_platform(target_text) if target_text else here
    if target is None:
        return  # not os/arch: the daemon refuses it itself, before resolving anything
    values: dict[str, str] = {}
    for arg in df.global_args:
        if arg.default is not None:
            values[arg.name] = arg.default
    for key, value in options.build_args.items():
        if value is not None:
            values[key] = value
    for prefix, plat in (("BUILD", here), ("TARGET", target)):
        values[f"{prefix}PLATFORM"] = str(plat)
        values[f"{prefix}OS"] = plat.os
        values[f"{prefix}ARCH"] = plat.arch
        values[f"{prefix}VARIANT"] = plat.variant or ""
    label = "cell line" if line_offset else "line"
    stage_names: set[str] = set()
    for stage in df.stages:
        names_before = set(stage_names)
        if stage.name:
            stage_names.add(stage.name)
        if stage.platform:
            written = _substitute(stage.platform, values)
            wanted = parse_platform(written) if written else None
            if wanted is None:
                continue  # a variable we cannot know, or not os/arch: not checked
            from_flag = True
        else:
            wanted, from_flag = target, False
        if wanted == here and not from_flag and target_text is None:
            continue
        base = _substitute(stage.base, values)
        if not base or base.lower() == "scratch" or base.lower() in names_before:
            continue
        try:
            ref = split_reference(base)
        except ValueError:
            continue
        if ref.explicit_host and ref.host != DOCKER_HUB and _loopback_registry(ref.host):
            continue
        try:
            image = client.get_json(f"/images/{quote(base, safe='')}/json")
        except HTTPError as exc:
            if exc.status == 404:
                continue  # not here: the build pulls it, and says so if it cannot
            raise
        has = _normal(
            str(image.get("Os") or "linux"),
            str(image.get("Architecture") or "amd64"),
            image.get("Variant") or None,
        )
        if has.satisfies(wanted):
            continue
        registry = "Docker Hub" if ref.host == DOCKER_HUB else ref.host
        line = stage.line + line_offset
        why = (
            f"the base image {base} is here only for {has}, so BuildKit would ask its "
            f"registry ({registry}) for {wanted}; build for {has}, or load a {wanted} image "
            "of it first"
        )
        if from_flag:
            raw = df.lines[stage.line - 1].strip()
            raise UnsupportedSyntax(
                f"{label} {line} ({raw}): {why}",
                construct="FROM --platform",
                line=stage.line,
                text=raw,
            )
        raise OptionsError(
            f"--platform {target_text}: {why} ({label} {line})",
            option="platform",
            detail=why,
        )
