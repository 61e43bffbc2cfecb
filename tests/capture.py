"""Load the daemon's real `/build` responses recorded in ``tests/data/build-streams``.

Each ``NAME.raw`` is an exact HTTP response: status line, headers, then the body with its
chunk framing. :func:`load_capture` parses the head and de-chunks the body (or cuts it to
``Content-Length``), so tests can feed the decoder exactly the bytes a client would read.
"""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

# In the repository, next to this file: a fresh clone must be able to run the tests.
CAPTURES_DIR = Path(__file__).resolve().parent / "data" / "build-streams"


def fixtures_dir() -> Path:
    """The capture directory, ``tests/data/build-streams``; an error if it is incomplete."""
    if not (CAPTURES_DIR / "INDEX.tsv").is_file():
        raise FileNotFoundError(f"no build-stream captures (INDEX.tsv) in {CAPTURES_DIR}")
    return CAPTURES_DIR


@dataclass(frozen=True)
class Capture:
    """One recorded response: the status code, headers (lower-case names), plain body."""

    status: int
    headers: dict[str, str]
    body: bytes
    #: False when the chunked body stops without its final zero-size chunk (the client
    #: closed the connection mid-stream, as in the cancel captures).
    complete: bool = True


def dechunk(data: bytes) -> tuple[bytes, bool]:
    """Undo ``Transfer-Encoding: chunked``: the body, and whether the final chunk came.

    A body that simply stops after a whole chunk (the client hung up) is incomplete;
    anything else that does not follow the framing is an error.
    """
    out = bytearray()
    pos = 0
    while True:
        if pos == len(data):
            return bytes(out), False
        eol = data.index(b"\r\n", pos)
        size_field = data[pos:eol].split(b";", 1)[0].strip()
        size = int(size_field, 16)
        pos = eol + 2
        if size == 0:
            break  # trailers (none in the captures) and the final CRLF follow
        chunk = data[pos : pos + size]
        if len(chunk) != size or data[pos + size : pos + size + 2] != b"\r\n":
            raise ValueError(f"bad chunk framing at byte {pos}")
        out += chunk
        pos += size + 2
    return bytes(out), True


def parse_response(raw: bytes) -> Capture:
    """Split a raw HTTP/1.1 response into status, headers and decoded body."""
    head, sep, rest = raw.partition(b"\r\n\r\n")
    if not sep:
        raise ValueError("no end of headers in the response")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    version, code, *_ = status_line.split(" ", 2)
    if not version.startswith("HTTP/"):
        raise ValueError(f"not an HTTP status line: {status_line!r}")
    headers: dict[str, str] = {}
    for line in header_lines:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    complete = True
    if "chunked" in headers.get("transfer-encoding", "").lower():
        body, complete = dechunk(rest)
    elif "content-length" in headers:
        length = int(headers["content-length"])
        body = rest[:length]
        if len(body) != length:
            raise ValueError(f"body shorter than Content-Length {length}: {len(body)}")
    else:
        body = rest
    return Capture(status=int(code), headers=headers, body=body, complete=complete)


@cache
def load_capture(name: str) -> Capture:
    """The capture ``NAME`` (without ``.raw``), parsed and de-chunked."""
    return parse_response((fixtures_dir() / f"{name}.raw").read_bytes())


@cache
def index() -> dict[str, tuple[str, int]]:
    """INDEX.tsv as ``{name: (request line, status code)}``."""
    with open(fixtures_dir() / "INDEX.tsv", newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh, delimiter="\t"))
    return {row["capture"]: (row["request"], int(row["status"].split()[1])) for row in rows}


def all_captures() -> list[str]:
    """Every capture name listed in INDEX.tsv, in its order."""
    return list(index())


def stream_captures() -> list[str]:
    """The build streams: ``200`` answers with a chunked JSON body (not ping/version/prune)."""
    names = []
    for name in all_captures():
        capture = load_capture(name)
        chunked = "chunked" in capture.headers.get("transfer-encoding", "").lower()
        if capture.status == 200 and chunked:
            names.append(name)
    return names


def meta(name: str) -> dict[str, Any] | None:
    """The capture's ``NAME.meta.json`` (chunk sizes, read timings), if it has one."""
    path = fixtures_dir() / f"{name}.meta.json"
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None


# -- helpers for folding captures into a BuildState -----------------------------------

_STEP_HEADER_RE = re.compile(r"Step (\d+)/(\d+) : (.*)", re.DOTALL)


def events(name: str) -> list[dict[str, Any]]:
    """The capture's messages, decoded without the decoder under test.

    The daemon ends each message with ``\\r\\n`` and JSON strings hold no raw CR/LF,
    so splitting on ``\\r\\n`` is exact for these bodies.
    """
    body = load_capture(name).body
    return [json.loads(part) for part in body.split(b"\r\n") if part.strip()]


def step_headers(name: str) -> list[tuple[int, int, str]]:
    """``(k, N, instruction)`` of every ``Step k/N : ...`` message in the capture."""
    out = []
    for event in events(name):
        match = _STEP_HEADER_RE.fullmatch(str(event.get("stream", "")))
        if match:
            out.append((int(match.group(1)), int(match.group(2)), match.group(3)))
    return out


def reconstruct_dockerfile(name: str, extra: Sequence[str] = ()) -> tuple[str, dict[int, int]]:
    """A plausible Dockerfile for the capture, and the line where each step starts.

    Built from the ``Step k/N`` lines (plus ``extra`` instructions the daemon never
    reached), with a parser directive, comments and blank lines in between, and
    ``RUN a && b`` split over continuation lines (with a comment line inside), so that
    line numbers differ from step numbers.
    """
    lines = ["# syntax=docker/dockerfile:1", f"# Reconstructed from the capture {name}.", ""]
    where: dict[int, int] = {}
    texts = [text for _, _, text in step_headers(name)] + list(extra)
    for number, text in enumerate(texts, start=1):
        if number % 2 == 0:
            lines.append("")
        if number % 3 == 0:
            lines.append(f"# step {number}")
        where[number] = len(lines) + 1
        keyword, _, rest = text.partition(" ")
        parts = rest.split(" && ")
        if keyword == "RUN" and len(parts) > 1:
            lines.append(f"RUN {parts[0]} \\")
            lines.append("    # a comment inside the continuation")
            for j, part in enumerate(parts[1:], start=2):
                lines.append(f"    && {part}" + (" \\" if j < len(parts) else ""))
        else:
            lines.append(text)
    lines.append("# the end")
    return "\n".join(lines) + "\n", where


class FakeClock:
    """A clock that only moves when told to (``clock.t = ...``)."""

    def __init__(self, t: float = 100.0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


def fold(state: Any, name: str, clock: FakeClock | None = None, *, until: int | None = None) -> Any:
    """Apply the capture's events to ``state``; event ``i`` at ``clock.t = 101 + i``."""
    for i, event in enumerate(events(name)[:until]):
        if clock is not None:
            clock.t = 101.0 + i
        state.apply(event)
    return state
