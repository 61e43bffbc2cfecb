"""The build context over the BuildKit session: the sending side of FileSync's DiffCopy.

With ``POST /build?version=2&session=ID&remote=client-session`` the daemon sends no
request body; its Dockerfile frontend calls ``/moby.filesync.v1.FileSync/DiffCopy`` on
the session, once per local source it needs, naming it in the call's metadata
(``dir-name``: ``dockerfile`` for the Dockerfile, ``context`` for the context, maybe twice:
first for ``.dockerignore`` alone) with the filters it wants applied
(``include-patterns``, ``exclude-patterns``, ``followpaths``; values URL-escaped when a
``KEY-encoded: 1`` entry says so). What is served, read in buildkit's
``session/filesync/filesync.go`` and tonistiigi/fsutil's ``send.go``/``receive.go``
(``types/wire.proto``, ``types/stat.proto``; the same protocol in the fsutil of Docker
20.10 and of today):

- The notebook (the *sender*) writes one ``Packet{type: STAT, stat}`` per entry of the
  tree, in a sorted walk: parents before what is inside them, siblings in byte order (the
  receiver's validator refuses anything else), paths with ``/``, the mode as Go's
  ``os.FileMode`` (type bits high: directory ``1<<31``, symlink ``1<<27``, setuid
  ``1<<23``, setgid ``1<<22``, sticky ``1<<20``; not ``st_mode``), the mtime in
  nanoseconds, uid and gid 0 (buildkit's own client resets them), then an empty STAT.
  Entry *i* (counting every STAT) has the ID *i*.
- The daemon compares the stats with what it kept from the last transfer under the
  session's shared key and sends ``REQ{ID}`` for each regular file it needs; each is
  answered with ``DATA{ID, bytes}`` chunks and an empty ``DATA{ID}``.
- The daemon ends with ``FIN``; the sender answers ``FIN`` and the call ends (status 0).
  Either side may send ``ERR{data: message}`` instead.

What the trees hold (:func:`sync_dirs`): ``context`` is exactly the tar path's context
(:mod:`.context`'s walk and ``.dockerignore`` matcher, and the ``files`` of ``--var``),
without the cell's Dockerfile, which is served alone in ``dockerfile`` at the path the
build's ``dockerfile=`` names, so a context directory's own ``Dockerfile`` is sent as it
is. Generated entries keep the tar path's fixed metadata (mode 0644, 1970), except that a
generated file's mtime carries a nanosecond part taken from a hash of its contents: the
daemon decides what changed from size and mtime only, so a ``--var`` value edited to one of
the same length must still look changed, and the same contents still look the same.

Errors: a packet that is not protobuf, a REQ for an ID that names no file (or one already
sent), a dir-name that is not served, bad patterns: the call ends with a
:class:`~jupyter_dockerbuild.errors.GrpcError` naming it. A file that cannot be read or
changed while being sent ends the transfer with an ERR packet, which the daemon reports
as the build's error (``error from sender: ...``), and is kept in
:attr:`FileSyncServer.error` for the notebook to show.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import os
import posixpath
import stat as stat_mod
import tarfile
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Protocol
from urllib.parse import unquote_plus

from ..engine import grpc
from ..engine.protobuf import bytes_field, fields, message_field, uint_field
from ..errors import ContextError, GrpcError, StreamError
from .context import GENERATED_DIR_MODE, GENERATED_MODE, DockerIgnore, build_context
from .result import ContextTransfer

if TYPE_CHECKING:  # pragma: no cover
    from ..engine.client import DockerClient
    from ..engine.grpc import Handler, Services, Stream
    from .context import ContextEntry
    from .options import BuildOptions

__all__ = [
    "DIFF_COPY",
    "FileSyncServer",
    "SyncEntry",
    "SyncTree",
    "Transfer",
    "go_mode",
    "provide_context",
    "sender_of",
    "shared_key",
    "sync_dirs",
]

#: The one method served (the older ``TarStream`` is no longer asked for by any daemon
#: that has ``DiffCopy``, and buildkit prefers DiffCopy whenever it is offered).
DIFF_COPY = "/moby.filesync.v1.FileSync/DiffCopy"

PACKET_STAT, PACKET_REQ, PACKET_DATA, PACKET_FIN, PACKET_ERR = 0, 1, 2, 3, 4

# Go's os.FileMode type and special bits (io/fs), as fsutil puts them on the wire.
MODE_DIR = 1 << 31
MODE_SYMLINK = 1 << 27
MODE_SETUID = 1 << 23
MODE_SETGID = 1 << 22
MODE_STICKY = 1 << 20
#: ``os.ModeType``: the bits that make an entry something other than a regular file.
MODE_TYPE = MODE_DIR | MODE_SYMLINK | (1 << 26) | (1 << 25) | (1 << 24) | (1 << 21) | (1 << 19)

#: Bytes of file contents per DATA packet. fsutil sends 32 KiB; larger pieces cost the
#: notebook less per byte and stay far below gRPC's 4 MiB message limit.
CHUNK_SIZE = 256 * 1024
#: Symlinks followed in one ``followpaths`` entry before giving up (a loop).
_MAX_LINKS = 40
_OPEN_FLAGS = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)


def go_mode(kind: bytes, perm: int) -> int:
    """Go's ``os.FileMode`` for a tar member type and its permission bits (``S_IMODE``)."""
    mode = perm & 0o777
    if perm & stat_mod.S_ISUID:
        mode |= MODE_SETUID
    if perm & stat_mod.S_ISGID:
        mode |= MODE_SETGID
    if perm & stat_mod.S_ISVTX:
        mode |= MODE_STICKY
    if kind == tarfile.DIRTYPE:
        mode |= MODE_DIR
    elif kind == tarfile.SYMTYPE:
        mode |= MODE_SYMLINK
    return mode


