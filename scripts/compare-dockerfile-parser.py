#!/usr/bin/env python3
"""Compare our Dockerfile parser with the daemon's on every Dockerfile under DIR.

    PYTHONPATH=. .venv/bin/python scripts/compare-dockerfile-parser.py DIR [-H HOST]

Each file is rewritten so that the classic builder can build it without files, without
a registry and without a network, then sent to ``POST /build`` (``networkmode=none``):
the daemon's ``Step 1/N`` count and the text of every ``Step k/N`` line must equal
``dockerfile.parse`` of the rewritten file. One line per file, then the totals; the exit
status is 1 if any file disagrees.

What the rewrite does, and why the comparison stays honest: it only replaces words
inside physical lines (or empties the extra lines of a rare multi-line ``FROM``), never
adds, removes or joins lines and never touches escapes, comments, blank lines or
directives, so every continuation, comment and line number of the original is still
there. It checks that the rewritten file parses into the same instructions on the same
lines as the original, and it compares the daemon with our parse of what it sent.

- ``FROM <image>`` becomes ``FROM local/dockerfile-compare:latest`` (``AS name`` kept,
  flags dropped); ``FROM <earlier stage>`` stays. That image is ``local/busybox:latest``
  whose ``/bin/sh`` is ``#!/bin/true``: every shell-form ``RUN`` succeeds as written.
- Exec-form ``RUN ["x", ...]`` runs ``/bin/true``, ``SHELL [...]`` uses ``/bin/sh``.
- ``COPY``/``ADD`` sources become ``placeholder`` (a directory in the context) or
  ``/placeholder`` (in every stage) with ``--from``; a ``--from`` that is not an earlier
  stage names the base image (the daemon would pull it); ``--chown`` becomes ``0:0``.
  ``ADD <url>`` is a source like any other: nothing is downloaded.
- ``USER x`` becomes ``USER 0`` (busybox has no /etc/passwd); ``HOME`` is set in the
  base image, as most real bases do (``WORKDIR $HOME`` needs it).

Files the classic builder refuses (BuildKit flags, heredocs) are reported as refused
only if our parser predicted that very refusal (``preflight.buildkit_only`` and the
parse's ``problems``): the flag and line of a parse error, the heredoc whose body holds
the line the daemon calls an unknown instruction, the step a ``--mount`` fails. The
Step lines printed before a refusal are compared too, and a file refused only for its
flags is built once more with just those flags removed, to compare all of its steps.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import re
import sys
import tarfile
from dataclasses import dataclass

from jupyter_dockerbuild.builder.base import BASE_IMAGE, ensure_base_image
from jupyter_dockerbuild.builder.dockerfile import Dockerfile, Instruction, parse
from jupyter_dockerbuild.builder.preflight import buildkit_only
from jupyter_dockerbuild.engine.client import DockerClient, HTTPError

COMPARE_IMAGE = "local/dockerfile-compare:latest"
_COMPARE_DOCKERFILE = f"""\
FROM {BASE_IMAGE}
RUN rm /bin/sh && printf '#!/bin/true\\n' > /bin/sh && chmod 755 /bin/sh \\
    && mkdir /placeholder && echo placeholder > /placeholder/file
ENV HOME=/root
"""
# The label says which recipe made the image, so a changed recipe rebuilds it.
_RECIPE = hashlib.sha256(_COMPARE_DOCKERFILE.encode()).hexdigest()[:12]
_COMPARE_DOCKERFILE += f"LABEL org.jupyter-dockerbuild.compare={_RECIPE}\n"
_STEP = re.compile(r"Step (\d+)/(\d+) : (.*)", re.DOTALL)
_COMMITTED = re.compile(r" ---> ([0-9a-f]{12})\n")
_JSON_STRING = re.compile(r'"(?:[^"\\]|\\.)*"')
_TOKEN = re.compile(r"""(?:'[^']*'|"(?:[^"\\]|\\.)*"|[^\s'"])+""")


