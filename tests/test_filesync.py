"""FileSync's DiffCopy, the sending side, against a fake receiver; no daemon.

The fake receiver follows tonistiigi/fsutil's ``receive.go``: it reads STATs until the
empty one, checks their order as fsutil's ``Validator`` does (every parent before its
contents, siblings strictly increasing by bytes), asks for the regular files whose
size, mtime or mode differ from what it kept (``DiffMetadata``), reads each one's DATA
until the empty one, then sends FIN and expects FIN back.
"""

from __future__ import annotations

import os
import posixpath
import queue
import random
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from jupyter_dockerbuild.builder import filesync as fs
from jupyter_dockerbuild.engine.protobuf import fields, uint_field
from jupyter_dockerbuild.errors import ContextError, GrpcError

TIMEOUT = 10


class FakeStream:
    """A call as the handler sees it; the test plays the daemon on the other end."""

    method = fs.DIFF_COPY

    def __init__(self, metadata: Mapping[str, list[str]]) -> None:
        self.metadata = dict(metadata)
        self.to_handler: queue.Queue[bytes | None] = queue.Queue()
        self.from_handler: queue.Queue[bytes] = queue.Queue()

    def recv(self, timeout: float | None = None) -> bytes | None:
        return self.to_handler.get(timeout=TIMEOUT)

    def send(self, message: bytes) -> None:
        self.from_handler.put(bytes(message))


class Call:
    """The handler running in its thread, as the session runs it."""

    def __init__(self, server: fs.FileSyncServer, metadata: Mapping[str, list[str]]) -> None:
        self.server = server
        self.stream = FakeStream(metadata)
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        try:
            self.server.diff_copy(self.stream)
        except BaseException as e:  # handed to the test
            self.error = e

    def packet(self) -> tuple[int, dict[str, Any] | None, int, bytes]:
        message = self.stream.from_handler.get(timeout=TIMEOUT)
        kind, ident, data, stat = 0, 0, b"", None
        for number, _wire, value in fields(message):
            if number == 1:
                kind = int(value)  # type: ignore[arg-type]
            elif number == 2:
                stat = decode_stat(bytes(value))  # type: ignore[arg-type]
            elif number == 3:
                ident = int(value)  # type: ignore[arg-type]
            elif number == 4:
                data = bytes(value)  # type: ignore[arg-type]
        return kind, stat, ident, data

    def put(self, message: bytes | None) -> None:
        self.stream.to_handler.put(message)

    def join(self) -> BaseException | None:
        self.thread.join(TIMEOUT)
        assert not self.thread.is_alive(), "the handler hangs"
        return self.error


def decode_stat(message: bytes) -> dict[str, Any]:
    names = {1: "path", 2: "mode", 3: "uid", 4: "gid", 5: "size", 6: "mtime", 7: "linkname"}
    out: dict[str, Any] = {"path": "", "mode": 0, "uid": 0, "gid": 0, "size": 0, "mtime": 0}
    out["linkname"] = ""
    for number, _wire, value in fields(message):
        key = names.get(number)
        if key in ("path", "linkname"):
            out[key] = bytes(value).decode("utf-8", "surrogateescape")  # type: ignore[arg-type]
        elif key is not None:
            out[key] = int(value)  # type: ignore[arg-type]
    return out


def check_order(paths: list[str], modes: dict[str, int]) -> None:
    """fsutil's Validator: parents present before contents, siblings in byte order."""
    last_in: dict[str, bytes] = {"": b""}
    for p in paths:
        assert p == posixpath.normpath(p) and not p.startswith(("/", "../")), p
        parent = posixpath.dirname(p)
        assert parent in last_in, f"{p!r} before its parent"
        base = posixpath.basename(p).encode("utf-8", "surrogateescape")
        assert base > last_in[parent], f"{p!r} out of order"
        last_in[parent] = base
        if modes[p] & fs.MODE_DIR:
            last_in[p] = b""


