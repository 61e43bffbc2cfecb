"""The build context: a tar stream for the body of ``POST /build``, made lazily.

The daemon does not apply ``.dockerignore`` (the docker CLI does), so this module filters
the context directory with the semantics of moby's patternmatcher and the CLI's walk. It
does no network IO and reads only the files the user names; file contents are read in
chunks while the archive is consumed, so a large context never sits in memory.
"""

from __future__ import annotations

import os
import posixpath
import re
import stat
import tarfile
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import NamedTuple

from ..errors import ContextError

__all__ = ["BuildContext", "ContextEntry", "DockerIgnore", "build_context"]

# Generated entries (cell Dockerfile, ``files``) get fixed metadata so that the same cell
# text yields a byte-identical archive, and so the same daemon-side cache hits.
GENERATED_MTIME = 0
GENERATED_MODE = 0o644
GENERATED_DIR_MODE = 0o755
# Two zero blocks end the archive. No padding to tarfile's 10240-byte record: the daemon
# leaves it unread (see "Context upload" in the protocol notes).
_END_OF_ARCHIVE = bytes(2 * tarfile.BLOCKSIZE)
# O_NOFOLLOW: a file swapped for a symlink after the walk must not be followed.
# O_NONBLOCK: a file swapped for a FIFO must not hang the open; fstat then rejects it.
_OPEN_FLAGS = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)


def _go_clean(path: str) -> str:
    """Clean ``path`` lexically like Go's ``filepath.Clean`` on POSIX."""
    cleaned = posixpath.normpath(path) if path else "."
    # normpath keeps a leading "//" (POSIX lets it mean something); Go collapses it.
    return "/" + cleaned.lstrip("/") if cleaned.startswith("//") else cleaned


def _normalise_line(line: str) -> str | None:
    """Clean one ``.dockerignore`` line as moby's ``ignorefile.ReadAll``; None to skip it."""
    pattern = line.strip()
    if line.startswith("#") or not pattern:  # '#' starts a comment only in column 1
        return None
    invert = pattern.startswith("!")
    pattern = pattern[1:].strip() if invert else pattern
    if pattern:
        pattern = _go_clean(pattern)
        pattern = pattern[1:] if len(pattern) > 1 and pattern.startswith("/") else pattern
    return "!" + pattern if invert else pattern


def _bad(whole: str, why: str) -> ContextError:
    return ContextError(f".dockerignore pattern {whole!r}: {why}")


def _class_char(pattern: str, i: int, whole: str) -> tuple[str, int]:
    """Read one (possibly escaped) character of a class, with the checks of Go's getEsc."""
    if pattern[i : i + 1] in ("", "-", "]"):
        raise _bad(whole, "malformed character class")
    i += pattern[i] == "\\"
    if i + 1 >= len(pattern):  # the class must still be closed after this character
        raise _bad(whole, "unterminated character class")
    return pattern[i], i + 1


def _translate_class(pattern: str, i: int, whole: str) -> tuple[str, int]:
    """Translate the class opened by the '[' before index ``i``; return regex, next index."""
    negated = pattern[i : i + 1] == "^"
    i, ranges, count = i + negated, [], 0
    while pattern[i : i + 1] != "]" or not count:
        lo, i = _class_char(pattern, i, whole)
        hi, i = _class_char(pattern, i + 1, whole) if pattern[i] == "-" else (lo, i)
        count += 1
        if lo <= hi:  # Go accepts an inverted range that matches nothing; re rejects it
            ranges.append(f"{re.escape(lo)}-{re.escape(hi)}")
    body = "".join(ranges)
    if negated:
        return (f"[^{body}]" if body else "(?s:.)"), i + 1
    return (f"[{body}]" if body else "(?!)"), i + 1


def _translate(pattern: str, whole: str) -> str:
    """Translate a cleaned pattern (no '!') into a regex, as moby's ``Pattern.compile``."""
    out: list[str] = []
    i, n = 0, len(pattern)
    while i < n:
        char = pattern[i]
        i += 1
        if char == "*" and i < n and pattern[i] == "*":
            i += 1 + (i + 1 < n and pattern[i + 1] == "/")  # "**/" is read as "**"
            # "**" at the end matches everything below; elsewhere any number of segments.
            out.append(".*" if i == n else "(?:.*/)?")
        elif char in "*?":
            out.append("[^/]*" if char == "*" else "[^/]")
        elif char == "[":
            regex, i = _translate_class(pattern, i, whole)
            out.append(regex)
        elif char == "\\":
            if i == n:
                raise _bad(whole, "trailing backslash")
            out.append(re.escape(pattern[i]))
            i += 1
        else:
            out.append(re.escape(char))
    return "".join(out)


