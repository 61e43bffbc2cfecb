"""DockerIgnore: moby patternmatcher semantics, from Docker's documented examples."""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import tarfile
import uuid
from pathlib import Path

import pytest

from jupyter_dockerbuild.builder.context import DockerIgnore, build_context
from jupyter_dockerbuild.errors import ContextError


def ign(*lines: str) -> DockerIgnore:
    return DockerIgnore(lines)


@pytest.mark.parametrize(
    ("patterns", "path", "excluded"),
    [
        # Docker docs: */temp* excludes files and dirs starting with temp one level down.
        (["*/temp*"], "somedir/temporary.txt", True),
        (["*/temp*"], "somedir/temp", True),
        (["*/temp*"], "somedir/temp/deeper/file", True),  # parent dir matches
        (["*/temp*"], "temp", False),
        (["*/temp*"], "a/b/temp", False),
        # */*/temp*: two levels below the root.
        (["*/*/temp*"], "somedir/subdir/temporary.txt", True),
        (["*/*/temp*"], "somedir/temporary.txt", False),
        # temp?: one character, never a '/'.
        (["temp?"], "tempa", True),
        (["temp?"], "tempb/inside", True),
        (["temp?"], "temp", False),
        (["temp?"], "temp12", False),
        (["temp?"], "temp/", False),  # cleaned to "temp"
        (["a?b"], "a/b", False),
        (["*/c"], "a/b/c", False),  # '*' never crosses '/'
        # '**' matches any number of segments, including none.
        (["**/*.go"], "main.go", True),
        (["**/*.go"], "cmd/tool/main.go", True),
        (["**/*.go"], "main.go.txt", False),
        (["**/*.go"], "pkg.go/readme", True),  # a matching parent dir
        (["**/foo"], "foo", True),
        (["**/foo"], "a/b/foo", True),
        (["**/foo"], "a/barfoo", False),
        (["a/**/b"], "a/b", True),
        (["a/**/b"], "a/x/y/b", True),
        (["a/**/b"], "a/xb", False),
        (["a/**"], "a/x/y", True),
        (["a/**"], "a", False),  # only what is below a/
        (["**"], "anything/at/all", True),
        (["**"], "x", True),
        # Leading and trailing slashes, Go filepath.Clean.
        (["/foo"], "foo", True),
        (["/foo"], "bar/foo", False),
        (["foo/"], "foo", True),
        (["foo/"], "foo/bar", True),
        (["./foo//bar/"], "foo/bar", True),
        (["a/../b"], "b", True),
        (["a/../b"], "a", False),
        # .git: the directory and everything in it, only at the root.
        ([".git"], ".git", True),
        ([".git"], ".git/objects/ab/cdef", True),
        ([".git"], "sub/.git", False),
        ([".git"], ".gitignore", False),
        # Exceptions: later patterns win.
        (["*.md", "!README*.md"], "README.md", False),
        (["*.md", "!README*.md"], "notes.md", True),
        (["*.md", "!README*.md", "README-secret.md"], "README-secret.md", True),
        (["*.md", "!README*.md", "README-secret.md"], "README-public.md", False),
        (["!README*.md", "*.md"], "README.md", True),
        (["dir", "!dir/keep.txt"], "dir/keep.txt", False),
        (["dir", "!dir/keep.txt"], "dir/other.txt", True),
        (["dir", "!dir/keep.txt"], "dir", True),
        (["*", "!dir"], "dir/deep/file", False),  # an exception also covers what is below
        # Classes and escapes, as Go's filepath.Match.
        (["[a-c].txt"], "b.txt", True),
        (["[a-c].txt"], "d.txt", False),
        (["[^a-c].txt"], "d.txt", True),
        (["[^a-c].txt"], "a.txt", False),
        (["[!a].txt"], "!.txt", True),  # '!' is not a negation in Go
        (["[\\]]x"], "]x", True),
        (["\\*"], "*", True),
        (["\\*"], "a", False),
        (["f\\?o"], "f?o", True),
        (["f\\?o"], "fxo", False),
        # Characters that are special in regexps are literal here.
        (["a.b"], "axb", False),
        (["a+(b)|{c}$"], "a+(b)|{c}$", True),
        # Comments only in column 1; whitespace trimmed.
        (["# comment"], "# comment", False),
        ([" #x"], "#x", True),
        (["  spaced  "], "spaced", True),
        (["", "   "], "anything", False),
    ],
)
def test_excluded(patterns: list[str], path: str, excluded: bool) -> None:
    assert DockerIgnore(patterns).excluded(path) is excluded


