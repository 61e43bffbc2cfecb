"""Catch BuildKit-only Dockerfile syntax before the classic builder trips over it.

``POST /build`` without a BuildKit session runs the *classic* builder, which parses
Dockerfiles with an older grammar. :func:`check_dockerfile` finds the constructs only
BuildKit understands and raises :class:`UnsupportedSyntax` naming the construct and its
line, instead of letting the daemon answer with a misleading message or run half the
build first. It reads the flags and heredocs of :func:`.dockerfile.parse` (the same
parse the progress rows come from). Pure: no IO.

What dockerd 20.10.24 (API 1.41, classic builder) really does with each construct,
measured by sending each one through ``POST /build``:

- ``RUN --mount=...``: the earlier steps *run*, then the step fails inside the 200
  stream: "the --mount option requires BuildKit".
- ``COPY --chmod`` / ``ADD --chmod``: the same, "the --chmod option requires BuildKit"
  (the classic builder parses the flag but refuses it; it is not supported in 20.10).
- ``RUN --network/--security/--device``, ``COPY/ADD --link/--parents/--exclude``,
  ``ADD --checksum/--keep-git-dir/--unpack``: HTTP 400 before
  streaming, "dockerfile parse error line N: Unknown flag: network" (no hint that
  BuildKit would accept it).
- Heredocs (``RUN <<EOF``, ``COPY <<EOF /f``): HTTP 400 blaming the *next* line,
  "dockerfile parse error line 3: unknown instruction: ECHO": the body is read as
  instructions.
- ``# syntax=...``: silently ignored; the file is parsed with the classic grammar.
  So a ``docker/dockerfile`` frontend is accepted here (whatever it would enable is
  checked construct by construct), but any other frontend is refused: that file is
  written for a different parser, and ignoring the directive would build something else.
- ``# escape=`` and ``COPY --from`` / ``--chown`` work in the classic builder.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..errors import UnsupportedSyntax
from .dockerfile import Dockerfile, Instruction, parse

__all__ = [
    "Construct",
    "UnsupportedSyntax",
    "buildkit_constructs",
    "buildkit_only",
    "check_dockerfile",
]


# Flags the classic builder refuses, per instruction, with what to write instead.
_BUILDKIT_FLAGS: dict[str, dict[str, str]] = {
    "RUN": {
        "mount": "drop it and COPY the files the step needs (cache, secret and ssh mounts "
        "do not exist without BuildKit)",
        "network": "drop it and pass --network to the build, which applies to every RUN",
        "security": "drop it; the classic builder never runs steps with extra privileges",
        "device": "drop it; the classic builder cannot give a step a device",
    },
    "COPY": {
        "chmod": "COPY the file, then RUN chmod on it",
        "link": "drop it; it only changes how BuildKit reuses the layer, not the files",
        "parents": "copy each directory to its full destination path",
        "exclude": "list the sources explicitly or exclude them in .dockerignore",
    },
    "ADD": {
        "chmod": "ADD the file, then RUN chmod on it",
        "link": "drop it; it only changes how BuildKit reuses the layer, not the files",
        "checksum": "drop it and check the file in a RUN step with sha256sum -c",
        "keep-git-dir": "RUN git clone in the image instead of ADD of a git URL",
        "parents": "copy each directory to its full destination path",
        "exclude": "list the sources explicitly or exclude them in .dockerignore",
        "unpack": "drop it; the classic ADD unpacks local archives and never remote ones",
    },
}

# The Dockerfile frontends whose grammar the classic builder implements (minus the
# BuildKit-only constructs checked one by one).
_OFFICIAL_FRONTEND = re.compile(
    r"^(?:docker\.io/)?docker/dockerfile(?:-upstream)?(?::[\w.-]+)?(?:@sha256:[0-9a-f]{64})?$"
)
_WHY = "needs BuildKit, which the classic /build endpoint does not run"


def _refusal(
    construct: str, inst_line: int, text: str, hint: str, line_offset: int
) -> UnsupportedSyntax:
    shown = text.strip()
    if len(shown) > 60:
        shown = shown[:59] + "…"
    return UnsupportedSyntax(
        f"line {inst_line + line_offset} ({shown}): {construct} {_WHY}; {hint}",
        construct=construct,
        line=inst_line,
        text=text,
    )


@dataclass(frozen=True)
class Construct:
    """One use of BuildKit-only syntax: a flag (``RUN --mount``) or a heredoc."""

    keyword: str  # RUN, COPY, ADD (an ONBUILD trigger's own keyword)
    flag: str | None  # "mount", "chmod" ...; None for a heredoc
    value: str | None  # the flag's value as written ("type=cache,target=/c")
    line: int  # 1-based line in the Dockerfile
    text: str  # that line as written

    @property
    def name(self) -> str:
        """How messages name it: ``RUN --mount``, ``a heredoc in RUN``."""
        return f"{self.keyword} --{self.flag}" if self.flag else f"a heredoc in {self.keyword}"

    @property
    def hint(self) -> str:
        """What to write instead, for a builder that cannot run it."""
        if self.flag is not None:
            return _BUILDKIT_FLAGS[self.keyword][self.flag]
        if self.keyword == "RUN":
            return "join the commands with && on continued lines, or COPY a script and RUN it"
        return "COPY the file from the build context instead"


def _constructs(df: Dockerfile, ins: Instruction) -> list[Construct]:
    # ONBUILD's trigger runs in the child build, through the same builder.
    target = ins.trigger if ins.keyword == "ONBUILD" and ins.trigger is not None else ins
    first = df.lines[ins.line - 1]
    refused = _BUILDKIT_FLAGS.get(target.keyword, {})
    found = [
        Construct(target.keyword, flag.name.lower(), flag.value, ins.line, first)
        for flag in target.flags
        if flag.name.lower() in refused
    ]
    if ins.heredocs:
        # Name the physical line with the `<<` (the instruction may be continued).
        line = ins.heredocs[0].line
        found.append(Construct(target.keyword, None, None, line, df.lines[line - 1]))
    return found


def buildkit_constructs(df: Dockerfile) -> list[Construct]:
    """Every use of BuildKit-only syntax in ``df``, in the order of the file."""
    return [c for ins in df.instructions for c in _constructs(df, ins)]


def buildkit_only(df: Dockerfile, *, line_offset: int = 0) -> list[UnsupportedSyntax]:
    """Every construct of ``df`` the classic builder refuses, in the order of the file.

    Flags (``RUN --mount``, ``COPY --chmod/--link`` ...) and heredocs; not the
    ``# syntax=`` directive, which the classic builder ignores.
    """
    return [_refusal(c.name, c.line, c.text, c.hint, line_offset) for c in buildkit_constructs(df)]


def check_dockerfile(text: str, *, line_offset: int = 0) -> None:
    """Raise :class:`UnsupportedSyntax` if ``text`` uses syntax only BuildKit supports.

    Checks ``RUN --mount/--network/--security``, ``COPY/ADD --chmod/--link``,
    ``ADD --checksum/--keep-git-dir``, heredocs (``RUN <<EOF``) and ``# syntax=``
    directives naming a frontend other than ``docker/dockerfile``. The first offending
    line is reported; ``line_offset`` is added to line numbers in the message (for a
    cell whose first line is the magic). Ordinary Dockerfiles pass, multi-stage ones
    with ``COPY --from`` and ``--chown`` included.
    """
    df = parse(text)
    for directive in df.directives:
        if directive.name == "syntax" and not _OFFICIAL_FRONTEND.match(directive.value):
            raise _refusal(
                f"the frontend {directive.value}",
                directive.line,
                df.lines[directive.line - 1],
                "the classic builder would ignore the directive and parse the file as a "
                "plain Dockerfile; build this one with BuildKit (docker buildx) instead",
                line_offset,
            )
    found = buildkit_only(df, line_offset=line_offset)
    if found:
        raise found[0]
