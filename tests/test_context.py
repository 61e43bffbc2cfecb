"""build_context: the tar stream sent as the body of POST /build (no daemon needed)."""

from __future__ import annotations

import io
import os
import re
import socket
import stat
import tarfile
import tracemalloc
from pathlib import Path

import pytest

from jupyter_dockerbuild.builder.context import BuildContext, DockerIgnore, build_context
from jupyter_dockerbuild.errors import ContextError

DOCKERFILE = "FROM scratch\nCOPY . /app/\n"


def untar(ctx: BuildContext) -> tuple[bytes, dict[str, tarfile.TarInfo], dict[str, bytes]]:
    data = b"".join(ctx)
    members: dict[str, tarfile.TarInfo] = {}
    contents: dict[str, bytes] = {}
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        for info in tar:
            members[info.name] = info
            if info.isfile():
                contents[info.name] = tar.extractfile(info).read()  # type: ignore[union-attr]
    return data, members, contents


def make_tree(root: Path, files: dict[str, str | bytes]) -> Path:
    for rel, body in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(body, str):
            path.write_text(body)
        else:
            path.write_bytes(body)
    return root


# --- the cell's Dockerfile alone -------------------------------------------------------


def test_cell_dockerfile_alone() -> None:
    ctx = build_context(DOCKERFILE)
    assert ctx.dockerfile_path == "Dockerfile"
    assert ctx.members() == ["Dockerfile"]
    data, members, contents = untar(ctx)
    assert contents == {"Dockerfile": DOCKERFILE.encode()}
    info = members["Dockerfile"]
    assert (info.mode, info.mtime, info.uid, info.gid, info.uname, info.gname) == (
        0o644, 0, 0, 0, "", ""
    )  # fmt: skip
    # One header block, one data block, the two-block end marker: no 10240-byte record.
    assert len(data) == 4 * 512


def test_end_of_archive_marker_and_no_record_padding(tmp_path: Path) -> None:
    make_tree(tmp_path, {"a": "x" * 700, "b/c": "y", "Dockerfile": DOCKERFILE})
    data = b"".join(build_context(None, context_dir=tmp_path))
    assert len(data) % 512 == 0
    assert data.endswith(bytes(1024))
    assert data[-1536:-1024] != bytes(512)  # exactly two zero blocks, not more
    # headers: ., a, b, b/c, Dockerfile -> 4 entries + data blocks (a: 2, c: 1, Dockerfile: 1)
    assert len(data) == 512 * (4 + 2 + 1 + 1) + 1024


def test_same_cell_text_gives_identical_bytes() -> None:
    files = {"conf/app.ini": "x=1\n", "bin/tool": b"\x00\x01"}
    first = b"".join(build_context(DOCKERFILE, files=files))
    assert first == b"".join(build_context(DOCKERFILE, files=dict(files)))
    assert first != b"".join(build_context(DOCKERFILE + "RUN true\n", files=files))


def test_same_directory_gives_identical_bytes_and_iterating_twice_works(tmp_path: Path) -> None:
    make_tree(tmp_path, {"Dockerfile": DOCKERFILE, "src/a.py": "print(1)\n"})
    ctx = build_context(None, context_dir=tmp_path)
    assert b"".join(ctx) == b"".join(ctx) == b"".join(build_context(None, context_dir=tmp_path))


def test_empty_dockerfile_is_still_sent() -> None:
    _, members, contents = untar(build_context(""))
    assert contents == {"Dockerfile": b""}
    assert members["Dockerfile"].size == 0


def test_custom_dockerfile_path_and_unicode() -> None:
    ctx = build_context(
        'FROM scratch\nLABEL x="héllo ✓"\n', dockerfile_path="docker/Dockerfile.dev"
    )
    assert ctx.dockerfile_path == "docker/Dockerfile.dev"
    _, members, contents = untar(ctx)
    assert contents["docker/Dockerfile.dev"].decode() == 'FROM scratch\nLABEL x="héllo ✓"\n'
    assert members["docker"].isdir() and members["docker"].mode == 0o755


# --- files ------------------------------------------------------------------------------