@dataclass(frozen=True)
class SyncEntry:
    """One entry of a served tree, as its STAT says, and where its contents come from."""

    path: str  # posix, relative, no trailing '/'
    mode: int  # Go os.FileMode
    mtime_ns: int
    size: int = 0
    linkname: str = ""
    source: str | None = None  # a regular file on disk, read when requested
    data: bytes | None = None  # contents held in memory

    @property
    def is_dir(self) -> bool:
        """A directory."""
        return bool(self.mode & MODE_DIR)

    @property
    def is_symlink(self) -> bool:
        """A symbolic link (sent as a link, never followed)."""
        return bool(self.mode & MODE_SYMLINK)

    @property
    def has_data(self) -> bool:
        """Whether the receiver may ask for its contents (fsutil: no type bits)."""
        return not self.mode & MODE_TYPE

    def stat_message(self) -> bytes:
        """The ``fsutil.types.Stat`` message (uid and gid 0, no xattrs: the tar path's)."""
        return b"".join(
            (
                bytes_field(1, self.path.encode("utf-8", "surrogateescape")),
                uint_field(2, self.mode),
                uint_field(5, self.size),
                uint_field(6, self.mtime_ns),
                bytes_field(7, self.linkname.encode("utf-8", "surrogateescape")),
            )
        )


def _sort_key(path: str) -> list[bytes]:
    # The receiver compares names byte by byte within each directory.
    return [part.encode("utf-8", "surrogateescape") for part in path.split("/")]


@dataclass(frozen=True)
class SyncTree:
    """A tree one ``dir-name`` serves: its entries in the walk order fsutil sends."""

    entries: tuple[SyncEntry, ...]

    @classmethod
    def of(cls, entries: Sequence[SyncEntry]) -> SyncTree:
        """Sort ``entries`` (parents before contents, siblings by bytes)."""
        return cls(tuple(sorted(entries, key=lambda e: _sort_key(e.path))))

    def paths(self) -> list[str]:
        """The paths in walk order."""
        return [e.path for e in self.entries]


def _generated_mtime(data: bytes) -> int:
    """A nanosecond offset into 1970-01-01 derived from the contents (see the module)."""
    return int.from_bytes(hashlib.sha256(data).digest()[:8], "big") % 1_000_000_000