def receive(
    server: fs.FileSyncServer,
    metadata: Mapping[str, list[str]],
    kept: dict[str, tuple[dict[str, Any], bytes]] | None = None,
) -> tuple[dict[str, tuple[dict[str, Any], bytes]], list[str]]:
    """Run one DiffCopy as fsutil's receiver; return the tree received and what was asked."""
    kept = kept or {}
    call = Call(server, metadata)
    stats: list[dict[str, Any]] = []
    while True:
        kind, stat, _, _ = call.packet()
        assert kind == fs.PACKET_STAT, kind
        if stat is None:
            break
        stats.append(stat)
    check_order([s["path"] for s in stats], {s["path"]: s["mode"] for s in stats})
    tree: dict[str, tuple[dict[str, Any], bytes]] = {}
    wanted: dict[int, str] = {}
    for ident, s in enumerate(stats):
        old = kept.get(s["path"])
        same = old is not None and all(old[0][k] == s[k] for k in ("size", "mtime", "mode"))
        tree[s["path"]] = (s, old[1] if same and old is not None else b"")
        if not s["mode"] & fs.MODE_TYPE and not same:
            wanted[ident] = s["path"]
    asked = []
    for ident, path in wanted.items():
        call.put(uint_field(1, fs.PACKET_REQ) + uint_field(3, ident))
        asked.append(path)
        data = b""
        while True:
            kind, _, got, piece = call.packet()
            assert (kind, got) == (fs.PACKET_DATA, ident)
            if not piece:
                break
            data += piece
        assert len(data) == tree[path][0]["size"]
        tree[path] = (tree[path][0], data)
    call.put(uint_field(1, fs.PACKET_FIN))
    kind, _, _, _ = call.packet()
    assert kind == fs.PACKET_FIN
    assert call.join() is None
    return tree, asked


def ctx_dir(tmp_path: Path) -> Path:
    root = tmp_path / "ctx"
    (root / "src" / "pkg").mkdir(parents=True)
    (root / "node_modules" / "x").mkdir(parents=True)
    (root / "src" / "main.py").write_text("print('hi')\n")
    (root / "src" / "pkg" / "mod.py").write_text("x = 1\n")
    (root / "node_modules" / "x" / "big.js").write_text("junk" * 100)
    (root / "secret.env").write_text("TOKEN=1\n")
    (root / "Dockerfile").write_text("FROM scratch\n# the directory's own\n")
    (root / ".dockerignore").write_text("node_modules\n*.env\n")
    (root / "run.sh").write_text("#!/bin/sh\n")
    os.chmod(root / "run.sh", 0o4755)
    os.symlink("src/main.py", root / "link")
    return root


# -- what is served ----------------------------------------------------------------------


def test_context_is_the_tar_paths_walk_and_the_dockerfile_is_served_alone(tmp_path: Path) -> None:
    from jupyter_dockerbuild.builder.context import build_context

    root = ctx_dir(tmp_path)
    cell = "FROM local/busybox\nCOPY . /app\n"
    dirs = fs.sync_dirs(cell, context_dir=root, files={"conf/app.ini": "a=1"})
    tar = build_context(cell, context_dir=root, files={"conf/app.ini": "a=1"})
    context = dirs["context"].paths()
    # The tar path's members exactly, except the cell's Dockerfile, which the tar carries
    # under a hidden .dockerfile.<hex> name and FileSync in its own tree; the directory's
    # own Dockerfile is in both.
    hidden = tar.dockerfile_path
    assert hidden.startswith(".dockerfile.")
    assert sorted(context) == sorted(m for m in tar.members() if m != hidden)
    assert "node_modules" not in context and "secret.env" not in context
    server = fs.FileSyncServer(dirs)
    got, _ = receive(server, {"dir-name": ["context"]})
    assert got["Dockerfile"][1] == b"FROM scratch\n# the directory's own\n"
    assert got["conf/app.ini"][1] == b"a=1"
    assert got["link"][0]["linkname"] == "src/main.py"
    assert got["link"][0]["mode"] == fs.MODE_SYMLINK | 0o777
    assert got["src"][0]["mode"] == fs.MODE_DIR | (root / "src").stat().st_mode & 0o777
    assert got["run.sh"][0]["mode"] == fs.MODE_SETUID | 0o755  # Go's bits, not st_mode's
    assert got["src/main.py"][0]["mtime"] == (root / "src/main.py").stat().st_mtime_ns
    assert all(s["uid"] == 0 and s["gid"] == 0 for s, _ in got.values())
    df, _ = receive(server, {"dir-name": ["dockerfile"]})
    assert list(df) == ["Dockerfile"] and df["Dockerfile"][1] == cell.encode()
    assert df["Dockerfile"][0]["mode"] == 0o644


