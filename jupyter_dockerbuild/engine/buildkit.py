"""BuildKit's progress on the Engine API: the messages inside ``/build?version=2``'s stream.

A BuildKit build answers with the same JSON stream as the classic builder, but progress
arrives as ``{"id": "moby.buildkit.trace", "aux": "<base64>"}`` where the base64 is one
protobuf ``moby.buildkit.v1.StatusResponse`` (moby/buildkit
``api/services/control/control.proto``), the image as ``{"id": "moby.image.id", "aux":
{"ID": "sha256:..."}}`` and failures as the usual ``errorDetail``. Each trace message is
complete in itself, so decoding is per message: the JSON decoder in :mod:`.stream` already
cuts the byte stream into messages, and :func:`decode_status` turns one ``aux`` into typed
frozen dataclasses.

Field numbers (checked against ``control.proto`` at buildkit v0.8.3, the version inside
Docker 20.10, and at master; ``google/protobuf/timestamp.proto``; ``solver/pb/ops.proto``):

- ``StatusResponse``: vertexes=1, statuses=2, logs=3, warnings=4 (warnings since v0.10).
- ``Vertex``: digest=1, inputs=2, name=3, cached=4, started=5, completed=6, error=7,
  progressGroup=8 (v0.10; ``pb.ProgressGroup`` id=1, name=2, weak=3).
- ``VertexStatus``: ID=1, vertex=2, name=3, current=4, total=5, timestamp=6, started=7,
  completed=8.
- ``VertexLog``: vertex=1, timestamp=2, stream=3 (1 stdout, 2 stderr), msg=4 (bytes).
- ``VertexWarning``: vertex=1, level=2, short=3, detail=4 (repeated bytes), url=5,
  info=6 (``pb.SourceInfo`` filename=1, data=2, definition=3, language=4),
  ranges=7 (``pb.Range`` start=1, end=2 of ``pb.Position`` line=1, character=2).
- ``Timestamp``: seconds=1 (int64), nanos=2 (int32).

Timestamps become epoch seconds as floats (``None`` when absent or Go's zero time, which
gogoproto writes for a non-nullable field that was never set). Unknown fields, and known
fields with an unexpected wire type, are skipped as protobuf does. A payload that is not
base64 or not a valid message raises :class:`~jupyter_dockerbuild.errors.StreamError`.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..errors import StreamError
from ..units import with_article
from .protobuf import FIXED32, FIXED64, LENGTH, VARINT, as_int32, as_int64, fields

#: ``id`` of the JSON messages that carry a base64 ``StatusResponse``.
TRACE_ID = "moby.buildkit.trace"
#: ``id`` of the JSON message that carries the built image's id.
IMAGE_ID = "moby.image.id"

STDOUT, STDERR = 1, 2

#: ``time.Time{}`` marshalled as a Timestamp: what a non-nullable, unset time becomes.
_GO_ZERO_SECONDS = -62135596800

_SCALAR_WIRE = (VARINT, FIXED64, FIXED32)


@dataclass(frozen=True, slots=True)
class ProgressGroup:
    """Vertices a newer frontend asks to show as one (Docker 23+; never from 20.10)."""

    id: str
    name: str
    weak: bool = False


@dataclass(frozen=True, slots=True)
class Vertex:
    """One node of the build graph, as last reported; later messages repeat it whole."""

    digest: str
    inputs: tuple[str, ...] = ()
    name: str = ""
    cached: bool = False
    started: float | None = None
    completed: float | None = None
    error: str = ""
    progress_group: ProgressGroup | None = None


@dataclass(frozen=True, slots=True)
class VertexStatus:
    """Progress of one job inside a vertex (a transfer, an extraction): current/total."""

    id: str
    vertex: str = ""
    name: str = ""
    current: int = 0
    total: int = 0
    timestamp: float | None = None
    started: float | None = None
    completed: float | None = None


@dataclass(frozen=True, slots=True)
class VertexLog:
    """A piece of a vertex's output: raw bytes, not line-aligned; ``stream`` 1 or 2."""

    vertex: str
    timestamp: float | None = None
    stream: int = STDOUT
    msg: bytes = b""


@dataclass(frozen=True, slots=True)
class Position:
    """A place in a source file (BuildKit counts lines from 1)."""

    line: int = 0
    character: int = 0