def _entry_of(item: ContextEntry) -> SyncEntry:
    """The served form of one member of the tar path's plan."""
    mode = go_mode(item.kind, item.mode)
    if item.kind == tarfile.DIRTYPE:
        return SyncEntry(item.name, mode, item.mtime_ns or item.mtime * 1_000_000_000)
    if item.kind == tarfile.SYMTYPE:
        size = len(item.linkname.encode("utf-8", "surrogateescape"))
        return SyncEntry(item.name, mode, item.mtime_ns, size, linkname=item.linkname)
    if item.data is not None:  # generated: fixed metadata, content-dependent nanoseconds
        return SyncEntry(
            item.name, mode, _generated_mtime(item.data), len(item.data), data=item.data
        )
    return SyncEntry(item.name, mode, item.mtime_ns, item.size, source=item.source)


def _parents(path: str) -> Iterator[str]:
    parent = posixpath.dirname(path)
    while parent:
        yield parent
        parent = posixpath.dirname(parent)


def _read_whole(path: Path) -> tuple[bytes, os.stat_result]:
    """A small file's bytes and its stat (the Dockerfile served from the directory)."""
    try:
        with open(path, "rb") as fh:
            return fh.read(), os.fstat(fh.fileno())
    except OSError as e:
        raise ContextError(f"cannot read {path}: {e.strerror or e}") from e


def sync_dirs(
    dockerfile: str | None,
    *,
    dockerfile_path: str = "Dockerfile",
    context_dir: str | os.PathLike[str] | None = None,
    files: Mapping[str, str | bytes] | None = None,
) -> dict[str, SyncTree]:
    """The ``context`` and ``dockerfile`` trees of a build (walks; reads no contents).

    The inputs are checked exactly as :func:`~.context.build_context` checks them (the same
    errors). The cell's ``dockerfile`` text goes to the ``dockerfile`` tree only; without
    it the Dockerfile named by ``dockerfile_path`` is taken from ``context_dir`` or
    ``files`` and served in both trees, as the tar path has it in the context too.
    """
    # No .dockerignore edit: the cell's Dockerfile is not in the context tree at all.
    ctx = build_context(
        dockerfile,
        dockerfile_path=dockerfile_path,
        context_dir=context_dir,
        files=files,
        daemon_reads_dockerignore=False,
    )
    df_path = ctx.dockerfile_path
    if dockerfile is not None:
        # The cell's text stands in for nothing in the context: without it the walk lets
        # a directory's own file of that name through, as .dockerignore says. (The tar
        # path hides it under .dockerfile.<hex> beside a directory; here it has its own
        # tree, at the path the query's dockerfile= names.)
        generated = {k: v for k, v in ctx.generated.items() if k != df_path}
        ctx = dataclasses.replace(ctx, generated=generated)
        df_path = dockerfile_path
    plan = ctx.plan()
    context = SyncTree.of([_entry_of(item) for item in plan.values()])

    # The dockerfile tree: the Dockerfile (and its own ``NAME.dockerignore`` if the
    # context has one: the frontend prefers it to .dockerignore, as it finds it in the
    # tar) at the path ``dockerfile=`` names, with fixed parent folders.
    df_entries: list[SyncEntry] = []
    if dockerfile is not None:
        data = dockerfile.encode("utf-8")
        df_entries.append(
            SyncEntry(df_path, GENERATED_MODE, _generated_mtime(data), len(data), data=data)
        )
    else:
        df_entries.append(_whole_file(df_path, ctx.generated, ctx.root))
    ignore_name = df_path + ".dockerignore"
    if ignore_name in plan and plan[ignore_name].kind == tarfile.REGTYPE:
        df_entries.append(_whole_file(ignore_name, ctx.generated, ctx.root))
    for parent in {p for e in df_entries for p in _parents(e.path)}:
        df_entries.append(SyncEntry(parent, go_mode(tarfile.DIRTYPE, GENERATED_DIR_MODE), 0))
    return {"context": context, "dockerfile": SyncTree.of(df_entries)}