# -- the rewrite ----------------------------------------------------------------------


def _content_lines(df: Dockerfile, ins: Instruction) -> list[int]:
    """The 1-based physical lines of ``ins`` that carry text (not comments or blanks)."""
    last = ins.heredocs[0].line if ins.heredocs else ins.end_line
    return [
        n
        for n in range(ins.line, last + 1)
        if df.lines[n - 1].strip() and not df.lines[n - 1].lstrip().startswith("#")
    ]


def _tokens(df: Dockerfile, ins: Instruction) -> list[tuple[int, int, int]]:
    """(line, start, end) of each word after the keyword, continuation marks left out."""
    out: list[tuple[int, int, int]] = []
    for n in _content_lines(df, ins):
        line = df.lines[n - 1]
        for m in _TOKEN.finditer(line):
            start, end = m.span()
            if m.group(0).endswith(df.escape) and line[end:].strip(" \t") == "":
                end -= 1  # the continuation mark (or an escaped escape: it stays either way)
            if end > start:
                out.append((n, start, end))
    return out[1:]  # the keyword


def _earlier_stage(df: Dockerfile, ref: str, ins: Instruction) -> bool:
    stage = df.stage(ref)
    return stage is not None and ins.stage is not None and stage.index < ins.stage


class Rewrite:
    """Word replacements on physical lines, applied all at once."""

    def __init__(self, df: Dockerfile) -> None:
        self.df = df
        self.edits: dict[int, list[tuple[int, int, str]]] = {}
        self.blank: set[int] = set()

    def replace(self, n: int, start: int, end: int, text: str) -> None:
        """Replace ``[start:end]`` of physical line ``n`` with ``text``."""
        self.edits.setdefault(n, []).append((start, end, text))

    def lines(self) -> list[str]:
        """The physical lines with every replacement made."""
        out = []
        for n, line in enumerate(self.df.lines, start=1):
            if n in self.blank:
                out.append("")
                continue
            for start, end, text in sorted(self.edits.get(n, []), reverse=True):
                line = line[:start] + text + line[end:]
            out.append(line)
        return out


def _rewrite_from(df: Dockerfile, ins: Instruction, rw: Rewrite) -> None:
    stage = df.stages[ins.stage] if ins.stage is not None else None
    if stage is None or _earlier_stage(df, stage.base, ins):
        return
    first = df.lines[ins.line - 1]
    indent = first[: len(first) - len(first.lstrip())]
    keyword = first.lstrip().split(None, 1)[0]
    words = ins.args.split()
    alias = f" {words[1]} {words[2]}" if stage.name and len(words) == 3 else ""
    rw.replace(ins.line, 0, len(first), f"{indent}{keyword} {COMPARE_IMAGE}{alias}")
    for n in range(ins.line + 1, ins.end_line + 1):
        rw.blank.add(n)  # a FROM over several lines: rare; its other lines go


def _rewrite_json_first(df: Dockerfile, ins: Instruction, rw: Rewrite, program: str) -> None:
    for n in _content_lines(df, ins):
        line = df.lines[n - 1]
        offset = line.find("[") if n == ins.line else 0
        m = _JSON_STRING.search(line, max(offset, 0))
        if m:
            rw.replace(n, m.start(), m.end(), json.dumps(program))
            return


def _flags(
    df: Dockerfile, ins: Instruction, rw: Rewrite, strip: frozenset[tuple[int, str]]
) -> tuple[list[tuple[int, int, int, str, str]], list[tuple[int, int, int]]]:
    """The flag words (line, start, end, name, value) and the words after them.

    Flags named in ``strip`` (``(line, name)``) are removed from the line.
    """
    tokens = _tokens(df, ins)
    flags = []
    while tokens and df.lines[tokens[0][0] - 1][tokens[0][1] :].startswith("--"):
        n, start, end = tokens.pop(0)
        name, _, value = df.lines[n - 1][start + 2 : end].partition("=")
        if (ins.line, name.lower()) in strip:
            rw.replace(n, start, end, "")
        else:
            flags.append((n, start, end, name.lower(), value))
    return flags, tokens


