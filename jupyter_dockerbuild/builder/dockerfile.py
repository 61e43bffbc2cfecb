r"""The Dockerfile, parsed once the way the daemon parses it; pure (no IO).

Followed line by line from the parser dockerd 20.10 runs (its vendored copy of
``buildkit/frontend/dockerfile/parser`` and ``instructions``), with heredocs read the
way current BuildKit reads them. What that parser does, and this module with it:

- Lines end at ``\n`` only; one ``\r`` before it is dropped (``\r\n``), any other
  ``\r`` (a lone one, or the first of ``\r\r\n``) stays part of the line, so an
  old-Mac file is a single line. Form feeds, ``\u2028`` and the like are not line
  breaks either (``str.splitlines`` would say they are).
- A UTF-8 byte-order mark is dropped from the first line only.
- Parser directives (``# escape=``, ``# syntax=``) are read only from the top: the first
  line that is not one (a blank line, a plain comment, an instruction, a directive this
  daemon does not know such as ``# check=``) ends them. A repeated directive or an
  escape other than ``\`` and backtick is a parse error.
- A line continues when it ends with the escape character, optionally followed by
  spaces and tabs, *unless* the character before it is the escape character too:
  ``ENV C=a\\`` does not continue (buildkit's own ``trailing-backslash`` test), and
  neither does ``foo \\\`` (a bug the daemon's source admits to). A line holding only
  the escape character continues.
- Inside a continuation, comment lines and blank lines are skipped; every other line
  is appended *as is*: the first line loses its leading whitespace, the others keep
  theirs, and the escape character goes away with the trailing blanks after it (the
  character before it stays). The step text the classic builder prints
  (``Step k/N : <text>``) is that joined line with surrounding whitespace trimmed. An
  instruction still continued at the end of the file ends there.
- Every instruction is a step, ``ARG`` before the first ``FROM`` included, so
  ``N = len(instructions)`` (the daemon adds one ``LABEL`` step per API label and drops
  the stages after ``--target``).
- Heredocs (``RUN <<EOF``, ``<<-EOF``, ``<<'EOF'``, ``3<<EOF``, several per line) in
  ``RUN``, ``COPY`` and ``ADD`` (also behind ``ONBUILD``, never in the JSON form) are
  found with BuildKit's rules and their body lines belong to the instruction. The 20.10
  parser has no heredocs (it reads the body as instructions and fails): a heredoc is
  BuildKit-only. A ``<<`` whose terminator never comes (``$((1 << 3))``) is not one.

Parse errors the classic builder would answer with (an unknown instruction, a bad
directive, ``FROM`` with two words, an instruction before ``FROM`` ...) are collected
in :attr:`Dockerfile.problems`, not raised: each consumer decides what to do.
"""

from __future__ import annotations

import bisect
import dataclasses
import functools
import json
import re
from dataclasses import dataclass

__all__ = [
    "INSTRUCTIONS",
    "Arg",
    "DeclaredArg",
    "Directive",
    "Dockerfile",
    "Flag",
    "Heredoc",
    "Instruction",
    "Problem",
    "Stage",
    "declared_args",
    "parse",
]

#: The instructions the daemon's parser dispatches (anything else is a parse error).
INSTRUCTIONS = (
    "ADD", "ARG", "CMD", "COPY", "ENTRYPOINT", "ENV", "EXPOSE", "FROM", "HEALTHCHECK",
    "LABEL", "MAINTAINER", "ONBUILD", "RUN", "SHELL", "STOPSIGNAL", "USER", "VOLUME",
    "WORKDIR",
)  # fmt: skip

# Go's unicode.IsSpace (what TrimSpace and the left trim use). Not Python's isspace,
# which also counts \x1c-\x1f.
_SPACE = "\t\n\v\f\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000"  # noqa: E501
# The parser's reWhitespace: what separates the keyword, and FROM's words.
_WHITESPACE = re.compile(r"[\t\v\f\r ]+")
# Go's \s is [\t\n\f\r ]; the value ends at the last non-blank character.
_GO_S = r"[\t\n\f\r ]*"
_DIRECTIVE = re.compile(rf"#{_GO_S}([a-zA-Z][a-zA-Z0-9]*){_GO_S}={_GO_S}(.+?){_GO_S}")
_KNOWN_DIRECTIVES = frozenset({"escape", "syntax"})  # dockerd 20.10; BuildKit adds check
_HEREDOC = re.compile(rf"(\d*)<<(-?){_GO_S}([^<]*)")
_HEREDOC_INSTRUCTIONS = frozenset({"RUN", "COPY", "ADD"})
_MAYBE_JSON = frozenset({"ADD", "CMD", "COPY", "ENTRYPOINT", "RUN", "SHELL", "VOLUME"})
_STAGE_NAME = re.compile(r"[a-z][a-z0-9-_.]*")
_ARG_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_MAX_LINE = 65535  # bufio.Scanner's limit, in bytes