def _whole_file(name: str, generated: Mapping[str, bytes], root: Path | None) -> SyncEntry:
    if name in generated:
        data = generated[name]
        return SyncEntry(name, GENERATED_MODE, _generated_mtime(data), len(data), data=data)
    assert root is not None  # build_context made sure the Dockerfile exists somewhere
    data, st = _read_whole(root / name)
    return SyncEntry(
        name,
        go_mode(tarfile.REGTYPE, stat_mod.S_IMODE(st.st_mode)),
        st.st_mtime_ns,
        len(data),
        data=data,
    )


def shared_key(context_dir: str | os.PathLike[str] | None, identity: str) -> str:
    """The session's shared key: one per notebook (``identity``) and context directory.

    The daemon keeps the last context it received under it and, on the next build with
    the same key, asks only for the files whose size or mtime changed.
    """
    where = "" if context_dir is None else os.path.realpath(os.fspath(context_dir))
    digest = hashlib.sha256(f"{identity}\0{where}".encode("utf-8", "surrogateescape"))
    return "jupyter-dockerbuild-" + digest.hexdigest()[:32]


# -- filtering as the daemon asks --------------------------------------------------------


def _decoded(metadata: Mapping[str, list[str]], key: str) -> list[str] | None:
    """A metadata list, URL-unescaped when ``KEY-encoded`` says so (buildkit's decodeOpts)."""
    values = metadata.get(key)
    if values is None:
        return None
    flag = (metadata.get(key + "-encoded") or [""])[0].strip().lower()
    if flag in ("1", "t", "true"):
        return [unquote_plus(v) for v in values]
    return list(values)


def _follow(entries: Mapping[str, SyncEntry], paths: Sequence[str]) -> list[str]:
    """``followpaths`` as include patterns: each path, and the targets of symlinks on it."""
    out: set[str] = set()
    for start in paths:
        pending, hops = [posixpath.normpath(posixpath.join(".", start.lstrip("/")))], 0
        while pending and hops < _MAX_LINKS:
            path = pending.pop()
            parts = [p for p in path.split("/") if p not in ("", ".")]
            current = ""
            for i, part in enumerate(parts):
                current = posixpath.join(current, part) if current else part
                entry = entries.get(current)
                if entry is not None and entry.is_symlink:
                    out.add(current)
                    hops += 1
                    base = posixpath.dirname(current)
                    target = entry.linkname
                    joined = (
                        target.lstrip("/")
                        if target.startswith("/")
                        else posixpath.join(base, target)
                    )
                    rest = "/".join(parts[i + 1 :])
                    pending.append(
                        posixpath.normpath(posixpath.join(joined, rest) if rest else joined)
                    )
                    break
            else:
                if current and not current.startswith(".."):
                    out.add(current)
    return sorted(out)


def filter_tree(
    tree: SyncTree,
    *,
    include: Sequence[str] | None = None,
    exclude: Sequence[str] | None = None,
    follow: Sequence[str] | None = None,
) -> SyncTree:
    """The entries fsutil's FilterFS would walk: included, not excluded, with parents.

    An entry is kept when it (or a parent) matches an include pattern (if any are given;
    ``follow`` paths and their symlink targets count as include patterns) and matches no
    exclude pattern (moby's patternmatcher, later ``!`` exceptions win). The parents of a
    kept entry are sent too, even when they alone would not be.
    """
    patterns = list(include or ())
    if follow:
        by_path = {e.path: e for e in tree.entries}
        patterns += [p for p in _follow(by_path, follow) if p not in patterns]
    try:
        inc = DockerIgnore(patterns) if patterns else None
        exc = DockerIgnore(list(exclude)) if exclude else None
    except ContextError as e:
        raise GrpcError(grpc.INVALID_ARGUMENT, f"invalid patterns: {e}") from None
    if inc is None and exc is None:
        return tree
    kept: set[str] = set()
    pruned: list[str] = []
    for entry in tree.entries:
        path = entry.path
        if pruned and path.startswith(pruned[-1]):
            continue
        ok = (inc is None or inc.excluded(path)) and (exc is None or not exc.excluded(path))
        if ok:
            kept.add(path)
            kept.update(_parents(path))
        elif entry.is_dir:
            # Walk on only where something below could still be kept.
            could_include = inc is None or inc.excluded(path) or inc.may_match_below(path)
            could_stay = exc is None or not exc.excluded(path) or not exc.can_prune(path)
            if not (could_include and could_stay):
                pruned.append(path + "/")
    return SyncTree(tuple(e for e in tree.entries if e.path in kept))