def test_no_context_dir_means_only_the_in_memory_files(tmp_path: Path) -> None:
    dirs = fs.sync_dirs("FROM local/busybox\n", files={"a/b.txt": b"\x00\x01"})
    assert dirs["context"].paths() == ["a", "a/b.txt"]
    got, _ = receive(fs.FileSyncServer(dirs), {"dir-name": ["context"]})
    assert got["a"][0]["mode"] == fs.MODE_DIR | 0o755 and got["a"][0]["mtime"] == 0
    assert got["a/b.txt"][1] == b"\x00\x01"
    # 1970-01-01, with a nanosecond part that follows the contents.
    assert 0 <= got["a/b.txt"][0]["mtime"] < 1_000_000_000


def test_dockerfile_from_the_directory_under_its_path(tmp_path: Path) -> None:
    root = ctx_dir(tmp_path)
    (root / "docker").mkdir()
    (root / "docker" / "Dockerfile.dev").write_text("FROM local/busybox\n")
    dirs = fs.sync_dirs(None, dockerfile_path="docker/Dockerfile.dev", context_dir=root)
    assert dirs["dockerfile"].paths() == ["docker", "docker/Dockerfile.dev"]
    assert "docker/Dockerfile.dev" in dirs["context"].paths()


def test_same_length_edit_of_a_generated_file_looks_changed() -> None:
    one = fs.sync_dirs("FROM local/busybox\n", files={"v.txt": "x=1"})["context"].entries[0]
    two = fs.sync_dirs("FROM local/busybox\n", files={"v.txt": "x=2"})["context"].entries[0]
    again = fs.sync_dirs("FROM local/busybox\n", files={"v.txt": "x=1"})["context"].entries[0]
    assert one.size == two.size and one.mtime_ns != two.mtime_ns
    assert one.mtime_ns == again.mtime_ns


def test_shared_key_per_identity_and_directory(tmp_path: Path) -> None:
    a = fs.shared_key(tmp_path, "kernel-1")
    assert a == fs.shared_key(tmp_path / "." / "", "kernel-1")
    assert a != fs.shared_key(tmp_path, "kernel-2")
    assert a != fs.shared_key(tmp_path / "sub", "kernel-1")
    assert len(a) < 80 and a.isascii()


# -- what the daemon asks ----------------------------------------------------------------


def test_rebuild_asks_only_for_the_changed_file(tmp_path: Path) -> None:
    root = tmp_path / "ctx"
    root.mkdir()
    for i in range(50):
        (root / f"f{i:02}.txt").write_text(f"file {i}\n" * 100)
    dirs = fs.sync_dirs("FROM local/busybox\n", context_dir=root)
    first = fs.FileSyncServer(dirs)
    kept, asked = receive(first, {"dir-name": ["context"]})
    assert len(asked) == 50 and first.data_bytes == sum(len(d) for _, d in kept.values())
    (root / "f07.txt").write_text("changed\n")
    second = fs.FileSyncServer(fs.sync_dirs("FROM local/busybox\n", context_dir=root))
    got, asked = receive(second, {"dir-name": ["context"]}, kept)
    assert asked == ["f07.txt"]
    assert second.data_bytes == len("changed\n")
    assert second.transfers[0].requested == ["f07.txt"] and second.transfers[0].finished
    assert got["f07.txt"][1] == b"changed\n" and got["f08.txt"][1] == b"file 8\n" * 100