_CONTINUATION: dict[str, re.Pattern[str]] = {
    # The daemon's lineContinuationRegex: an escape at the end (blanks after it allowed)
    # preceded by anything but another escape, or alone on its line.
    e: re.compile(rf"([^{re.escape(e)}]){re.escape(e)}[ \t]*\Z|\A{re.escape(e)}[ \t]*\Z")
    for e in ("\\", "`")
}


# -- the model ------------------------------------------------------------------------


@dataclass(frozen=True)
class Directive:
    """A parser directive the daemon honoured (``# escape=`` or ``# syntax=``)."""

    name: str  # lower-cased
    value: str
    line: int


@dataclass(frozen=True)
class Flag:
    """A ``--name[=value]`` before an instruction's arguments (quotes removed)."""

    name: str
    value: str | None  # None for a bare ``--link``


@dataclass(frozen=True)
class Heredoc:
    """A here-document of a ``RUN``/``COPY``/``ADD`` (BuildKit only)."""

    name: str  # the terminator, quotes removed
    line: int  # the physical line with the ``<<NAME`` word
    end_line: int  # the terminator's line
    chomp: bool  # ``<<-``: leading tabs are stripped
    expand: bool  # False when the name was quoted: no variable expansion in the body
    fd: int | None  # ``3<<EOF``
    content: str  # the body lines, each with its "\n"


@dataclass(frozen=True)
class Instruction:
    """One instruction, which is one step of the classic builder."""

    keyword: str  # upper-cased: RUN, COPY ...
    text: str  # what the daemon prints after "Step k/N : "
    line: int  # its first physical line, 1-based
    end_line: int  # its last one (continuation lines and heredoc bodies included)
    args: str = ""  # what follows the keyword and the flags, trimmed
    flags: tuple[Flag, ...] = ()
    json: bool = False  # exec/JSON form: RUN ["sh", "-c", "..."]
    heredocs: tuple[Heredoc, ...] = ()
    trigger: Instruction | None = None  # ONBUILD's instruction
    stage: int | None = None  # the index of its stage; None before the first FROM

    def flag(self, name: str) -> Flag | None:
        """The first flag called ``name`` (case-insensitive), if any."""
        return next((f for f in self.flags if f.name.lower() == name.lower()), None)


@dataclass(frozen=True)
class Arg:
    """One name of an ``ARG`` instruction, with its default (quotes removed)."""

    name: str
    default: str | None  # None for ``ARG NAME``; variables are left unexpanded
    line: int
    stage: int | None  # None for a global ARG (before the first FROM)


@dataclass(frozen=True)
class Stage:
    """A build stage: a ``FROM`` and the instructions up to the next one."""

    index: int
    name: str | None  # ``AS name``, lower-cased as the daemon does
    base: str  # the image or stage after FROM, as written (variables unexpanded)
    platform: str | None
    line: int
    instructions: tuple[Instruction, ...]  # the FROM first


@dataclass(frozen=True)
class Problem:
    """Something the daemon's parser refuses, with the line it blames."""

    line: int
    message: str