def _rewrite_copy(
    df: Dockerfile, ins: Instruction, rw: Rewrite, strip: frozenset[tuple[int, str]]
) -> None:
    flags, tokens = _flags(df, ins, rw, strip)
    from_stage = False
    for n, start, end, name, value in flags:
        if name == "chown":
            rw.replace(n, start, end, "--chown=0:0")
        elif name == "from":
            from_stage = True
            if not _earlier_stage(df, value.strip("'\""), ins):
                rw.replace(n, start, end, f"--from={COMPARE_IMAGE}")
    source = "/placeholder" if from_stage else "placeholder"
    if ins.json:
        strings = [
            (n, m.start(), m.end())
            for n in _content_lines(df, ins)
            for m in _JSON_STRING.finditer(df.lines[n - 1])
        ]
        for n, start, end in strings[:-1]:
            rw.replace(n, start, end, json.dumps(source))
        return
    for n, start, end in tokens[:-1]:
        rw.replace(n, start, end, source)


def rewrite(df: Dockerfile, strip: frozenset[tuple[int, str]] = frozenset()) -> str:
    """``df`` rewritten to build here (see the module docstring), line for line.

    ``strip`` names flags to remove, as ``(instruction line, flag name)``.
    """
    rw = Rewrite(df)
    for ins in df.instructions:
        keyword = ins.keyword
        if ins.heredocs:
            continue  # BuildKit-only: refused anyway, and its body is not ours to touch
        if keyword == "FROM":
            _rewrite_from(df, ins, rw)
        elif keyword == "RUN":
            _flags(df, ins, rw, strip)
            if ins.json:
                _rewrite_json_first(df, ins, rw, "/bin/true")
        elif keyword == "SHELL" and ins.json:
            _rewrite_json_first(df, ins, rw, "/bin/sh")
        elif keyword in ("COPY", "ADD"):
            _rewrite_copy(df, ins, rw, strip)
        elif keyword == "USER":
            tokens = _tokens(df, ins)
            if tokens:
                n, start, _ = tokens[0]
                rw.replace(n, start, len(df.lines[n - 1].rstrip()), "0")
    return "\n".join(rw.lines()) + "\n"


# -- the daemon -----------------------------------------------------------------------