def test_exclude_include_and_follow_patterns_as_the_frontend_sends_them(tmp_path: Path) -> None:
    root = ctx_dir(tmp_path)
    (root / "real.ignore").write_text("*.py\n")
    (root / ".dockerignore").unlink()
    os.symlink("real.ignore", root / ".dockerignore")
    server = fs.FileSyncServer(fs.sync_dirs("FROM local/busybox\n", context_dir=root))
    # The .dockerignore fetch: followpaths resolves the link and sends its target too.
    got, _ = receive(server, {"dir-name": ["context"], "followpaths": [".dockerignore"]})
    assert sorted(got) == [".dockerignore", "real.ignore"]
    # The main transfer with the frontend's excludes, and an exception.
    got, _ = receive(
        server, {"dir-name": ["context"], "exclude-patterns": ["src", "!src/pkg/mod.py"]}
    )
    assert "src/main.py" not in got and "src/pkg/mod.py" in got
    assert "src" in got and "src/pkg" in got  # parents of what is kept are stated
    got, _ = receive(server, {"dir-name": ["context"], "include-patterns": ["src/pkg"]})
    assert sorted(got) == ["src", "src/pkg", "src/pkg/mod.py"]
    # Values escaped by buildkit's encodeOpts (non-ASCII) are decoded.
    (root / "é.txt").write_text("e")
    server = fs.FileSyncServer(fs.sync_dirs("FROM local/busybox\n", context_dir=root))
    got, _ = receive(
        server,
        {
            "dir-name": ["context"],
            "include-patterns": ["%C3%A9.txt"],
            "include-patterns-encoded": ["1"],
        },
    )
    assert list(got) == ["é.txt"]


def test_include_prunes_nothing_it_could_match(tmp_path: Path) -> None:
    tree = fs.SyncTree.of(
        [
            fs.SyncEntry("a", fs.MODE_DIR | 0o755, 0),
            fs.SyncEntry("a/b", fs.MODE_DIR | 0o755, 0),
            fs.SyncEntry("a/b/c.txt", 0o644, 0, 1, data=b"x"),
            fs.SyncEntry("a/d.txt", 0o644, 0, 1, data=b"x"),
            fs.SyncEntry("e.txt", 0o644, 0, 1, data=b"x"),
        ]
    )
    assert fs.filter_tree(tree, include=["**/c.txt"]).paths() == ["a", "a/b", "a/b/c.txt"]
    assert fs.filter_tree(tree, include=["a/*/c.txt"]).paths() == ["a", "a/b", "a/b/c.txt"]
    assert fs.filter_tree(tree, exclude=["a", "!a/b"]).paths() == ["a", "a/b", "a/b/c.txt", "e.txt"]
    assert fs.filter_tree(tree, include=["a"], exclude=["a/b"]).paths() == ["a", "a/d.txt"]


# -- errors --------------------------------------------------------------------------------


def _after_stats(metadata: Mapping[str, list[str]] | None = None) -> Call:
    dirs = fs.sync_dirs("FROM local/busybox\n", files={"a.txt": "a", "b.txt": "b"})
    call = Call(fs.FileSyncServer(dirs), metadata or {"dir-name": ["context"]})
    while call.packet()[1] is not None:
        pass
    return call


def test_unknown_dir_name_is_not_found() -> None:
    call = Call(fs.FileSyncServer({}), {"dir-name": ["secrets"]})
    error = call.join()
    assert isinstance(error, GrpcError) and error.code == 5 and "secrets" in error.message


@pytest.mark.parametrize("ident", [7, 2**32 - 1])
def test_request_for_an_unknown_id(ident: int) -> None:
    call = _after_stats()
    call.put(uint_field(1, fs.PACKET_REQ) + uint_field(3, ident))
    error = call.join()
    assert isinstance(error, GrpcError) and error.code == 3
    assert f"invalid file id {ident}" in error.message


def test_a_file_is_sent_once() -> None:
    call = _after_stats()
    for _ in range(2):
        call.put(uint_field(1, fs.PACKET_REQ) + uint_field(3, 0))
    assert call.packet()[3] == b"a" and call.packet()[3] == b""
    error = call.join()
    assert isinstance(error, GrpcError) and "invalid file id 0" in error.message


def test_error_from_the_daemon_and_a_drop_before_fin() -> None:
    call = _after_stats()
    call.put(uint_field(1, fs.PACKET_ERR) + b"\x22\x04oops")
    error = call.join()
    assert isinstance(error, GrpcError) and "error from receiver: oops" in error.message
    call = _after_stats()
    call.put(None)
    error = call.join()
    assert isinstance(error, GrpcError) and error.code == 1 and "before FIN" in error.message


@pytest.mark.parametrize(
    "message",
    [b"\x08", b"\x22\x05ab", b"\x0f", b"\x08\x81\x80\x80\x80\x80\x80\x80\x80\x80\x80\x01"],
)
def test_truncated_or_malformed_packets(message: bytes) -> None:
    call = _after_stats()
    call.put(message)
    error = call.join()
    assert isinstance(error, GrpcError) and error.code == 3 and "malformed" in error.message