def test_files_str_and_bytes_with_parent_dirs() -> None:
    ctx = build_context(DOCKERFILE, files={"a/b/c.txt": "é", "bin.dat": b"\xff\x00"})
    assert ctx.members() == ["Dockerfile", "a", "a/b", "a/b/c.txt", "bin.dat"]
    _, members, contents = untar(ctx)
    assert contents["a/b/c.txt"] == "é".encode()
    assert contents["bin.dat"] == b"\xff\x00"
    assert all(members[n].mtime == 0 and members[n].uid == 0 for n in members)
    assert members["a/b/c.txt"].mode == 0o644


def test_files_override_directory_and_are_not_ignored(tmp_path: Path) -> None:
    make_tree(tmp_path, {"Dockerfile": DOCKERFILE, "cfg.ini": "old", ".dockerignore": "*.ini\n"})
    ctx = build_context(None, context_dir=tmp_path, files={"cfg.ini": "new", "x.ini": "x"})
    _, _, contents = untar(ctx)
    assert contents["cfg.ini"] == b"new" and contents["x.ini"] == b"x"


def test_files_keys_are_normalised() -> None:
    assert build_context("", files={"./a//b/../c": "x"}).members() == ["Dockerfile", "a", "a/c"]


def test_dockerfile_from_files_without_cell_or_dir() -> None:
    _, _, contents = untar(build_context(None, files={"Dockerfile": DOCKERFILE}))
    assert contents == {"Dockerfile": DOCKERFILE.encode()}


@pytest.mark.parametrize(
    ("key", "problem"),
    [
        ("", "is empty"),
        ("/etc/passwd", "is absolute"),
        ("..", "escapes"),
        ("../x", "escapes"),
        ("a/../../b", "escapes"),
        (".", "does not name a file"),
        ("a/..", "does not name a file"),
        ("dir/", "does not name a file"),
        ("a\0b", "NUL"),
    ],
)
def test_bad_files_keys_name_the_path(key: str, problem: str) -> None:
    with pytest.raises(ContextError, match=problem) as info:
        build_context(DOCKERFILE, files={key: "x"})
    assert repr(key) in str(info.value)


@pytest.mark.parametrize("path", ["", "/Dockerfile", "../Dockerfile", "docker/"])
def test_bad_dockerfile_path_names_it(path: str) -> None:
    with pytest.raises(ContextError, match="dockerfile_path") as info:
        build_context(DOCKERFILE, dockerfile_path=path)
    assert repr(path) in str(info.value)


def test_bad_files_value_names_key_and_type() -> None:
    with pytest.raises(ContextError, match=r"files\['n'\].*int"):
        build_context(DOCKERFILE, files={"n": 3})  # type: ignore[dict-item]


def test_non_string_key_names_it() -> None:
    with pytest.raises(ContextError, match="files key 7"):
        build_context(DOCKERFILE, files={7: "x"})  # type: ignore[dict-item]


def test_same_path_twice_names_it() -> None:
    with pytest.raises(ContextError, match="'a/b'"):
        build_context(DOCKERFILE, files={"a/b": "1", "a//b": "2"})
    with pytest.raises(ContextError, match="'Dockerfile'"):
        build_context(DOCKERFILE, files={"Dockerfile": "FROM scratch\n"})


def test_file_below_a_file_is_refused() -> None:
    with pytest.raises(ContextError, match="'a' is not a directory"):
        build_context(DOCKERFILE, files={"a": "1", "a/b": "2"})


def test_files_entry_that_is_a_directory_in_context_dir(tmp_path: Path) -> None:
    make_tree(tmp_path, {"Dockerfile": DOCKERFILE, "conf/x": "1"})
    with pytest.raises(ContextError, match="'conf'") as info:
        build_context(None, context_dir=tmp_path, files={"conf": "x"}).members()
    assert str(tmp_path) in str(info.value)


def test_non_str_dockerfile_is_refused() -> None:
    with pytest.raises(ContextError, match="bytes"):
        build_context(b"FROM scratch")  # type: ignore[arg-type]


