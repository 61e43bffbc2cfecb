r"""The Dockerfile parser: each rule of the daemon's parser, then the daemon itself.

The pure tests pin down what :func:`parse` makes of each tricky construct. The
``daemon`` tests send tricky Dockerfiles (``FROM local/busybox:latest``, busybox-only
``RUN`` steps, no network) through ``POST /build`` and check that the classic builder's
``Step k/N : <text>`` lines are exactly our instructions, that its parse errors are the
problems we predicted on the lines we predicted, and that a failing ``RUN`` after an
escaped escape (``ENV C=a\\``) is blamed on its own cell line.
"""

from __future__ import annotations

import io
import json
import re
import tarfile

import pytest

from jupyter_dockerbuild.builder.dockerfile import (
    Arg,
    Directive,
    Flag,
    Instruction,
    declared_args,
    parse,
)
from jupyter_dockerbuild.builder.preflight import UnsupportedSyntax, check_dockerfile
from jupyter_dockerbuild.engine.client import DockerClient, HTTPError
from jupyter_dockerbuild.errors import BuildError

BASE = "FROM local/busybox:latest"


def steps(text: str) -> list[tuple[int, str, str]]:
    """(line, keyword, step text) of every instruction."""
    return [(i.line, i.keyword, i.text) for i in parse(text).instructions]


# -- continuations ---------------------------------------------------------------------


def test_continuation_lines_join_as_written_without_comments_and_blank_lines() -> None:
    # The daemon appends each continued line as is: no space added, none removed.
    dockerfile = (
        "FROM busybox\n"
        "\n"
        "RUN echo a \\\n"
        "    # a comment inside the continuation\n"
        "    && echo b \\\n"
        "\n"
        "  && echo c\n"
        "   # indented comment\n"
        '  cmd ["sh"]\n'
        "ENV A=1 \\\n"
        "    B=2"
    )
    assert steps(dockerfile) == [
        (1, "FROM", "FROM busybox"),
        (3, "RUN", "RUN echo a     && echo b   && echo c"),
        (9, "CMD", 'cmd ["sh"]'),
        (10, "ENV", "ENV A=1     B=2"),
    ]
    ins = parse(dockerfile).instructions
    assert [(i.line, i.end_line) for i in ins] == [(1, 1), (3, 7), (9, 9), (10, 11)]
    assert ins[1].args == "echo a     && echo b   && echo c"


def test_escaped_escape_at_the_end_does_not_continue() -> None:
    # buildkit's own parser test (testfiles/trailing-backslash).
    dockerfile = (
        "# https://github.com/docker/for-win/issues/5254\n"
        "\n"
        "FROM hello-world\n"
        "\n"
        "ENV A path\n"
        "ENV B another\\\\path\n"
        "ENV C trailing\\\\backslash\\\\\n"
        "ENV D This should not be appended to C\n"
        "ENV E hello\\\n"
        "\\\n"
        "world\n"
        "ENV F hello\\\n"
        " \\\n"
        "world\n"
        "ENV G hello \\\n"
        "\\\n"
        "world\n"
    )
    assert steps(dockerfile) == [
        (3, "FROM", "FROM hello-world"),
        (5, "ENV", "ENV A path"),
        (6, "ENV", "ENV B another\\\\path"),
        (7, "ENV", "ENV C trailing\\\\backslash\\\\"),
        (8, "ENV", "ENV D This should not be appended to C"),
        (9, "ENV", "ENV E helloworld"),  # a line with only the escape continues, adds nothing
        (12, "ENV", "ENV F hello world"),
        (15, "ENV", "ENV G hello world"),
    ]
    assert [i.line for i in parse("FROM x\nENV C=a\\\\\nENV D=b\n").instructions] == [1, 2, 3]


def test_three_escapes_do_not_continue_either() -> None:
    # "foo \\\" should continue (an escaped escape, then an escape) but the daemon's
    # regular expression cannot see that; we follow the daemon.
    assert steps("FROM x\nENV X=foo\\\\\\\nENV Y=1\n")[1:] == [
        (2, "ENV", "ENV X=foo\\\\\\"),
        (3, "ENV", "ENV Y=1"),
    ]


def test_blanks_after_the_escape_still_continue() -> None:
    assert steps("FROM x\nRUN a \\ \t\n  b\n")[1] == (2, "RUN", "RUN a   b")


