r"""BuildKit's progress folded into state: JSON events in, vertices with logs out; no IO.

The daemon's ``/build?version=2`` stream carries ``moby.buildkit.trace`` messages, each a
``StatusResponse`` holding whatever changed: vertices (always repeated whole), job
statuses, log chunks, warnings. :class:`BuildKitState` takes the same JSON events the
:class:`~jupyter_dockerbuild.engine.stream.JSONStreamDecoder` yields and keeps:

- every vertex merged by digest (:class:`VertexState`), in the order first seen, with
  its stage label parsed from the name (``[stage-1 2/5] RUN ...``, ``[internal] load
  ...``), its run intervals (a vertex can start again: BuildKit re-reports a cache hit
  after it ran), cached, error, its job statuses (current/total) and warnings;
- per-vertex logs (:class:`VertexLog`): stdout and stderr never mixed within a line,
  UTF-8 decoded incrementally per stream (BuildKit cuts its 4 KiB chunks anywhere), a
  carriage return collapsing a redrawn line to its last frame as a terminal shows it,
  and memory bounded by a line count and a character budget however much is printed.
  BuildKit clips a step's log itself (Docker 20.10: 200 KiB/s and 2 MiB per stream) and
  says so in the log; :attr:`VertexLog.clipped` keeps that limit;
- the image id (``moby.image.id``, or the bare id that ``q=1`` prints instead), the
  tags the daemon reports, and a failure from ``errorDetail``.

Times are the daemon's (epoch seconds) except :meth:`BuildKitState.elapsed` while the
build runs, which needs the local clock (injectable). Nothing here prints or draws:
:mod:`.buildkit_plain` renders the state as ``docker buildx build --progress=plain``
does, the UI layer draws it.
"""

from __future__ import annotations

import codecs
import heapq
import re
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from ..engine.buildkit import (
    STDERR,
    STDOUT,
    ProgressGroup,
    StatusResponse,
    Vertex,
    VertexStatus,
    VertexWarning,
    image_id_of,
    status_of,
)
from ..units import format_count

#: Lines kept per vertex (both streams together); older ones are dropped, counted.
MAX_LINES = 5000
#: Characters kept per vertex across its kept lines.
MAX_CHARS = 1 << 20
#: A line longer than this (no newline for a long time) keeps only its last part.
MAX_LINE_CHARS = 16 * 1024

_LABEL_RE = re.compile(
    r"\[(?:(?P<platform>[^\s/\]]+/[^\s\]]+) )?(?:(?P<stage>[^\s/\]]+) )?"
    r"(?P<step>\d+)/(?P<total>\d+)\] (?P<rest>.*)",
    re.DOTALL,
)
_BRACKET_RE = re.compile(r"\[(?P<label>[^\]\s]+)\] (?P<rest>.*)", re.DOTALL)
_CLIP_RE = re.compile(r"\[output clipped, log limit (?P<limit>.+) reached\]")
_EXIT_RE = re.compile(r"exit code: (\d+)")
_QUIET_ID_RE = re.compile(r"\s*(sha256:[0-9a-f]{64})\s*")
_TAGGED_RE = re.compile(r"Successfully tagged (\S+)\s*")
_CANCELED = "context canceled"


@dataclass(frozen=True)
class Label:
    """What a vertex name says about where it comes from.

    ``[b 2/4] RUN x`` -> stage ``b``, step 2 of 4, instruction ``RUN x``. A single-stage
    build leaves the stage out (``[2/4] RUN x``: ``stage`` is None). ``[internal] load
    ...`` and other bracketed words give ``kind`` (``internal``) and no step; names
    without brackets (``exporting to image``, ``copy /context /``, a URL) have neither.
    """

    instruction: str
    stage: str | None = None
    step: int | None = None
    total: int | None = None
    platform: str | None = None
    kind: str | None = None


def parse_label(name: str) -> Label:
    """Split a vertex name into stage, step and instruction (see :class:`Label`)."""
    match = _LABEL_RE.fullmatch(name)
    if match:
        return Label(
            instruction=match["rest"],
            stage=match["stage"],
            step=int(match["step"]),
            total=int(match["total"]),
            platform=match["platform"],
        )
    match = _BRACKET_RE.fullmatch(name)
    if match:
        return Label(instruction=match["rest"], kind=match["label"])
    return Label(instruction=name)


class LogLine(NamedTuple):
    """One complete line of a vertex's output (a tuple: a flood makes many of them)."""

    #: 1-based, counting every line the vertex printed (dropped ones included).
    number: int
    stream: int
    #: Daemon time (epoch seconds) of the chunk in which the line began.
    timestamp: float | None
    text: str