def test_root_is_never_excluded() -> None:
    assert not ign("**", "*", ".").excluded(".")
    assert not ign("**").excluded("")


def test_from_text_comments_crlf_and_bom() -> None:
    text = "\ufeff# comment\r\nnode_modules\r\n\r\n  *.pyc  \r\n!keep.pyc\n"
    di = DockerIgnore.from_text(text)
    assert di.patterns == ("node_modules", "*.pyc", "!keep.pyc")
    assert di.excluded("node_modules/x/y.js")
    assert di.excluded("a.pyc")
    assert not di.excluded("keep.pyc")


def test_from_text_first_line_pattern_after_bom() -> None:
    assert DockerIgnore.from_text("\ufeffsecret").excluded("secret")


def test_exception_leading_slash_and_spaces() -> None:
    di = DockerIgnore.from_text("*\n!  /keep\n")
    assert di.patterns == ("*", "!keep")
    assert not di.excluded("keep")


def test_from_dir(tmp_path: Path) -> None:
    assert DockerIgnore.from_dir(tmp_path).patterns == ()
    (tmp_path / ".dockerignore").write_bytes(b"build\n*.log\n")
    di = DockerIgnore.from_dir(tmp_path)
    assert di.excluded("build/x") and di.excluded("a.log") and not di.excluded("src/a.log")


def test_from_dir_unreadable_names_the_file(tmp_path: Path) -> None:
    (tmp_path / ".dockerignore").mkdir()
    with pytest.raises(ContextError, match=r"\.dockerignore"):
        DockerIgnore.from_dir(tmp_path)


@pytest.mark.parametrize(
    "pattern", ["!", "[", "[a", "[]", "[a-]", "[]a]", "a[", "x\\", "[a-b", "[\\"]
)
def test_bad_patterns_name_the_pattern(pattern: str) -> None:
    with pytest.raises(ContextError) as info:
        DockerIgnore([pattern])
    assert repr(pattern.strip()) in str(info.value) or "!" in str(info.value)


def test_a_string_is_not_a_list_of_patterns() -> None:
    with pytest.raises(TypeError):
        DockerIgnore("*.md")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("patterns", "directory", "prunable"),
    [
        (["node_modules"], "node_modules", True),
        (["node_modules"], "src", False),  # not excluded at all
        (["**"], "anything", True),
        (["dir", "!dir/keep.txt"], "dir", False),
        (["dir", "!dir/keep.txt"], "dir/sub", True),  # keep.txt is not below dir/sub
        (["dir", "!dir/*/keep.txt"], "dir", False),
        (["dir", "!dir/*/keep.txt"], "dir/sub", False),
        (["dir", "!dir/*/keep.txt"], "dir/sub/deeper", True),
        (["dir", "!other/keep.txt"], "dir", True),
        (["dir", "!dir"], "dir", False),  # not excluded
        (["!dir/keep.txt", "dir"], "dir", True),  # the exception comes first: it loses
        (["node_modules", "!**/*.md"], "node_modules", False),  # '**' may match below
        (["build", "![b]uild/x"], "build", False),  # classes are treated conservatively
        (["*", "!Dockerfile"], "src", True),
        (["*", "!src/Dockerfile"], "src", False),
    ],
)
def test_can_prune(patterns: list[str], directory: str, prunable: bool) -> None:
    assert DockerIgnore(patterns).can_prune(directory) is prunable


def test_keeping_adds_exceptions_only_where_needed() -> None:
    di = ign("*", "!src")
    assert di.keeping("src/Dockerfile") is di
    kept = di.keeping("Dockerfile", ".dockerignore", "src/x")
    assert kept.patterns == ("*", "!src", "!Dockerfile", "!.dockerignore")
    assert not kept.excluded("Dockerfile") and kept.excluded("other")