def test_fuzzed_packets_end_in_a_grpc_error_or_are_ignored_never_a_hang() -> None:
    rng = random.Random(14)
    for _ in range(300):
        call = _after_stats()
        call.put(bytes(rng.randrange(256) for _ in range(rng.randrange(1, 12))))
        call.put(None)  # then the daemon hangs up: the handler must end either way
        error = call.join()
        if error is None:  # the bytes happened to say FIN: answered, and the call ended
            sent = []
            while not call.stream.from_handler.empty():
                sent.append(call.stream.from_handler.get())
            assert sent[-1] == uint_field(1, fs.PACKET_FIN)
        else:
            assert isinstance(error, GrpcError), error


def test_file_changed_on_disk_ends_with_err_packet_and_context_error(tmp_path: Path) -> None:
    root = tmp_path / "ctx"
    root.mkdir()
    (root / "a.txt").write_text("short")
    server = fs.FileSyncServer(fs.sync_dirs("FROM local/busybox\n", context_dir=root))
    call = Call(server, {"dir-name": ["context"]})
    while call.packet()[1] is not None:
        pass
    (root / "a.txt").write_text("much longer now")
    call.put(uint_field(1, fs.PACKET_REQ) + uint_field(3, 0))
    kind, _, _, data = call.packet()
    assert kind == fs.PACKET_ERR and b"a.txt changed while the context was sent" in data
    assert isinstance(call.join(), GrpcError)
    assert isinstance(server.error, ContextError)


def test_bad_patterns_from_the_daemon() -> None:
    call = Call(
        fs.FileSyncServer(fs.sync_dirs("FROM x\n")),
        {"dir-name": ["context"], "exclude-patterns": ["[z-"]},
    )
    error = call.join()
    assert isinstance(error, GrpcError) and error.code == 3 and "[z-" in error.message


def test_go_mode() -> None:
    import tarfile

    assert fs.go_mode(tarfile.DIRTYPE, 0o1777) == fs.MODE_DIR | fs.MODE_STICKY | 0o777
    assert fs.go_mode(tarfile.REGTYPE, 0o2755) == fs.MODE_SETGID | 0o755
    assert fs.go_mode(tarfile.SYMTYPE, 0o777) == fs.MODE_SYMLINK | 0o777


# -- progress ------------------------------------------------------------------------------


def test_the_context_transfer_shows_its_bytes_while_it_runs() -> None:
    import bkcapture as bk
    from bkcapture import Ts

    from jupyter_dockerbuild.builder.buildkit_progress import BuildKitBuildState

    state = BuildKitBuildState("FROM local/busybox\nCOPY . /app\n")
    digest = "sha256:" + "c" * 64
    started = Ts(1_700_000_000)
    load = bk.vertex(digest, "[internal] load build context", started=started)
    # BuildKit's progress handler for a local source: bytes so far, no total.
    job = bk.vertex_status("transferring context:", digest, "transferring", 1_234_567, 0, started)
    state.apply(bk.trace(bk.status_response(vertexes=(load,), statuses=(job,))))
    assert state.snapshot().downloads == (("context", "1.23MB sent", 1_234_567, 0),)
    status = state.kit.vertices[digest].statuses["transferring context:"]
    assert status.current == 1_234_567
    done = bk.vertex(digest, "[internal] load build context", started=started, completed=started)
    state.apply(bk.trace(bk.status_response(vertexes=(done,))))
    assert state.snapshot().downloads == ()


def test_the_result_carries_the_senders_byte_count(tmp_path: Path) -> None:
    from jupyter_dockerbuild.builder.state import BuildState

    server = fs.FileSyncServer(fs.sync_dirs("FROM x\n", files={"a.txt": "abc", "b.txt": "de"}))
    receive(server, {"dir-name": ["context"]})
    state = BuildState("FROM x\n")
    state.context_transfer = server.summary
    got = state.result().context_transfer
    assert got is not None and got.via == "filesync"
    assert (got.data_bytes, got.files_sent, got.entries) == (5, 2, 2)
    assert got.wire_bytes == server.transfers[0].wire_bytes > 5


# -- errors as the user reads them ---------------------------------------------------------