@pytest.mark.parametrize("size", [0, -1, True, 1.5])
def test_bad_chunk_size(size: object) -> None:
    with pytest.raises(ContextError, match="chunk_size"):
        build_context(DOCKERFILE, chunk_size=size)  # type: ignore[arg-type]


# --- context directory ------------------------------------------------------------------


def test_directory_round_trip_modes_links_mtimes(tmp_path: Path) -> None:
    root = make_tree(
        tmp_path / "ctx",
        {"Dockerfile": DOCKERFILE, "run.sh": "#!/bin/sh\necho hi\n", "src/lib/mod.py": "x = 1\n"},
    )
    (root / "run.sh").chmod(0o755)
    (root / "src/lib/mod.py").chmod(0o600)
    (root / "empty").mkdir()
    (root / "src").chmod(0o750)
    os.symlink("lib/mod.py", root / "src/link.py")
    os.symlink("/etc/passwd", root / "outside")  # kept as a link, never followed
    os.symlink("missing", root / "dangling")
    for path in [root / "run.sh", root / "src"]:
        os.utime(path, (1_600_000_000, 1_600_000_000.75))

    ctx = build_context(None, context_dir=root)
    _, members, contents = untar(ctx)
    assert ctx.members() == sorted(members) == [
        "Dockerfile", "dangling", "empty", "outside", "run.sh", "src", "src/lib",
        "src/lib/mod.py", "src/link.py",
    ]  # fmt: skip
    assert members["run.sh"].mode == 0o755 and members["run.sh"].mtime == 1_600_000_000
    assert members["src/lib/mod.py"].mode == 0o600
    assert members["src"].isdir() and members["src"].mode == 0o750
    assert members["src"].mtime == 1_600_000_000
    assert members["empty"].isdir()
    assert members["src/link.py"].issym() and members["src/link.py"].linkname == "lib/mod.py"
    assert members["outside"].issym() and members["outside"].linkname == "/etc/passwd"
    assert members["dangling"].issym()
    assert contents["run.sh"] == b"#!/bin/sh\necho hi\n"
    assert "outside" not in contents
    assert all((m.uid, m.gid, m.uname, m.gname) == (0, 0, "", "") for m in members.values())


def test_walk_order_puts_parents_before_children(tmp_path: Path) -> None:
    make_tree(tmp_path, {"Dockerfile": "", "a/b": "1", "a-c": "2", "a.d/e": "3"})
    with tarfile.open(fileobj=io.BytesIO(b"".join(build_context(None, context_dir=tmp_path)))) as t:
        names = t.getnames()
    assert names == ["Dockerfile", "a", "a/b", "a-c", "a.d", "a.d/e"]


HIDDEN = re.compile(r"\.dockerfile\.[0-9a-f]{20}")


def test_cell_dockerfile_leaves_the_directory_dockerfile_alone(tmp_path: Path) -> None:
    # Like docker build -f - DIR: the cell's text under a hidden name, the dir's file kept.
    make_tree(tmp_path, {"Dockerfile": "FROM old\n", "app.py": "print()\n"})
    ctx = build_context(DOCKERFILE, context_dir=tmp_path)
    hidden = ctx.dockerfile_path
    assert HIDDEN.fullmatch(hidden), hidden
    _, members, contents = untar(ctx)
    assert contents["Dockerfile"] == b"FROM old\n"
    assert contents[hidden] == DOCKERFILE.encode() and members[hidden].mtime == 0
    assert sorted(contents) == sorted([".dockerignore", "Dockerfile", "app.py", hidden])
    # No .dockerignore in the dir: the one sent leaves out itself and the hidden file,
    # so the daemon's COPY . sees exactly the directory.
    assert contents[".dockerignore"] == f".dockerignore\n{hidden}\n".encode()
    sent = DockerIgnore.from_text(contents[".dockerignore"].decode())
    assert sent.excluded(hidden) and sent.excluded(".dockerignore")
    assert not sent.excluded("Dockerfile") and not sent.excluded("app.py")


def test_directory_without_dockerfile_gains_none(tmp_path: Path) -> None:
    make_tree(tmp_path, {"app.py": "print()\n"})
    ctx = build_context(DOCKERFILE, context_dir=tmp_path)
    assert "Dockerfile" not in ctx.members()
    assert ctx.members() == sorted([".dockerignore", "app.py", ctx.dockerfile_path])