def test_keeping_escapes_glob_characters() -> None:
    kept = ign("*").keeping("Dockerfile[dev]")
    assert not kept.excluded("Dockerfile[dev]")
    assert kept.excluded("Dockerfiled")


# --- against the real docker CLI and daemon (FROM scratch only, local socket only) ---

DOCKER = shutil.which("docker")


def _docker(*args: str, stdin: bytes | None = None) -> str:
    env = {**os.environ, "DOCKER_BUILDKIT": "0"}  # the CLI's own context walk and filter
    done = subprocess.run(
        [DOCKER or "docker", *args], input=stdin, capture_output=True, env=env, timeout=120
    )
    if done.returncode:
        raise AssertionError(done.stderr.decode(errors="replace"))
    return done.stdout.decode()


def _files_in_image(build_args: list[str], stdin: bytes | None = None) -> set[str]:
    """Build, then list the files under /ctx of the image (no container is started)."""
    tag = f"jdb-ctx-test:{uuid.uuid4().hex[:12]}"
    _docker("build", "-q", "-t", tag, *build_args, stdin=stdin)
    try:
        cid = _docker("create", tag, "/nothing").strip()
        try:
            exported = subprocess.run([DOCKER or "docker", "export", cid], capture_output=True)
            with tarfile.open(fileobj=io.BytesIO(exported.stdout)) as tar:
                names = tar.getnames()
        finally:
            _docker("rm", cid)
    finally:
        _docker("rmi", tag)
    return {n[len("ctx/") :] for n in names if n.startswith("ctx/") and n != "ctx/"}


CLI_CASES = {
    "doc examples": "*/temp*\n*/*/temp*\ntemp?\n",
    "md exception": "*.md\n!README*.md\nREADME-secret.md\n",
    "go everywhere": "**/*.go\n",
    "slashes": "/top.txt\nsub/\n",
    "dir with kept file": "dir\n!dir/keep.txt\n",
    "everything": "**\n",
    "git": ".git\n",
    "lists Dockerfile and itself": "Dockerfile\n.dockerignore\n",
}


@pytest.mark.daemon
@pytest.mark.skipif(DOCKER is None, reason="compares with the docker CLI, which is not installed")
@pytest.mark.parametrize("case", sorted(CLI_CASES))
def test_matches_docker_cli_and_daemon_accepts_our_tar(tmp_path: Path, case: str) -> None:
    root = tmp_path / "ctx"
    for rel in [
        "Dockerfile", "top.txt", "temp", "tempa", "temp12", "somedir/temporary.txt",
        "somedir/temp/x", "somedir/subdir/temporary.txt", "a/b/temp", "README.md",
        "README-secret.md", "notes.md", "docs/notes.md", "main.go", "cmd/tool/main.go",
        "sub/inner.txt", "dir/keep.txt", "dir/other.txt", "dir/sub/x", ".git/HEAD",
        "x/.git/HEAD",
    ]:  # fmt: skip
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(rel)
    (root / "Dockerfile").write_text("FROM scratch\nCOPY . /ctx/\n")
    (root / ".dockerignore").write_text(CLI_CASES[case])

    by_cli = _files_in_image([str(root)])
    ours = build_context(None, context_dir=root)
    ours_files = {
        m for m in ours.members() if not (root / m).is_dir() or not any((root / m).iterdir())
    }
    with tarfile.open(fileobj=io.BytesIO(b"".join(ours))) as tar:
        assert ours_files == {m.name for m in tar if not m.isdir()}
    # Both are always sent; the daemon itself then drops them if .dockerignore lists them.
    assert {"Dockerfile", ".dockerignore"} <= ours_files
    by_cli_files = {f for f in by_cli if not (root / f).is_dir()}
    assert ours_files - by_cli_files <= {"Dockerfile", ".dockerignore"}
    assert by_cli_files <= ours_files

    # The daemon accepts our stream as the body, unpadded, and COPY sees the same files.
    sent = _files_in_image(["-"], stdin=b"".join(ours))
    assert {f for f in sent if not (root / f).is_dir()} == by_cli_files
