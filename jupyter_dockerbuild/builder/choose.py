"""Which builder runs a build: ``--builder buildkit|classic|auto``, ``DOCKER_BUILDKIT``, auto.

The request comes from the caller (the magic's ``--builder`` or its ``%config
DockerBuildMagics.builder``, the form's field, ``builder=`` in the Python API); when none
says, ``DOCKER_BUILDKIT`` decides as it does for the docker CLI (``1``/``true`` BuildKit,
``0``/``false`` classic); else ``auto``:

- the Dockerfile uses syntax only BuildKit runs (``RUN --mount``, ``COPY --chmod``,
  ``--link``, heredocs: :func:`~jupyter_dockerbuild.builder.preflight.check_dockerfile`
  finds them), or an option only BuildKit honours is given (``--secret``, ``--ssh``,
  which go through its session) -> BuildKit;
- an option only the classic builder honours is given (per-build resource limits,
  ``--rm=false``, ``--squash``, ``--isolation``, a named network) -> classic;
- both -> an :class:`~jupyter_dockerbuild.errors.OptionsError` in one line naming the
  construct, its line and the flag: no builder can honour both, and picking one would
  refuse the other anyway;
- neither -> classic. The docker CLI of Docker 23+ would take BuildKit there; keeping the
  classic builder when nothing asks for BuildKit keeps what a build prints, times and
  tags the same on every daemon (``DOCKER_BUILDKIT=1``, ``--builder buildkit`` or
  ``%config DockerBuildMagics.builder = "buildkit"`` make BuildKit the default).

Pure: no IO.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from ..errors import OptionsError, UnsupportedSyntax
from .options import BUILDERS, BUILDKIT, CLASSIC, BuildOptions, not_honoured

__all__ = [
    "BUILDERS",
    "Choice",
    "buildkit_needed",
    "choose_builder",
    "classic_only_options",
    "requested_builder",
]

_TRUE = {"1", "t", "true"}
_FALSE = {"0", "f", "false"}


@dataclass(frozen=True)
class Choice:
    """The builder for one build, and why, in words a person reads in the view."""

    #: ``"buildkit"`` or ``"classic"``.
    name: str
    #: ``"--builder buildkit"``, ``"DOCKER_BUILDKIT=0"``, ``"auto: RUN --mount (cell line 3)"``.
    reason: str


def requested_builder(value: str | None, env: Mapping[str, str] | None = None) -> tuple[str, str]:
    """The builder asked for (``auto``, ``buildkit``, ``classic``) and who asked.

    ``value`` is what the caller gave (None: nothing); then ``DOCKER_BUILDKIT``.
    """
    if value is not None:
        name = str(value).strip().lower()
        if name not in BUILDERS:
            raise OptionsError(
                f"--builder: {value!r} is not a builder; use buildkit, classic or auto"
            )
        return name, f"--builder {name}"
    env = os.environ if env is None else env
    raw = env.get("DOCKER_BUILDKIT")
    if raw is None or raw == "":
        return "auto", "auto"
    word = raw.strip().lower()
    if word in _TRUE:
        return "buildkit", f"DOCKER_BUILDKIT={raw}"
    if word in _FALSE:
        return "classic", f"DOCKER_BUILDKIT={raw}"
    # The docker CLI refuses it too ("expects boolean value"): never guess.
    raise OptionsError(
        f"DOCKER_BUILDKIT={raw!r} is not a boolean; set it to 1 (BuildKit) or 0 (classic), "
        "or unset it"
    )


def classic_only_options(options: BuildOptions) -> list[str]:
    """The flags of ``options`` that only the classic builder honours, in table order."""
    return [name for _, name in not_honoured(options, BUILDKIT)]


def buildkit_needed(dockerfile: str | None, *, line_offset: int = 0) -> UnsupportedSyntax | None:
    """The first construct of ``dockerfile`` that only BuildKit runs (None: none)."""
    if not dockerfile:
        return None
    from .preflight import check_dockerfile

    try:
        check_dockerfile(dockerfile, line_offset=line_offset)
    except UnsupportedSyntax as exc:
        # A foreign "# syntax=" frontend is refused by both builders here (BuildKit would
        # have to pull it from a registry): it is no reason to pick one.
        if exc.construct.startswith("the frontend "):
            return None
        return exc
    return None


def _where(exc: UnsupportedSyntax, line_offset: int) -> str:
    label = "cell line" if line_offset else "line"
    return f"{exc.construct} ({label} {exc.line + line_offset})"


def choose_builder(
    requested: str | None,
    dockerfile: str | None,
    options: BuildOptions,
    *,
    line_offset: int = 0,
    env: Mapping[str, str] | None = None,
) -> Choice:
    """Decide the builder for a build before any request (see the module docstring)."""
    name, source = requested_builder(requested, env)
    if name != "auto":
        return Choice(name, source)
    needs = None if options.remote else buildkit_needed(dockerfile, line_offset=line_offset)
    # What needs BuildKit, in words: a construct of the Dockerfile, else an option.
    kit_only = [name for _, name in not_honoured(options, CLASSIC)]
    wants = _where(needs, line_offset) if needs is not None else (kit_only or [None])[0]
    ignored = not_honoured(options, BUILDKIT)
    classic = [name for _, name in ignored]
    if wants is not None and classic:
        opt, flag = ignored[0]
        what = (
            "is a per-build resource limit, which only the classic builder honours"
            if opt.group == "resources"
            else "is honoured only by the classic builder"
        )
        raise OptionsError(
            f"--builder auto: {wants} needs BuildKit, but {flag} {what}; drop one of the two",
            option=opt.name,
        )
    if wants is not None:
        return Choice("buildkit", f"auto: {wants} needs BuildKit")
    if classic:
        return Choice("classic", f"auto: {classic[0]} needs the classic builder")
    return Choice("classic", "auto: classic (nothing here needs BuildKit)")
