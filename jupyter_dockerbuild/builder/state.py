"""The progress model: daemon events folded into a BuildState; no IO.

The classic builder tells us little directly: ``Step k/N : INSTR`` headers, bookkeeping
lines (`` ---> Running in``, ``Removing intermediate container`` (`` ---> Removed
intermediate container`` from Docker 23 on), `` ---> <id>``,
`` ---> Using cache``), the RUN output in reads that are not line-aligned, ``aux.ID``
per stage, ``[Warning]`` lines and ``errorDetail``. It sends no timings, so steps are
timed here, and the Dockerfile is parsed up front (:mod:`.dockerfile`) so every step is
shown (waiting) before the daemon reaches it, with the line where it stands.

Memory stays bounded whatever the build prints: each step keeps a short tail of output
lines and a line count, and the log keeps its head and its most recent part with a
clear truncation mark in between.
"""

from __future__ import annotations

import re
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..units import format_count
from .dockerfile import parse
from .result import BaseImage, BuildResult, BuildStatus, ContextTransfer, StepResult, StepStatus

if TYPE_CHECKING:  # pragma: no cover
    from ..images.push import PushSnapshot, PushState

#: Output lines kept per step (the view shows a few; the failure view shows more).
STEP_TAIL = 200

_ANSI_RE = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
_STEP_RE = re.compile(r"Step (\d+)/(\d+) : (.*)", re.DOTALL)
_BOOKKEEPING_RE = re.compile(
    r" ---> (?:Running in [0-9a-f]+|Using cache|[0-9a-f]{12}|)\n"
    r"|(?: ---> )?Remov(?:ing|ed) intermediate container [0-9a-f]+\n"
    r"|Executing \d+ build triggers?\n"
)
_COMMITTED_RE = re.compile(r" ---> (?:[0-9a-f]{12}|)\n")
_QUIET_ID_RE = re.compile(r"(sha256:[0-9a-f]{64})\n?")
_UNUSED_ARGS_RE = re.compile(r"build-args \[([^\]]*)\] were not consumed")
_STDERR_ON, _STDERR_OFF = "\x1b[91m", "\x1b[0m"


def strip_ansi(text: str) -> str:
    """Remove ANSI escape sequences (colours) from ``text``."""
    return _ANSI_RE.sub("", text)


def last_frame(line: str) -> str:
    r"""What a terminal shows of ``line`` (no newline in it) redrawn with ``\r``.

    pip, tqdm, curl and apt redraw a progress bar by going back to the start of the line:
    only the last frame stays on screen. A ``\r`` with nothing after it (the end of a
    ``\r\n``, a bar that redraws before its next frame) keeps the frame before it.
    """
    if "\r" not in line:
        return line
    body = line.rstrip("\r")
    return body[body.rfind("\r") + 1 :]


def collapse_cr(text: str) -> str:
    r"""``text`` with each line redrawn with ``\r`` reduced to its :func:`last_frame`.

    Costs a scan of ``text`` plus the lines that hold a ``\r``: a 16 MB log without any
    pays one ``str.find``.
    """
    cr = text.find("\r")
    if cr < 0:
        return text
    out: list[str] = []
    pos = 0
    while cr >= 0:
        newline = text.rfind("\n", pos, cr)
        start = newline + 1 if newline >= 0 else pos
        end = text.find("\n", cr)
        if end < 0:
            end = len(text)
        out.append(text[pos:start])
        out.append(last_frame(text[start:end]))
        pos = end
        cr = text.find("\r", pos)
    out.append(text[pos:])
    return "".join(out)


def _open_frame(line: str) -> str:
    r"""The line in progress kept as its last frame, and a pending ``\r`` if it ends so.

    The pending ``\r`` matters when a chunk ends between ``\r`` and what follows: text
    next replaces the frame, a ``\n`` next ends the line with it.
    """
    if "\r" not in line:
        return line
    frame = last_frame(line)
    return frame + "\r" if line.endswith("\r") else frame


# -- Dockerfile instructions ------------------------------------------------------


# -- the log ----------------------------------------------------------------------


