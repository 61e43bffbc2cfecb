"""Tab completion in ``%%dockerbuild`` cells and the image magics, answered by the kernel.

Works in every Jupyter frontend (and terminal IPython), because the frontend asks the
kernel. What is offered, by where the cursor is:

- the magic line: its flags (read from the option table the magic's parser is made of,
  so the list can never drift from ``%%dockerbuild?``); after ``--network`` the daemon's
  networks with ``none``, ``host`` and ``default``; after ``--target`` the stages of the
  cell's Dockerfile; after ``-f/--file`` the files of the ``--context`` directory (or of
  the working directory); after ``--context`` directories; after ``--builder`` its
  choices; after ``--cache-from`` local images; after ``--build-arg`` the ``ARG`` names
  the cell declares;
- the Dockerfile below it: instructions where one starts (not on a continued line or in a
  heredoc body, as :func:`~jupyter_dockerbuild.builder.dockerfile.parse` sees the cell);
  after ``FROM`` local images and earlier stages; after ``COPY``/``ADD`` the files of the
  context (what its ``.dockerignore`` leaves out is not offered), after ``--from=``
  earlier stages; the flags of ``FROM``, ``RUN``, ``COPY`` and ``ADD``;
- ``%dockerbuild_history``, ``%dockerbuild_compare`` and ``%dockerbuild_prune --tag``:
  local images (``repo:tag``) and variables holding a ``BuildResult``; their flags.

Anywhere else inside a ``%%dockerbuild`` cell nothing is offered: Python names are never
what is wanted there. IPython's matchers can only suppress the others when they offer
something themselves (``IPCompleter._complete`` checks ``has_any_completions`` before
honouring ``suppress``), so an empty answer cannot go through a matcher: :func:`register`
also wraps the shell's ``Completer.completions`` (the call ipykernel and terminal IPython
make), which answers alone for the text this module owns. The matcher stays registered for
the older ``complete()`` path. Daemon look-ups (images, networks) have a short timeout, are
cached for a few seconds and never raise: an unreachable daemon never stalls typing. The
Dockerfile parser is imported on the first completion, not with the extension.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from IPython.core.completer import CompletionContext, SimpleCompletion, context_matcher

__all__ = ["Answer", "answer", "dockerbuild_matcher", "local_images", "networks", "register"]

_TTL = 5.0  # seconds a daemon's answer is reused while typing
_TIMEOUT = 0.5  # seconds a daemon may take before completion goes on without it
_MAX_PATHS = 500  # a huge directory must not flood the menu
_cache: dict[tuple[str, str | None], tuple[float, list[str]]] = {}
_workers: dict[tuple[str, str | None], threading.Thread] = {}

# Patterns as text: ``re`` compiles (and caches) them on the first completion, not with
# the extension.
_CELL_MAGIC = r"\s*%%dockerbuild(?:\s|$)"
# ``%dockerbuild_history IMG`` and ``h = %dockerbuild_history IMG``.
_IMAGE_MAGIC = (
    r"\s*(?:[A-Za-z_][\w.]*\s*=\s*)?%(dockerbuild_history|dockerbuild_compare|dockerbuild_prune)"
    r"(?=\s)"
)
#: Flags of instructions that take them (BuildKit's and the classic builder's).
_INSTRUCTION_FLAGS = {
    "FROM": ("--platform=",),
    "RUN": ("--mount=", "--network=", "--security="),
    "COPY": ("--from=", "--chown=", "--chmod=", "--link", "--parents", "--exclude="),
    "ADD": ("--chown=", "--chmod=", "--link", "--checksum=", "--keep-git-dir", "--exclude="),
}
_NETWORKS = ("default", "host", "none")


@dataclass(frozen=True)
class Answer:
    """What to offer: completions replacing ``fragment``, the text just before the cursor."""

    fragment: str
    items: tuple[SimpleCompletion, ...] = ()


# -- the daemon --------------------------------------------------------------------------------


def _fetch(key: tuple[str, str | None], ask: Callable[[Any], Iterable[str]]) -> None:
    """Ask the daemon (in a worker thread) and cache the answer, or nothing on failure."""
    try:
        from ..engine.client import DockerClient

        client = DockerClient(key[1], timeout=_TIMEOUT)
        try:
            names = sorted(set(ask(client)))
        finally:
            client.close()
    except Exception:  # a daemon that is down or slow: no names, never an error
        names = []
    _cache[key] = (time.monotonic(), names)


def _daemon_names(kind: str, host: str | None, ask: Callable[[Any], Iterable[str]]) -> list[str]:
    """Names the daemon lists: cached briefly, and never waited for longer than the timeout.

    The look-up runs in a thread joined for at most ``_TIMEOUT``: the client's timeout
    bounds each request, but not the first import of the HTTP stack (0.5-3 s on a busy
    machine) nor endpoint discovery. A look-up that is late finishes in the background
    and its answer serves the next Tab; meanwhile the last answer (or nothing) is offered.
    """
    key = (kind, host)
    stamp, names = _cache.get(key, (0.0, []))
    if time.monotonic() - stamp < _TTL:
        return names
    worker = _workers.get(key)
    if worker is None or not worker.is_alive():
        worker = threading.Thread(
            target=_fetch, args=(key, ask), name=f"dockerbuild-complete-{kind}", daemon=True
        )
        _workers[key] = worker
        worker.start()
    worker.join(_TIMEOUT)
    return _cache.get(key, (0.0, names))[1]


def local_images(host: str | None = None) -> list[str]:
    """Tags (``repo:tag``) of the daemon's images."""

    def ask(client: Any) -> Iterator[str]:
        # Only tagged images: the containerd image store works out every listed
        # image's size, so a daemon with 80 dangling images took ~0.8 s here (26.1)
        # and the short timeout gave no completions at all; this way it takes 0.07 s.
        params = {"filters": json.dumps({"dangling": ["false"]})}
        for image in client.get_json("/images/json", params=params):
            for tag in image.get("RepoTags") or []:
                if tag != "<none>:<none>":
                    yield tag

    return _daemon_names("images", host, ask)