@dataclass(frozen=True)
class Dockerfile:
    """A parsed Dockerfile. Immutable, so one parse can be shared (see :func:`parse`)."""

    lines: tuple[str, ...]  # the physical lines as the daemon reads them
    instructions: tuple[Instruction, ...]
    directives: tuple[Directive, ...]
    escape: str
    stages: tuple[Stage, ...]
    args: tuple[Arg, ...]
    problems: tuple[Problem, ...]

    @property
    def syntax(self) -> str | None:
        """The ``# syntax=`` frontend, if the file names one."""
        return next((d.value for d in self.directives if d.name == "syntax"), None)

    @property
    def global_args(self) -> tuple[Arg, ...]:
        """The ARGs before the first FROM (usable in FROM lines)."""
        return tuple(a for a in self.args if a.stage is None)

    def at(self, line: int) -> Instruction | None:
        """The instruction that physical ``line`` (1-based) belongs to, if any."""
        starts = [i.line for i in self.instructions]
        k = bisect.bisect_right(starts, line) - 1
        if k >= 0 and self.instructions[k].end_line >= line:
            return self.instructions[k]
        return None

    def stage(self, ref: str) -> Stage | None:
        """The stage named ``ref`` (case-insensitive), or numbered, as in ``COPY --from=1``."""
        if ref.isdigit():
            k = int(ref)
            return self.stages[k] if k < len(self.stages) else None
        return next((s for s in self.stages if s.name == ref.lower()), None)


@dataclass(frozen=True)
class DeclaredArg:
    """An ``ARG NAME[=default]`` the Dockerfile declares (first occurrence)."""

    name: str
    default: str | None
    line: int


# -- parsing ----------------------------------------------------------------------------


def _physical_lines(text: str) -> list[str]:
    """Split like bufio.ScanLines: at LF, minus one CR before it; the BOM dropped."""
    if text.startswith("\ufeff"):
        text = text[1:]
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()  # a final "\n" ends the last line, it does not start one
    return [ln[:-1] if ln.endswith("\r") else ln for ln in lines]


def _continues(line: str, escape: str) -> tuple[str, bool]:
    """The line without its continuation mark, and whether it had one."""
    match = _CONTINUATION[escape].search(line)
    if match is None:
        return line, False
    # The daemon replaces the match with its group 1: the character before the escape.
    return line[: match.start()] + (match.group(1) or ""), True


def _extract_flags(rest: str) -> tuple[list[str], str]:
    """The daemon's extractBuilderFlags: leading ``--`` words, and the rest of the line."""
    words: list[str] = []
    word = ""
    phase = "spaces"
    quote = ""
    blank_ok = False
    pos = 0
    while pos <= len(rest):
        at_end = pos == len(rest)
        ch = "" if at_end else rest[pos]
        if phase == "spaces":
            if at_end:
                break
            if ch in _SPACE:
                pos += 1
                continue
            if ch != "-" or pos + 1 == len(rest) or rest[pos + 1] != "-":
                return words, rest[pos:]
            phase = "word"
        if at_end:
            if word != "--" and (blank_ok or word):
                words.append(word)
            break
        if phase == "word":
            if ch in _SPACE:
                phase = "spaces"
                if word == "--":
                    return words, rest[pos:]
                if blank_ok or word:
                    words.append(word)
                word, blank_ok = "", False
            elif ch in "'\"":
                quote, blank_ok, phase = ch, True, "quote"
            elif ch == "\\":
                if pos + 1 < len(rest):
                    pos += 1
                    word += rest[pos]
            else:
                word += ch
        else:  # in a quote
            if ch == quote:
                phase = "word"
            elif ch == "\\":
                if pos + 1 == len(rest):
                    phase = "word"
                else:
                    pos += 1
                    word += rest[pos]
            else:
                word += ch
        pos += 1
    return words, ""


def _as_flag(word: str) -> Flag:
    name, sep, value = word[2:].partition("=") if word.startswith("--") else (word, "", "")
    return Flag(name, value if sep else None)


def _json_form(args: str) -> bool | None:
    """True for a JSON array of strings, None for a JSON array of anything else."""
    rest = args.lstrip(_SPACE)
    if not rest.startswith("["):
        return False
    try:
        # Go's json.Decoder reads one value and ignores what follows it.
        value, _ = json.JSONDecoder().raw_decode(rest)
    except ValueError:
        return False
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return True
    return None


def _words(rest: str, escape: str) -> list[str]:
    """The daemon's parseWords (ARG, ENV, LABEL): split at blanks, quotes kept."""
    words: list[str] = []
    word = ""
    quote = ""
    blank_ok = False
    in_word = False
    i = 0
    while i < len(rest):
        ch = rest[i]
        if not in_word and not quote:
            if ch in _SPACE:
                i += 1
                continue
            in_word = True
        if quote:
            if ch == quote:
                quote = ""
            elif ch == escape and quote != "'":
                if i + 1 == len(rest):
                    i += 1
                    continue
                word += ch
                i += 1
                ch = rest[i]
            word += ch
        elif ch in _SPACE:
            if blank_ok or word:
                words.append(word)
            word, blank_ok, in_word = "", False, False
        else:
            if ch in "'\"":
                quote, blank_ok = ch, True
            elif ch == escape:
                if i + 1 == len(rest):
                    i += 1
                    continue
                word += ch
                i += 1
                ch = rest[i]
            word += ch
        i += 1
    if in_word and (blank_ok or word):
        words.append(word)
    return words