def test_hidden_name_appended_to_the_directory_dockerignore(tmp_path: Path) -> None:
    make_tree(tmp_path, {".dockerignore": "*.env", "a.env": "S=1", "app.py": ""})
    ctx = build_context(DOCKERFILE, context_dir=tmp_path)
    _, _, contents = untar(ctx)
    # The CLI's rule: the file's text, a newline, the hidden name (itself stays, as
    # the user's file did not list itself).
    assert contents[".dockerignore"] == f"*.env\n{ctx.dockerfile_path}\n".encode()
    assert "a.env" not in contents and (tmp_path / ".dockerignore").read_text() == "*.env"


def test_hidden_name_is_stable_per_cell_text(tmp_path: Path) -> None:
    # Derived from the text, not random: the same cell sends the same bytes (and the
    # daemon's cache for a COPY . that copies the .dockerignore keeps hitting).
    make_tree(tmp_path, {"app.py": ""})
    first = build_context(DOCKERFILE, context_dir=tmp_path)
    again = build_context(DOCKERFILE, context_dir=tmp_path)
    other = build_context(DOCKERFILE + "RUN true\n", context_dir=tmp_path)
    assert first.dockerfile_path == again.dockerfile_path != other.dockerfile_path
    assert b"".join(first) == b"".join(again)


def test_hidden_name_never_takes_a_directory_file(tmp_path: Path) -> None:
    taken = build_context(DOCKERFILE, context_dir=make_tree(tmp_path, {"a": ""})).dockerfile_path
    (tmp_path / taken).write_text("mine\n")
    ctx = build_context(DOCKERFILE, context_dir=tmp_path)
    assert ctx.dockerfile_path != taken and HIDDEN.fullmatch(ctx.dockerfile_path)
    _, _, contents = untar(ctx)
    assert contents[taken] == b"mine\n"


def test_no_dockerignore_is_added_for_a_daemon_that_does_not_read_it(tmp_path: Path) -> None:
    # BuildKit given a tar applies no .dockerignore: naming the hidden file there would
    # only add a .dockerignore to what COPY . copies.
    make_tree(tmp_path, {"app.py": ""})
    ctx = build_context(DOCKERFILE, context_dir=tmp_path, daemon_reads_dockerignore=False)
    assert ctx.members() == sorted([ctx.dockerfile_path, "app.py"])
    (tmp_path / ".dockerignore").write_text("*.env\n")
    _, _, contents = untar(
        build_context(DOCKERFILE, context_dir=tmp_path, daemon_reads_dockerignore=False)
    )
    assert contents[".dockerignore"] == b"*.env\n"


def test_file_flag_with_a_cell_dockerfile_and_a_directory_is_refused(tmp_path: Path) -> None:
    # -f names a file inside the context; the cell's text would not be that file.
    make_tree(tmp_path, {"sub/Df": "FROM old\n"})
    with pytest.raises(ContextError, match=r"-f/--file 'sub/Df'.*the cell has its own"):
        build_context(DOCKERFILE, context_dir=tmp_path, dockerfile_path="sub/Df")
    assert build_context(None, context_dir=tmp_path, dockerfile_path="sub/Df").dockerfile_path == (
        "sub/Df"
    )


def test_dockerfile_from_directory(tmp_path: Path) -> None:
    make_tree(tmp_path, {"docker/prod.Dockerfile": DOCKERFILE})
    ctx = build_context(None, context_dir=tmp_path, dockerfile_path="docker/prod.Dockerfile")
    assert ctx.members() == ["docker", "docker/prod.Dockerfile"]


def test_missing_dockerfile_names_path_and_directory(tmp_path: Path) -> None:
    make_tree(tmp_path, {"app.py": ""})
    with pytest.raises(ContextError) as info:
        build_context(None, context_dir=tmp_path, dockerfile_path="build/Dockerfile")
    assert "'build/Dockerfile'" in str(info.value) and str(tmp_path) in str(info.value)


