"""Catch BuildKit-only Dockerfile syntax before the classic builder trips over it.

``POST /build`` without a BuildKit session runs the *classic* builder, which parses
Dockerfiles with an older grammar. :func:`check_dockerfile` finds the constructs only
BuildKit understands and raises :class:`UnsupportedSyntax` naming the construct and its
line, instead of letting the daemon answer with a misleading message or run half the
build first. Pure: no IO.

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
from collections.abc import Iterator
from dataclasses import dataclass, replace

from ..errors import UnsupportedSyntax

__all__ = [
    "Construct",
    "UnsupportedSyntax",
    "buildkit_constructs",
    "check_dockerfile",
    "syntax_directive",
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

_HEREDOC_INSTRUCTIONS = frozenset({"RUN", "COPY", "ADD"})
# BuildKit's own rule: a shell word that *starts* with `<<` (optionally a file
# descriptor before it, `-` after it) followed by the delimiter. `<<<` is a here-string,
# and `"a << b"` is one quoted word, so neither matches.
_HEREDOC_WORD = re.compile(r"^\d*<<-?(?!<)\S")
_DIRECTIVE = re.compile(r"^#\s*([a-zA-Z][a-zA-Z0-9_-]*)\s*=\s*(.*?)\s*$")
# The Dockerfile frontends whose grammar the classic builder implements (minus the
# BuildKit-only constructs checked one by one).
_OFFICIAL_FRONTEND = re.compile(
    r"^(?:docker\.io/)?docker/dockerfile(?:-upstream)?(?::[\w.-]+)?(?:@sha256:[0-9a-f]{64})?$"
)
_WHY = "needs BuildKit, which the classic /build endpoint does not run"


@dataclass(frozen=True)
class _Instruction:
    """One logical instruction: continuation lines joined, comments dropped."""

    line: int  # 1-based line of its first physical line
    keyword: str  # upper-cased: RUN, COPY ...
    args: str  # everything after the keyword, continuation lines joined by a space
    text: str  # the first physical line, as written
    span: tuple[tuple[int, str], ...]  # (1-based line, text) of every physical line


def _directives(lines: list[str]) -> tuple[dict[str, tuple[int, str]], int]:
    """Read the parser directives at the top; return them and the first line after."""
    found: dict[str, tuple[int, str]] = {}
    for index, raw in enumerate(lines):
        match = _DIRECTIVE.match(raw.lstrip("\ufeff").strip())
        # A blank line, an ordinary comment or an instruction ends the directives, as
        # in Docker; a repeated directive is an ordinary comment then.
        if match is None or match.group(1).lower() in found:
            return found, index
        found[match.group(1).lower()] = (index + 1, match.group(2))
    return found, len(lines)


def _instructions(lines: list[str], start: int, escape: str) -> Iterator[_Instruction]:
    """Yield logical instructions from ``lines[start:]``, the way Docker joins them."""
    i = start
    while i < len(lines):
        first = lines[i].strip()
        if not first or first.startswith("#"):
            i += 1
            continue
        first_index = i
        parts: list[str] = []
        span: list[tuple[int, str]] = []
        current = first
        while True:
            span.append((i + 1, lines[i]))
            stripped = current.rstrip()
            if stripped.endswith(escape):
                parts.append(stripped[: -len(escape)])
                i += 1
                # Inside a continued instruction, blank and comment lines are skipped.
                while i < len(lines) and (not lines[i].strip() or lines[i].strip().startswith("#")):
                    i += 1
                if i >= len(lines):
                    break
                current = lines[i].strip()
                continue
            parts.append(stripped)
            break
        i += 1
        joined = " ".join(p.strip() for p in parts if p.strip())
        keyword, _, args = joined.partition(" ")
        yield _Instruction(
            first_index + 1, keyword.upper(), args.strip(), lines[first_index], tuple(span)
        )


def _words(text: str) -> list[str]:
    """Split like a shell, keeping quotes in the words (as BuildKit's raw lexer does)."""
    words: list[str] = []
    current: list[str] = []
    quote = ""
    i = 0
    while i < len(text):
        ch = text[i]
        if quote:
            current.append(ch)
            if ch == "\\" and quote == '"' and i + 1 < len(text):
                current.append(text[i + 1])
                i += 1
            elif ch == quote:
                quote = ""
        elif ch in "'\"":
            quote = ch
            current.append(ch)
        elif ch == "\\" and i + 1 < len(text):
            current.extend(text[i : i + 2])
            i += 1
        elif ch.isspace():
            if current:
                words.append("".join(current))
                current = []
        else:
            current.append(ch)
        i += 1
    if current:
        words.append("".join(current))
    return words


def _leading_flags(words: list[str]) -> list[tuple[str, str | None]]:
    """The ``--flag[=value]`` words before the first argument: (name, value or None)."""
    flags: list[tuple[str, str | None]] = []
    for word in words:
        if word == "--" or not word.startswith("--"):
            break
        name, sep, value = word[2:].partition("=")
        flags.append((name.lower(), value if sep else None))
    return flags


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


def syntax_directive(text: str) -> tuple[int, str, str] | None:
    """The ``# syntax=`` directive: (1-based line, its value, the line), or None."""
    lines = text.splitlines()
    directives, _ = _directives(lines)
    if "syntax" not in directives:
        return None
    line, value = directives["syntax"]
    return line, value, lines[line - 1]


def buildkit_constructs(text: str) -> Iterator[Construct]:
    """Every use of BuildKit-only syntax in ``text``, in order (flags, then heredocs)."""
    lines = text.splitlines()
    directives, start = _directives(lines)
    escape_value = directives.get("escape", (0, "\\"))[1]
    escape = "`" if escape_value == "`" else "\\"
    for inst in _instructions(lines, start, escape):
        if inst.keyword == "ONBUILD":
            # The trigger runs in the child build, through the same builder.
            keyword, _, args = inst.args.partition(" ")
            inst = replace(inst, keyword=keyword.upper(), args=args.strip())
        words = _words(inst.args)
        refused = _BUILDKIT_FLAGS.get(inst.keyword, {})
        for name, value in _leading_flags(words):
            if name in refused:
                yield Construct(inst.keyword, name, value, inst.line, inst.text)
        if inst.keyword in _HEREDOC_INSTRUCTIONS and not inst.args.startswith("["):
            if any(_HEREDOC_WORD.match(word) for word in words):
                # Name the physical line with the `<<` (the instruction may be continued).
                line, physical = next(
                    (
                        (n, t)
                        for n, t in inst.span
                        if any(_HEREDOC_WORD.match(w) for w in _words(t))
                    ),
                    (inst.line, inst.text),
                )
                yield Construct(inst.keyword, None, None, line, physical)


def _fail(construct: str, inst_line: int, text: str, hint: str, line_offset: int) -> None:
    shown = text.strip()
    if len(shown) > 60:
        shown = shown[:59] + "…"
    raise UnsupportedSyntax(
        f"line {inst_line + line_offset} ({shown}): {construct} {_WHY}; {hint}",
        construct=construct,
        line=inst_line,
        text=text,
    )


def check_dockerfile(text: str, *, line_offset: int = 0) -> None:
    """Raise :class:`UnsupportedSyntax` if ``text`` uses syntax only BuildKit supports.

    Checks ``RUN --mount/--network/--security``, ``COPY/ADD --chmod/--link``,
    ``ADD --checksum/--keep-git-dir``, heredocs (``RUN <<EOF``) and ``# syntax=``
    directives naming a frontend other than ``docker/dockerfile``. The first offending
    line is reported; ``line_offset`` is added to line numbers in the message (for a
    cell whose first line is the magic). Ordinary Dockerfiles pass, multi-stage ones
    with ``COPY --from`` and ``--chown`` included.
    """
    directive = syntax_directive(text)
    if directive is not None:
        line, frontend, raw = directive
        if not _OFFICIAL_FRONTEND.match(frontend):
            _fail(
                f"the frontend {frontend}",
                line,
                raw,
                "the classic builder would ignore the directive and parse the file as a "
                "plain Dockerfile; build this one with BuildKit (docker buildx) instead",
                line_offset,
            )
    for construct in buildkit_constructs(text):
        _fail(construct.name, construct.line, construct.text, construct.hint, line_offset)