class CappedLog:
    """Append-only text with a size cap: keeps the head and the most recent part.

    Positions are absolute (characters since the start), so a reader can ask for
    what came after the last thing it saw, cheaply, even after truncation.
    """

    def __init__(self, limit: int) -> None:
        self.limit = max(limit, 1024)
        self.head_limit = self.limit // 4
        self.head: list[tuple[int, str]] = []
        self.head_len = 0
        self.tail: deque[tuple[int, str]] = deque()
        self.tail_len = 0
        self.total = 0
        self.dropped = 0

    def append(self, text: str) -> None:
        """Add ``text``; drop the oldest non-head text beyond the cap."""
        if not text:
            return
        if self.head_len < self.head_limit and not self.tail:
            self.head.append((self.total, text))
            self.head_len += len(text)
        else:
            self.tail.append((self.total, text))
            self.tail_len += len(text)
            budget = self.limit - self.head_len
            while self.tail_len > budget and len(self.tail) > 1:
                _, old = self.tail.popleft()
                self.tail_len -= len(old)
                self.dropped += len(old)
        self.total += len(text)

    def since(self, cursor: int) -> tuple[str, int]:
        """Text appended after absolute position ``cursor``, and the new cursor.

        Costs what was appended since, not the size of the log.
        """
        if cursor >= self.total:
            return "", self.total
        newest_first: list[str] = []
        for pieces in (self.tail, self.head):
            for start, text in reversed(pieces):
                if start + len(text) <= cursor:
                    break
                newest_first.append(text[max(0, cursor - start) :])
                if start <= cursor:
                    break
            else:
                if pieces is self.tail and self.dropped and cursor < self.total - self.tail_len:
                    newest_first.append(self._mark())
                continue
            break
        return "".join(reversed(newest_first)), self.total

    def _mark(self) -> str:
        return f"\n... [{format_count(self.dropped, 'character')} of log truncated] ...\n"

    def text(self) -> str:
        """The whole kept log, with a truncation mark where text was dropped."""
        body = "".join(t for _, t in self.head)
        if self.dropped:
            body += self._mark()
        return body + "".join(t for _, t in self.tail)


# -- steps and state --------------------------------------------------------------


@dataclass
class Step:
    """One Dockerfile step as the build sees it."""

    number: int
    instruction: str
    line: int | None = None
    status: StepStatus = "waiting"
    started: float | None = None
    ended: float | None = None
    cached: bool = False
    output: deque[tuple[str, bool]] = field(default_factory=lambda: deque(maxlen=STEP_TAIL))
    lines_total: int = 0

    def duration(self, now: float | None = None) -> float | None:
        """Seconds spent in the step (so far, if it is still running)."""
        if self.started is None:
            return None
        if self.ended is not None:
            end = self.ended
        else:  # `now` may be 0.0 on an injected clock: test for None, not truthiness
            end = now if now is not None else time.monotonic()
        return max(0.0, end - self.started)


@dataclass
class ErrorInfo:
    """Why the build failed: the daemon's message (``errorDetail`` first), code, step."""

    message: str
    code: int | None = None
    step: int | None = None


@dataclass
class Download:
    """Progress of one pull layer or ``ADD <url>`` download."""

    status: str
    current: int = 0
    total: int = 0


@dataclass(frozen=True)
class BuildSnapshot:
    """What a view shows of a :class:`BuildState`, copied at one instant under its lock.

    The build thread keeps folding events while a view's heartbeat draws on another
    thread; a view that read the live state could draw a header counting 3 done steps
    over rows showing 4. Drawing from a snapshot shows one instant throughout.
    """

    status: BuildStatus
    tags: tuple[str, ...]
    line_offset: int
    #: The daemon's step count once it sent one, else our parse's.
    total_steps: int
    #: Lines as the user sees them (``line_offset`` applied), durations up to the instant.
    steps: tuple[StepResult, ...]
    #: The last output lines of the running (or failed) step, partial line included.
    tail: tuple[tuple[str, bool], ...]
    #: ``(id, status, current bytes, total bytes)`` per pull layer or ADD download.
    downloads: tuple[tuple[str, str, int, int], ...]
    image_id: str | None
    warnings: tuple[str, ...]
    error: str | None
    exit_code: int | None
    #: The step the error happened in (1-based), if any.
    error_step: int | None
    elapsed: float
    #: The plain-text log, only when asked for (the final view): it is costly.
    log: str | None
    version: int
    #: Step number -> its own last output lines, for builders that run several steps at
    #: once (BuildKit); None: ``tail`` belongs to the running (or failed) step.
    tails: Mapping[int, tuple[tuple[str, bool], ...]] | None = None
    #: Step number -> a note shown under it (BuildKit clipped its output).
    notes: Mapping[int, str] = field(default_factory=dict)
    #: ``"classic"`` or ``"buildkit"``, and why that one (``"auto: RUN --mount ..."``).
    builder: str = "classic"
    builder_note: str = ""
    #: After the build: the base image of each stage, each tag's push (``--push``), and
    #: why the push failed.
    bases: tuple[BaseImage, ...] = ()
    pushes: tuple[PushSnapshot, ...] = ()
    push_error: str | None = None