class _StreamLine:
    """The line a stream is writing now: text so far, and a carriage return pending."""

    __slots__ = ("at_column0", "cut", "decoder", "started", "text")

    def __init__(self) -> None:
        self.decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self.text = ""
        #: After a ``\r``: the next text replaces the line instead of extending it.
        self.at_column0 = False
        self.started: float | None = None
        #: Characters cut off the front of an overlong line.
        self.cut = 0


class VertexLog:
    r"""A vertex's output as a terminal would show it, within a memory budget per stream.

    Each stream keeps its complete lines apart (a flood on stdout cannot push the last
    stderr lines of a failing step out), with its own line in progress; every line
    carries a number counting all lines of the vertex, so both streams can be read back
    in the order they ended. ``\r`` followed by text replaces the line in progress (a
    progress bar keeps its last frame); ``\r\n`` is a plain line end. When a stream
    keeps more than ``max_lines`` lines or ``max_chars`` characters, its oldest lines are
    dropped and counted in :attr:`dropped`.
    """

    def __init__(
        self,
        max_lines: int = MAX_LINES,
        max_chars: int = MAX_CHARS,
        max_line_chars: int = MAX_LINE_CHARS,
    ) -> None:
        self.max_lines = max_lines
        self.max_chars = max_chars
        self.max_line_chars = max_line_chars
        self._kept: dict[int, deque[LogLine]] = {STDOUT: deque(), STDERR: deque()}
        self._chars = {STDOUT: 0, STDERR: 0}
        #: Lines dropped from the front to stay within the budget, per stream.
        self.dropped_by_stream = {STDOUT: 0, STDERR: 0}
        #: Lines ever completed, both streams (the next line's number is ``count + 1``).
        self.count = 0
        #: Bytes received per stream (before decoding).
        self.bytes = {STDOUT: 0, STDERR: 0}
        #: The limit BuildKit named when it clipped a stream (``"2MiB"``), per stream.
        self.clipped: dict[int, str] = {}
        self._open: dict[int, _StreamLine] = {}

    @property
    def dropped(self) -> int:
        """Lines dropped from both streams."""
        return self.dropped_by_stream[STDOUT] + self.dropped_by_stream[STDERR]

    @property
    def lines(self) -> list[LogLine]:
        """Every kept line of both streams, in the order they ended."""
        return list(heapq.merge(self._kept[STDOUT], self._kept[STDERR], key=_number))

    def write(self, stream: int, data: bytes, timestamp: float | None = None) -> None:
        """Add a chunk of ``stream``'s output (any stream other than 2 counts as stdout)."""
        stream = STDERR if stream == STDERR else STDOUT
        self.bytes[stream] += len(data)
        line = self._open.get(stream)
        if line is None:
            line = self._open[stream] = _StreamLine()
        text = line.decoder.decode(data)
        if not text:
            return
        pieces = text.split("\n")
        if pieces[0]:
            self._add(line, pieces[0], timestamp)
        if len(pieces) == 1:
            return
        self._end_line(stream, line, timestamp)
        # The lines in between are whole in this chunk: the common case of a flood, so
        # they skip the carriage-return and overlong-line handling when they need none.
        kept = self._kept[stream]
        limit = self.max_line_chars
        number = self.count
        chars = 0
        for piece in pieces[1:-1]:
            if "\r" in piece or len(piece) > limit:
                self.count = number
                self._chars[stream] += chars
                chars = 0
                self._add(line, piece, timestamp)
                self._end_line(stream, line, timestamp)
                number = self.count
                continue
            number += 1
            kept.append(LogLine(number, stream, timestamp, piece))
            chars += len(piece)
            if piece.startswith("[output clipped"):
                self._note_clip(stream, piece)
        self.count = number
        self._chars[stream] += chars
        self._trim(stream)
        if pieces[-1]:
            self._add(line, pieces[-1], timestamp)

    def _add(self, line: _StreamLine, piece: str, timestamp: float | None) -> None:
        for j, frame in enumerate(piece.split("\r")):
            if j:
                line.at_column0 = True
            if not frame:
                continue
            if line.at_column0:
                line.text, line.cut, line.at_column0 = frame, 0, False
            else:
                line.text += frame
            if line.started is None:
                line.started = timestamp
            if len(line.text) > self.max_line_chars:
                extra = len(line.text) - self.max_line_chars
                line.text = line.text[extra:]
                line.cut += extra

    def _end_line(self, stream: int, line: _StreamLine, timestamp: float | None) -> None:
        cut = format_count(line.cut, "character")
        text = line.text if not line.cut else f"[{cut} cut] {line.text}"
        started = line.started if line.started is not None else timestamp
        line.text, line.cut, line.at_column0, line.started = "", 0, False, None
        self._push(stream, text, started)

    def _push(self, stream: int, text: str, timestamp: float | None) -> None:
        self.count += 1
        self._kept[stream].append(LogLine(self.count, stream, timestamp, text))
        self._chars[stream] += len(text)
        if text.startswith("[output clipped"):
            self._note_clip(stream, text)
        self._trim(stream)

    def _note_clip(self, stream: int, text: str) -> None:
        match = _CLIP_RE.fullmatch(text)
        if match:
            self.clipped[stream] = match["limit"]

    def _trim(self, stream: int) -> None:
        kept = self._kept[stream]
        while kept and (len(kept) > self.max_lines or self._chars[stream] > self.max_chars):
            old = kept.popleft()
            self._chars[stream] -= len(old.text)
            self.dropped_by_stream[stream] += 1

    def close(self) -> None:
        """End every line in progress (the vertex completed: no more output comes)."""
        for stream, line in self._open.items():
            rest = line.decoder.decode(b"", final=True)
            if rest:
                self._add(line, rest, None)
            if line.text or line.cut:
                self._end_line(stream, line, None)

    def partial(self, stream: int = STDOUT) -> str:
        """The line ``stream`` is writing now (not ended by a newline yet)."""
        line = self._open.get(stream)
        return line.text if line is not None else ""

    def since(self, number: int) -> list[LogLine]:
        """Kept lines numbered above ``number``, both streams in order (a printer's cursor).

        Costs the number of lines returned, not the number kept.
        """
        if number >= self.count:
            return []
        parts = []
        for kept in self._kept.values():
            newer: list[LogLine] = []
            for item in reversed(kept):
                if item.number <= number:
                    break
                newer.append(item)
            newer.reverse()
            parts.append(newer)
        return list(heapq.merge(*parts, key=_number))

    def tail(self, n: int, stream: int | None = None) -> list[str]:
        """The last ``n`` complete lines (of one stream, or both in order), oldest first."""
        return [item.text for item in self.tail_lines(n, stream)]

    def tail_lines(self, n: int, stream: int | None = None) -> list[LogLine]:
        """:meth:`tail` with each line's stream and number (a view colours stderr)."""
        if n <= 0:
            return []
        streams = [stream] if stream is not None else [STDOUT, STDERR]
        candidates: list[LogLine] = []
        for s in streams:
            kept = self._kept[STDERR if s == STDERR else STDOUT]
            candidates.extend(kept[i] for i in range(max(0, len(kept) - n), len(kept)))
        candidates.sort(key=_number)
        return candidates[-n:]

    def text(self, stream: int | None = None) -> str:
        """The kept lines as text (one stream, or both in order), newline-terminated."""
        if stream is not None:
            return "".join(f"{item.text}\n" for item in self._kept[stream])
        return "".join(f"{item.text}\n" for item in self.lines)