@dataclass(frozen=True, slots=True)
class Range:
    """An area of a source file a warning points at."""

    start: Position | None = None
    end: Position | None = None


@dataclass(frozen=True, slots=True)
class SourceInfo:
    """The source file a warning refers to (its LLB definition is not kept)."""

    filename: str = ""
    data: bytes = b""
    language: str = ""


@dataclass(frozen=True, slots=True)
class VertexWarning:
    """A build warning (BuildKit 0.10+, Docker 23+; Docker 20.10 sends none)."""

    vertex: str
    level: int = 0
    short: bytes = b""
    detail: tuple[bytes, ...] = ()
    url: str = ""
    info: SourceInfo | None = None
    ranges: tuple[Range, ...] = ()


@dataclass(frozen=True, slots=True)
class StatusResponse:
    """One trace message: the vertices, statuses, logs and warnings that changed."""

    vertexes: tuple[Vertex, ...] = ()
    statuses: tuple[VertexStatus, ...] = ()
    logs: tuple[VertexLog, ...] = ()
    warnings: tuple[VertexWarning, ...] = ()


# -- field decoders --------------------------------------------------------------------


def _str(value: memoryview) -> str:
    # Go strings need not be valid UTF-8; a bad byte in a name must not fail the build.
    return bytes(value).decode("utf-8", errors="replace")


def _timestamp(data: memoryview) -> float | None:
    seconds = nanos = 0
    for number, wire, value in fields(data):
        if wire != VARINT:
            continue
        assert isinstance(value, int)
        if number == 1:
            seconds = as_int64(value)
        elif number == 2:
            nanos = as_int32(value)
    if seconds == _GO_ZERO_SECONDS and nanos == 0:
        return None
    return seconds + nanos / 1e9


def _progress_group(data: memoryview) -> ProgressGroup:
    kw: dict[str, Any] = {"id": "", "name": ""}
    for number, wire, value in fields(data):
        if number == 1 and wire == LENGTH:
            kw["id"] = _str(value)  # type: ignore[arg-type]
        elif number == 2 and wire == LENGTH:
            kw["name"] = _str(value)  # type: ignore[arg-type]
        elif number == 3 and wire == VARINT:
            kw["weak"] = bool(value)
    return ProgressGroup(**kw)


def _vertex(data: memoryview) -> Vertex:
    kw: dict[str, Any] = {"digest": ""}
    inputs: list[str] = []
    for number, wire, value in fields(data):
        if wire == LENGTH:
            assert isinstance(value, memoryview)
            if number == 1:
                kw["digest"] = _str(value)
            elif number == 2:
                inputs.append(_str(value))
            elif number == 3:
                kw["name"] = _str(value)
            elif number == 5:
                kw["started"] = _timestamp(value)
            elif number == 6:
                kw["completed"] = _timestamp(value)
            elif number == 7:
                kw["error"] = _str(value)
            elif number == 8:
                kw["progress_group"] = _progress_group(value)
        elif number == 4 and wire == VARINT:
            kw["cached"] = bool(value)
    return Vertex(inputs=tuple(inputs), **kw)


def _vertex_status(data: memoryview) -> VertexStatus:
    kw: dict[str, Any] = {"id": ""}
    names = {1: "id", 2: "vertex", 3: "name"}
    times = {6: "timestamp", 7: "started", 8: "completed"}
    for number, wire, value in fields(data):
        if wire == LENGTH:
            assert isinstance(value, memoryview)
            if number in names:
                kw[names[number]] = _str(value)
            elif number in times:
                kw[times[number]] = _timestamp(value)
        elif wire == VARINT and number in (4, 5):
            assert isinstance(value, int)
            kw["current" if number == 4 else "total"] = as_int64(value)
    return VertexStatus(**kw)


def _vertex_log(data: memoryview) -> VertexLog:
    kw: dict[str, Any] = {"vertex": ""}
    for number, wire, value in fields(data):
        if wire == LENGTH:
            assert isinstance(value, memoryview)
            if number == 1:
                kw["vertex"] = _str(value)
            elif number == 2:
                kw["timestamp"] = _timestamp(value)
            elif number == 4:
                kw["msg"] = bytes(value)
        elif number == 3 and wire == VARINT:
            assert isinstance(value, int)
            kw["stream"] = as_int64(value)
    return VertexLog(**kw)