def _tar(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


@dataclass
class DaemonAnswer:
    """What ``POST /build`` answered: the Step lines, the error, the images made."""

    status: int
    total: int | None
    texts: list[str]
    error: str
    image_ids: list[str]


def daemon_build(client: DockerClient, dockerfile: str) -> DaemonAnswer:
    """Build ``dockerfile`` with a placeholder context; what the daemon printed."""
    body = _tar({"Dockerfile": dockerfile.encode("utf-8"), "placeholder/file": b"x\n"})
    query = [("rm", "1"), ("forcerm", "1"), ("nocache", "1"), ("networkmode", "none")]
    try:
        resp = client.build(query, iter([body]), {"Content-Type": "application/x-tar"})
    except HTTPError as exc:
        return DaemonAnswer(exc.status, None, [], exc.message, [])
    answer = DaemonAnswer(200, None, [], "", [])
    for raw in b"".join(resp.chunks()).splitlines():
        if not raw.strip():
            continue
        message = json.loads(raw)
        match = _STEP.fullmatch(message.get("stream", ""))
        if match:
            answer.total = int(match.group(2))
            answer.texts.append(match.group(3))
        committed = _COMMITTED.fullmatch(message.get("stream", ""))
        if committed:  # each step's image, the FROM's base too (never removed: tagged)
            answer.image_ids.append(committed.group(1))
        if "errorDetail" in message:
            answer.error = str(message["errorDetail"].get("message", ""))
        aux = message.get("aux")
        if isinstance(aux, dict) and aux.get("ID"):
            answer.image_ids.append(str(aux["ID"]))
    return answer


def ensure_compare_image(client: DockerClient) -> None:
    """Build the base every rewritten FROM names, and make sure it exists.

    It must exist before any build: a missing ``local/...`` image would be pulled.
    """
    ensure_base_image(client=client)
    if client.image_exists(COMPARE_IMAGE):
        labels = client.get_json(f"/images/{COMPARE_IMAGE}/json")["Config"].get("Labels") or {}
        if labels.get("org.jupyter-dockerbuild.compare") == _RECIPE:
            return
    body = _tar({"Dockerfile": _COMPARE_DOCKERFILE.encode()})
    query = [("t", COMPARE_IMAGE), ("rm", "1"), ("forcerm", "1"), ("networkmode", "none")]
    resp = client.build(query, iter([body]), {"Content-Type": "application/x-tar"})
    for _ in resp.chunks():
        pass
    if not client.image_exists(COMPARE_IMAGE):
        sys.exit(f"could not build {COMPARE_IMAGE}")


# -- comparing ------------------------------------------------------------------------


def _explained(df: Dockerfile, answer: DaemonAnswer) -> str | None:
    """Which of our predictions the daemon's refusal is, or None."""
    refused = buildkit_only(df)
    parse_error = re.match(r"dockerfile parse error line (\d+): (.*)", answer.error)
    if parse_error:
        line, why = int(parse_error.group(1)), parse_error.group(2)
        flag = re.match(r"Unknown flag: (\S+)", why)
        if flag:
            construct = next(
                (
                    e
                    for e in refused
                    if e.construct.endswith(f" --{flag.group(1)}") and e.line == line
                ),
                None,
            )
            return f"{construct.construct} (line {line})" if construct else None
        if why.startswith("unknown instruction:"):
            for ins in df.instructions:
                for doc in ins.heredocs:
                    if doc.line < line <= doc.end_line:
                        return f"a heredoc in {ins.keyword} (line {doc.line}), its body"
    at_run = re.match(r"the --(\S+) option requires BuildKit", answer.error)
    if at_run and answer.texts:
        failing = next((i for i in df.instructions if i.text == answer.texts[-1]), None)
        for e in refused:
            if (
                failing is not None
                and e.line == failing.line
                and e.construct.endswith(f"--{at_run.group(1)}")
            ):
                return f"{e.construct} (line {e.line})"
    for problem in df.problems:
        if problem.message in answer.error:
            return f"{problem.message} (line {problem.line})"
    return None


def _shape(df: Dockerfile) -> list[tuple[int, int, str]]:
    return [(i.line, i.end_line, i.keyword) for i in df.instructions]


def _steps_agree(answer: DaemonAnswer, df: Dockerfile) -> str | None:
    """Why the daemon's Step lines differ from ``df``'s instructions, or None."""
    ours = [i.text for i in df.instructions]
    if answer.total is not None and answer.total != len(ours):
        return f"daemon counts {answer.total} steps, we count {len(ours)}"
    for k, (theirs, mine) in enumerate(zip(answer.texts, ours, strict=False), start=1):
        if theirs != mine:
            return f"step {k}: daemon {theirs!r}, ours {mine!r}"
    return None


def _without_buildkit_flags(
    client: DockerClient, original: Dockerfile, df: Dockerfile
) -> tuple[str, int]:
    """Build again without the refused flags, so the file's steps are compared too."""
    refused = buildkit_only(df)
    if not refused or any(e.construct.startswith("a heredoc") for e in refused):
        return "", 0  # a heredoc's body would be read as instructions: nothing to compare
    strip = frozenset((e.line, e.construct.rsplit("--", 1)[1]) for e in refused)
    text = rewrite(original, strip)
    stripped = parse(text)
    if _shape(stripped) != _shape(original):
        return "; MISMATCH: stripping the flags changed the instructions", 0
    answer = daemon_build(client, text)
    _remove(client, answer)
    differs = _steps_agree(answer, stripped)
    if differs:
        return f"; without those flags MISMATCH: {differs}", 0
    if answer.error or answer.status != 200:
        why = answer.error.splitlines()[0] if answer.error else f"HTTP {answer.status}"
        return f"; without those flags the daemon stops after {len(answer.texts)}: {why}", len(
            answer.texts
        )
    return f"; without those flags {len(answer.texts)}/{len(stripped.instructions)} match", len(
        answer.texts
    )


def _remove(client: DockerClient, answer: DaemonAnswer) -> None:
    """Remove the images the build made, newest first; a tagged one is not ours."""
    for image in reversed(answer.image_ids):
        try:
            if client.get_json(f"/images/{image}/json").get("RepoTags"):
                continue  # the base image (or anything tagged meanwhile)
            client.delete(f"/images/{image}")
        except HTTPError:
            pass  # already gone with its child, or used by someone else's build


def compare(client: DockerClient, path: str) -> tuple[str, str, int]:
    """(verdict, detail, steps compared) for one file."""
    try:
        text = open(path, encoding="utf-8").read()
    except UnicodeDecodeError:
        return "skipped", "not UTF-8", 0
    original = parse(text)
    rewritten_text = rewrite(original)
    df = parse(rewritten_text)
    if _shape(df) != _shape(original):
        return "rewrite-bug", "the rewrite changed the instructions or their lines", 0
    refusals = [f"{e.construct} (line {e.line})" for e in buildkit_only(df)]
    refusals += [f"{p.message} (line {p.line})" for p in df.problems]
    answer = daemon_build(client, rewritten_text)
    _remove(client, answer)
    ours = [i.text for i in df.instructions]
    shown = len(answer.texts)
    differs = _steps_agree(answer, df)
    if differs:
        return "MISMATCH", differs, 0
    if answer.error or answer.status != 200:
        where = f" after {shown} matching steps" if shown else ""
        why = answer.error.splitlines()[0] if answer.error else f"HTTP {answer.status}"
        explained = _explained(df, answer)
        if explained:
            again, compared = _without_buildkit_flags(client, original, df)
            detail = f"as predicted: {explained}{where}; daemon: {why}{again}"
            return ("MISMATCH" if "MISMATCH" in again else "refused"), detail, shown + compared
        if refusals:
            return "MISMATCH", f"refused{where}, not as we predicted ({refusals[0]}): {why}", shown
        return "FAILED", f"daemon{where}: {why}", shown
    if refusals:
        return "MISMATCH", f"built, though we predicted a refusal: {refusals[0]}", shown
    return "match", f"{shown}/{len(ours)} steps", shown


def dockerfiles(root: str) -> list[str]:
    """Every file under ``root`` whose name says it is a Dockerfile."""
    found = []
    for directory, _, names in os.walk(root):
        found += [os.path.join(directory, n) for n in names if "dockerfile" in n.lower()]
    return sorted(found)


def main() -> int:
    """Compare every Dockerfile under the directory given; 1 if any disagrees."""
    cli = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    cli.add_argument("dir", help="directory with the Dockerfiles (searched recursively)")
    cli.add_argument("-H", "--host", help="the daemon (default: DOCKER_HOST or the socket)")
    args = cli.parse_args()
    client = DockerClient(args.host)
    ensure_compare_image(client)
    counts: dict[str, int] = {}
    steps = 0
    files = dockerfiles(args.dir)
    for path in files:
        verdict, detail, compared = compare(client, path)
        counts[verdict] = counts.get(verdict, 0) + 1
        steps += compared
        print(f"{verdict:<11} {os.path.relpath(path, args.dir)}: {detail}", flush=True)
    summary = ", ".join(f"{n} {v}" for v, n in sorted(counts.items()))
    print(f"{len(files)} files: {summary}; {steps} steps compared with the daemon's")
    return 1 if counts.get("MISMATCH") or counts.get("rewrite-bug") else 0


if __name__ == "__main__":
    sys.exit(main())