def test_empty_directory_and_no_dockerfile(tmp_path: Path) -> None:
    with pytest.raises(ContextError, match="'Dockerfile'"):
        build_context(None, context_dir=tmp_path)


def test_nothing_at_all() -> None:
    with pytest.raises(ContextError, match="nothing to build"):
        build_context(None)


def test_context_dir_missing_or_a_file(tmp_path: Path) -> None:
    with pytest.raises(ContextError, match="does not exist") as info:
        build_context(DOCKERFILE, context_dir=tmp_path / "nope")
    assert str(tmp_path / "nope") in str(info.value)
    (tmp_path / "file").write_text("x")
    with pytest.raises(ContextError, match="is not a directory") as info:
        build_context(DOCKERFILE, context_dir=str(tmp_path / "file"))
    assert str(tmp_path / "file") in str(info.value)


def test_fifos_and_sockets_are_skipped(tmp_path: Path) -> None:
    make_tree(tmp_path, {"Dockerfile": DOCKERFILE})
    os.mkfifo(tmp_path / "fifo")
    sock = socket.socket(socket.AF_UNIX)
    try:
        sock.bind(str(tmp_path / "sock"))
        assert stat.S_ISSOCK(os.lstat(tmp_path / "sock").st_mode)
        ctx = build_context(None, context_dir=tmp_path)
        assert ctx.members() == ["Dockerfile"]
        assert list(untar(ctx)[1]) == ["Dockerfile"]
    finally:
        sock.close()


def test_long_and_non_ascii_names_round_trip(tmp_path: Path) -> None:
    long_name = "d" * 120 + "/" + "f" * 150 + ".txt"
    make_tree(tmp_path, {"Dockerfile": DOCKERFILE, long_name: "long", "ünïcødé ✓.txt": "u"})
    os.symlink("t" * 200, tmp_path / "longlink")
    _, members, contents = untar(build_context(None, context_dir=tmp_path))
    assert contents[long_name] == b"long"
    assert contents["ünïcødé ✓.txt"] == b"u"
    assert members["longlink"].linkname == "t" * 200


def test_non_utf8_file_name(tmp_path: Path) -> None:
    make_tree(tmp_path, {"Dockerfile": DOCKERFILE})
    with open(os.path.join(os.fsencode(tmp_path), b"caf\xe9"), "wb") as f:
        f.write(b"raw")
    data = b"".join(build_context(None, context_dir=tmp_path))
    with tarfile.open(fileobj=io.BytesIO(data), encoding="utf-8", errors="surrogateescape") as t:
        names = t.getnames()
    assert os.fsdecode(b"caf\xe9") in names


# --- .dockerignore in the walk ----------------------------------------------------------


def test_dockerignore_applied(tmp_path: Path) -> None:
    make_tree(
        tmp_path,
        {
            "Dockerfile": DOCKERFILE,
            ".dockerignore": "*.md\n!README*.md\nREADME-secret.md\n**/*.pyc\n.git\nbuild/\n",
            "README.md": "", "README-secret.md": "", "notes.md": "", "docs/x.md": "",
            "a.pyc": "", "pkg/b.pyc": "", "pkg/b.py": "", ".git/HEAD": "", "build/out": "",
        },
    )  # fmt: skip
    assert build_context(None, context_dir=tmp_path).members() == [
        ".dockerignore", "Dockerfile", "README.md", "docs", "docs/x.md", "pkg", "pkg/b.py",
    ]  # fmt: skip


def test_dockerfile_and_dockerignore_kept_even_when_listed(tmp_path: Path) -> None:
    make_tree(tmp_path, {"Dockerfile": DOCKERFILE, ".dockerignore": "Dockerfile\n.dockerignore\n"})
    assert build_context(None, context_dir=tmp_path).members() == [".dockerignore", "Dockerfile"]
    (tmp_path / ".dockerignore").write_text("**\n")
    make_tree(tmp_path, {"src/a.py": ""})
    assert build_context(None, context_dir=tmp_path).members() == [".dockerignore", "Dockerfile"]