# -- the protocol --------------------------------------------------------------------------


def packet(kind: int, *, stat: bytes | None = None, ident: int = 0, data: bytes = b"") -> bytes:
    """One ``fsutil.types.Packet`` (type 1, stat 2, ID 3, data 4)."""
    return b"".join(
        (
            uint_field(1, kind),
            message_field(2, stat) if stat is not None else b"",
            uint_field(3, ident),
            bytes_field(4, data),
        )
    )


def parse_packet(message: bytes) -> tuple[int, int, bytes]:
    """``(type, ID, data)`` of a packet from the daemon; a malformed one is a GrpcError."""
    kind, ident, data = 0, 0, b""
    try:
        for number, wire, value in fields(message):
            if number == 1 and wire == 0:
                kind = int(value)  # type: ignore[arg-type]
            elif number == 3 and wire == 0:
                ident = int(value) & 0xFFFFFFFF  # type: ignore[arg-type]
            elif number == 4 and wire == 2:
                data = bytes(value)  # type: ignore[arg-type]
    except StreamError as e:
        raise GrpcError(grpc.INVALID_ARGUMENT, f"FileSync: malformed packet ({e})") from None
    return kind, ident, data


@dataclass
class Transfer:
    """What one DiffCopy call sent (one ``dir-name``)."""

    dir_name: str
    #: Entries stated (every STAT but the closing empty one).
    stats: int = 0
    #: Paths the daemon asked the contents of, in the order asked.
    requested: list[str] = field(default_factory=list)
    #: Bytes of file contents sent (DATA payloads).
    data_bytes: int = 0
    #: Bytes of all packets sent (protobuf messages, without gRPC/HTTP framing).
    wire_bytes: int = 0
    #: Whether the daemon ended it with FIN (not an error or a drop).
    finished: bool = False