def test_continuation_at_the_end_of_the_file() -> None:
    assert steps("FROM x\r\nRUN a \\\r\n  b\r\nRUN c \\") == [
        (1, "FROM", "FROM x"),
        (2, "RUN", "RUN a   b"),
        (4, "RUN", "RUN c"),
    ]
    # Comments after the last continued line are still part of it.
    assert parse("FROM x\nRUN c \\\n# end\n\n").instructions[1].end_line == 4


def test_leading_whitespace_is_trimmed_on_the_first_line_only() -> None:
    dockerfile = "   FROM x\n\t RUN a \\\n\t  b\n \u00a0ENV X=1\u00a0\n"
    assert steps(dockerfile) == [
        (1, "FROM", "FROM x"),
        (2, "RUN", "RUN a \t  b"),
        (4, "ENV", "ENV X=1"),  # Go's unicode.IsSpace knows the no-break space
    ]


# -- line ends and the byte-order mark --------------------------------------------------


def test_only_lf_ends_a_line_and_one_cr_before_it_is_dropped() -> None:
    dockerfile = 'FROM x\r\nENV X=a\rY=b\nRUN a \\\r\r\nRUN b\nLABEL n="a\fb\u2028c\x1cd"\n'
    assert steps(dockerfile) == [
        (1, "FROM", "FROM x"),
        (2, "ENV", "ENV X=a\rY=b"),  # a lone CR is inside the line
        (3, "RUN", "RUN a \\"),  # "\\\r" is not a continuation: the CR follows the escape
        (4, "RUN", "RUN b"),
        (5, "LABEL", 'LABEL n="a\fb\u2028c\x1cd"'),  # none of these break a line
    ]


def test_old_mac_line_ends_make_one_line() -> None:
    df = parse("FROM x\rRUN y\r")
    assert [(i.keyword, i.text) for i in df.instructions] == [("FROM", "FROM x\rRUN y")]
    assert [p.message for p in df.problems] == ["FROM requires either one or three arguments"]


def test_byte_order_mark_only_at_the_start() -> None:
    df = parse("\ufeff# escape=`\nFROM x\nRUN a `\n  b\n")
    assert df.escape == "`" and df.directives == (Directive("escape", "`", 1),)
    assert steps("\ufeff# escape=`\nFROM x\nRUN a `\n  b\n")[1] == (3, "RUN", "RUN a   b")
    late = parse("FROM x\n\ufeffRUN y\n")
    assert [(p.line, p.message) for p in late.problems] == [(2, "unknown instruction: \ufeffRUN")]


# -- parser directives ---------------------------------------------------------------------


def test_escape_directive_and_backtick_continuations() -> None:
    dockerfile = (
        "# syntax=docker/dockerfile:1\n"
        "# escape=`\n"
        "FROM mcr.microsoft.com/windows/servercore\n"
        "RUN echo a `\n"
        "    && echo b\n"
        "COPY app C:\\app\\\n"
        "WORKDIR C:\\app\n"
    )
    df = parse(dockerfile)
    assert df.escape == "`" and df.syntax == "docker/dockerfile:1"
    assert df.directives == (
        Directive("syntax", "docker/dockerfile:1", 1),
        Directive("escape", "`", 2),
    )
    assert steps(dockerfile) == [
        (3, "FROM", "FROM mcr.microsoft.com/windows/servercore"),
        (4, "RUN", "RUN echo a     && echo b"),
        (6, "COPY", "COPY app C:\\app\\"),  # a backslash no longer continues
        (7, "WORKDIR", "WORKDIR C:\\app"),
    ]


@pytest.mark.parametrize(
    "before",
    [
        "FROM x\n",  # after an instruction
        "\n",  # after a blank line
        "# a comment\n",  # after a comment
        "# check=skip=all\n",  # a directive dockerd 20.10 does not know is a comment
        "# my-directive=1\n",  # no '-' in directive names
    ],
)
def test_directives_only_at_the_top(before: str) -> None:
    dockerfile = before + "# escape=`\nFROM y\nRUN a `\nRUN b \\\n  c\n"
    df = parse(dockerfile)
    assert df.escape == "\\" and df.directives == ()
    assert steps(dockerfile)[-3:] == [
        (3, "FROM", "FROM y"),
        (4, "RUN", "RUN a `"),
        (5, "RUN", "RUN b   c"),
    ]


