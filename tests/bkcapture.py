"""BuildKit test helpers: the recorded captures in ``tests/data/buildkit-streams`` and a
protobuf encoder for building ``StatusResponse`` messages the daemon cannot be made to send.

The encoder is written from the protobuf encoding spec independently of the reader under
test (``jupyter_dockerbuild.engine.protobuf``), so a round trip checks one against the other.
"""

from __future__ import annotations

import base64
import csv
import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from capture import Capture, parse_response

DATA = Path(__file__).resolve().parent / "data" / "buildkit-streams"


@cache
def index() -> dict[str, tuple[str, str]]:
    """INDEX.tsv: ``{name: (request line, status line)}``."""
    with open(DATA / "INDEX.tsv", newline="", encoding="utf-8") as fh:
        return {
            row["capture"]: (row["request"], row["status"])
            for row in csv.DictReader(fh, delimiter="\t")
        }


def names() -> list[str]:
    """Every capture, in INDEX order."""
    return list(index())


@cache
def load(name: str) -> Capture:
    """The capture ``name``, parsed and de-chunked."""
    return parse_response((DATA / f"{name}.raw").read_bytes())


@cache
def meta(name: str) -> dict[str, Any]:
    """The capture's ``NAME.meta.json``."""
    return json.loads((DATA / f"{name}.meta.json").read_text(encoding="utf-8"))


def oracle_events(name: str) -> list[dict[str, Any]]:
    """The capture's JSON messages split on ``\\r\\n`` (independent of the stream decoder)."""
    return [json.loads(p) for p in load(name).body.split(b"\r\n") if p.strip()]


# -- a protobuf encoder, from the spec -------------------------------------------------


def varint(value: int) -> bytes:
    """Base-128 varint of ``value`` taken as an unsigned 64-bit number (negatives: 10 bytes)."""
    value &= (1 << 64) - 1
    out = bytearray()
    while True:
        low = value & 0x7F
        value >>= 7
        if value:
            out.append(low | 0x80)
        else:
            out.append(low)
            return bytes(out)


def key(number: int, wire: int) -> bytes:
    return varint((number << 3) | wire)


def f_varint(number: int, value: int) -> bytes:
    return key(number, 0) + varint(value)


def f_bytes(number: int, value: bytes | str) -> bytes:
    data = value.encode() if isinstance(value, str) else value
    return key(number, 2) + varint(len(data)) + data


def f_fixed32(number: int, value: int) -> bytes:
    return key(number, 5) + (value & 0xFFFFFFFF).to_bytes(4, "little")


def f_fixed64(number: int, value: int) -> bytes:
    return key(number, 1) + (value & ((1 << 64) - 1)).to_bytes(8, "little")


def f_group(number: int, body: bytes) -> bytes:
    return key(number, 3) + body + key(number, 4)


def timestamp(seconds: int, nanos: int = 0) -> bytes:
    return (f_varint(1, seconds) if seconds else b"") + (f_varint(2, nanos) if nanos else b"")


@dataclass(frozen=True)
class Ts:
    """A Timestamp to encode, and the float the decoder should give for it."""

    seconds: int
    nanos: int = 0

    def encode(self) -> bytes:
        return timestamp(self.seconds, self.nanos)

    @property
    def value(self) -> float:
        return self.seconds + self.nanos / 1e9


def vertex(
    digest: str,
    name: str = "",
    inputs: tuple[str, ...] = (),
    cached: bool = False,
    started: Ts | None = None,
    completed: Ts | None = None,
    error: str = "",
) -> bytes:
    out = f_bytes(1, digest)
    for item in inputs:
        out += f_bytes(2, item)
    if name:
        out += f_bytes(3, name)
    if cached:
        out += f_varint(4, 1)
    if started is not None:
        out += f_bytes(5, started.encode())
    if completed is not None:
        out += f_bytes(6, completed.encode())
    if error:
        out += f_bytes(7, error)
    return out


def vertex_status(
    id: str,
    vertex: str,
    name: str = "",
    current: int = 0,
    total: int = 0,
    ts: Ts | None = None,
    started: Ts | None = None,
    completed: Ts | None = None,
) -> bytes:
    out = f_bytes(1, id) + f_bytes(2, vertex)
    if name:
        out += f_bytes(3, name)
    if current:
        out += f_varint(4, current)
    if total:
        out += f_varint(5, total)
    for number, value in ((6, ts), (7, started), (8, completed)):
        if value is not None:
            out += f_bytes(number, value.encode())
    return out


def vertex_log(vertex: str, msg: bytes, stream: int = 1, ts: Ts | None = None) -> bytes:
    out = f_bytes(1, vertex)
    if ts is not None:
        out += f_bytes(2, ts.encode())
    return out + f_varint(3, stream) + f_bytes(4, msg)


def vertex_warning(
    vertex: str, short: bytes, level: int = 1, detail: tuple[bytes, ...] = (), url: str = ""
) -> bytes:
    out = f_bytes(1, vertex) + f_varint(2, level) + f_bytes(3, short)
    for item in detail:
        out += f_bytes(4, item)
    if url:
        out += f_bytes(5, url)
    return out


def status_response(
    vertexes: tuple[bytes, ...] = (),
    statuses: tuple[bytes, ...] = (),
    logs: tuple[bytes, ...] = (),
    warnings: tuple[bytes, ...] = (),
) -> bytes:
    out = b""
    for number, items in ((1, vertexes), (2, statuses), (3, logs), (4, warnings)):
        for item in items:
            out += f_bytes(number, item)
    return out


def trace(payload: bytes) -> dict[str, Any]:
    """The JSON event that carries ``payload`` (what the daemon sends)."""
    return {"id": "moby.buildkit.trace", "aux": base64.b64encode(payload).decode()}