def _number(line: LogLine) -> int:
    return line.number


@dataclass
class VertexState:
    """A vertex as known so far: the latest report merged with everything before."""

    digest: str
    name: str
    label: Label
    inputs: tuple[str, ...] = ()
    #: ``#N`` in the plain output: numbered in the order vertices start (None: never).
    number: int | None = None
    started: float | None = None
    completed: float | None = None
    cached: bool = False
    error: str = ""
    progress_group: ProgressGroup | None = None
    #: Start -> end (None while running) of each run; BuildKit may run a vertex twice.
    intervals: dict[float, float | None] = field(default_factory=dict)
    statuses: dict[str, VertexStatus] = field(default_factory=dict)
    warnings: list[VertexWarning] = field(default_factory=list)
    log: VertexLog = field(default_factory=VertexLog)

    @property
    def running(self) -> bool:
        """Started and not completed."""
        return self.started is not None and self.completed is None

    @property
    def done(self) -> bool:
        """Completed (successfully, from cache, failed or cancelled)."""
        return self.completed is not None

    @property
    def canceled(self) -> bool:
        """Stopped because the build was cancelled or another vertex failed."""
        return self.error.endswith(_CANCELED)

    @property
    def failed(self) -> bool:
        """Ended with an error of its own (not a cancellation)."""
        return bool(self.error) and not self.canceled

    @property
    def exit_code(self) -> int | None:
        """The exit code a failing RUN reported (``... exit code: 3``)."""
        match = _EXIT_RE.search(self.error)
        return int(match.group(1)) if match else None

    def duration(self, now: float | None = None) -> float | None:
        """Seconds spent running (overlapping runs merged); ``now`` ends an open one."""
        spans = []
        for start, end in self.intervals.items():
            stop = end if end is not None else now
            if stop is not None:
                spans.append((start, max(start, stop)))
        if not spans:
            return None
        spans.sort()
        total = 0.0
        cur_start, cur_end = spans[0]
        for start, end in spans[1:]:
            if start > cur_end:
                total += cur_end - cur_start
                cur_start, cur_end = start, end
            else:
                cur_end = max(cur_end, end)
        return total + cur_end - cur_start

    @property
    def last_start(self) -> float | None:
        """Start of the most recent run (where the plain output's log times count from)."""
        return max(self.intervals) if self.intervals else self.started