def test_directive_spelling() -> None:
    df = parse("  #  ESCAPE = ` \n#syntax=x/y:1\t\nFROM z\n")
    assert df.directives == (Directive("escape", "`", 1), Directive("syntax", "x/y:1", 2))
    assert parse("# syntax=`\nFROM a\nRUN b `\nRUN c\n").escape == "\\"


def test_bad_directives_are_problems() -> None:
    twice = parse("# escape=`\n# escape=\\\nFROM x\n")
    assert [(p.line, p.message) for p in twice.problems] == [
        (2, "only one escape parser directive can be used")
    ]
    assert twice.escape == "`"
    wrong = parse("# escape=x\nFROM x\n")
    assert [p.message for p in wrong.problems] == [
        "invalid escape token 'x' does not match ` or \\"
    ]


@pytest.mark.parametrize("text", ["", "\n\n", "# only a comment\n\n   # another\n", "# escape=`\n"])
def test_blank_or_comment_only(text: str) -> None:
    df = parse(text)
    assert df.instructions == () and df.stages == ()
    assert [p.message for p in df.problems] == ["file with no instructions"]


# -- flags, JSON form ------------------------------------------------------------------------


def test_flags_are_read_like_the_daemon() -> None:
    df = parse(
        "FROM --platform=linux/amd64 x AS a\n"
        "RUN --mount=type=cache,target=/c --network=none echo --mount=no\n"
        'COPY --from=a --chown="1:1" --link --chmod=755 s /d\n'
        "RUN \\\n  --security=insecure \\\n  true\n"
        "RUN -- --mount=x true\n"
    )
    from_, run, copy, continued, dashdash = df.instructions
    assert from_.flags == (Flag("platform", "linux/amd64"),) and from_.args == "x AS a"
    assert run.flags == (Flag("mount", "type=cache,target=/c"), Flag("network", "none"))
    assert run.args == "echo --mount=no"
    assert copy.flags == (
        Flag("from", "a"),
        Flag("chown", "1:1"),  # quotes removed, as the daemon does
        Flag("link", None),
        Flag("chmod", "755"),
    )
    assert copy.flag("CHOWN") == Flag("chown", "1:1") and copy.flag("mount") is None
    assert continued.flags == (Flag("security", "insecure"),) and continued.args == "true"
    assert dashdash.flags == () and dashdash.args == "--mount=x true"


def test_json_form() -> None:
    df = parse('FROM x\nRUN ["sh", "-c", "echo"]\nCMD echo [x]\nENTRYPOINT  ["a"] junk\n')
    assert [i.json for i in df.instructions] == [False, True, False, True]
    bad = parse('FROM x\nCMD ["a", 1]\n')
    assert [(p.line, p.message) for p in bad.problems] == [
        (2, "when using JSON array syntax, arrays must be comprised of strings only")
    ]


# -- heredocs ------------------------------------------------------------------------------


def test_heredoc_bodies_belong_to_their_instruction() -> None:
    dockerfile = (
        "FROM x\n"
        "RUN <<EOF\n"
        "echo hello \\\n"
        "RUN not an instruction\n"
        "EOF\n"
        "COPY <<-'ONE' 3<<\"TWO\" /dest/\n"
        "\tbody $x\n"
        "\tONE\n"
        "two\n"
        "TWO\n"
        "ONBUILD RUN cat << END\n"
        "END\n"
        "RUN after\n"
    )
    df = parse(dockerfile)
    assert steps(dockerfile) == [
        (1, "FROM", "FROM x"),
        (2, "RUN", "RUN <<EOF"),
        (6, "COPY", "COPY <<-'ONE' 3<<\"TWO\" /dest/"),
        (11, "ONBUILD", "ONBUILD RUN cat << END"),
        (13, "RUN", "RUN after"),
    ]
    run, copy, onbuild = df.instructions[1:4]
    assert run.end_line == 5 and copy.end_line == 10 and onbuild.end_line == 12
    (eof,) = run.heredocs
    assert (eof.name, eof.line, eof.end_line, eof.chomp, eof.expand, eof.fd) == (
        "EOF",
        2,
        5,
        False,
        True,
        None,
    )
    assert eof.content == "echo hello \\\nRUN not an instruction\n"
    one, two = copy.heredocs
    assert (one.name, one.chomp, one.expand, one.fd, one.end_line) == ("ONE", True, False, None, 8)
    assert (two.name, two.chomp, two.expand, two.fd, two.end_line) == ("TWO", False, False, 3, 10)
    assert one.content == "\tbody $x\n" and two.content == "two\n"
    assert [h.name for h in onbuild.heredocs] == ["END"]
    assert onbuild.trigger is not None and onbuild.trigger.keyword == "RUN"
    assert df.at(4) is run and df.at(9) is copy and df.at(13) is df.instructions[-1]
    assert df.problems == ()