def test_a_file_that_changed_while_sent_is_the_builds_error(tmp_path: Path) -> None:
    from types import SimpleNamespace

    from jupyter_dockerbuild.builder.buildkit import BuildKitBuilder
    from jupyter_dockerbuild.builder.buildkit_progress import BuildKitBuildState
    from jupyter_dockerbuild.builder.options import BuildOptions

    server = fs.FileSyncServer({})
    server.error = ContextError("/ctx/a.txt changed while the context was sent; build again")
    builder = BuildKitBuilder()
    builder.plan = SimpleNamespace(services=server.services)  # type: ignore[assignment]
    state = BuildKitBuildState("FROM x\n")
    said = builder.explain("error from sender: /ctx/a.txt changed", None, BuildOptions(), state)
    assert said == "/ctx/a.txt changed while the context was sent; build again"


def test_a_tar_body_on_the_containerd_store_is_explained() -> None:
    from jupyter_dockerbuild.builder.buildkit import BuildKitBuilder
    from jupyter_dockerbuild.builder.buildkit_progress import BuildKitBuildState
    from jupyter_dockerbuild.builder.options import BuildOptions

    # What Docker 26.1 with the containerd store answers (measured with a tar body).
    message = (
        '[internal] load remote build context: Get "http://build-context-m6xjdmbgpamjzun9xbv9cduyz"'
        ": proxyconnect tcp: dial tcp 127.0.0.1:9: connect: connection refused"
    )
    said = BuildKitBuilder().explain(message, None, BuildOptions(), BuildKitBuildState("FROM x\n"))
    assert "containerd" in said and "JUPYTER_DOCKERBUILD_CONTEXT" in said


def test_context_mode_from_the_environment() -> None:
    from jupyter_dockerbuild.errors import OptionsError

    class Client:
        def __init__(self, info: dict[str, Any]) -> None:
            self.info = info

        def get_json(self, path: str) -> dict[str, Any]:
            assert path == "/info"
            return self.info

    classic = Client({"DriverStatus": [["Backing Filesystem", "extfs"]]})
    containerd = Client({"DriverStatus": [["driver-type", "io.containerd.snapshotter.v1"]]})
    assert fs.use_filesync(classic, {fs.CONTEXT_ENV: "tar"}) is False  # type: ignore[arg-type]
    assert fs.use_filesync(containerd, {fs.CONTEXT_ENV: "filesync"}) is True  # type: ignore[arg-type]
    assert fs.use_filesync(containerd, {}) is True  # type: ignore[arg-type]
    assert fs.use_filesync(classic, {}) is fs.FILESYNC_BY_DEFAULT  # type: ignore[arg-type]
    assert fs.containerd_store(containerd.info) and not fs.containerd_store(classic.info)
    with pytest.raises(OptionsError, match="JUPYTER_DOCKERBUILD_CONTEXT='zip'"):
        fs.use_filesync(classic, {fs.CONTEXT_ENV: "zip"})  # type: ignore[arg-type]


def test_empty_files_and_a_cancelled_send_close_the_file(tmp_path: Path) -> None:
    root = tmp_path / "ctx"
    root.mkdir()
    (root / "empty").write_bytes(b"")
    (root / "big").write_bytes(b"x" * (3 * fs.CHUNK_SIZE))
    server = fs.FileSyncServer(fs.sync_dirs("FROM x\n", context_dir=root))
    got, _ = receive(server, {"dir-name": ["context"]})
    assert got["empty"][1] == b"" and len(got["big"][1]) == 3 * fs.CHUNK_SIZE

    class Cancelled(FakeStream):
        def send(self, message: bytes) -> None:
            if b"x" * 100 in message:  # the first piece of the big file
                raise GrpcError(1, "cancelled by the daemon")
            super().send(message)

    before = len(os.listdir("/proc/self/fd"))
    stream = Cancelled({"dir-name": ["context"]})
    stream.to_handler.put(uint_field(1, fs.PACKET_REQ) + uint_field(3, 0))  # "big"
    with pytest.raises(GrpcError, match="cancelled"):
        fs.FileSyncServer(fs.sync_dirs("FROM x\n", context_dir=root)).diff_copy(stream)
    assert len(os.listdir("/proc/self/fd")) == before