@dataclass(frozen=True)
class Change:
    """What one event changed (for views that redraw only what moved)."""

    #: Digests of vertices the event touched, in the order the event named them.
    vertices: tuple[str, ...] = ()
    image_id: bool = False
    error: bool = False
    messages: tuple[str, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.vertices or self.image_id or self.error or self.messages)


class BuildKitState:
    """Fold BuildKit build events into vertices, logs, statuses, result and failure.

    Feed it the daemon's JSON events with :meth:`apply` (or :meth:`apply_many`); it
    raises :class:`~jupyter_dockerbuild.errors.StreamError` for a trace payload that
    is not a well-formed ``StatusResponse`` and leaves the state as it was before that
    event.
    """

    def __init__(
        self,
        *,
        clock: Callable[[], float] = time.time,
        max_lines: int = MAX_LINES,
        max_chars: int = MAX_CHARS,
        max_line_chars: int = MAX_LINE_CHARS,
    ) -> None:
        self._clock = clock
        self._log_limits = (max_lines, max_chars, max_line_chars)
        self.vertices: dict[str, VertexState] = {}
        self.image_id: str | None = None
        #: ``t`` references the daemon reported tagging (``Successfully tagged x``).
        self.tags: list[str] = []
        #: Every plain ``stream`` message, in order (BuildKit sends only a few).
        self.messages: list[str] = []
        self.warnings: list[VertexWarning] = []
        self.error: str | None = None
        self.error_code: int | None = None
        #: Trace messages folded (a measure of the daemon's chattiness).
        self.traces = 0
        self._numbered = 0
        #: Local clock when the first vertex started, and that vertex's daemon time.
        self._local_start: float | None = None
        self._daemon_start: float | None = None
        self._daemon_last: float | None = None

    # -- folding ---------------------------------------------------------------------

    def apply_many(self, events: Iterable[dict[str, Any]]) -> None:
        """Apply each event in turn."""
        for event in events:
            self.apply(event)

    def apply(self, event: dict[str, Any]) -> Change:
        """Fold one JSON event from the build stream; return what it changed."""
        status = status_of(event)
        if status is not None:
            return self.apply_status(status)
        image = image_id_of(event)
        if image is not None:
            self.image_id = image
            return Change(image_id=True)
        detail = event.get("errorDetail")
        if detail is not None or "error" in event:
            message = ""
            code = None
            if isinstance(detail, dict):
                message = str(detail.get("message") or "")
                raw_code = detail.get("code")
                code = raw_code if isinstance(raw_code, int) else None
            self.error = message or str(event.get("error") or "") or "the build failed"
            self.error_code = code
            return Change(error=True)
        text = event.get("stream")
        if isinstance(text, str):
            self.messages.append(text)
            tagged = _TAGGED_RE.fullmatch(text)
            if tagged:
                self.tags.append(tagged.group(1))
            quiet = _QUIET_ID_RE.fullmatch(text)
            changed_id = False
            if quiet and self.image_id is None:
                # q=1: the daemon sends the id as text and no moby.image.id at all.
                self.image_id = quiet.group(1)
                changed_id = True
            return Change(messages=(text,), image_id=changed_id)
        return Change()

    def apply_status(self, status: StatusResponse) -> Change:
        """Fold one decoded ``StatusResponse``."""
        self.traces += 1
        touched: dict[str, None] = {}
        for vertex in status.vertexes:
            self._merge(vertex)
            touched[vertex.digest] = None
        for job in status.statuses:
            state = self._vertex(job.vertex)
            state.statuses[job.id] = job
            self._seen_time(job.timestamp)
            touched[job.vertex] = None
        for warning in status.warnings:
            self._vertex(warning.vertex).warnings.append(warning)
            self.warnings.append(warning)
            touched[warning.vertex] = None
        for log in status.logs:
            state = self._vertex(log.vertex)
            state.log.write(log.stream, log.msg, log.timestamp)
            self._seen_time(log.timestamp)
            touched[log.vertex] = None
        # Output can trail the completion in the same message; end the lines after it.
        for digest in touched:
            state = self.vertices[digest]
            if state.done:
                state.log.close()
        return Change(vertices=tuple(touched))

    def _vertex(self, digest: str) -> VertexState:
        """The vertex ``digest``; a placeholder if a log or status names it first."""
        state = self.vertices.get(digest)
        if state is None:
            state = VertexState(digest, "", parse_label(""), log=VertexLog(*self._log_limits))
            self.vertices[digest] = state
        return state

    def _merge(self, vertex: Vertex) -> None:
        state = self._vertex(vertex.digest)
        if vertex.name and vertex.name != state.name:
            state.name, state.label = vertex.name, parse_label(vertex.name)
        if vertex.inputs:
            state.inputs = vertex.inputs
        # A repeated report without a start must not reset a started vertex (buildx
        # keeps the earlier one too); otherwise the newest report wins, so a vertex
        # that starts again is running again.
        if vertex.started is not None or state.started is None:
            state.started = vertex.started
            state.completed = vertex.completed
            state.cached = vertex.cached
            state.error = vertex.error
        if vertex.progress_group is not None:
            state.progress_group = vertex.progress_group
        if vertex.started is not None:
            if state.number is None:
                self._numbered += 1
                state.number = self._numbered
            if self._local_start is None:
                self._local_start = self._clock()
                self._daemon_start = vertex.started
            previous = state.intervals.get(vertex.started)
            state.intervals[vertex.started] = vertex.completed or previous
        self._seen_time(vertex.started)
        self._seen_time(vertex.completed)

    def _seen_time(self, t: float | None) -> None:
        if t is not None and (self._daemon_last is None or t > self._daemon_last):
            self._daemon_last = t

    # -- reading ---------------------------------------------------------------------

    def __iter__(self) -> Iterator[VertexState]:
        return iter(self.vertices.values())

    @property
    def finished(self) -> bool:
        """The daemon reported the image, or a failure."""
        return self.error is not None or (self.image_id is not None and not self.running())

    @property
    def daemon_time(self) -> float | None:
        """The latest daemon timestamp seen in any report (epoch seconds)."""
        return self._daemon_last

    @property
    def cancelled(self) -> bool:
        """The build ended because it was cancelled (``context canceled``)."""
        return self.error is not None and self.error.endswith(_CANCELED)

    def running(self) -> list[VertexState]:
        """Vertices running now, in the order they started."""
        active = [v for v in self.vertices.values() if v.running]
        return sorted(active, key=lambda v: v.number or 0)

    def counts(self) -> tuple[int, int]:
        """``(completed, total)`` vertices, as in buildx's ``Building 12.3s (5/8)``."""
        done = sum(1 for v in self.vertices.values() if v.done)
        return done, len(self.vertices)

    def failed_vertex(self) -> VertexState | None:
        """The vertex whose own error failed the build (not one cancelled because of it)."""
        failed = [v for v in self.vertices.values() if v.failed]
        if not failed:
            return None
        return min(failed, key=lambda v: (v.completed or float("inf"), v.number or 0))

    @property
    def exit_code(self) -> int | None:
        """Exit code of the failing RUN, from its vertex or else the error message."""
        vertex = self.failed_vertex()
        if vertex is not None and vertex.exit_code is not None:
            return vertex.exit_code
        match = _EXIT_RE.search(self.error or "")
        return int(match.group(1)) if match else None

    def daemon_now(self) -> float | None:
        """The daemon's clock now, as far as it can be known without asking it.

        The first vertex's start (daemon time) plus the local seconds since it arrived:
        a running vertex's timer then moves with the local clock and needs no clock
        agreement between this machine and the daemon's. None before any vertex started.
        """
        if self._local_start is None or self._daemon_start is None:
            return None
        estimate = self._daemon_start + (self._clock() - self._local_start)
        return max(estimate, self._daemon_last or estimate)

    def elapsed(self) -> float:
        """Seconds since the first vertex started: local clock while running, else daemon's."""
        if self._local_start is None or self._daemon_start is None:
            return 0.0
        if self.finished or not self.running():
            return max(0.0, (self._daemon_last or self._daemon_start) - self._daemon_start)
        return max(0.0, self._clock() - self._local_start)

    def header(self) -> str:
        """``Building 12.3s (5/8)`` (``FINISHED`` once done), as buildx's first line."""
        done, total = self.counts()
        word = "FINISHED" if self.finished and self.error is None else "Building"
        return f"{word} {self.elapsed():.1f}s ({done}/{total})"