class FileSyncServer:
    """Serves ``DiffCopy`` for the trees of one build (see the module); thread-safe.

    ``dirs`` maps a ``dir-name`` to its tree. Each call is recorded in
    :attr:`transfers`; :attr:`data_bytes` sums the file contents sent.
    """

    def __init__(self, dirs: Mapping[str, SyncTree], *, chunk_size: int = CHUNK_SIZE) -> None:
        self.dirs = dict(dirs)
        self.chunk_size = chunk_size
        self.transfers: list[Transfer] = []
        #: A problem with the notebook's own files (unreadable, changed while sent).
        self.error: ContextError | None = None
        self._lock = threading.Lock()

    @property
    def services(self) -> Services:
        """The methods to serve on the session."""
        return {DIFF_COPY: self.diff_copy}

    @property
    def data_bytes(self) -> int:
        """File contents sent so far, over every call."""
        with self._lock:
            return sum(t.data_bytes for t in self.transfers)

    @property
    def wire_bytes(self) -> int:
        """Packet bytes sent so far, over every call."""
        with self._lock:
            return sum(t.wire_bytes for t in self.transfers)

    def summary(self) -> ContextTransfer:
        """The figures of every call so far, for the build's result."""
        with self._lock:
            return ContextTransfer(
                via="filesync",
                data_bytes=sum(t.data_bytes for t in self.transfers),
                wire_bytes=sum(t.wire_bytes for t in self.transfers),
                files_sent=sum(len(t.requested) for t in self.transfers),
                entries=sum(t.stats for t in self.transfers),
                sent=tuple((t.dir_name, p) for t in self.transfers for p in t.requested),
            )

    def diff_copy(self, stream: Stream) -> None:
        """One DiffCopy call: STATs, then REQ -> DATA until FIN."""
        md = stream.metadata
        name = (md.get("dir-name") or [""])[0]
        tree = self.dirs.get(name)
        if tree is None:
            raise GrpcError(grpc.NOT_FOUND, f"no access allowed to dir {name!r}")
        tree = filter_tree(
            tree,
            include=_decoded(md, "include-patterns"),
            exclude=_decoded(md, "exclude-patterns"),
            follow=_decoded(md, "followpaths"),
        )
        record = Transfer(name)
        with self._lock:
            self.transfers.append(record)

        def send(message: bytes) -> None:
            stream.send(message)
            with self._lock:
                record.wire_bytes += len(message)

        files: dict[int, SyncEntry] = {}
        for ident, entry in enumerate(tree.entries):
            if entry.has_data:
                files[ident] = entry
            send(packet(PACKET_STAT, stat=entry.stat_message()))
        record.stats = len(tree.entries)
        send(packet(PACKET_STAT))  # the end of the walk
        while True:
            message = stream.recv()
            if message is None:
                raise GrpcError(
                    grpc.CANCELLED, f"FileSync {name!r}: the daemon closed the call before FIN"
                )
            kind, ident, data = parse_packet(message)
            if kind == PACKET_REQ:
                entry = files.pop(ident, None)
                if entry is None:
                    raise GrpcError(
                        grpc.INVALID_ARGUMENT, f"FileSync {name!r}: invalid file id {ident}"
                    )
                with self._lock:
                    record.requested.append(entry.path)
                self._send_file(ident, entry, send, record)
            elif kind == PACKET_FIN:
                send(packet(PACKET_FIN))
                record.finished = True
                return
            elif kind == PACKET_ERR:
                text = data.decode("utf-8", "replace")
                raise GrpcError(grpc.UNKNOWN, f"FileSync {name!r}: error from receiver: {text}")
            # Any other type is ignored, as fsutil's sender does.

    def _send_file(
        self, ident: int, entry: SyncEntry, send: Callable[[bytes], None], record: Transfer
    ) -> None:
        # closing(): a send that fails mid-file (the call was cancelled) closes the file
        # now, not whenever the generator is collected.
        try:
            with contextlib.closing(self._contents(entry)) as pieces:
                for piece in pieces:
                    send(packet(PACKET_DATA, ident=ident, data=piece))
                    with self._lock:
                        record.data_bytes += len(piece)
        except ContextError as e:
            with self._lock:
                self.error = self.error or e
            send(packet(PACKET_ERR, data=str(e).encode("utf-8", "replace")))
            raise GrpcError(grpc.INTERNAL, str(e)) from None
        send(packet(PACKET_DATA, ident=ident))

    def _contents(self, entry: SyncEntry) -> Iterator[bytes]:
        size = self.chunk_size
        if entry.data is not None:
            view = memoryview(entry.data)
            for start in range(0, len(view), size):
                yield bytes(view[start : start + size])
            return
        path, fd = entry.source, -1
        try:
            fd = os.open(str(path), _OPEN_FLAGS)
            st = os.fstat(fd)
            if not stat_mod.S_ISREG(st.st_mode):
                raise ContextError(f"cannot read {path}: it is no longer a regular file")
            remaining = entry.size
            if st.st_size != remaining:
                raise ContextError(f"{path} changed while the context was sent; build again")
            while remaining:
                piece = os.read(fd, min(size, remaining))
                if not piece:
                    raise ContextError(f"{path} shrank while the context was sent; build again")
                remaining -= len(piece)
                yield piece
            if os.read(fd, 1):
                raise ContextError(f"{path} grew while the context was sent; build again")
        except OSError as e:
            raise ContextError(f"cannot read {path}: {e.strerror or e}") from e
        finally:
            if fd >= 0:
                os.close(fd)