def networks(host: str | None = None) -> list[str]:
    """The daemon's network names, with ``default``, ``host`` and ``none`` always."""

    def ask(client: Any) -> Iterator[str]:
        for net in client.get_json("/networks"):
            if net.get("Name"):
                yield net["Name"]

    return sorted({*_daemon_names("networks", host, ask), *_NETWORKS})


# -- helpers -----------------------------------------------------------------------------------


def _offer(fragment: str, names: Iterable[str], kind: str, *, fold: bool = False) -> Answer:
    """The names starting with ``fragment`` (case-insensitively with ``fold``)."""
    key = fragment.upper() if fold else fragment
    seen: dict[str, None] = {}
    for name in names:
        if (name.upper() if fold else name).startswith(key):
            seen.setdefault(name)
    return Answer(fragment, tuple(SimpleCompletion(n, type=kind) for n in seen))


def _split(before: str) -> tuple[list[str], str]:
    """The whole words before the current one, and the current one (maybe empty)."""
    words = before.split()
    if not words or before[-1:].isspace():
        return words, ""
    return words[:-1], words[-1]


def _words(line: str) -> list[str]:
    """The words of a magic line, quotes removed where they balance."""
    try:
        return shlex.split(line)
    except ValueError:  # an unclosed quote while typing
        return line.split()


def _flag_value(words: list[str], flags: tuple[str, ...]) -> str | None:
    """The value given to one of ``flags`` (``--flag V`` or ``--flag=V``), last one wins."""
    value = None
    for i, word in enumerate(words):
        name, eq, rest = word.partition("=")
        if name in flags:
            value = rest if eq else (words[i + 1] if i + 1 < len(words) else value)
    return value


def _paths(
    root: str, fragment: str, *, dirs_only: bool = False, ignore: Any = None
) -> list[SimpleCompletion]:
    """Entries below ``root`` completing ``fragment`` (a path relative to it, or absolute)."""
    head, sep, prefix = fragment.rpartition("/")
    head += sep
    folder = os.path.join(root, os.path.expanduser(head)) if head else root
    try:
        with os.scandir(folder) as listing:
            entries = sorted(listing, key=lambda e: e.name)
    except OSError:
        return []
    found: list[SimpleCompletion] = []
    for entry in entries:
        if not entry.name.startswith(prefix) or (entry.name[0] == "." and prefix[:1] != "."):
            continue
        try:
            is_dir = entry.is_dir()
        except OSError:
            continue
        if dirs_only and not is_dir:
            continue
        rel = head + entry.name
        if ignore is not None and ignore.excluded(rel) and (not is_dir or ignore.can_prune(rel)):
            continue  # not in the context (a directory stays if it holds re-included files)
        found.append(SimpleCompletion(rel + ("/" if is_dir else ""), type="path"))
        if len(found) >= _MAX_PATHS:
            break
    return found