class _Pattern(NamedTuple):
    exclusion: bool
    regex: re.Pattern[str]
    # One regex per '/'-separated segment, or None when the pattern may span segments
    # ('**', classes, escapes), in which case it is assumed to match anything below.
    segments: tuple[re.Pattern[str], ...] | None

    def may_match_below(self, parts: list[str]) -> bool:
        """Whether some path strictly below the directory ``parts`` could match."""
        segs = self.segments
        if segs is None:
            return True
        return len(segs) > len(parts) and all(segs[i].fullmatch(p) for i, p in enumerate(parts))


def _compile(pattern: str) -> _Pattern:
    """Compile one cleaned pattern (with its '!' if any)."""
    exclusion = pattern.startswith("!")
    body = pattern[1:] if exclusion else pattern
    if exclusion and not body:
        raise _bad(pattern, 'illegal exclusion pattern "!"')
    regex = re.compile(_translate(body, pattern), re.DOTALL)
    segments = None
    if "**" not in body and "[" not in body and "\\" not in body:
        segments = tuple(re.compile(_translate(s, pattern), re.DOTALL) for s in body.split("/"))
    return _Pattern(exclusion, regex, segments)


class DockerIgnore:
    r"""Docker's .dockerignore semantics (moby patternmatcher).

    Patterns are cleaned like Go's ``filepath.Clean``, a leading '/' is stripped, '!' marks
    an exception and later patterns win. '**' matches any number of path segments, '*'
    and '?' never cross '/', '[...]' classes and '\' escapes work as in Go's
    ``filepath.Match``. A pattern that matches a parent directory excludes everything
    below it. Lines starting with '#' and blank lines are ignored; surrounding whitespace
    is trimmed. A malformed pattern raises :class:`ContextError`, as Docker refuses it.
    """

    def __init__(self, patterns: Sequence[str]) -> None:
        if isinstance(patterns, str):
            raise TypeError("patterns must be a sequence of lines; use DockerIgnore.from_text")
        self._set([p for p in map(_normalise_line, patterns) if p is not None])

    def _set(self, cleaned: list[str]) -> None:
        #: The cleaned patterns, exceptions keeping their leading '!'.
        self.patterns: tuple[str, ...] = tuple(cleaned)
        self._compiled = [_compile(p) for p in cleaned]

    @classmethod
    def from_text(cls, text: str) -> DockerIgnore:
        """Parse the text of a ``.dockerignore`` file (a leading UTF-8 BOM is dropped)."""
        return cls(text.removeprefix("\ufeff").split("\n"))

    @classmethod
    def from_dir(cls, root: Path) -> DockerIgnore:
        """Read ``root/.dockerignore`` if present; otherwise return an empty matcher."""
        path = Path(root) / ".dockerignore"
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            return cls(())
        except OSError as e:
            raise ContextError(f"cannot read {path}: {e.strerror or e}") from e
        # surrogateescape: undecodable bytes still match the same bytes in file names.
        return cls.from_text(data.decode("utf-8", "surrogateescape"))

    def _last_match(self, path: str) -> int:
        """Index of the last pattern matching ``path`` or one of its parents, or -1."""
        parts = path.split("/")
        prefixes = ["/".join(parts[:i]) for i in range(1, len(parts) + 1)]
        for index in range(len(self._compiled) - 1, -1, -1):
            if any(self._compiled[index].regex.fullmatch(p) for p in prefixes):
                return index
        return -1

    def excluded(self, relpath: str) -> bool:
        """Whether ``relpath`` (posix, relative to the context root) is left out."""
        path = _go_clean(relpath)
        last = -1 if path == "." else self._last_match(path)  # the root is never excluded
        return last >= 0 and not self._compiled[last].exclusion

    def can_prune(self, reldir: str) -> bool:
        """Whether ``reldir`` is excluded with nothing below it re-included (skip the walk).

        Only exceptions after the last pattern excluding the directory count: that one
        matches everything below, through the parent rule. An exception that may match
        below ('**', classes) keeps the directory walked, as BuildKit does (the legacy
        CLI compares literal prefixes only).
        """
        path = _go_clean(reldir)
        last = -1 if path == "." else self._last_match(path)
        if last < 0 or self._compiled[last].exclusion:
            return False
        parts = path.split("/")
        return not any(p.exclusion and p.may_match_below(parts) for p in self._compiled[last + 1 :])

    def may_match_below(self, reldir: str) -> bool:
        """Whether a pattern (not an exception) could match some path below ``reldir``.

        For include patterns (FileSync's ``include-patterns``): a directory that matches
        none of them is still walked when this says a descendant might.
        """
        parts = _go_clean(reldir).split("/")
        return any(not p.exclusion and p.may_match_below(parts) for p in self._compiled)

    def keeping(self, *relpaths: str) -> DockerIgnore:
        """Return a matcher that keeps ``relpaths`` too (the CLI's rule for the Dockerfile)."""
        # Like the CLI: append an exception for each, only where it is excluded.
        extra = ["!" + re.sub(r"([*?\[\]\\])", r"\\\1", p) for p in relpaths if self.excluded(p)]
        if not extra:
            return self
        kept = DockerIgnore(())
        kept._set([*self.patterns, *extra])
        return kept