def test_dockerfile_in_an_excluded_dir_is_kept_alone(tmp_path: Path) -> None:
    make_tree(
        tmp_path,
        {".dockerignore": "docker\n", "docker/Dockerfile": DOCKERFILE, "docker/secret": "s"},
    )
    ctx = build_context(None, context_dir=tmp_path, dockerfile_path="docker/Dockerfile")
    assert ctx.members() == [".dockerignore", "docker", "docker/Dockerfile"]


def test_cell_dockerfile_kept_even_if_excluded(tmp_path: Path) -> None:
    make_tree(tmp_path, {".dockerignore": "*\n", "a": ""})
    ctx = build_context(DOCKERFILE, context_dir=tmp_path)
    assert ctx.members() == [ctx.dockerfile_path, ".dockerignore"]


def test_excluded_dir_with_reincluded_file(tmp_path: Path) -> None:
    make_tree(
        tmp_path,
        {
            "Dockerfile": DOCKERFILE,
            ".dockerignore": "dir\n!dir/keep.txt\n",
            "dir/keep.txt": "k", "dir/other.txt": "o", "dir/sub/x": "x",
        },
    )  # fmt: skip
    (tmp_path / "dir").chmod(0o711)
    ctx = build_context(None, context_dir=tmp_path)
    assert ctx.members() == [".dockerignore", "Dockerfile", "dir", "dir/keep.txt"]
    _, members, _ = untar(ctx)
    assert members["dir"].isdir() and members["dir"].mode == 0o711  # its own metadata


def test_pruned_directories_are_not_listed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    make_tree(
        tmp_path,
        {
            "Dockerfile": DOCKERFILE,
            ".dockerignore": "node_modules\n.git\ndir\n!dir/keep.txt\n",
            "node_modules/a/b/c.js": "", ".git/objects/x": "", "dir/keep.txt": "",
            "dir/sub/y": "", "src/z.py": "",
        },
    )  # fmt: skip
    listed: list[str] = []
    real_scandir = os.scandir

    def spy(path: str | os.PathLike[str]) -> os._ScandirIterator[str]:  # type: ignore[name-defined]
        listed.append(os.path.relpath(path, tmp_path))
        return real_scandir(path)

    monkeypatch.setattr(os, "scandir", spy)
    assert build_context(None, context_dir=tmp_path).members() == [
        ".dockerignore", "Dockerfile", "dir", "dir/keep.txt", "src", "src/z.py",
    ]  # fmt: skip
    assert sorted(listed) == [".", "dir", "src"]


# --- streaming --------------------------------------------------------------------------