def _unquote(word: str, escape: str) -> tuple[str, int]:
    """A shell word with its quotes and escapes removed (variables left as written).

    Also says how many quote characters stayed literal (escaped, or inside the other
    kind of quotes).
    """
    out: list[str] = []
    literal_quotes = 0
    i = 0
    while i < len(word):
        ch = word[i]
        if ch == "'":
            end = word.find("'", i + 1)
            end = len(word) if end < 0 else end
            piece = word[i + 1 : end]
            out.append(piece)
            literal_quotes += piece.count('"')
            i = end + 1
            continue
        if ch == '"':
            i += 1
            while i < len(word) and word[i] != '"':
                c = word[i]
                if c == escape and i + 1 < len(word) and word[i + 1] in ('"', "$", escape):
                    i += 1
                    c = word[i]
                if c in "'\"":
                    literal_quotes += 1
                out.append(c)
                i += 1
            i += 1
            continue
        if ch == escape:
            if i + 1 == len(word):
                break
            i += 1
            ch = word[i]
        if ch in "'\"":
            literal_quotes += 1
        out.append(ch)
        i += 1
    return "".join(out), literal_quotes


def _shell_words(line: str) -> list[tuple[int, str]] | None:
    """Words of ``line`` as BuildKit's heredoc lexer sees them, with their offsets.

    Quotes and escapes stay in the words, and ``<<`` keeps the blanks after it. None if
    a quote or a ``${`` is left open: BuildKit then finds no heredoc at all.
    """
    words: list[tuple[int, str]] = []
    buf: list[str] = []
    start = 0
    i = 0

    def add(ch: str, at: int) -> None:
        nonlocal start
        if not buf:
            start = at
        buf.append(ch)

    def flush() -> None:
        if buf:
            words.append((start, "".join(buf)))
            buf.clear()

    while i < len(line):
        ch = line[i]
        if ch in "'\"":
            end = i + 1
            while end < len(line) and line[end] != ch:
                end += 2 if ch == '"' and line[end] == "\\" else 1
            if end >= len(line):
                return None
            add(line[i : end + 1], i)
            i = end + 1
        elif ch == "$" and line.startswith("${", i):
            end = line.find("}", i + 2)
            if end < 0 or i + 2 == end or line[i + 2] in "{:":
                return None  # missing '}' or a bad substitution: the lexer errs
            for k in range(i, end + 1):  # expanded text is split at blanks again
                if line[k] in _SPACE:
                    flush()
                else:
                    add(line[k], k)
            i = end + 1
        elif ch == "<" and line.startswith("<<", i):
            end = i + 2
            while end < len(line) and line[end] in " \t\r":
                end += 1
            add(line[i:end], i)
            i = end
        elif ch == "\\":
            add(line[i : i + 2], i)
            i += 2
        elif ch in _SPACE:
            flush()
            i += 1
        else:
            add(ch, i)
            i += 1
    flush()
    return words


def _heredoc_words(line: str) -> list[tuple[int, str, bool, bool, int | None]]:
    """(offset, name, chomp, expand, fd) of each heredoc word in ``line``."""
    found = []
    for offset, word in _shell_words(line) or []:
        match = _HEREDOC.fullmatch(word)
        if match is None or not match.group(3):
            continue
        rest = match.group(3)
        split = _shell_words(rest)
        if split is None or len(split) != 1:
            continue  # "<<EOF sh" is not one word: not a heredoc
        name, literal_quotes = _unquote(rest, "\\")
        expand = literal_quotes == rest.count("'") + rest.count('"')
        fd = int(match.group(1)) if match.group(1) else None
        found.append((offset, name, match.group(2) == "-", expand, fd))
    return found