@pytest.mark.parametrize(
    "line",
    [
        'RUN echo "<<EOF"',  # quoted
        "RUN echo '<<EOF'",
        'RUN cat <<<"here string"',
        "RUN cat<<EOF",  # part of a word
        "RUN <<- EOF",  # the lexer keeps blanks after "<<" only: "<<-" and "EOF"
        'RUN ["sh", "<<EOF"]',  # JSON form
        "ENV X=<<EOF",  # not RUN, COPY or ADD
        "RUN echo $((1 << 3))",  # looks like one, but "3))" never comes
        "RUN echo 'unbalanced <<EOF",  # the lexer gives up: BuildKit finds none
    ],
)
def test_not_heredocs(line: str) -> None:
    df = parse(f"FROM x\n{line}\nEOF\n")
    assert df.instructions[1].heredocs == ()
    assert df.instructions[1].end_line == 2


def test_heredoc_names_like_buildkit() -> None:
    def first(word: str) -> tuple[str, bool]:
        doc = parse(f"FROM x\nRUN {word}\n{name}\n").instructions[1].heredocs[0]
        return doc.name, doc.expand

    for word, name, expand in [
        ("<<eo'f'", "eof", False),
        ("<<eo\\'f", "eo'f", True),
        ("<<'e'o\\'f", "eo'f", False),
        ("<<'one two'", "one two", False),
        ("<<$EOF", "$EOF", True),
        ("<<  EOF", "EOF", True),
    ]:
        assert first(word) == (name, expand), word


# -- stages and ARGs -------------------------------------------------------------------


def test_stages_and_args() -> None:
    dockerfile = (
        "ARG BASE=local/busybox:latest\n"
        'ARG A=1 B="two words" C\n'
        "FROM ${BASE} AS Build\n"
        "ARG A\n"
        "ARG D='x y' E=a\\ b\n"
        "RUN echo $A\n"
        "FROM --platform=linux/amd64 build\n"
        "COPY --from=0 /a /b\n"
    )
    df = parse(dockerfile)
    assert len(df.instructions) == 8  # the global ARGs are steps too
    assert [i.stage for i in df.instructions] == [None, None, 0, 0, 0, 0, 1, 1]
    build, final = df.stages
    assert (build.index, build.name, build.base, build.platform, build.line) == (
        0, "build", "${BASE}", None, 3
    )  # fmt: skip
    assert [i.keyword for i in build.instructions] == ["FROM", "ARG", "ARG", "RUN"]
    assert (final.name, final.base, final.platform) == (None, "build", "linux/amd64")
    assert df.stage("BUILD") is build and df.stage("1") is final and df.stage("2") is None
    assert df.stage(final.base) is build
    assert df.args == (
        Arg("BASE", "local/busybox:latest", 1, None),
        Arg("A", "1", 2, None),
        Arg("B", "two words", 2, None),
        Arg("C", None, 2, None),
        Arg("A", None, 4, 0),
        Arg("D", "x y", 5, 0),
        Arg("E", "a b", 5, 0),
    )
    assert [a.name for a in df.global_args] == ["BASE", "A", "B", "C"]
    assert [a.name for a in declared_args(dockerfile)] == ["BASE", "A", "B", "C", "D", "E"]


def test_arg_with_backtick_escape() -> None:
    df = parse('# escape=`\nFROM x\nARG P=C:\\dir\\ Q="a `"b`""\n')
    assert [(a.name, a.default) for a in df.args] == [("P", "C:\\dir\\"), ("Q", 'a "b"')]


