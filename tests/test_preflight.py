"""BuildKit-only Dockerfile syntax is refused before sending; ordinary Dockerfiles pass.

The pure checks run everywhere. The ``daemon`` tests send the same constructs to the
real classic builder, to pin down that it really refuses them (and how badly it says
so), and that it builds what preflight lets through.
"""

from __future__ import annotations

import io
import json
import re
import tarfile

import pytest

from jupyter_dockerbuild.builder.preflight import UnsupportedSyntax, check_dockerfile
from jupyter_dockerbuild.engine.client import DockerClient, HTTPError
from jupyter_dockerbuild.errors import DockerBuildError

FROM = "FROM local/busybox:latest\n"

REJECTED = {
    # id: (dockerfile, construct); the construct is on line 2 (line 1 for # syntax)
    "run-mount": (FROM + "RUN --mount=type=cache,target=/root/.cache pip i x\n", "RUN --mount"),
    "run-mount-secret": (FROM + "RUN --mount=type=secret,id=t cat /run/secrets/t\n", "RUN --mount"),
    "run-network": (FROM + "RUN --network=none echo hi\n", "RUN --network"),
    "run-security": (FROM + "RUN --security=insecure echo hi\n", "RUN --security"),
    "copy-chmod": (FROM + "COPY --chmod=755 run.sh /run.sh\n", "COPY --chmod"),
    "add-chmod": (FROM + "ADD --chmod=644 f /f\n", "ADD --chmod"),
    "copy-link": (FROM + "COPY --link f /f\n", "COPY --link"),
    "add-link": (FROM + "ADD --link f /f\n", "ADD --link"),
    "add-checksum": (FROM + "ADD --checksum=sha256:" + "0" * 64 + " f /f\n", "ADD --checksum"),
    "add-keep-git-dir": (FROM + "ADD --keep-git-dir=true f /src\n", "ADD --keep-git-dir"),
    "copy-parents": (FROM + "COPY --parents a/b /dst/\n", "COPY --parents"),
    "copy-exclude": (FROM + "COPY --exclude=*.pyc . /app\n", "COPY --exclude"),
    "run-heredoc": (FROM + "RUN <<EOF\necho hi > /h\nEOF\n", "a heredoc in RUN"),
    "run-heredoc-dash-quoted": (FROM + "RUN <<-'END' sh\n\techo hi\n\tEND\n", "a heredoc in RUN"),
    "run-heredoc-after-cmd": (FROM + "RUN cat <<EOF > /etc/motd\nhi\nEOF\n", "a heredoc in RUN"),
    "run-heredoc-fd": (FROM + "RUN python3 - 3<<EOF\nprint(1)\nEOF\n", "a heredoc in RUN"),
    "copy-heredoc": (FROM + "COPY <<EOF /etc/motd\nhello\nEOF\n", "a heredoc in COPY"),
    "add-heredoc": (FROM + 'ADD <<"EOF" /etc/motd\nhello\nEOF\n', "a heredoc in ADD"),
    "syntax-other": ("# syntax=example.com/fe:1\n" + FROM, "the frontend example.com/fe:1"),
    "lowercase": (FROM + "run --mount=type=cache,target=/c true\n", "RUN --mount"),
    "onbuild": (FROM + "ONBUILD COPY --chmod=755 a /a\n", "COPY --chmod"),
}


@pytest.mark.parametrize("dockerfile,construct", list(REJECTED.values()), ids=list(REJECTED))
def test_buildkit_construct_is_refused_with_line_and_reason(dockerfile, construct):
    line = 1 if dockerfile.startswith("# syntax") else 2
    with pytest.raises(UnsupportedSyntax) as info:
        check_dockerfile(dockerfile)
    err = info.value
    assert isinstance(err, DockerBuildError)
    assert err.construct == construct and err.line == line
    msg = str(err)
    assert msg.startswith(f"line {line} (")
    assert construct in msg and "needs BuildKit" in msg and "classic /build" in msg
    assert "\n" not in msg and len(msg) < 300
    # The short IPython rendering is the message itself.
    assert msg in err._render_traceback_()[0]