# -- the build's session -----------------------------------------------------------------

#: ``JUPYTER_DOCKERBUILD_CONTEXT``: ``filesync`` (through the session), ``tar`` (the
#: request body), ``auto`` (the default: see :func:`use_filesync`).
CONTEXT_ENV = "JUPYTER_DOCKERBUILD_CONTEXT"
_CONTEXT_MODES = ("auto", "filesync", "tar")
#: What ``/info`` says about a daemon whose images live in containerd (Docker 24+ with
#: the containerd-snapshotter feature, the default of fresh Docker 29 installs): there a
#: BuildKit build with a tar body does not work at all (moby/moby#47717).
_CONTAINERD_DRIVER_TYPE = "io.containerd.snapshotter.v1"
#: With the classic store, whether ``auto`` sends the context through the session too.
FILESYNC_BY_DEFAULT = True


class _Plan(Protocol):
    """What :func:`provide_context` reads and fills in :class:`.session.SessionPlan`."""

    client: DockerClient
    options: BuildOptions
    dockerfile: str | None
    context_dir: str | None
    files: Mapping[str, str | bytes] | None
    env: Mapping[str, str]
    services: dict[str, Handler]
    query: list[tuple[str, str]]
    tar_body: bool
    shared_key: str


def containerd_store(info: Mapping[str, object]) -> bool:
    """Whether ``/info`` describes a daemon with the containerd image store."""
    status = info.get("DriverStatus")
    for row in status if isinstance(status, list) else ():
        if isinstance(row, (list, tuple)) and len(row) == 2 and row[0] == "driver-type":
            return str(row[1]).startswith(_CONTAINERD_DRIVER_TYPE)
    return False


def use_filesync(client: DockerClient, env: Mapping[str, str]) -> bool:
    """Whether this build's context goes through FileSync rather than a tar body.

    ``JUPYTER_DOCKERBUILD_CONTEXT=tar|filesync`` decides; otherwise (``auto``) FileSync
    on the containerd image store, where the tar body cannot work, and elsewhere as
    :data:`FILESYNC_BY_DEFAULT` says.
    """
    from ..errors import OptionsError

    mode = (env.get(CONTEXT_ENV) or "auto").strip().lower()
    if mode not in _CONTEXT_MODES:
        raise OptionsError(f"{CONTEXT_ENV}={env.get(CONTEXT_ENV)!r}: say filesync, tar or auto")
    if mode != "auto":
        return mode == "filesync"
    if FILESYNC_BY_DEFAULT:
        return True
    return containerd_store(client.get_json("/info"))


def notebook_identity(env: Mapping[str, str]) -> str:
    """Who builds: this host and user, and the notebook when Jupyter names it."""
    import socket

    uid = os.getuid() if hasattr(os, "getuid") else 0
    return f"{socket.gethostname()}:{uid}:{env.get('JPY_SESSION_NAME', '')}"


def provide_context(plan: _Plan) -> None:
    """The session provider: serve the context through FileSync instead of a tar body.

    Adds ``DiffCopy`` to the services, ``remote=client-session`` to ``/build``, and the
    shared key of this notebook and context directory. Nothing for a remote context
    (``--context`` a URL), nor when :func:`use_filesync` says tar.
    """
    if plan.options.remote or not use_filesync(plan.client, plan.env):
        return
    dirs = sync_dirs(
        plan.dockerfile,
        dockerfile_path=plan.options.dockerfile,
        context_dir=plan.context_dir,
        files=plan.files,
    )
    server = FileSyncServer(dirs)
    plan.services.update(server.services)
    plan.query.append(("remote", "client-session"))
    plan.tar_body = False
    plan.shared_key = shared_key(plan.context_dir, notebook_identity(plan.env))


def sender_of(services: Mapping[str, Handler]) -> FileSyncServer | None:
    """The FileSync sender behind a session's services (None: the context went as tar)."""
    handler = services.get(DIFF_COPY)
    server = getattr(handler, "__self__", None)
    return server if isinstance(server, FileSyncServer) else None