def test_what_the_daemon_refuses_is_a_problem() -> None:
    df = parse("COPY a /a\nFROM x y\nFROM x AS 1st\nFROM x AS ok\nFOOBAR x\nONBUILD RUN fine\n")
    assert [(p.line, p.message) for p in df.problems] == [
        (1, "no build stage in current context"),
        (2, "FROM requires either one or three arguments"),
        (3, 'invalid name for build stage: "1st", name can\'t start with a number or contain '
         "symbols"),
        (5, "unknown instruction: FOOBAR"),
    ]  # fmt: skip


def test_at_finds_the_instruction_of_a_line() -> None:
    df = parse("FROM x\n\nRUN a \\\n  # c\n  b\n# after\n")
    assert [df.at(n) for n in range(1, 8)] == [
        df.instructions[0],
        None,
        df.instructions[1],
        df.instructions[1],
        df.instructions[1],
        None,
        None,
    ]


def test_one_parse_per_text() -> None:
    text = "FROM x\nRUN y\n"
    assert parse(text) is parse(text)  # the preflight, the first paint and the state share it
    assert isinstance(parse(text).instructions[0], Instruction)


# -- the consumers -----------------------------------------------------------------------


def test_preflight_sees_through_an_escaped_escape() -> None:
    # The old preflight joined "ENV C=a\\" with the next line and missed the mount.
    text = f"{BASE}\nENV C=a\\\\\nRUN --mount=type=cache,target=/c true\n"
    with pytest.raises(UnsupportedSyntax) as info:
        check_dockerfile(text)
    assert info.value.construct == "RUN --mount" and info.value.line == 3


def test_preflight_follows_the_daemons_directives() -> None:
    # An unknown directive ends them in dockerd 20.10: this syntax line is a comment, and
    # the classic builder builds the file as it would any other.
    check_dockerfile("# check=skip=all\n# syntax=example.com/fe:1\n" + BASE + "\n")
    with pytest.raises(UnsupportedSyntax):
        check_dockerfile("# syntax=example.com/fe:1\n# check=skip=all\n" + BASE + "\n")


# -- against the real daemon ------------------------------------------------------------

_STEP = re.compile(r"Step (\d+)/(\d+) : (.*)", re.DOTALL)

# Tricky Dockerfiles the classic builder builds. RUN steps use busybox only.
DAEMON_CASES = {
    "continuations": (
        f"{BASE}\n\nRUN echo a \\\n    # a comment inside the continuation\n"
        "    && echo b \\\n\n  && echo c\n   # indented comment\n"
        '  cmd ["sh"]\nENV A=1 \\\n    B=2'
    ),
    "trailing-backslash": (
        f"# https://github.com/docker/for-win/issues/5254\n\n{BASE}\n\n"
        "ENV A path\nENV B another\\\\path\nENV C trailing\\\\backslash\\\\\n"
        "ENV D This should not be appended to C\nENV E hello\\\n\\\nworld\n"
        "ENV F hello\\\n \\\nworld\nENV G hello \\\n\\\nworld\n"
        'RUN echo "C=$C D=$D E=$E"\n'
    ),
    "three-escapes": f"{BASE}\nENV X=foo\\\\\\\nENV Y=1\n",
    "blanks-after-escape": f"{BASE}\nRUN echo a \\ \t\n  b\n",
    "eof-continuation": f"{BASE}\r\nRUN echo a \\\r\n  b\r\nRUN echo c \\",
    "leading-whitespace": f"   {BASE}\n\t RUN echo a \\\n\t  b\n \u00a0ENV X=1\u00a0\n",
    "line-ends": f'{BASE}\r\nENV X=a\rY=b\nRUN echo b\r\nLABEL n="a\fb\u2028c\x1cd"\n',
    # Docker 20.10 only: see ESCAPE_CR below.
    "escape-cr-crlf": f"{BASE}\nRUN true \\\r\r\nRUN echo b\n",
    "bom-escape": f"\ufeff# escape=`\n{BASE}\nRUN echo a `\n  b\nENV P=C:\\app\\\n",
    # A backtick at the end of a line continues only after "# escape=`".
    "directive-after-comment": f"# a comment\n# escape=`\n{BASE}\nLABEL l=a`\nRUN echo b\n",
    "unknown-directive-first": f"# check=skip=all\n# escape=`\n{BASE}\nLABEL l=a`\nRUN true\n",
    "directive-spelling": (
        f"  #  ESCAPE = ` \n#syntax=docker/dockerfile:1\t\n{BASE}\nRUN echo a `\n b\n"
    ),
    "empty-continuation": f"{BASE}\nRUN echo a \\\n\n\n  && echo b\n",
    "lone-escape-line": f"{BASE}\nRUN echo a\\\n\\\n b\n",
    "multi-stage-args": (
        f'ARG BASE={BASE[5:]}\nARG A=1 B="two words"\nFROM ${{BASE}} AS Build\nARG A\n'
        'RUN echo "$A" > /a\nFROM build\nCOPY --from=build /a /b\n'
        "COPY --from=0 --chown=1:1 /a /c\nRUN cat /b /c\n"
    ),
    "keywords-any-case": (
        f"{BASE}\nonbuild run echo hi\nhealthcheck --interval=5s CMD true\n"
        "Expose 80\nrun echo x\nworkdir /w\n"
    ),
}