ACCEPTED = {
    "plain": FROM + 'ENV A=1\nRUN echo hi > /hi\nCOPY f /f\nCMD ["sh"]\n',
    "multi-stage": (
        "FROM local/busybox:latest AS build\nRUN echo built > /out\n"
        "FROM local/busybox:latest\nCOPY --from=build /out /out\n"
        "COPY --from=build --chown=1000:1000 /out /out2\nADD --chown=1:1 f /f\n"
    ),
    "from-platform": "FROM --platform=linux/amd64 local/busybox:latest\nRUN true\n",
    "quoted-<<": FROM + "RUN echo \"a << b\" && echo '<<EOF' && echo x\\<<y\n",
    "here-string": FROM + 'RUN cat <<<"hello"\n',
    "shift-in-arith": FROM + "RUN echo $((1 << 3))\n",
    "no-space-<<": FROM + "RUN echo a<<b\n",
    "exec-form": FROM + 'RUN ["sh", "-c", "cat <<EOF"]\n',
    "not-a-heredoc-instruction": FROM + 'LABEL note="x <<EOF"\nENV X="<<EOF"\n',
    "flag-words-later": FROM + "RUN echo --mount=type=cache --network\n",
    "comment-mentions-mount": FROM + "# RUN --mount=type=cache needs BuildKit\nRUN true\n",
    "official-syntax": "# syntax=docker/dockerfile:1\n" + FROM + "RUN true\n",
    "official-syntax-full": (
        "# syntax = docker.io/docker/dockerfile:1.4-labs@sha256:" + "a" * 64 + "\n" + FROM
    ),
    "syntax-not-a-directive": FROM + "# syntax=example.com/my/frontend\nRUN true\n",
    "syntax-after-blank": "\n# syntax=example.com/my/frontend\n" + FROM,
    "escape-directive": "# escape=`\n" + FROM + "RUN echo a `\n  && echo b\n",
    "continuation-with-comments": (
        FROM + "RUN echo a \\\n# a comment inside\n\n    && echo b \\\n    && echo c\n"
    ),
    "onbuild-ordinary": FROM + "ONBUILD COPY --chown=1:1 . /app\nONBUILD RUN make\n",
    "healthcheck-flags": FROM + "HEALTHCHECK --interval=5s --retries=3 CMD true\n",
    "empty": "",
}


@pytest.mark.parametrize("dockerfile", list(ACCEPTED.values()), ids=list(ACCEPTED))
def test_ordinary_dockerfiles_pass(dockerfile):
    check_dockerfile(dockerfile)


def test_heredoc_in_continued_instruction_names_its_own_line():
    text = FROM + "RUN echo start \\\n    && cat <<EOF > /x\nbody\nEOF\n"
    with pytest.raises(UnsupportedSyntax) as info:
        check_dockerfile(text)
    assert info.value.line == 3
    assert str(info.value).startswith("line 3 (&& cat <<EOF > /x)")


def test_flag_on_continued_line_is_found():
    text = FROM + "RUN \\\n  --mount=type=cache,target=/c \\\n  echo hi\n"
    with pytest.raises(UnsupportedSyntax, match="RUN --mount") as info:
        check_dockerfile(text)
    assert info.value.line == 2  # the instruction starts there


def test_backtick_escape_joins_lines():
    text = "# escape=`\n" + FROM + "RUN echo a `\n  --mount=x\n"
    # `--mount` is not a leading flag here: it's an argument of echo on a continued line.
    check_dockerfile(text)
    with pytest.raises(UnsupportedSyntax):
        check_dockerfile("# escape=`\n" + FROM + "RUN `\n  --network=none echo a\n")


def test_first_offending_line_wins_and_line_offset_shifts_the_message():
    text = FROM + "RUN true\nCOPY --link a /a\nRUN --mount=type=cache,target=/c true\n"
    with pytest.raises(UnsupportedSyntax) as info:
        check_dockerfile(text, line_offset=1)
    assert info.value.construct == "COPY --link"
    assert info.value.line == 3  # the Dockerfile's own line stays in the attribute
    assert str(info.value).startswith("line 4 (COPY --link a /a)")


def test_long_line_is_shortened_in_message():
    text = FROM + "RUN --mount=type=cache,target=/root/.cache " + "x" * 200 + "\n"
    with pytest.raises(UnsupportedSyntax) as info:
        check_dockerfile(text)
    msg = str(info.value)
    assert "…" in msg and "x" * 100 not in msg


def test_hints_say_what_to_do_instead():
    def message(text):
        with pytest.raises(UnsupportedSyntax) as info:
            check_dockerfile(FROM + text)
        return str(info.value)

    assert "RUN chmod" in message("COPY --chmod=755 a /a\n")
    assert "pass --network to the build" in message("RUN --network=host true\n")
    assert "&&" in message("RUN <<EOF\ntrue\nEOF\n")


# -- against the real classic builder ---------------------------------------------------