class BuildState:
    """A build in progress, folded from the daemon's events.

    Every mutation holds the state's lock, and so does :meth:`snapshot`, which is what
    views read from other threads (the widget's heartbeat).
    """

    #: The builder whose events this state folds (a subclass folds BuildKit's).
    builder = "classic"

    def __init__(
        self,
        dockerfile: str = "",
        *,
        tags: Sequence[str] = (),
        line_offset: int = 0,
        log_limit: int = 16 * 2**20,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.clock = clock
        self.tags = tuple(tags)
        self.line_offset = line_offset
        self.steps: list[Step] = [
            Step(number=i + 1, instruction=ins.text, line=ins.line)
            for i, ins in enumerate(parse(dockerfile).instructions)
        ]
        self.total_steps: int | None = len(self.steps) or None
        self.status: BuildStatus = "pending"
        self.started = clock()
        self.ended: float | None = None
        self.current: Step | None = None
        self.image_id: str | None = None
        self.warnings: list[str] = []
        self.unused_build_args: list[str] = []
        self.tagged: list[str] = []
        self.error: ErrorInfo | None = None
        self.downloads: dict[str, Download] = {}
        self.preamble: deque[tuple[str, bool]] = deque(maxlen=STEP_TAIL)
        self.secret_args: tuple[str, ...] = ()
        #: Why this builder was chosen, for the view (``"auto: RUN --mount ..."``).
        self.builder_note = ""
        self.version = 0
        # Set by the pipeline after a successful build: the bases it used, the pushes of
        # its tags (each folded by the push itself, see track_push) and a push's failure.
        self.bases: tuple[BaseImage, ...] = ()
        self.pushes: list[PushState] = []
        self.push_error: str | None = None
        #: Asked for the context's transfer figures when the result is made (set by the
        #: builder that sends the context through the session).
        self.context_transfer: Callable[[], ContextTransfer | None] | None = None
        # Reentrant: result() reads log_text(), both public, both locked.
        self._lock = threading.RLock()
        self._log = CappedLog(log_limit)
        self._log_text: tuple[int, str] | None = None  # (log length, plain text)
        self._partial = ""
        self._partial_err = False
        self._after_header = False

    # -- folding events ---------------------------------------------------------

    def apply_many(self, events: Iterable[dict[str, Any]]) -> None:
        """Fold several events (one lock for the lot: a 1M-line flood is many events)."""
        with self._lock:
            for event in events:
                self._apply(event)

    def apply(self, event: dict[str, Any]) -> None:
        """Fold one daemon message into the state."""
        with self._lock:
            self._apply(event)

    def _apply(self, event: dict[str, Any]) -> None:
        now = self.clock()
        if self.status == "pending":
            self.status = "running"
        self.version += 1
        if "errorDetail" in event or "error" in event:
            detail = event.get("errorDetail") or {}
            message = str(detail.get("message") or event.get("error") or "unknown error")
            code = detail.get("code")
            self._log.append(f"ERROR: {message}\n")
            self._fail_current(now)
            step = self.current.number if self.current is not None else None
            self.error = ErrorInfo(message, code if isinstance(code, int) else None, step)
            return
        aux = event.get("aux")
        if isinstance(aux, dict) and aux.get("ID"):
            # One aux per stage in a multi-stage build: the last one is the image.
            self.image_id = str(aux["ID"])
            self._end_current(now)
            return
        text = event.get("stream")
        if isinstance(text, str):
            self._on_stream(text, now)
            return
        status = event.get("status")
        if isinstance(status, str):
            self._on_status(event, status)

    def _on_stream(self, text: str, now: float) -> None:
        self._log.append(text)
        if self._after_header:
            self._after_header = False
            if text == "\n":
                return
        match = _STEP_RE.match(text)
        if match:
            self._flush_partial()
            self._start_step(int(match.group(1)), int(match.group(2)), match.group(3), now)
            self._after_header = True
            return
        if _BOOKKEEPING_RE.fullmatch(text):
            self._flush_partial()
            if "Using cache" in text and self.current is not None:
                self.current.cached = True
            elif _COMMITTED_RE.fullmatch(text):
                # " ---> <id>" is the step's image: the step is over. Ending it here
                # (not at the next header) times it right and blames nothing on it
                # that happens between steps (e.g. "Build cancelled").
                self._end_current(now)
            return
        if text.startswith("Successfully built "):
            self._end_current(now)
            return
        if text.startswith("Successfully tagged "):
            self.tagged.append(text[len("Successfully tagged ") :].strip())
            return
        if text.startswith("[Warning]"):
            warning = text.strip()
            self.warnings.append(warning)
            unused = _UNUSED_ARGS_RE.search(warning)
            if unused:
                self.unused_build_args.extend(unused.group(1).split())
            return
        if self.current is None and self.image_id is None:
            quiet = _QUIET_ID_RE.fullmatch(text)
            if quiet:  # q=1 success sends only the image id
                self.image_id = quiet.group(1)
                return
        is_err = text.startswith(_STDERR_ON)
        if is_err:
            text = text[len(_STDERR_ON) :]
            if text.endswith(_STDERR_OFF):
                text = text[: -len(_STDERR_OFF)]
        self._add_output(text, is_err)

    def _on_status(self, event: dict[str, Any], status: str) -> None:
        key = str(event.get("id") or "download")
        detail = event.get("progressDetail") or {}
        current, total = detail.get("current"), detail.get("total")
        entry = self.downloads.setdefault(key, Download(status))
        entry.status = status
        if isinstance(current, int):
            entry.current = current
        if isinstance(total, int):
            entry.total = total
        if not detail:
            self._log.append(f"{key}: {status}\n" if event.get("id") else f"{status}\n")

    def _bucket(self) -> tuple[deque[tuple[str, bool]], Step | None]:
        if self.current is not None:
            return self.current.output, self.current
        return self.preamble, None

    def _add_output(self, text: str, is_err: bool) -> None:
        newlines = text.count("\n")
        if not newlines:
            # Collapsed as it grows: a progress bar's 20,000 frames are one line on
            # screen, and the tail shows this line at every redraw.
            self._partial = _open_frame(self._partial + text)
            self._partial_err = self._partial_err or is_err
            return
        bucket, step = self._bucket()
        head, _, rest = text.partition("\n")
        _push(bucket, self._partial + head, self._partial_err or is_err)
        if newlines > 1:
            body, _, partial = rest.rpartition("\n")
            # Only the last lines can stay in the bounded tail: split just those.
            for line in body.rsplit("\n", STEP_TAIL)[-STEP_TAIL:]:
                _push(bucket, line, is_err)
        else:
            partial = rest
        self._partial = _open_frame(partial)
        self._partial_err = is_err and bool(partial)
        if step is not None:
            step.lines_total += newlines

    def _flush_partial(self) -> None:
        if self._partial:
            bucket, step = self._bucket()
            _push(bucket, self._partial, self._partial_err)
            if step is not None:
                step.lines_total += 1
        self._partial = ""
        self._partial_err = False

    def _start_step(self, number: int, total: int, instruction: str, now: float) -> None:
        self._end_current(now)
        if self.total_steps != total:
            # The daemon counts differently than our parse (e.g. --label adds a LABEL
            # step at the end): trust the daemon's numbering.
            del self.steps[total:]
            self.total_steps = total
        while len(self.steps) < number:
            self.steps.append(Step(number=len(self.steps) + 1, instruction=""))
        step = self.steps[number - 1]
        instruction = instruction.strip()
        # Keywords are case-insensitive and the daemon echoes the text as written.
        if step.line is not None and [w.upper() for w in step.instruction.split(None, 1)[:1]] != [
            w.upper() for w in instruction.split(None, 1)[:1]
        ]:
            step.line = None  # not the instruction we parsed there: don't point at it
        step.instruction = instruction
        step.status = "running"
        step.started = now
        self.current = step

    def _end_current(self, now: float) -> None:
        self._flush_partial()
        step = self.current
        if step is not None and step.status == "running":
            step.status = "cached" if step.cached else "done"
            step.ended = now
        self.current = None if step is None or step.status != "running" else step

    def _fail_current(self, now: float) -> None:
        self._flush_partial()
        if self.current is not None:
            self.current.status = "failed"
            self.current.ended = now

    # -- ending -----------------------------------------------------------------

    def finish(self) -> None:
        """The stream ended normally: succeeded if there is an image and no error."""
        with self._lock:
            now = self.clock()
            if self.error is None and self.image_id:
                self._end_current(now)
                self.status = "succeeded"
                for step in self.steps:
                    # The image exists, so the step was built: the daemon (-q) just never
                    # said so. "waiting" would show it as never run.
                    if step.status == "waiting":
                        step.status = "unreported"
            else:
                if self.error is None:
                    self._fail_current(now)
                    step = self.current.number if self.current is not None else None
                    self.error = ErrorInfo("the build ended without an image id", None, step)
                self.status = "failed"
            self.ended = now
            self.version += 1

    def fail(self, message: str, code: int | None = None) -> None:
        """A failure outside the stream (HTTP error, client-side problem)."""
        with self._lock:
            now = self.clock()
            self._fail_current(now)
            step = self.current.number if self.current is not None else None
            if self.error is None:
                self.error = ErrorInfo(message, code, step)
            else:
                self.error.message = message
            self.status = "failed"
            self.ended = now
            self.version += 1

    def explain_error(self, message: str) -> None:
        """Replace the error's message by the builder's explanation of it."""
        with self._lock:
            if self.error is not None:
                self.error.message = message
                self.version += 1

    def cancel(self) -> None:
        """The build was cancelled (interrupt or Cancel)."""
        with self._lock:
            now = self.clock()
            self._flush_partial()
            if self.current is not None and self.current.status == "running":
                self.current.status = "cancelled"
                self.current.ended = now
            self.status = "cancelled"
            self.ended = now
            self.version += 1

    def track_push(self, push: PushState) -> None:
        """Show ``push`` (one tag's push after the build) with this build, from now on."""
        with self._lock:
            if all(p is not push for p in self.pushes):
                self.pushes.append(push)
            self.version += 1

    # -- reading ----------------------------------------------------------------

    def elapsed(self) -> float:
        """Seconds since the build started (until it ended)."""
        end = self.ended if self.ended is not None else self.clock()
        return max(0.0, end - self.started)

    def tail(self, n: int = 5) -> list[tuple[str, bool]]:
        """The last ``n`` output lines of the running (or failed) step, partial included."""
        with self._lock:
            return self._tail(n)

    def _tail(self, n: int) -> list[tuple[str, bool]]:
        step = self.current
        if step is None:
            failed = [s for s in self.steps if s.status == "failed"]
            step = failed[-1] if failed else None
        bucket = step.output if step is not None else self.preamble
        lines = list(bucket)[-n:] if n > 0 else []
        partial = last_frame(self._partial)
        if partial and step is self.current:
            lines = [*lines, (partial, self._partial_err)][-n:]
        return lines

    @property
    def log_total(self) -> int:
        """How many characters of log the daemon has sent so far."""
        return self._log.total

    def log_since(self, cursor: int) -> tuple[str, int]:
        """Raw log text (with ANSI colours) after ``cursor``, and the new cursor."""
        with self._lock:
            return self._log.since(cursor)

    def raw_log(self) -> str:
        """The kept log with the daemon's ANSI colours."""
        with self._lock:
            return self._log.text()

    def log_text(self) -> str:
        r"""The kept log as a terminal shows it (capped, with a truncation mark if needed).

        No colours, and a line redrawn with ``\r`` (a progress bar) is its last frame;
        :meth:`raw_log` keeps every byte the daemon sent.
        """
        # Cached by the log's length (it only grows): the end of a build asks for it
        # several times (result, summary, final view), each ~15 ms on a 1M-line log.
        with self._lock:
            if self._log_text is None or self._log_text[0] != self._log.total:
                self._log_text = (self._log.total, collapse_cr(strip_ansi(self._log.text())))
            return self._log_text[1]

    def _step_results(self, now: float) -> tuple[StepResult, ...]:
        offset = self.line_offset
        return tuple(
            StepResult(
                number=s.number,
                instruction=s.instruction,
                line=s.line + offset if s.line is not None else None,
                status=s.status,
                cached=s.cached,
                duration=s.duration(now),
            )
            for s in self.steps
        )

    def _total_steps(self) -> int:
        return self.total_steps or len(self.steps)

    def _tails(self, n: int) -> Mapping[int, tuple[tuple[str, bool], ...]] | None:
        """Per-step tails (None: the one ``tail`` of the running or failed step)."""
        return None

    def _notes(self) -> Mapping[int, str]:
        return {}

    def _downloads(self) -> tuple[tuple[str, str, int, int], ...]:
        return tuple((key, d.status, d.current, d.total) for key, d in self.downloads.items())

    def snapshot(self, *, tail: int = 12, log: bool = False) -> BuildSnapshot:
        """Copy what a view draws, at one instant: ``tail`` output lines, the log if asked.

        Costs the number of steps plus ``tail`` (the log only with ``log=True``), so a
        heartbeat can take one while the build thread folds a flood of output.
        """
        with self._lock:
            # A live build's running step is timed on the state's clock, like result().
            now = self.ended if self.ended is not None else self.clock()
            err = self.error
            return BuildSnapshot(
                status=self.status,
                tags=self.tags,
                line_offset=self.line_offset,
                total_steps=self._total_steps(),
                steps=self._step_results(now),
                tail=tuple(self._tail(tail)),
                downloads=self._downloads(),
                image_id=self.image_id,
                warnings=tuple(self.warnings),
                error=err.message if err is not None else None,
                exit_code=err.code if err is not None else None,
                error_step=err.step if err is not None else None,
                elapsed=max(0.0, now - self.started),
                log=self.log_text() if log else None,
                version=self.version,
                tails=self._tails(tail),
                notes=self._notes(),
                builder=self.builder,
                builder_note=self.builder_note,
                bases=self.bases,
                pushes=tuple(p.snapshot() for p in self.pushes),
                push_error=self.push_error,
            )

    def result(self) -> BuildResult:
        """Freeze the state into a :class:`BuildResult`."""
        with self._lock:
            # A live build's running step is timed on the state's clock, not time.monotonic.
            now = self.ended if self.ended is not None else self.clock()
            steps = self._step_results(now)
            failed = None
            if self.error is not None and self.error.step is not None:
                failed = steps[self.error.step - 1] if self.error.step <= len(steps) else None
            return BuildResult(
                status=self.status,
                image_id=self.image_id,
                tags=self.tags,
                steps=steps,
                warnings=tuple(self.warnings),
                unused_build_args=tuple(self.unused_build_args),
                log=self.log_text(),
                elapsed=self.elapsed(),
                error=self.error.message if self.error is not None else None,
                exit_code=self.error.code if self.error is not None else None,
                failed_step=failed,
                secret_build_args=self.secret_args,
                line_offset=self.line_offset,
                builder=self.builder,
                builder_note=self.builder_note,
                bases=self.bases,
                pushed=tuple(t for p in self.pushes if (t := p.pushed_tag()) is not None),
                push_error=self.push_error,
                context_transfer=self.context_transfer() if self.context_transfer else None,
                final_snapshot=self.snapshot(log=True),
            )


def _push(bucket: deque[tuple[str, bool]], line: str, is_err: bool) -> None:
    bucket.append((last_frame(line), is_err))