class _Entry(NamedTuple):
    name: str  # posix path inside the context, without a trailing '/'
    kind: bytes  # tarfile.DIRTYPE, REGTYPE or SYMTYPE
    mode: int
    mtime: int
    linkname: str = ""
    source: str | None = None  # a file on disk, opened while streaming
    data: bytes | None = None  # generated contents
    mtime_ns: int = 0  # the walk's mtime to the nanosecond (FileSync sends it; tar can't)
    size: int = 0  # a regular file's size as walked (FileSync states it before the contents)


_Plan = dict[str, _Entry]  # member name -> entry
#: One member of the context: name, tar type, permission bits, mtime, and where its
#: contents come from (``source`` on disk, or ``data``).
ContextEntry = _Entry


def _header(name: str, kind: bytes, mode: int, mtime: int, size: int = 0, link: str = "") -> bytes:
    info = tarfile.TarInfo(name)
    info.type, info.mode, info.mtime, info.size, info.linkname = kind, mode, mtime, size, link
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    # PAX handles long names and links, big sizes and non-UTF-8 names (hdrcharset).
    return info.tobuf(tarfile.PAX_FORMAT, "utf-8", "surrogateescape")


def _disk_file(entry: _Entry, chunk_size: int) -> Iterator[bytes]:
    """Yield the header, contents and padding of a file read from disk, in pieces."""
    path, fd = entry.source, -1
    try:
        fd = os.open(str(path), _OPEN_FLAGS)
        st = os.fstat(fd)  # the header describes the file as opened, not as walked
        if not stat.S_ISREG(st.st_mode):
            raise ContextError(f"cannot read {path}: it is no longer a regular file")
        size = remaining = st.st_size
        yield _header(entry.name, tarfile.REGTYPE, stat.S_IMODE(st.st_mode), int(st.st_mtime), size)
        while remaining:
            piece = os.read(fd, min(chunk_size, remaining))
            if not piece:
                raise ContextError(f"{path} shrank while being read; the archive would be corrupt")
            remaining -= len(piece)
            yield piece
        if os.read(fd, 1):
            raise ContextError(f"{path} grew while being read; the archive would be corrupt")
    except OSError as e:
        raise ContextError(f"cannot read {path}: {e.strerror or e}") from e
    finally:
        if fd >= 0:
            os.close(fd)
    yield bytes(-size % tarfile.BLOCKSIZE)