@dataclass
class _Join:
    """A logical line being assembled from physical ones."""

    text: str
    start: int
    pieces: list[tuple[int, int]]  # (offset in text, physical line) of each piece

    def line_of(self, offset: int) -> int:
        k = bisect.bisect_right([p[0] for p in self.pieces], offset) - 1
        return self.pieces[max(k, 0)][1]


class _Parser:
    def __init__(self, text: str) -> None:
        self.lines = _physical_lines(text)
        self.escape = "\\"
        self.directives: list[Directive] = []
        self.problems: list[Problem] = []
        self.done = False  # no more parser directives

    def directive(self, line: str, number: int) -> None:
        if self.done:
            return
        match = _DIRECTIVE.fullmatch(line)
        name = match.group(1).lower() if match else ""
        if match is None or name not in _KNOWN_DIRECTIVES:
            self.done = True
            return
        if any(d.name == name for d in self.directives):
            self.problems.append(Problem(number, f"only one {name} parser directive can be used"))
            return
        value = match.group(2)
        self.directives.append(Directive(name, value, number))
        if name == "escape":
            if value in ("\\", "`"):
                self.escape = value
            else:
                self.problems.append(
                    Problem(number, f"invalid escape token '{value}' does not match ` or \\")
                )

    def logical_lines(self) -> list[tuple[_Join, int]]:
        """The joined instruction lines and the index of the line after each."""
        out: list[tuple[_Join, int]] = []
        lines = self.lines
        i = 0
        while i < len(lines):
            number = i + 1
            first = lines[i].lstrip(_SPACE)
            # Up to 4 bytes per character: only a long line needs encoding to be sure.
            if (
                len(lines[i]) > _MAX_LINE // 4
                and len(lines[i].encode("utf-8", "surrogatepass")) > _MAX_LINE
            ):
                self.problems.append(
                    Problem(number, f"dockerfile line greater than max allowed size of {_MAX_LINE}")
                )
            self.directive(first, number)
            i += 1
            content, more = _continues("" if first.startswith("#") else first, self.escape)
            if not more and not content:
                continue
            join = _Join(content, number, [(0, number)])
            while more and i < len(lines):
                raw = lines[i]
                i += 1
                trimmed = raw.lstrip(_SPACE)
                if trimmed.startswith("#") or not trimmed:
                    continue  # comments and blank lines inside a continuation vanish
                piece, more = _continues(raw, self.escape)
                join.pieces.append((len(join.text), i))
                join.text += piece
            out.append((join, i))
        return out

    def instruction(self, line: str, start: int, end: int, stage: int | None) -> Instruction:
        text = line.strip(_SPACE)
        head = _WHITESPACE.split(text, maxsplit=1)
        keyword = head[0].upper()  # the daemon lower-cases it; we show it upper-cased
        flag_words, args = _extract_flags(head[1]) if len(head) > 1 else ([], "")
        args = args.strip(_SPACE)
        is_json: bool | None = False
        if keyword in _MAYBE_JSON and args:
            is_json = _json_form(args)
            if is_json is None:
                self.problems.append(
                    Problem(
                        start,
                        "when using JSON array syntax, arrays must be comprised of strings only",
                    )
                )
        trigger = None
        if keyword == "ONBUILD" and args:
            trigger = self.instruction(args, start, end, stage)
        return Instruction(
            keyword=keyword,
            text=text,
            line=start,
            end_line=end,
            args=args,
            flags=tuple(_as_flag(w) for w in flag_words),
            json=bool(is_json),
            trigger=trigger,
            stage=stage,
        )

    def heredocs(self, ins: Instruction, join: _Join, after: int) -> tuple[list[Heredoc], int]:
        """The heredocs of ``ins`` with their bodies from ``lines[after:]``."""
        target = ins.trigger if ins.keyword == "ONBUILD" and ins.trigger else ins
        if target.keyword not in _HEREDOC_INSTRUCTIONS or target.json or "<<" not in join.text:
            return [], after
        found: list[Heredoc] = []
        i = after
        for offset, name, chomp, expand, fd in _heredoc_words(join.text):
            body: list[str] = []
            k = i
            while k < len(self.lines):
                candidate = self.lines[k].rstrip("\r\n")
                if (candidate.lstrip("\t") if chomp else candidate) == name:
                    break
                body.append(self.lines[k] + "\n")
                k += 1
            else:
                break  # never terminated: BuildKit would fail, 20.10 reads on as usual
            found.append(
                Heredoc(name, join.line_of(offset), k + 1, chomp, expand, fd, "".join(body))
            )
            i = k + 1
        return found, i