def _position(data: memoryview) -> Position:
    line = character = 0
    for number, wire, value in fields(data):
        if wire == VARINT:
            assert isinstance(value, int)
            if number == 1:
                line = as_int32(value)
            elif number == 2:
                character = as_int32(value)
    return Position(line, character)


def _range(data: memoryview) -> Range:
    start = end = None
    for number, wire, value in fields(data):
        if wire == LENGTH:
            assert isinstance(value, memoryview)
            if number == 1:
                start = _position(value)
            elif number == 2:
                end = _position(value)
    return Range(start, end)


def _source_info(data: memoryview) -> SourceInfo:
    kw: dict[str, Any] = {}
    for number, wire, value in fields(data):
        if wire == LENGTH:
            assert isinstance(value, memoryview)
            if number == 1:
                kw["filename"] = _str(value)
            elif number == 2:
                kw["data"] = bytes(value)
            elif number == 4:
                kw["language"] = _str(value)
            # 3 (the LLB definition) is large and of no use to a progress view.
    return SourceInfo(**kw)


def _vertex_warning(data: memoryview) -> VertexWarning:
    kw: dict[str, Any] = {"vertex": ""}
    detail: list[bytes] = []
    ranges: list[Range] = []
    for number, wire, value in fields(data):
        if wire == LENGTH:
            assert isinstance(value, memoryview)
            if number == 1:
                kw["vertex"] = _str(value)
            elif number == 3:
                kw["short"] = bytes(value)
            elif number == 4:
                detail.append(bytes(value))
            elif number == 5:
                kw["url"] = _str(value)
            elif number == 6:
                kw["info"] = _source_info(value)
            elif number == 7:
                ranges.append(_range(value))
        elif number == 2 and wire == VARINT:
            assert isinstance(value, int)
            kw["level"] = as_int64(value)
    return VertexWarning(detail=tuple(detail), ranges=tuple(ranges), **kw)


def parse_status(data: bytes | memoryview) -> StatusResponse:
    """Decode the protobuf bytes of one ``StatusResponse``."""
    vertexes: list[Vertex] = []
    statuses: list[VertexStatus] = []
    logs: list[VertexLog] = []
    warnings: list[VertexWarning] = []
    for number, wire, value in fields(data):
        if wire != LENGTH:
            continue
        assert isinstance(value, memoryview)
        if number == 1:
            vertexes.append(_vertex(value))
        elif number == 2:
            statuses.append(_vertex_status(value))
        elif number == 3:
            logs.append(_vertex_log(value))
        elif number == 4:
            warnings.append(_vertex_warning(value))
    return StatusResponse(tuple(vertexes), tuple(statuses), tuple(logs), tuple(warnings))


def decode_status(aux: str) -> StatusResponse:
    """Decode the ``aux`` of a ``moby.buildkit.trace`` message (base64 of the protobuf).

    Raises :class:`StreamError` when it is not base64 or not a well-formed message.
    """
    if not isinstance(aux, str):
        raise StreamError(
            f"BuildKit trace payload is {with_article(type(aux).__name__)}, not a base64 string"
        )
    try:
        data = base64.b64decode(aux, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise StreamError(f"BuildKit trace payload is not valid base64: {aux[:40]!r}") from exc
    try:
        return parse_status(data)
    except StreamError as exc:
        raise StreamError(f"BuildKit trace payload is corrupt: {exc}") from None


def status_of(event: Mapping[str, Any]) -> StatusResponse | None:
    """The decoded ``StatusResponse`` of a trace event; ``None`` for any other event."""
    if event.get("id") != TRACE_ID or "aux" not in event:
        return None
    return decode_status(event["aux"])


def image_id_of(event: Mapping[str, Any]) -> str | None:
    """The image id of a ``moby.image.id`` event; ``None`` for any other event.

    Raises :class:`StreamError` when the event has that id but no ``aux.ID`` string.
    """
    if event.get("id") != IMAGE_ID:
        return None
    aux = event.get("aux")
    image = aux.get("ID") if isinstance(aux, dict) else None
    if not isinstance(image, str) or not image:
        raise StreamError(f"the daemon's {IMAGE_ID} message has no image ID: {str(aux)[:80]!r}")
    return image
