"""The context through the BuildKit session (FileSync) on the real daemon.

What a user notices: ``COPY . /app`` gives the files the tar path gives (the same
``.dockerignore``, modes, sizes, contents, mtimes to the second), the cell's Dockerfile
is the one built while the directory's own ``Dockerfile`` is copied as it is, and a
rebuild after changing one file sends that file only (counted by the notebook's sender
and shown by BuildKit as ``transferring context``). On the containerd image store,
where a tar body cannot work (the daemon would fetch it from the made-up host
``build-context-<id>``), the build works.
"""

from __future__ import annotations

import os
import re
import uuid
from pathlib import Path

import pytest

import jupyter_dockerbuild as jd
from jupyter_dockerbuild.builder import filesync
from jupyter_dockerbuild.engine.client import DockerClient

pytestmark = [pytest.mark.daemon, pytest.mark.usefixtures("no_leftover_containers")]

#: One line per entry of /app: path, mode, owner, size (files), mtime in seconds, and
#: the contents' digest for files or the target for links.
LIST_APP = (
    "RUN cd /app && find . | sort | while read -r f; do "
    'if [ -L "$f" ]; then echo "F $f link $(readlink "$f")"; '
    'elif [ -d "$f" ]; then echo "F $f $(stat -c "%a %u:%g %Y" "$f")"; '
    'else echo "F $f $(stat -c "%a %u:%g %s %Y" "$f") $(sha256sum < "$f" | cut -c1-16)"; fi; '
    "done\n"
)
_LINE_RE = re.compile(r"^#\d+ [\d.]+ F (.*)$", re.MULTILINE)
_DONE_RE = re.compile(r"transferring (?:context|dockerfile): ([\d.]+)([kMG]?)B(?: [\d.]+s)? done")


def _size(number: str, unit: str) -> float:
    """A size as buildx prints it (decimal units), in bytes."""
    return float(number) * {"": 1, "k": 1e3, "M": 1e6, "G": 1e9}[unit]


def listing(result: jd.BuildResult) -> dict[str, str]:
    """``/app``'s entries as printed by :data:`LIST_APP`, by path."""
    lines = _LINE_RE.findall(result.log)
    assert lines, result.log[-2000:]
    return {line.split(" ", 1)[0]: line.split(" ", 1)[1] for line in lines}


def make_context(root: Path) -> Path:
    (root / "src" / "pkg").mkdir(parents=True)
    (root / "node_modules" / "dep").mkdir(parents=True)
    (root / "keep" / "cache").mkdir(parents=True)
    (root / "src" / "main.py").write_text("print('hi')\n")
    (root / "src" / "pkg" / "mod.py").write_text("x = 1\n")
    (root / "node_modules" / "dep" / "index.js").write_text("junk\n" * 50)
    (root / "keep" / "cache" / "a.tmp").write_text("tmp\n")
    (root / "keep" / "cache" / "wanted.tmp").write_text("wanted\n")
    (root / "secret.env").write_text("TOKEN=1\n")
    (root / "Dockerfile").write_text("FROM scratch\n# the directory's own Dockerfile\n")
    (root / ".dockerignore").write_text("node_modules\n*.env\n**/*.tmp\n!keep/cache/wanted.tmp\n")
    (root / "run.sh").write_text("#!/bin/sh\necho run\n")
    os.chmod(root / "run.sh", 0o750)
    os.chmod(root / "src" / "pkg", 0o700)
    os.symlink("src/main.py", root / "main-link")
    # New contents every run: a cache hit from an earlier run would skip the steps.
    (root / "nonce").write_text(uuid.uuid4().hex)
    return root


def build(monkeypatch: pytest.MonkeyPatch, mode: str, dockerfile: str, **kwargs: object):
    monkeypatch.setenv(filesync.CONTEXT_ENV, mode)
    return jd.build(dockerfile, builder="buildkit", **kwargs)