def _context_files(context: str | None, fragment: str) -> Answer:
    """Files of the build context (the ``--context`` directory, else the working one)."""
    if fragment.startswith(("/", "~")):
        return Answer(fragment)  # a path in the context is relative to its root
    # Without --context (yet), what "--context ." would send.
    root = os.path.expanduser(context) if context else os.getcwd()
    from ..builder.context import DockerIgnore

    try:
        ignore = DockerIgnore.from_dir(root)
    except Exception:  # a malformed .dockerignore: offer the files anyway
        ignore = None
    return Answer(fragment, tuple(_paths(root, fragment, ignore=ignore)))


def _shell_host(shell: Any, words: list[str]) -> str | None:
    """The daemon ``%%dockerbuild`` would use: ``-H`` on the line, else its ``host`` setting."""
    given = _flag_value(words, ("-H", "--host"))
    if given:
        return given
    registry = getattr(getattr(shell, "magics_manager", None), "registry", {}) or {}
    magics = registry.get("DockerBuildMagics")
    host = getattr(magics, "host", None)
    return host if isinstance(host, str) and host else None


def _result_variables(shell: Any) -> list[str]:
    """Names of the notebook's variables holding a ``BuildResult``."""
    from ..builder.result import BuildResult

    user_ns = getattr(shell, "user_ns", None) or {}
    return sorted(
        name
        for name, value in list(user_ns.items())
        if not name.startswith("_") and isinstance(value, BuildResult)
    )


# -- where the cursor is -----------------------------------------------------------------------


def _magic_line(before: str, cell: list[str], shell: Any) -> Answer:
    """The ``%%dockerbuild`` line: flags, or the value of the flag before the cursor."""
    from ..builder.options import OPTION, magic_flags, option_for_flags

    words, fragment = _split(before)
    words = words[1:]  # the magic's own name
    flag, value = (words[-1] if words else ""), fragment
    if fragment.startswith("-"):
        name, eq, rest = fragment.partition("=")
        if not eq:
            return _offer(fragment, magic_flags(), "flag")
        flag, value = name, rest
    option = option_for_flags(flag) if flag.startswith("-") else None
    line_words = _words(cell[0])
    if option is None:
        return Answer(value)  # a flag without a value, or nothing to complete
    if option == "network":
        return _offer(value, networks(_shell_host(shell, line_words)), "network")
    if option == "target":
        from ..builder.dockerfile import parse

        stages = parse("\n".join(cell[1:])).stages
        return _offer(value, [s.name for s in stages if s.name], "stage")
    if option == "build_args" and "=" not in value:
        from ..builder.dockerfile import declared_args

        return _offer(value, [a.name for a in declared_args("\n".join(cell[1:]))], "arg")
    if option == "dockerfile":
        return _context_files(_flag_value(line_words, ("--context",)), value)
    if option == "context":
        return Answer(value, tuple(_paths(os.getcwd(), value, dirs_only=True)))
    if option == "cache_from":
        return _offer(value, local_images(_shell_host(shell, line_words)), "image")
    choices = OPTION[option].choices
    return _offer(value, choices, "choice") if choices else Answer(value)


def _dockerfile_line(
    lines: list[str], first: int, cursor_line: int, col: int, shell: Any
) -> Answer:
    """A line of the Dockerfile below the magic line."""
    from ..builder.dockerfile import INSTRUCTIONS, parse

    before = lines[cursor_line][:col]
    words, fragment = _split(before)
    # The cell below the magic line is the Dockerfile: its line 1 is the cell's first + 1.
    line = cursor_line - first
    parsed = parse("\n".join(lines[first + 1 :]))
    instruction = parsed.at(line)
    if instruction is not None and instruction.line != line:
        # A continued line, or a heredoc body: no instruction starts here.
        if any(h.line < line <= h.end_line for h in instruction.heredocs):
            return Answer(fragment)
        keyword, args = instruction.keyword, words
    elif not words:
        return _offer(fragment, INSTRUCTIONS, "instruction", fold=True)
    else:
        keyword, args = words[0].upper(), words[1:]
    earlier = [s.name for s in parsed.stages if s.name and s.line < line]
    if fragment.startswith("--"):
        name, eq, value = fragment.partition("=")
        if not eq:
            return _offer(fragment, _INSTRUCTION_FLAGS.get(keyword, ()), "flag")
        if keyword in ("COPY", "ADD") and name == "--from":
            current = next((s for s in reversed(parsed.stages) if s.line <= line), None)
            stages = [n for n in earlier if current is None or n != current.name]
            return _offer(value, stages, "stage")
        return Answer(value)
    positional = [w for w in args if not w.startswith("--")]
    if keyword == "FROM":
        if not positional:
            host = _shell_host(shell, _words(lines[first]))
            return _offer(fragment, [*earlier, *local_images(host)], "image")
        if len(positional) == 1:
            return _offer(fragment, ["AS"], "keyword", fold=True)
        return Answer(fragment)
    if keyword in ("COPY", "ADD") and not fragment.startswith(("[", '"')):
        return _context_files(_flag_value(_words(lines[first]), ("--context",)), fragment)
    return Answer(fragment)


