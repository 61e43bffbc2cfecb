"""BuildKit progress as plain text, in the format of ``docker buildx build --progress=plain``.

The format follows buildkit's ``util/progress/progressui`` printer: a block per vertex
headed ``#N name``, its job statuses (``#N sha256:... 1.03MB / 1.03MB 0.2s done``),
warnings (``#N WARN: ...``), log lines prefixed with the seconds since the vertex
started (``#N 0.312 hi``: three decimals under 10 s, two under 100, one above), and its
end (``#N DONE 0.4s``, ``#N CACHED``, ``#N ERROR: ...``, ``#N CANCELED``). When output
switches to another vertex before one ended, ``#N ...`` marks the interruption, and a
blank line separates blocks. :meth:`PlainPrinter.summary` prints the failing vertex's
last lines between ``------`` rules and the error, as buildx does after a failure.

Unlike buildx, which picks the vertex to show by wall-clock heuristics, the choice here
depends on the events only (so the same stream always prints the same text): the
vertex being shown stays until it completes, unless another has waited more than
:data:`MAX_DELAY` seconds of daemon time; vertices that completed are printed first.
A line is printed once it is complete, so a carriage-return progress bar shows as its
last frame. Like buildx, a running job's status is repeated only when it moved 5% of
its total or 5 s passed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..engine.buildkit import VertexStatus
from ..units import format_count
from .buildkit_state import BuildKitState, Change, VertexState

#: A vertex with output waits at most this long (daemon time) behind the shown one.
MAX_DELAY = 10.0
#: A running job's status line is repeated when it moved this fraction of its total...
MIN_PROGRESS_DELTA = 0.05
#: ...or this many seconds passed.
MIN_TIME_DELTA = 5.0
#: Log lines of the failing vertex that :meth:`PlainPrinter.summary` repeats.
SUMMARY_LINES = 10

_DECIMAL_UNITS = ("B", "kB", "MB", "GB", "TB", "PB", "EB")


def format_bytes(num: int) -> str:
    """Bytes the way buildx prints them (``%.2f`` of go units): ``123B``, ``1.03MB``."""
    if -1000 < num < 1000:
        return f"{num}B"
    value = float(num)
    unit = 0
    while abs(value) >= 1000 and unit < len(_DECIMAL_UNITS) - 1:
        value /= 1000
        unit += 1
    return f"{value:.2f}{_DECIMAL_UNITS[unit]}"


def log_time(seconds: float) -> str:
    """The log line prefix: ``0.312`` under 10 s, ``12.31`` under 100, ``123.4`` above."""
    if seconds < 10:
        return f"{seconds:.3f}"
    if seconds < 100:
        return f"{seconds:.2f}"
    return f"{seconds:.1f}"


@dataclass
class _Cursor:
    """What of one vertex has been printed."""

    #: ``#N``: numbered in the order first printed, as buildx does (0: not yet).
    number: int = 0
    line: int = 0
    warnings: int = 0
    header: bool = False
    #: The end line printed last (``DONE 0.1s``); a re-report that ends the same is quiet.
    ended: str | None = None
    #: Job id -> the report last printed, and the printed one's (current, time).
    jobs: dict[str, tuple[VertexStatus, int, float | None]] = field(default_factory=dict)
    #: Daemon time at which this vertex's oldest unprinted update arrived.
    waiting_since: float | None = None


class PlainPrinter:
    """Turn a :class:`BuildKitState`'s changes into plain-text progress lines.

    :meth:`feed` applies an event to the state and returns the text to print (possibly
    empty); :meth:`flush` prints what is left at the end of the stream; :meth:`summary`
    the failure. Plain ``stream`` messages and errors are not printed here: they are
    not vertices, and the caller decides how to show them.
    """

    def __init__(self, state: BuildKitState | None = None) -> None:
        self.state = state if state is not None else BuildKitState()
        self._cursors: dict[str, _Cursor] = {}
        #: The vertex shown and not ended (output for another one interrupts it).
        self._current: str | None = None
        #: The vertex whose lines were printed last (a new block starts elsewhere).
        self._last: str | None = None
        self._numbered = 0
        #: Vertices with output not printed yet, in the order they began to wait.
        self._waiting: dict[str, None] = {}

    def feed(self, event: dict[str, Any]) -> str:
        """Apply ``event`` to the state; return the text it adds to the output."""
        return self.render(self.state.apply(event))

    def render(self, change: Change) -> str:
        """The text for ``change`` (already applied to the state)."""
        state = self.state
        now = state.daemon_time
        out: list[str] = []
        vertices = [state.vertices[d] for d in change.vertices if d in state.vertices]
        ended = sorted(
            (v for v in vertices if self._end_due(v)),
            key=lambda v: (v.digest != self._current, v.completed or 0.0),
        )
        for vertex in ended:
            self._print(vertex, out)
        for vertex in vertices:
            if vertex not in ended and self._has_news(vertex):
                cursor = self._cursor(vertex.digest)
                if cursor.waiting_since is None:
                    cursor.waiting_since = now
                self._waiting.setdefault(vertex.digest, None)
        # The shown vertex first, then those waiting, longest first; a vertex that waits
        # is shown when nothing else runs in view, or once it waited too long.
        order = sorted(self._waiting, key=lambda d: d != self._current)
        for digest in order:
            vertex = state.vertices[digest]
            if not self._has_news(vertex):
                del self._waiting[digest]
                continue
            shown = state.vertices.get(self._current) if self._current else None
            waited = self._cursor(digest).waiting_since
            overdue = waited is not None and now is not None and now - waited > MAX_DELAY
            if shown is None or shown is vertex or not shown.running or overdue:
                self._print(vertex, out)
        return "".join(out)

    def flush(self) -> str:
        """Print everything not printed yet (end of stream), the shown vertex first."""
        out: list[str] = []
        for vertex in self.state.vertices.values():
            vertex.log.close()
        pending = [
            v
            for v in self.state.vertices.values()
            if v.number is not None and (self._has_news(v) or self._end_due(v))
        ]
        pending.sort(key=lambda v: (v.digest != self._current, v.number or 0))
        for vertex in pending:
            self._print(vertex, out)
        return "".join(out)

    def summary(self) -> str:
        """After a failure: the failing vertex's last lines between rules, then the error."""
        state = self.state
        out: list[str] = []
        vertex = state.failed_vertex()
        if vertex is not None:
            out.append("------\n")
            out.append(f" > {vertex.name}:\n")
            out.extend(f"{line}\n" for line in vertex.log.tail(SUMMARY_LINES))
            out.append("------\n")
        if state.error is not None:
            out.append(f"ERROR: {state.error}\n")
        return "".join(out)

    # -- internals -------------------------------------------------------------------

    def _cursor(self, digest: str) -> _Cursor:
        cursor = self._cursors.get(digest)
        if cursor is None:
            cursor = self._cursors[digest] = _Cursor()
        return cursor

    def _end_due(self, vertex: VertexState) -> bool:
        if not vertex.done or vertex.number is None:
            return False
        return self._cursor(vertex.digest).ended != _end_line(vertex)

    def _has_news(self, vertex: VertexState) -> bool:
        if vertex.number is None:
            return False  # never started: buildx does not show it either
        cursor = self._cursor(vertex.digest)
        if not cursor.header and vertex.running:
            return True
        if vertex.log.count > cursor.line or len(vertex.warnings) > cursor.warnings:
            return True
        return any(self._job_due(cursor, job) for job in vertex.statuses.values())

    @staticmethod
    def _job_due(cursor: _Cursor, job: VertexStatus) -> bool:
        last = cursor.jobs.get(job.id)
        if last is None:
            return True
        printed, current, when = last
        if printed is job:
            return False  # no new report since it was printed
        if job.completed is not None:
            return printed.completed is None or printed.completed != job.completed
        moved = (job.current - current) / job.total if job.total > 0 else 0.0
        waited = job.timestamp - when if job.timestamp is not None and when is not None else 0.0
        return moved >= MIN_PROGRESS_DELTA or waited >= MIN_TIME_DELTA

    def _print(self, vertex: VertexState, out: list[str]) -> None:
        if vertex.number is None:
            return
        cursor = self._cursor(vertex.digest)
        if not cursor.number:
            self._numbered += 1
            cursor.number = self._numbered
        n = cursor.number
        if vertex.digest != self._last or not cursor.header:
            if self._current is not None and self._current != vertex.digest:
                out.append(f"#{self._cursor(self._current).number} ...\n")
            if self._last is not None:
                out.append("\n")
            out.append(f"#{n} {vertex.name}\n")
            cursor.header = True
        self._current = self._last = vertex.digest
        for job in vertex.statuses.values():
            if self._job_due(cursor, job):
                cursor.jobs[job.id] = (job, job.current, job.timestamp)
                out.append(f"#{n} {_job_line(job)}\n")
        for warning in vertex.warnings[cursor.warnings :]:
            out.append(f"#{n} WARN: {warning.short.decode('utf-8', errors='replace')}\n")
        cursor.warnings = len(vertex.warnings)
        lines = vertex.log.since(cursor.line)
        if lines and lines[0].number > cursor.line + 1:
            lost = format_count(lines[0].number - cursor.line - 1, "line")
            out.append(f"#{n} [{lost} not kept]\n")
        start = vertex.last_start
        for line in lines:
            offset = line.timestamp - start if line.timestamp and start else 0.0
            out.append(f"#{n} {log_time(max(0.0, offset))} {line.text}\n")
        cursor.line = vertex.log.count
        cursor.waiting_since = None
        self._waiting.pop(vertex.digest, None)
        if self._end_due(vertex):
            cursor.ended = _end_line(vertex)
            out.append(f"#{n} {cursor.ended}\n")
        if vertex.done:
            self._current = None


def _job_line(job: VertexStatus) -> str:
    size = ""
    if job.total:
        size = f" {format_bytes(job.current)} / {format_bytes(job.total)}"
    elif job.current:
        size = f" {format_bytes(job.current)}"
    took = ""
    end = job.completed if job.completed is not None else job.timestamp
    if job.started is not None and end is not None and end - job.started > 0.01:
        took = f" {end - job.started:.1f}s"
    if job.completed is not None:
        took += " done"
    return f"{job.id}{size}{took}"


def _end_line(vertex: VertexState) -> str:
    if vertex.canceled:
        return "CANCELED"
    if vertex.error:
        return f"ERROR: {vertex.error}"
    if vertex.cached:
        return "CACHED"
    took = vertex.duration()
    return "DONE" + (f" {took:.1f}s" if took is not None else "")