@pytest.mark.engine(
    store="classic", reason="compared with a tar body, which needs the classic store"
)
def test_copy_gives_the_tar_paths_files_and_the_cells_dockerfile_is_built(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, base_image: str, tag_prefix: str
) -> None:
    root = make_context(tmp_path / "ctx")
    cell = f"FROM {base_image}\nCOPY . /app\n{LIST_APP}"
    files = {"conf/app.ini": "a=1\n"}
    via_tar = build(
        monkeypatch,
        "tar",
        cell,
        context=root,
        files=files,
        tags=[f"{tag_prefix}:tar"],
        no_cache=True,
    )
    via_session = build(
        monkeypatch,
        "filesync",
        cell,
        context=root,
        files=files,
        tags=[f"{tag_prefix}:fs"],
        no_cache=True,
    )
    assert via_tar.context_transfer is None
    sent = via_session.context_transfer
    assert sent is not None and sent.via == "filesync" and sent.files_sent > 0
    tar_files, session_files = listing(via_tar), listing(via_session)
    # The cell's Dockerfile was built (LIST_APP ran) and the directory's own Dockerfile
    # reached /app as it is on disk. The tar path's hidden .dockerfile.<hex> is seen by
    # BuildKit's COPY . (no .dockerignore for a tar context): the caveat FileSync lifts.
    hidden = [p for p in tar_files if p.startswith("./.dockerfile.")]
    assert len(hidden) == 1 and not any(p.startswith("./.dockerfile.") for p in session_files)
    tar_files.pop(hidden[0])
    own = (root / "Dockerfile").read_bytes()
    import hashlib

    assert session_files["./Dockerfile"].endswith(hashlib.sha256(own).hexdigest()[:16])
    assert tar_files["./Dockerfile"] == session_files["./Dockerfile"]
    tar_files.pop("./Dockerfile")
    session_files.pop("./Dockerfile")
    # Folders get the time BuildKit wrote them when the context came through the
    # session (the daemon's receiver fills them after making them); files keep theirs.
    folders = [path for path, line in session_files.items() if len(line.split()) == 3]
    assert session_files["./src/pkg"].startswith("700 0:0 ") and "./src/pkg" in folders
    for path in folders:
        assert session_files[path].rsplit(" ", 1)[0] == tar_files[path].rsplit(" ", 1)[0]
        del session_files[path], tar_files[path]
    assert session_files == tar_files
    assert len(session_files) >= 7  # the files themselves, to the second
    assert "./node_modules" not in session_files and "./secret.env" not in session_files
    assert "./keep/cache/a.tmp" not in session_files
    assert "./keep/cache/wanted.tmp" in session_files
    assert session_files["./run.sh"].startswith("750 0:0 ")
    assert session_files["./main-link"] == "link src/main.py"
    assert session_files["./conf/app.ini"].startswith("644 0:0 4 0 ")  # fixed metadata


def test_rebuild_after_one_change_sends_only_that_file(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, base_image: str, tag_prefix: str
) -> None:
    root = tmp_path / "ctx"
    root.mkdir()
    for i in range(50):
        (root / f"f{i:02}.txt").write_text(f"{uuid.uuid4().hex} {i}\n" * 200)
    total = sum(p.stat().st_size for p in root.iterdir())
    cell = f"FROM {base_image}\nCOPY . /app\nRUN cat /app/f07.txt | head -c 40\n"
    first = build(monkeypatch, "filesync", cell, context=root, tags=[f"{tag_prefix}:a"])
    assert first.context_transfer is not None
    # Everything once (the Dockerfile is sent in its own tree, by the daemon's first call).
    assert first.context_transfer.data_bytes == total + len(cell)
    (root / "f07.txt").write_text("changed\n")
    second = build(monkeypatch, "filesync", cell, context=root, tags=[f"{tag_prefix}:b"])
    sent = second.context_transfer
    assert sent is not None
    # Of the context, only the changed file; Docker 23+ also asks for the Dockerfile
    # (its own tree) on every build, whatever changed.
    assert [path for tree, path in sent.sent if tree == "context"] == ["f07.txt"]
    assert sent.data_bytes - len("changed\n") in (0, len(cell))
    assert sent.entries == first.context_transfer.entries
    assert sent.wire_bytes < first.context_transfer.wire_bytes / 20
    assert "changed" in second.log
    # BuildKit counts the packets it received and shows them ("transferring context:
    # 4.07kB done", one line per call): the same bytes as the sender's count.
    for result in (first, second):
        assert result.context_transfer is not None
        shown = sum(_size(n, unit) for n, unit in _DONE_RE.findall(result.log))
        assert shown == pytest.approx(result.context_transfer.wire_bytes, rel=0.01), result.log