def _parse(text: str) -> Dockerfile:
    p = _Parser(text)
    instructions: list[Instruction] = []
    stages: list[list[Instruction]] = []
    stage_heads: list[Stage] = []
    args: list[Arg] = []
    i = 0
    for join, after in p.logical_lines():
        if join.start <= i:
            continue  # inside a heredoc body already consumed
        stage_index = len(stages) - 1 if stages else None
        if _WHITESPACE.split(join.text.lstrip(_SPACE), maxsplit=1)[0].upper() == "FROM":
            stage_index = len(stages)
        ins = p.instruction(join.text, join.start, after, stage_index)
        heredocs, i = p.heredocs(ins, join, after)
        if heredocs:
            ins = dataclasses.replace(ins, heredocs=tuple(heredocs), end_line=i)
        i = max(after, i)
        instructions.append(ins)
        _check(p, ins, bool(stages))
        if ins.keyword == "FROM":
            words = _WHITESPACE.split(ins.args) if ins.args else []
            name = words[2].lower() if len(words) == 3 and words[1].lower() == "as" else None
            platform = ins.flag("platform")
            stage_heads.append(
                Stage(
                    index=len(stages),
                    name=name,
                    base=words[0] if words else "",
                    platform=platform.value if platform else None,
                    line=ins.line,
                    instructions=(),
                )
            )
            stages.append([ins])
        elif stages:
            stages[-1].append(ins)
        if ins.keyword == "ARG":
            for word in _words(ins.args, p.escape):
                name, sep, value = word.partition("=")
                default = _unquote(value, p.escape)[0] if sep else None
                args.append(Arg(name, default, ins.line, stage_index))
    if not instructions:
        p.problems.append(Problem(len(p.lines), "file with no instructions"))
    return Dockerfile(
        lines=tuple(p.lines),
        instructions=tuple(instructions),
        directives=tuple(p.directives),
        escape=p.escape,
        stages=tuple(
            Stage(h.index, h.name, h.base, h.platform, h.line, tuple(body))
            for h, body in zip(stage_heads, stages, strict=True)
        ),
        args=tuple(args),
        problems=tuple(p.problems),
    )


def _check(p: _Parser, ins: Instruction, in_stage: bool) -> None:
    """Record what instructions.Parse would refuse about ``ins`` (the common cases)."""
    if ins.keyword not in INSTRUCTIONS:
        p.problems.append(Problem(ins.line, f"unknown instruction: {ins.keyword.upper()}"))
    elif ins.keyword == "FROM":
        words = _WHITESPACE.split(ins.args) if ins.args else []
        if len(words) == 3 and words[1].lower() == "as":
            if not _STAGE_NAME.fullmatch(words[2].lower()):
                p.problems.append(
                    Problem(
                        ins.line,
                        f'invalid name for build stage: "{words[2]}", name can\'t start with '
                        "a number or contain symbols",
                    )
                )
        elif len(words) != 1:
            p.problems.append(Problem(ins.line, "FROM requires either one or three arguments"))
    elif not in_stage and ins.keyword != "ARG":
        p.problems.append(Problem(ins.line, "no build stage in current context"))


@functools.lru_cache(maxsize=32)
def parse(text: str) -> Dockerfile:
    """Parse ``text`` as dockerd 20.10 does (see the module docstring).

    Cached: a build parses its Dockerfile for the preflight, the first paint and the
    progress state, a form on every change; the result is immutable, so they share it.
    """
    return _parse(text)


def declared_args(dockerfile: str | None) -> list[DeclaredArg]:
    """The build args a Dockerfile declares, in order, each with its default.

    ``ARG A=1 B="two words"`` declares both; an ARG repeated in a later stage is listed
    once, with the first default found. Names the daemon would not substitute are left
    out.
    """
    out: dict[str, DeclaredArg] = {}
    for arg in parse(dockerfile or "").args:
        if not _ARG_NAME.fullmatch(arg.name):
            continue
        known = out.get(arg.name)
        if known is None:
            out[arg.name] = DeclaredArg(arg.name, arg.default, arg.line)
        elif known.default is None and arg.default is not None:
            out[arg.name] = DeclaredArg(arg.name, arg.default, known.line)
    return list(out.values())