def _tar(dockerfile: str) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        data = dockerfile.encode("utf-8")
        info = tarfile.TarInfo("Dockerfile")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def daemon_build(
    docker: DockerClient, dockerfile: str, tag: str
) -> tuple[int, list[str], int | None, str]:
    """POST /build: (HTTP status, the text of each Step line, their N, all output)."""
    query = [("t", tag), ("rm", "1"), ("forcerm", "1"), ("networkmode", "none")]
    try:
        resp = docker.build(query, iter([_tar(dockerfile)]), {"Content-Type": "application/x-tar"})
    except HTTPError as exc:
        return exc.status, [], None, exc.message
    messages = [json.loads(line) for line in b"".join(resp.chunks()).splitlines() if line.strip()]
    texts: list[str] = []
    totals: set[int] = set()
    output = ""
    for m in messages:
        text = m.get("stream", "")
        match = _STEP.fullmatch(text)
        if match:
            assert int(match.group(1)) == len(texts) + 1
            texts.append(match.group(3))
            totals.add(int(match.group(2)))
        output += text + (m.get("errorDetail") or {}).get("message", "")
    assert len(totals) <= 1
    return 200, texts, totals.pop() if totals else None, output


#: Cases our parser reads like Docker 20.10 and newer engines do not: for each, the
#: newest API that still agrees, why the next ones differ, and what they make of it.
#:
#: ``escape-cr-crlf``: Docker 20.10 splits lines with Go's ``bufio.ScanLines``, which drops
#: only the CR right before the LF, so the escape is followed by a CR and does not continue
#: the line. Docker 23+ (the parser moby takes from BuildKit v0.10 on) keeps the line end
#: and then trims every trailing CR and LF (``trimNewline``), so the escape ends the line
#: and ``RUN echo b`` is joined to it: 26.1 and 28.5 build ``RUN true RUN echo b`` as one
#: step. A lone CR inside a line stays in it on every engine (``line-ends``).
#:
#: ``unknown-directive-first``: an unknown directive ends the directives, so the
#: ``# escape=`` after ``# check=`` is a comment up to Docker 26.1. From Docker 27.0 (API
#: 1.46, BuildKit v0.14's parser) ``check`` is a directive, the escape after it counts,
#: and the backtick joins ``RUN true`` to the LABEL, which 28.5 refuses.
NEWER_ENGINES_DIFFER = {
    "escape-cr-crlf": (
        "1.41",
        "Docker 23+ trims every CR before the LF, so an escape followed by CRs continues",
        (200, [BASE, "RUN true RUN echo b"], "Successfully built"),
    ),
    "unknown-directive-first": (
        "1.45",
        "Docker 27+ knows the check directive, so an escape directive after it counts",
        (400, [], 'Syntax error - can\'t find = in "true"'),
    ),
}


def _after(api: str) -> str:
    major, minor = api.split(".")
    return f"{major}.{int(minor) + 1}"