def test_unchanged_rebuild_sends_no_file_contents(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, base_image: str, tag_prefix: str
) -> None:
    root = make_context(tmp_path / "ctx")
    cell = f"FROM {base_image}\nCOPY . /app\n"
    build(monkeypatch, "filesync", cell, context=root, files={"v.txt": "x=1"}, tags=[tag_prefix])
    again = build(
        monkeypatch, "filesync", cell, context=root, files={"v.txt": "x=1"}, tags=[tag_prefix]
    )
    assert again.context_transfer is not None
    # Nothing of the context itself (Docker 23+ reads the Dockerfile and .dockerignore
    # afresh on every build).
    assert set(again.context_transfer.sent) <= {
        ("dockerfile", "Dockerfile"),
        ("context", ".dockerignore"),
    }
    assert all(step.cached for step in again.steps if "COPY" in step.instruction)
    # A --var value edited to one of the same length is sent again, and seen.
    edited = build(
        monkeypatch,
        "filesync",
        cell + "RUN cat /app/v.txt\n",
        context=root,
        files={"v.txt": "x=2"},
        tags=[tag_prefix],
    )
    assert edited.context_transfer is not None and edited.context_transfer.files_sent >= 1
    assert re.search(r"^#\d+ [\d.]+ x=2$", edited.log, re.MULTILINE), edited.log[-1500:]


def test_no_context_dir_builds_from_the_cell_and_in_memory_files(
    monkeypatch: pytest.MonkeyPatch, base_image: str, tag_prefix: str
) -> None:
    cell = f"FROM {base_image}\nCOPY . /app\n{LIST_APP}"
    files = {"a/b.txt": "hello\n"}
    result = build(monkeypatch, "filesync", cell, files=files, tags=[tag_prefix], no_cache=True)
    assert sorted(listing(result)) == [".", "./a", "./a/b.txt"]


@pytest.mark.engine(store="containerd", reason="the containerd image store refuses a tar body")
def test_containerd_store_builds_through_the_session_and_never_asks_for_a_made_up_host(
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    base_image: str,
    tag_prefix: str,
    docker: DockerClient,
) -> None:
    assert filesync.containerd_store(docker.get_json("/info"))
    root = make_context(tmp_path / "ctx")
    monkeypatch.delenv(filesync.CONTEXT_ENV, raising=False)  # auto
    log = _engine_log()
    before = log.stat().st_size if log else 0
    result = jd.build(
        f"FROM {base_image}\nCOPY . /app\n{LIST_APP}",
        context=root,
        builder="buildkit",
        tags=[tag_prefix],
    )
    assert result.ok and result.context_transfer is not None
    assert "./src/main.py" in listing(result)
    assert "build-context-" not in result.log
    if log is not None:  # the engine's dockerd log (scripts/modern-engine.sh) since then
        with open(log, "rb") as fh:
            fh.seek(before)
            assert b"build-context-" not in fh.read()


def _engine_log() -> Path | None:
    """scripts/modern-engine.sh's log of the engine under test, if it is one of those."""
    host = os.environ.get("DOCKER_HOST", "")
    match = re.search(r"/run/jdb/([^/]+)/docker\.sock$", host)
    if not match:
        return None
    path = Path(os.environ.get("JDB_ENGINE_LOGDIR", "/var/log")) / (
        f"jupyter-dockerbuild-engine-{match.group(1)}.log"
    )
    return path if path.exists() else None


def test_dockerfile_from_a_subfolder_of_the_context(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, base_image: str, tag_prefix: str
) -> None:
    root = make_context(tmp_path / "ctx")
    (root / "docker").mkdir()
    (root / "docker" / "Dockerfile.dev").write_text(f"FROM {base_image}\nCOPY . /app\n{LIST_APP}")
    result = build(
        monkeypatch, "filesync", None, context=root, file="docker/Dockerfile.dev", tags=[tag_prefix]
    )
    files = listing(result)
    assert "./docker/Dockerfile.dev" in files and "./src/main.py" in files
    assert ("dockerfile", "docker/Dockerfile.dev") in result.context_transfer.sent  # type: ignore[union-attr]