def _tar(files: dict[str, str]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, text in files.items():
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def _raw_build(docker: DockerClient, dockerfile: str, tag: str | None = None) -> tuple[int, str]:
    """POST /build without preflight: (HTTP status, error text or '' on success)."""
    query = [("rm", "1"), ("forcerm", "1"), ("networkmode", "none")]
    if tag:
        query.append(("t", tag))
    body = _tar({"Dockerfile": dockerfile, "f": "x\n", "run.sh": "#!/bin/sh\n"})
    try:
        resp = docker.build(query, iter([body]), {"Content-Type": "application/x-tar"})
    except HTTPError as exc:
        return exc.status, exc.message
    messages = [json.loads(line) for line in b"".join(resp.chunks()).splitlines() if line.strip()]
    errors = [m["errorDetail"]["message"] for m in messages if "errorDetail" in m]
    return 200, errors[0] if errors else ""


# What dockerd 20.10's classic builder answers; the preflight module docstring says why
# each is worth catching early.
DAEMON_SAYS = {
    "run-mount": "the --mount option requires BuildKit",
    "run-network": "Unknown flag: network",
    "run-security": "Unknown flag: security",
    "copy-chmod": "the --chmod option requires BuildKit",
    "add-chmod": "the --chmod option requires BuildKit",
    "copy-link": "Unknown flag: link",
    "add-checksum": "Unknown flag: checksum",
    "add-keep-git-dir": "Unknown flag: keep-git-dir",
    "run-heredoc": "unknown instruction: ECHO",
    "copy-heredoc": "unknown instruction: HELLO",
}

#: The classic builder of Docker 23 and later (measured on 26.1.5 and 28.5.2) parses with
#: BuildKit's parser: it knows more flags and heredocs, and builds some constructs
#: *wrongly* without a word (None): --link, --checksum and --keep-git-dir are ignored (a
#: wrong checksum passes) and a RUN heredoc's body is dropped. Preflight refuses them all
#: the same, now because the result would silently differ. Values are regular expressions.
MODERN_DAEMON_SAYS = {
    **{case: DAEMON_SAYS[case] for case in ("run-mount", "copy-chmod", "add-chmod")},
    "run-network": "the --network option requires BuildKit",
    "run-security": "unknown flag: (--)?security",  # "--security" from 28 on
    "copy-link": None,
    "add-checksum": None,
    "add-keep-git-dir": None,
    "run-heredoc": None,
    "copy-heredoc": "COPY failed: no source files were specified",
}


@pytest.mark.daemon
@pytest.mark.engine(max_api="1.41", reason="what the classic builder of Docker 20.10 answers")
@pytest.mark.parametrize("case", list(DAEMON_SAYS))
def test_classic_builder_really_refuses_it(docker, base_image, case):
    dockerfile = REJECTED[case][0]
    status, error = _raw_build(docker, dockerfile)
    assert error, f"the daemon built {case!r}: preflight would refuse something that works"
    assert DAEMON_SAYS[case] in error
    # Flags the parser doesn't know and heredocs fail before streaming; --mount and
    # --chmod fail only when their step is reached, after the earlier steps ran.
    assert status == (200 if "requires BuildKit" in error else 400)


@pytest.mark.daemon
@pytest.mark.engine(
    min_api="1.42", reason="the classic builder of Docker 23+ parses with BuildKit's parser"
)
@pytest.mark.parametrize("case", list(MODERN_DAEMON_SAYS))
def test_modern_classic_builder_refuses_it_or_builds_it_wrong(
    docker, base_image, tag_prefix, image_file, case
):
    says = MODERN_DAEMON_SAYS[case]
    status, error = _raw_build(docker, REJECTED[case][0], tag=f"{tag_prefix}:{case}")
    if says is None:
        # It builds, and not what was written.
        assert (status, error) == (200, ""), error
        if case == "run-heredoc":
            with pytest.raises(HTTPError, match="Could not find the file /h"):
                image_file(f"{tag_prefix}:{case}", "/h")
        else:  # the flag was ignored; the file is there
            assert image_file(f"{tag_prefix}:{case}", "/src" if "git" in case else "/f") == b"x\n"
        return
    assert re.search(says, error), error
    # Unknown flags fail before streaming; --mount, --network, --chmod and a COPY heredoc
    # only when their step is reached, after the earlier steps ran.
    assert status == (400 if "unknown flag" in says else 200)


@pytest.mark.daemon
def test_classic_builder_ignores_syntax_directive_and_builds(docker, base_image, tag_prefix):
    dockerfile = "# syntax=docker/dockerfile:1\n" + FROM + "COPY --chown=1:1 f /f\n"
    check_dockerfile(dockerfile)
    status, error = _raw_build(docker, dockerfile, tag=f"{tag_prefix}:syntax")
    assert (status, error) == (200, "")
    assert docker.image_exists(f"{tag_prefix}:syntax")