@pytest.mark.daemon
@pytest.mark.usefixtures("no_leftover_containers")
@pytest.mark.parametrize(
    "case",
    [
        pytest.param(c, marks=pytest.mark.engine(max_api=d[0], reason=d[1]))
        if (d := NEWER_ENGINES_DIFFER.get(c))
        else c
        for c in DAEMON_CASES
    ],
)
def test_daemon_counts_and_prints_our_steps(docker, base_image, tag_prefix, case):
    dockerfile = DAEMON_CASES[case]
    status, texts, total, output = daemon_build(docker, dockerfile, f"{tag_prefix}:{case}")
    assert status == 200 and "Successfully built" in output, output
    ours = [i.text for i in parse(dockerfile).instructions]
    assert total == len(ours)
    assert texts == ours
    assert docker.image_exists(f"{tag_prefix}:{case}")
    if case == "trailing-backslash":
        # What the RUN step saw: C kept its escaped backslash, E was joined.
        assert "C=trailing\\backslash\\ D=This should not be appended to C E=helloworld" in output


@pytest.mark.daemon
@pytest.mark.usefixtures("no_leftover_containers")
@pytest.mark.parametrize(
    "case",
    [
        pytest.param(
            c,
            marks=pytest.mark.engine(
                min_api=_after(api), reason=f"up to API {api} the daemon reads it as we do"
            ),
        )
        for c, (api, _, _) in NEWER_ENGINES_DIFFER.items()
    ],
)
def test_newer_engines_read_these_otherwise(docker, base_image, tag_prefix, case):
    # What the marks above skip on these engines, pinned down.
    dockerfile = DAEMON_CASES[case]
    want_status, want_steps, said = NEWER_ENGINES_DIFFER[case][2]
    status, texts, total, output = daemon_build(docker, dockerfile, f"{tag_prefix}:{case}")
    assert status == want_status and said in output, output
    assert texts == want_steps and total == (len(want_steps) or None)
    assert texts != [i.text for i in parse(dockerfile).instructions]
    assert docker.image_exists(f"{tag_prefix}:{case}") == (status == 200)


# Files the classic builder refuses: our problem, on our line, is in its answer.
DAEMON_REFUSES = {
    "unknown": f"{BASE}\nENV X=1\nFOOBAR x\n",
    "bom-late": f"{BASE}\n\ufeffRUN true\n",
    "from-two-words": f"{BASE} extra\n",
    "stage-name": f"{BASE} AS 1st\n",
    "before-from": f"COPY a /a\n{BASE}\n",
    "escape-twice": f"# escape=`\n# escape=\\\n{BASE}\n",
    "escape-invalid": f"# escape=x\n{BASE}\n",
    "json-not-strings": f'{BASE}\nCMD ["a", 1]\n',
    "old-mac": f"{BASE}\rRUN true\r",
}


@pytest.mark.daemon
@pytest.mark.parametrize("case", list(DAEMON_REFUSES))
def test_daemon_refuses_what_we_call_a_problem(docker, base_image, tag_prefix, case):
    dockerfile = DAEMON_REFUSES[case]
    status, texts, _, output = daemon_build(docker, dockerfile, f"{tag_prefix}:{case}")
    assert texts == [] and status == 400, output
    problems = parse(dockerfile).problems
    assert problems, f"the daemon refused {case!r} and we saw nothing wrong"
    first = problems[0]
    assert first.message in output
    # Errors of an instruction name its line (directive and stage errors name none).
    line = re.search(r"line (\d+)", output)
    assert line is None or int(line.group(1)) == first.line, output


@pytest.mark.daemon
@pytest.mark.usefixtures("no_leftover_containers")
def test_failing_run_after_escaped_escape_names_its_cell_line(ipshell, base_image):
    # The old parser joined "ENV C=a\\" with "ENV D=b", so every row after it was one
    # line late: the failing RUN (cell line 5) was blamed on cell line 6.
    res = ipshell.run_cell(
        "%%dockerbuild --no-cache --network none --out escaped\n"
        f"FROM {base_image}\n"
        "ENV C=a\\\\\n"
        "ENV D=b\n"
        'RUN echo "C=$C D=$D" && exit 3\n'
        "RUN echo never\n"
    )
    assert isinstance(res.error_in_exec, BuildError)
    msg = str(res.error_in_exec)
    assert "step 4/5 (cell line 5)" in msg and "non-zero code: 3" in msg
    result = ipshell.user_ns["escaped"]
    assert [(s.line, s.status) for s in result.steps] == [
        (2, "done"),
        (3, "done"),
        (4, "done"),
        (5, "failed"),
        (6, "waiting"),
    ]
    assert "C=a\\ D=b" in result.log