def _member(entry: _Entry, chunk_size: int) -> Iterator[bytes | memoryview]:
    """Yield one archive member in pieces of at most ``chunk_size`` contents bytes."""
    if entry.source is not None:
        yield from _disk_file(entry, chunk_size)
    elif entry.data is not None:
        data = memoryview(entry.data)
        yield _header(entry.name, tarfile.REGTYPE, entry.mode, entry.mtime, len(data))
        for start in range(0, len(data), chunk_size):
            yield data[start : start + chunk_size]
        yield bytes(-len(data) % tarfile.BLOCKSIZE)
    else:
        yield _header(entry.name, entry.kind, entry.mode, entry.mtime, link=entry.linkname)


@dataclass(frozen=True, eq=False)
class BuildContext:
    """An iterable of bytes chunks forming a POSIX (ustar/pax) tar, produced lazily.

    Each iteration walks the context directory afresh and reads file contents only as
    the chunks are consumed. Chunks are ``chunk_size`` bytes, except the last.
    """

    dockerfile_path: str  # path of the Dockerfile inside the context, posix
    chunk_size: int
    root: Path | None
    ignore: DockerIgnore
    generated: Mapping[str, bytes] = field(repr=False)

    def members(self) -> list[str]:
        """Sorted names that will be sent (walks the directory; reads no file contents)."""
        return sorted(self._plan())

    def __iter__(self) -> Iterator[bytes]:
        """Yield the archive in chunks of ``chunk_size`` bytes (the last may be shorter)."""
        plan, size, buf = self._plan(), self.chunk_size, bytearray()
        # Parents before children, siblings sorted: the order of a sorted recursive walk.
        for name in sorted(plan, key=lambda n: n.split("/")):
            for piece in _member(plan[name], size):
                buf += piece
                while len(buf) >= size:
                    yield bytes(buf[:size])
                    del buf[:size]
        buf += _END_OF_ARCHIVE
        for start in range(0, len(buf), size):
            yield bytes(buf[start : start + size])

    def plan(self) -> Mapping[str, ContextEntry]:
        """Every member by name with its metadata, unsorted (walks; reads no contents).

        What :mod:`.filesync` serves: the same filtered walk as the archive.
        """
        return self._plan()

    def _plan(self) -> _Plan:
        """Decide every member (metadata only): the filtered walk, then generated files."""
        plan: _Plan = {}
        held: _Plan = {}  # excluded directories walked for their exceptions
        if self.root is not None:
            self._walk(self.root, "", plan, held)
        for name, data in self.generated.items():
            plan[name] = _Entry(name, tarfile.REGTYPE, GENERATED_MODE, GENERATED_MTIME, data=data)
        # Give every member a parent directory entry: an excluded directory holding a
        # re-included file keeps its own metadata; new folders of ``files`` get fixed ones.
        for name in list(plan):
            parent = posixpath.dirname(name)
            while parent and parent not in plan:
                made = _Entry(parent, tarfile.DIRTYPE, GENERATED_DIR_MODE, GENERATED_MTIME)
                plan[parent] = held.get(parent, made)
                parent = posixpath.dirname(parent)
            if parent and plan[parent].kind != tarfile.DIRTYPE:
                raise ContextError(f"cannot add {name!r}: {parent!r} is not a directory")
        return plan

    def _walk(self, folder: Path, prefix: str, plan: _Plan, held: _Plan) -> None:
        try:
            with os.scandir(folder) as listing:
                items = sorted(listing, key=lambda e: e.name)
            for item in items:
                self._visit(item, prefix + item.name, plan, held)
        except OSError as e:
            raise ContextError(f"cannot read {e.filename or folder}: {e.strerror or e}") from e

    def _visit(self, item: os.DirEntry[str], rel: str, plan: _Plan, held: _Plan) -> None:
        st = item.stat(follow_symlinks=False)
        excluded, is_dir = self.ignore.excluded(rel), stat.S_ISDIR(st.st_mode)
        if rel in self.generated:
            if is_dir and not excluded:
                raise ContextError(f"files entry {rel!r} is a directory in {self.root}")
            return  # replaced by the generated entry
        entry = _Entry(
            rel,
            tarfile.REGTYPE,
            stat.S_IMODE(st.st_mode),
            int(st.st_mtime),
            mtime_ns=st.st_mtime_ns,
            size=st.st_size,
        )
        if is_dir:
            if excluded and self.ignore.can_prune(rel):
                return  # never even listed: think node_modules
            (held if excluded else plan)[rel] = entry._replace(kind=tarfile.DIRTYPE)
            self._walk(Path(item.path), rel + "/", plan, held)
        elif excluded:
            return
        elif stat.S_ISREG(st.st_mode):
            if not os.access(item.path, os.R_OK):  # fail now, not halfway through the upload
                raise ContextError(f"cannot read {item.path}: permission denied")
            plan[rel] = entry._replace(source=item.path)
        elif stat.S_ISLNK(st.st_mode):  # kept as a link, never followed
            plan[rel] = entry._replace(kind=tarfile.SYMTYPE, linkname=os.readlink(item.path))
        # Sockets, FIFOs and devices have no place in a build context: skipped.


