"""A BuildKit build as a :class:`BuildState`: vertices are the rows the views draw.

The views (the live widget, the text view, the summary, the result) read a
:class:`~jupyter_dockerbuild.builder.state.BuildState` through ``snapshot()``,
``result()`` and ``log_since()``. :class:`BuildKitBuildState` is one whose events are
folded by :class:`~jupyter_dockerbuild.builder.buildkit_state.BuildKitState` and whose
rows are the build's vertices, in the order the daemon announced them, like buildx:

- every running vertex has its own timer (the daemon's start, the local clock since)
  and its own tail; a vertex whose log BuildKit clipped carries a note saying so;
- the log is what ``docker buildx build --progress=plain`` prints
  (:class:`~jupyter_dockerbuild.builder.buildkit_plain.PlainPrinter`), so the text view
  and ``result.log`` read like the CLI;
- a failure names the failing vertex, its exit code, its last lines and its Dockerfile
  line, found through the stage and step in the vertex name (:class:`StepLines`).

Before the first vertex arrives the rows are the Dockerfile's instructions, waiting,
as the classic builder's first paint shows them.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from ..engine.buildkit import STDERR
from .buildkit_plain import PlainPrinter, format_bytes
from .buildkit_state import BuildKitState, Label, VertexState
from .dockerfile import Instruction, parse
from .result import StepResult, StepStatus
from .state import BuildState, ErrorInfo

__all__ = ["BuildKitBuildState", "StepLines"]

#: Instructions the Dockerfile frontend turns into a vertex of their own (dockerfile2llb:
#: ADD, COPY, RUN, and WORKDIR with the file op every daemon since 19.03 has); FROM
#: counts as step 1 unless it is ``scratch`` or an earlier stage. ENV, ARG, LABEL... make
#: no vertex, so ``[k/N]`` counts only these.
_VERTEX_KEYWORDS = frozenset({"ADD", "COPY", "RUN", "WORKDIR"})
_STAGE_N_RE = re.compile(r"stage-(\d+)")
#: Lines of a failing vertex's output repeated in the error message.
ERROR_LINES = 5
#: Job statuses (pulls, transfers) shown at most.
MAX_JOBS = 12


@dataclass(frozen=True)
class _Stage:
    index: int
    #: ``AS name``, lower-cased like the frontend does; None for an unnamed stage.
    name: str | None
    #: The image (or stage) after FROM, as written.
    base: str
    start: Instruction
    #: The instructions that make a vertex, FROM excluded, in order.
    steps: tuple[Instruction, ...]


class StepLines:
    """Find the Dockerfile instruction of a vertex from its ``[stage k/N]`` label.

    BuildKit's frontend names a stage by its ``AS`` name, else ``stage-i`` (the i-th
    ``FROM``, from 0), and drops the name when there is a single stage; it counts in
    ``k/N`` only the instructions that make a vertex. Whether the ``FROM`` is one of
    them (not for ``scratch`` or an earlier stage) is read from ``N``, which is exact
    where a guess from the text is not (``FROM $BASE``). A label that does not fit the
    parse (an instruction of another keyword there) maps to nothing rather than to a
    wrong line.
    """

    def __init__(self, dockerfile: str) -> None:
        self.stages = tuple(
            _Stage(
                stage.index,
                stage.name,
                stage.base,
                stage.instructions[0],
                tuple(i for i in stage.instructions[1:] if i.keyword in _VERTEX_KEYWORDS),
            )
            for stage in parse(dockerfile).stages
            if stage.instructions
        )

    def _find_stage(self, name: str | None) -> _Stage | None:
        if name is None:
            return self.stages[0] if len(self.stages) == 1 else None
        lowered = name.lower()
        for stage in self.stages:
            if stage.name == lowered:
                return stage
        match = _STAGE_N_RE.fullmatch(lowered)
        if match and int(match.group(1)) < len(self.stages):
            stage = self.stages[int(match.group(1))]
            return stage if stage.name is None else None
        return None

    def instruction(self, label: Label) -> Instruction | None:
        """The instruction the vertex labelled ``label`` runs, or None if unknown."""
        if label.step is None or label.total is None:
            return None
        stage = self._find_stage(label.stage)
        if stage is None:
            return None
        steps = stage.steps
        if label.total == len(steps) + 1:
            found = stage.start if label.step == 1 else _at(steps, label.step - 2)
        elif label.total == len(steps):
            found = _at(steps, label.step - 1)
        else:
            return None
        keyword = label.instruction.split(None, 1)[:1]
        if found is None or [found.keyword] != [k.upper() for k in keyword]:
            return None
        return found


def _at(items: Sequence[Instruction], index: int) -> Instruction | None:
    return items[index] if 0 <= index < len(items) else None


def _row_status(vertex: VertexState, ended: bool) -> StepStatus:
    if vertex.failed:
        return "failed"
    if vertex.canceled:
        return "cancelled"
    if vertex.done:
        return "cached" if vertex.cached else "done"
    if vertex.running:
        # The stream ended under it (cancel, a dropped connection): the daemon stopped it.
        return "cancelled" if ended else "running"
    return "waiting"


def _short(text: str, limit: int = 90) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


class BuildKitBuildState(BuildState):
    """A :class:`BuildState` folded from ``/build?version=2`` events (see the module)."""

    builder = "buildkit"

    def __init__(
        self,
        dockerfile: str = "",
        *,
        tags: Sequence[str] = (),
        line_offset: int = 0,
        log_limit: int = 16 * 2**20,
        clock: Callable[[], float] = time.monotonic,
        daemon_clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__(
            dockerfile, tags=tags, line_offset=line_offset, log_limit=log_limit, clock=clock
        )
        self.kit = BuildKitState(clock=daemon_clock)
        self._printer = PlainPrinter(self.kit)
        self.step_lines = StepLines(dockerfile)

    # -- folding ---------------------------------------------------------------------

    def _apply(self, event: dict[str, Any]) -> None:
        # A corrupt trace raises StreamError from apply() before anything changed.
        change = self.kit.apply(event)
        if self.status == "pending":
            self.status = "running"
        self.version += 1
        text = self._printer.render(change)
        if text:
            self._log.append(text)
        if change.image_id:
            self.image_id = self.kit.image_id
            if change.messages:
                # q=1: the id as text is all the daemon sends, and what the CLI prints.
                self._log.append("".join(change.messages))
        if change.messages:
            self.tagged = list(self.kit.tags)
        if change.vertices and self.kit.warnings and len(self.kit.warnings) != len(self.warnings):
            self.warnings = [_warning_text(w, self.line_offset) for w in self.kit.warnings]
        if change.error:
            self._log.append(self._printer.flush())
            self._log.append(self._printer.summary())
            self.error = ErrorInfo(
                self.kit.error or "the build failed", self.kit.exit_code, self._failed_row()
            )

    def _failed_row(self) -> int | None:
        failed = self.kit.failed_vertex()
        if failed is None:
            return None
        for number, vertex in enumerate(self.kit.vertices.values(), start=1):
            if vertex is failed:
                return number
        return None  # pragma: no cover - failed_vertex() is one of the vertices

    # -- ending ----------------------------------------------------------------------

    def finish(self) -> None:
        """The stream ended: print what is left, then succeed or fail like the base."""
        with self._lock:
            self._log.append(self._printer.flush())
        super().finish()

    def fail(self, message: str, code: int | None = None) -> None:
        """A failure outside the stream; the failing vertex (if any) is its step."""
        with self._lock:
            self._log.append(self._printer.flush())
            super().fail(message, code)
            if self.error is not None and self.error.step is None:
                self.error.step = self._failed_row()

    def cancel(self) -> None:
        """Cancelled: the running vertices show as cancelled."""
        with self._lock:
            self._log.append(self._printer.flush())
            super().cancel()

    # -- reading ---------------------------------------------------------------------

    def vertex_of_row(self, number: int) -> VertexState | None:
        """The vertex drawn as row ``number`` (1-based)."""
        with self._lock:
            vertices = list(self.kit.vertices.values())
            return vertices[number - 1] if 0 < number <= len(vertices) else None

    def instruction_of(self, vertex: VertexState) -> Instruction | None:
        """The Dockerfile instruction ``vertex`` runs (None: internal, or unknown)."""
        return self.step_lines.instruction(vertex.label)

    def _total_steps(self) -> int:
        return len(self.kit.vertices) or super()._total_steps()

    def _step_results(self, now: float) -> tuple[StepResult, ...]:
        if not self.kit.vertices:
            return super()._step_results(now)
        ended = self.ended is not None
        daemon_now = None if ended else self.kit.daemon_now()
        rows = []
        for number, vertex in enumerate(self.kit.vertices.values(), start=1):
            ins = self.step_lines.instruction(vertex.label)
            rows.append(
                StepResult(
                    number=number,
                    instruction=vertex.name,
                    line=ins.line + self.line_offset if ins is not None else None,
                    status=_row_status(vertex, ended),
                    cached=vertex.cached,
                    duration=None if vertex.cached else vertex.duration(daemon_now),
                )
            )
        return tuple(rows)

    def _tails(self, n: int) -> dict[int, tuple[tuple[str, bool], ...]] | None:
        if not self.kit.vertices:
            return None
        out: dict[int, tuple[tuple[str, bool], ...]] = {}
        for number, vertex in enumerate(self.kit.vertices.values(), start=1):
            if not (vertex.running or vertex.failed):
                continue
            log = vertex.log
            lines = [(line.text, line.stream == STDERR) for line in log.tail_lines(n)]
            if vertex.running:
                # The line being written (a progress bar's frame) is what a terminal shows.
                for stream in (1, STDERR):
                    partial = log.partial(stream)
                    if partial:
                        lines.append((partial, stream == STDERR))
            if lines:
                out[number] = tuple(lines[-n:])
        return out

    def _notes(self) -> dict[int, str]:
        notes: dict[int, str] = {}
        for number, vertex in enumerate(self.kit.vertices.values(), start=1):
            clipped = vertex.log.clipped
            if clipped:
                limits = sorted(set(clipped.values()))
                notes[number] = (
                    "BuildKit clipped this step's output (log limit "
                    + " and ".join(limits)
                    + " reached); the step itself went on"
                )
        return notes

    def _downloads(self) -> tuple[tuple[str, str, int, int], ...]:
        # Only transfers with a size (a pull's blobs), and the session's context
        # transfer ("transferring context:", bytes so far, no total): the exporter's
        # jobs have nothing to show as a bar, and the plain log lists them anyway.
        jobs = [
            (job.id.removeprefix("sha256:")[:12], job.name, job.current, job.total)
            if job.total > 0
            else _transfer_row(job.id, job.current)
            for vertex in self.kit.vertices.values()
            if vertex.running
            for job in vertex.statuses.values()
            if job.completed is None and (job.total > 0 or job.id.startswith("transferring "))
        ]
        return tuple(jobs[-MAX_JOBS:])

    # -- the failure in words --------------------------------------------------------

    def failure_text(self, what: str, *, lines: int = ERROR_LINES) -> str:
        """``cell line 5: [two 2/2] RUN ...: <what>`` and the vertex's last output lines."""
        vertex = self.kit.failed_vertex()
        if vertex is None:
            return what
        ins = self.step_lines.instruction(vertex.label)
        where = ""
        if ins is not None:
            label = "cell line" if self.line_offset else "line"
            where = f"{label} {ins.line + self.line_offset}: "
        head = f"{where}{_short(vertex.name)}: {what}"
        tail = vertex.log.tail(lines)
        if not tail:
            return head
        return head + "".join(f"\n  │ {line}" for line in tail)


_WARNING_LINE_RE = re.compile(r"\(line (\d+)\)")


def _transfer_row(job_id: str, current: int) -> tuple[str, str, int, int]:
    """``("context", "1.20MB sent", n, 0)`` for FileSync's ``transferring context:``."""
    what = job_id.removeprefix("transferring ").rstrip(":") or "context"
    return (what[:12], f"{format_bytes(current)} sent", current, 0)


def _warning_text(warning: Any, line_offset: int) -> str:
    """A BuildKit warning (Docker 23+'s Dockerfile checks) as one line, cell lines named."""
    text = warning.short.decode("utf-8", errors="replace").strip()
    if line_offset:
        # "(line 3)" counts Dockerfile lines; in a cell the magic's line comes first.
        text = _WARNING_LINE_RE.sub(lambda m: f"(cell line {int(m[1]) + line_offset})", text)
    return f"{text} ({warning.url})" if warning.url else text