def _image_magic(name: str, before: str, shell: Any) -> Answer:
    """``%dockerbuild_history`` and friends: images, result variables, their flags."""
    from .image_magics import ImageMagics

    words, fragment = _split(before)
    parser = getattr(getattr(ImageMagics, name), "parser", None)
    if fragment.startswith("-"):
        flags = [s for a in getattr(parser, "_actions", ()) for s in a.option_strings]
        return _offer(fragment, sorted(flags, key=lambda f: (not f.startswith("--"), f)), "flag")
    host = _shell_host(shell, [])
    if name == "dockerbuild_prune":
        if words and words[-1] in ("--tag", "-t"):
            return _offer(fragment, local_images(host), "image")
        return Answer(fragment)
    return _offer(fragment, [*_result_variables(shell), *local_images(host)], "image")


def answer(
    full_text: str, cursor_line: int, cursor_position: int, shell: Any = None
) -> Answer | None:
    """What to offer at the cursor, or None where the text is not ours (Python)."""
    lines = full_text.split("\n")
    if not 0 <= cursor_line < len(lines):
        return None
    current = lines[cursor_line]
    before = current[:cursor_position]
    first = next((i for i, ln in enumerate(lines) if ln.strip()), None)
    if first is not None and re.match(_CELL_MAGIC, lines[first]):
        if cursor_line < first:
            return Answer(_split(before)[1])
        if cursor_line == first:
            if len(before.split()) <= 1 and not before[-1:].isspace():
                return None  # still typing the magic's name: IPython completes it
            return _magic_line(before, lines[first:], shell)
        return _dockerfile_line(lines, first, cursor_line, cursor_position, shell)
    magic = re.match(_IMAGE_MAGIC, current)
    if magic is not None and magic.end() < len(before):
        return _image_magic(magic.group(1), before[magic.end() :], shell)
    return None


def _answer_or_none(full_text: str, cursor_line: int, cursor_position: int) -> Answer | None:
    """:func:`answer`, but never raising: a bug here must not break completion for Python."""
    try:
        from IPython import get_ipython

        return answer(full_text, cursor_line, cursor_position, get_ipython())
    except Exception:
        return None


# -- IPython -----------------------------------------------------------------------------------


@context_matcher()
def dockerbuild_matcher(context: CompletionContext) -> dict[str, Any]:
    """IPython matcher (the older ``complete()`` path): what :func:`answer` offers."""
    found = _answer_or_none(context.full_text, context.cursor_line, context.cursor_position)
    if found is None:
        return {"completions": [], "suppress": False}
    return {
        "completions": list(found.items),
        # Honoured by IPython only when there are completions (see the module).
        "suppress": True,
        "matched_fragment": found.fragment,
    }


def _owning_completions(original: Callable[[str, int], Iterator[Any]]) -> Callable[..., Any]:
    """Wrap ``Completer.completions``: for the text we own, our answer alone, maybe none."""
    from IPython.core.completer import Completion, position_to_cursor

    def completions(text: str, offset: int) -> Iterator[Any]:
        line, column = position_to_cursor(text, offset)
        found = _answer_or_none(text, line, column)
        if found is None:
            yield from original(text, offset)
            return
        start = offset - len(found.fragment)
        for item in found.items:
            yield Completion(
                start, offset, item.text, type=item.type or "", _origin="jupyter_dockerbuild"
            )

    completions.__wrapped__ = original  # type: ignore[attr-defined]
    completions._jupyter_dockerbuild = True  # type: ignore[attr-defined]
    return completions


def register(ipython: Any) -> None:
    """Add the matcher and the wrapper to the shell's completer (once)."""
    completer = getattr(ipython, "Completer", None)
    if completer is None:
        return
    if dockerbuild_matcher not in completer.custom_matchers:
        completer.custom_matchers.append(dockerbuild_matcher)
    if not getattr(completer.completions, "_jupyter_dockerbuild", False):
        completer.completions = _owning_completions(completer.completions)