def _check_name(name: object, what: str) -> str:
    """Validate a file path inside the context and return it normalised."""
    if not isinstance(name, str):
        raise ContextError(f"{what} {name!r} must be a string, not {type(name).__name__}")
    normal = posixpath.normpath(name) if name else ""
    problem = (
        "is empty" if not name
        else "contains a NUL character" if "\0" in name
        else "is absolute; it must be relative to the context root" if name.startswith("/")
        else "does not name a file" if name.endswith("/") or normal == "."
        else "escapes the context root" if normal == ".." or normal.startswith("../")
        else None
    )  # fmt: skip
    if problem:
        raise ContextError(f"{what} {name!r} {problem}")
    return normal


def build_context(
    dockerfile: str | None,
    *,
    dockerfile_path: str = "Dockerfile",
    context_dir: str | os.PathLike[str] | None = None,
    files: Mapping[str, str | bytes] | None = None,
    chunk_size: int = 256 * 1024,
) -> BuildContext:
    """Check the inputs and return the build context, streamed when iterated.

    ``dockerfile`` (the cell text) is written at ``dockerfile_path``, replacing a file of
    that name in ``context_dir``; when it is None the Dockerfile must come from
    ``context_dir`` (or ``files``). ``files`` maps context paths to str (UTF-8) or bytes
    and overrides files from the directory; like the cell's Dockerfile, these entries are
    never subject to ``.dockerignore``. Raises :class:`ContextError` naming the culprit.
    """
    if isinstance(chunk_size, bool) or not isinstance(chunk_size, int) or chunk_size < 1:
        raise ContextError(f"chunk_size must be a positive integer, not {chunk_size!r}")
    if dockerfile is not None and not isinstance(dockerfile, str):
        raise ContextError(f"the Dockerfile must be a str, not {type(dockerfile).__name__}")
    df_path = _check_name(dockerfile_path, "dockerfile_path")
    generated: dict[str, bytes] = {}
    for key, value in (files or {}).items():
        name = _check_name(key, "files key")
        if not isinstance(value, (str, bytes, bytearray, memoryview)):
            raise ContextError(f"files[{key!r}] must be str or bytes, not {type(value).__name__}")
        if name in generated:
            raise ContextError(f"files key {key!r} names {name!r} a second time")
        generated[name] = value.encode("utf-8") if isinstance(value, str) else bytes(value)
    if dockerfile is not None:
        if df_path in generated:
            raise ContextError(f"{df_path!r} is given both as the cell's Dockerfile and in files")
        generated[df_path] = dockerfile.encode("utf-8")
    for name in generated:
        parent = next((str(p) for p in PurePosixPath(name).parents if str(p) in generated), "")
        if parent:
            raise ContextError(f"cannot add {name!r}: {parent!r} is not a directory")

    root = None if context_dir is None else Path(context_dir)
    if root is not None and not root.is_dir():
        why = "is not a directory" if root.exists() else "does not exist"
        raise ContextError(f"context directory {str(root)!r} {why}")
    if df_path not in generated:
        if root is None:
            raise ContextError("nothing to build: no Dockerfile and no context directory given")
        if not (root / df_path).is_file():
            raise ContextError(f"no Dockerfile {df_path!r} in context directory {str(root)!r}")
    ignore = DockerIgnore(())
    if root is not None:  # the CLI keeps these two even when .dockerignore lists them
        kept = [".dockerignore"] + ([] if df_path in generated else [df_path])
        ignore = DockerIgnore.from_dir(root).keeping(*kept)
    return BuildContext(df_path, chunk_size, root, ignore, generated)