def test_chunks_are_coalesced_to_chunk_size(tmp_path: Path) -> None:
    make_tree(tmp_path, {"Dockerfile": DOCKERFILE, **{f"f{i:03}": "x" * i for i in range(300)}})
    chunks = list(build_context(None, context_dir=tmp_path, chunk_size=64 * 1024))
    total = sum(map(len, chunks))
    assert all(len(c) == 64 * 1024 for c in chunks[:-1])
    assert 0 < len(chunks[-1]) <= 64 * 1024
    assert len(chunks) == -(-total // (64 * 1024))
    assert all(isinstance(c, bytes) for c in chunks)


def test_large_generated_file_is_sliced(tmp_path: Path) -> None:
    blob = os.urandom(3 * 1000 + 17)
    chunks = list(build_context(DOCKERFILE, files={"blob": blob}, chunk_size=1000))
    assert all(len(c) == 1000 for c in chunks[:-1])
    assert untar_bytes(b"".join(chunks))["blob"] == blob


def untar_bytes(data: bytes) -> dict[str, bytes]:
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        return {m.name: tar.extractfile(m).read() for m in tar if m.isfile()}  # type: ignore[union-attr]


def test_streaming_a_large_file_keeps_memory_flat(tmp_path: Path) -> None:
    size = 50 * 1024 * 1024
    make_tree(tmp_path, {"Dockerfile": DOCKERFILE})
    with open(tmp_path / "big.bin", "wb") as f:
        f.truncate(size)  # sparse: costs no disk
        f.seek(size - 3)
        f.write(b"end")
    ctx = build_context(None, context_dir=tmp_path)
    total = 0
    tail = b""
    tracemalloc.start()
    try:
        for chunk in ctx:
            total += len(chunk)
            tail = (tail + chunk)[-4096:]
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert total > size
    assert peak < 4 * 1024 * 1024, f"peak traced memory {peak} bytes"
    assert total % 512 == 0 and tail.endswith(bytes(1024))


def test_file_shrinking_while_read_fails(tmp_path: Path) -> None:
    make_tree(tmp_path, {"Dockerfile": DOCKERFILE, "big": b"x" * 200_000})
    stream = iter(build_context(None, context_dir=tmp_path, chunk_size=4096))
    next(stream)
    os.truncate(tmp_path / "big", 10)
    with pytest.raises(ContextError, match="shrank") as info:
        list(stream)
    assert str(tmp_path / "big") in str(info.value)


def test_file_growing_while_read_fails(tmp_path: Path) -> None:
    make_tree(tmp_path, {"Dockerfile": DOCKERFILE, "big": b"x" * 200_000})
    stream = iter(build_context(None, context_dir=tmp_path, chunk_size=4096))
    next(stream)
    with open(tmp_path / "big", "ab") as f:
        f.write(b"more")
    with pytest.raises(ContextError, match="grew") as info:
        list(stream)
    assert str(tmp_path / "big") in str(info.value)


def test_file_vanishing_before_it_is_read(tmp_path: Path) -> None:
    make_tree(tmp_path, {"Dockerfile": DOCKERFILE, "a": b"x" * 100_000, "b": "later"})
    stream = iter(build_context(None, context_dir=tmp_path, chunk_size=4096))
    next(stream)
    (tmp_path / "b").unlink()
    with pytest.raises(ContextError, match="cannot read") as info:
        list(stream)
    assert str(tmp_path / "b") in str(info.value)


def test_file_replaced_by_symlink_is_not_followed(tmp_path: Path) -> None:
    make_tree(tmp_path, {"Dockerfile": DOCKERFILE, "a": b"x" * 100_000, "b": "later"})
    stream = iter(build_context(None, context_dir=tmp_path, chunk_size=4096))
    next(stream)
    (tmp_path / "b").unlink()
    os.symlink("/etc/hostname", tmp_path / "b")
    with pytest.raises(ContextError, match="cannot read") as info:
        list(stream)
    assert str(tmp_path / "b") in str(info.value)


def test_file_replaced_by_fifo_does_not_hang(tmp_path: Path) -> None:
    make_tree(tmp_path, {"Dockerfile": DOCKERFILE, "a": b"x" * 100_000, "b": "later"})
    stream = iter(build_context(None, context_dir=tmp_path, chunk_size=4096))
    next(stream)
    (tmp_path / "b").unlink()
    os.mkfifo(tmp_path / "b")
    with pytest.raises(ContextError, match="no longer a regular file") as info:
        list(stream)
    assert str(tmp_path / "b") in str(info.value)


@pytest.mark.skipif(os.geteuid() == 0, reason="root can read any file")
def test_unreadable_file_names_it(tmp_path: Path) -> None:
    make_tree(tmp_path, {"Dockerfile": DOCKERFILE, "secret": "s"})
    (tmp_path / "secret").chmod(0)
    with pytest.raises(ContextError, match="secret"):
        build_context(None, context_dir=tmp_path).members()


def test_unreadable_file_detected_by_the_walk(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Root reads everything, so pretend access() says no for one file.
    make_tree(tmp_path, {"Dockerfile": DOCKERFILE, "secret": "s", ".dockerignore": "ignored\n"})
    make_tree(tmp_path, {"ignored": "i"})
    real_access = os.access
    denied = {str(tmp_path / "secret"), str(tmp_path / "ignored")}
    monkeypatch.setattr(os, "access", lambda p, m: str(p) not in denied and real_access(p, m))
    with pytest.raises(ContextError, match="permission denied") as info:
        build_context(None, context_dir=tmp_path).members()
    assert str(tmp_path / "secret") in str(info.value)
    (tmp_path / "secret").unlink()
    # An excluded unreadable file is not a problem, as with the docker CLI.
    assert build_context(None, context_dir=tmp_path).members() == [".dockerignore", "Dockerfile"]
