"""What a build produced: :class:`BuildResult`, its steps, and its plain-text summary.

Frozen data, made by :meth:`~jupyter_dockerbuild.builder.state.BuildState.result`. The
summary is here, not in the UI layer, because the result's own ``repr`` shows it; the
methods that look at the image (``history``, ``run``, ``compare``) call down into the
images layer. Its HTML form (the build's final summary) is drawn by the UI layer, which
this layer may not reach: :mod:`jupyter_dockerbuild.ipython.display` registers it with
IPython's HTML formatter.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from ..units import format_count

if TYPE_CHECKING:  # pragma: no cover
    from ..images.push import PushedTag

#: ``unreported``: the build succeeded without the daemon saying anything of this step
#: (``-q``: it sends the image id only), so whether it ran or came from cache is unknown.
StepStatus = Literal["waiting", "running", "done", "cached", "failed", "cancelled", "unreported"]
BuildStatus = Literal["pending", "running", "succeeded", "failed", "cancelled"]
#: Where a base image came from: ``pulled`` (downloaded for this build), ``checked`` (the
#: registry was asked and had nothing newer, e.g. ``--pull``), ``local`` (the daemon's
#: copy; no registry was asked).
BaseSource = Literal["pulled", "checked", "local"]

__all__ = [
    "BaseImage",
    "BaseSource",
    "BuildResult",
    "BuildStatus",
    "ContextTransfer",
    "StepResult",
    "StepStatus",
    "render_summary",
]

#: How the summary's lines after the steps start (a text view keeps these).
SUMMARY_AFTER = (" ⚠", " base ", " pushed ", " ✗ push")

#: Why the steps of a quiet build show no status (the summary and the view say it).
UNREPORTED = "not reported by the daemon (quiet: it sent only the image id)"

_SOURCES = {
    "pulled": "pulled now",
    "checked": "the registry had nothing newer",
    "local": "the daemon's copy; --pull asks the registry",
}


@dataclass(frozen=True)
class BaseImage:
    """The image one stage was built ``FROM``, as the daemon resolved it."""

    #: The name after ``FROM`` (as the daemon reported it).
    reference: str
    #: The daemon's image the stage started from (``sha256:...``; 12 digits if the daemon
    #: could not be asked).
    image_id: str | None
    #: The registry's manifest digest of that image: from the pull, else the image's
    #: ``RepoDigests``; ``None`` for an image that never came from a registry.
    digest: str | None
    source: BaseSource = "local"

    def describe(self) -> str:
        """``NAME@sha256:... (pulled now)``: which base, in one line."""
        short = (self.image_id or "").split(":", 1)[-1][:12]
        where = f"{self.reference}@{self.digest}" if self.digest else self.reference
        if not self.digest:
            where += f" (image {short}, no registry digest: a local image)" if short else ""
            return where
        return f"{where} ({_SOURCES[self.source]})"


@dataclass(frozen=True)
class ContextTransfer:
    """How the build context reached the daemon through the session, and how much of it.

    Counted by the notebook's FileSync sender (:mod:`.filesync`) on every DiffCopy call
    of the build (the Dockerfile, ``.dockerignore``, the context). ``wire_bytes`` is the
    figure BuildKit's ``transferring context: N`` shows; a rebuild with nothing changed
    sends stats only and ``data_bytes`` 0.
    """

    #: ``"filesync"`` (the session; the daemon asks for what changed).
    via: str
    #: Bytes of file contents sent.
    data_bytes: int
    #: Bytes of the protocol's packets (stats, contents, handshakes).
    wire_bytes: int
    #: Files whose contents the daemon asked for (and got).
    files_sent: int
    #: Entries described to the daemon (files, folders, links), over all calls.
    entries: int
    #: ``(dir-name, path)`` of each file sent, in order: the daemon's ``dockerfile`` tree
    #: (Docker 23+ asks for the Dockerfile and ``.dockerignore`` on every build) and the
    #: ``context`` tree (only what changed since the last build with the same key).
    sent: tuple[tuple[str, str], ...] = field(default=(), repr=False)


@dataclass(frozen=True)
class StepResult:
    """A finished step, as kept on the result."""

    number: int
    instruction: str
    line: int | None
    status: StepStatus
    cached: bool
    duration: float | None


@dataclass(frozen=True, repr=False)
class BuildResult:
    """What a build produced: keep it (``--out NAME``) to look at the log or steps later."""

    status: BuildStatus
    image_id: str | None
    tags: tuple[str, ...]
    steps: tuple[StepResult, ...]
    warnings: tuple[str, ...]
    unused_build_args: tuple[str, ...]
    log: str
    elapsed: float
    error: str | None = None
    exit_code: int | None = None
    failed_step: StepResult | None = None
    #: Names of build args whose values are never displayed (history masks them too).
    secret_build_args: tuple[str, ...] = ()
    #: Lines before the Dockerfile's first line (1 in a %%dockerbuild cell): step lines
    #: above are cell lines when this is non-zero.
    line_offset: int = 0
    #: The builder that ran the build, ``"classic"`` or ``"buildkit"`` (then the steps
    #: are BuildKit's vertices, named like ``[stage-1 2/3] RUN ...``), and why that one.
    builder: str = "classic"
    builder_note: str = ""
    #: The image each stage started ``FROM`` (stages built from an earlier stage left out).
    bases: tuple[BaseImage, ...] = ()
    #: With ``--push``: each tag pushed, with the manifest digest the registry stored.
    pushed: tuple[PushedTag, ...] = ()
    #: With ``--push``: why the push failed or stopped (the image stays on the daemon).
    push_error: str | None = None
    #: What the context's transfer through the session sent (None: a tar body, or none).
    context_transfer: ContextTransfer | None = None
    #: What the build's final view drew (a :class:`~.state.BuildSnapshot`: the failed
    #: step's last lines, BuildKit's notes, each push), so that displaying the result in
    #: a notebook shows that same HTML summary; None for a result made by hand. Typed
    #: loosely: ``state`` imports this module.
    final_snapshot: Any = field(default=None, compare=False)

    @property
    def ok(self) -> bool:
        """True if the build succeeded."""
        return self.status == "succeeded"

    @property
    def short_id(self) -> str | None:
        """The 12-hex-digit image id the docker CLI shows."""
        if not self.image_id:
            return None
        return self.image_id.split(":", 1)[-1][:12]

    def __repr__(self) -> str:
        if self.ok:
            tags = f" tags={list(self.tags)}" if self.tags else ""
            by = " with BuildKit" if self.builder == "buildkit" else ""
            pushed = ""
            if self.push_error is not None:
                tags = format_count(len(self.tags), "tag")
                pushed = f", push failed ({len(self.pushed)}/{tags} pushed)"
            elif self.pushed:
                pushed = f", pushed {self.pushed[0].digest[:19]}"
            return (
                f"<BuildResult succeeded {self.short_id}{tags} "
                f"{format_count(len(self.steps), 'step')} in {self.elapsed:.1f}s{by}{pushed}>"
            )
        return f"<BuildResult {self.status}: {self.error}>"

    def _repr_pretty_(self, p: Any, cycle: bool) -> None:
        p.text(repr(self) if cycle else render_summary(self))

    def history(self, **kwargs: Any) -> Any:
        """The image's layers (``GET /images/{id}/history``) as a table."""
        from ..images.history import history

        return history(self, **kwargs)

    def run(self, *cmd: str, **kwargs: Any) -> Any:
        """Run ``cmd`` (or the image's CMD) once in a new container; see ``run_image``."""
        from ..images.run import run_image

        if not self.image_id:
            raise ValueError("this build produced no image to run")
        return run_image(self, *cmd, **kwargs)

    def push(self, **kwargs: Any) -> Any:
        """Push every tag of the image to its registry; returns a ``PushResult``."""
        from ..images.push import push

        return push(self, **kwargs)

    def compare(self, other: Any, **kwargs: Any) -> Any:
        """Which layers this image shares with ``other`` (a result or a tag)."""
        from ..images.compare import compare

        return compare(self, other, **kwargs)


def _secs(seconds: float | None) -> str:
    return "" if seconds is None else f"{seconds:.1f}s"


def render_summary(build: Any) -> str:
    """A static multi-line plain-text summary of a build result (or of a state's result)."""
    # Anything that is not a result is a BuildState (which imports this module).
    result = build if isinstance(build, BuildResult) else build.result()
    total = len(result.steps)
    cached = sum(1 for s in result.steps if s.cached)
    lines: list[str] = []
    if result.ok:
        tags = "  " + " ".join(result.tags) if result.tags else ""
        by = " with BuildKit" if result.builder == "buildkit" else ""
        lines.append(f"Built {result.image_id} in {result.elapsed:.1f}s{by}{tags}")
    elif result.status == "cancelled":
        at = next((s for s in result.steps if s.status == "cancelled"), None)
        where = f" at step {at.number}/{total}" if at else ""
        lines.append(f"Cancelled after {result.elapsed:.1f}s{where}")
    else:
        step = result.failed_step
        where = ""
        # Errors explained by the builder already start with "step k/N (cell line L)";
        # BuildKit's name their vertex and line themselves.
        if (
            step is not None
            and result.builder == "classic"
            and not (result.error or "").startswith("step ")
        ):
            where = f" at step {step.number}/{total}"
            if step.line:
                label = "cell line" if result.line_offset else "line"
                where += f" ({label} {step.line})"
        lines.append(f"Failed after {result.elapsed:.1f}s{where}: {result.error}")
    for s in result.steps:
        mark = {"done": "✓", "cached": "✓", "failed": "✗", "cancelled": "■", "running": "▶"}
        right = "CACHED" if s.cached else _secs(s.duration)
        lines.append(f" {mark.get(s.status, ' ')} {s.number:>2} {s.instruction}  {right}".rstrip())
    for w in result.warnings:
        lines.append(f" ⚠ {w}")
    if any(s.status == "unreported" for s in result.steps):
        lines.append(f" {format_count(total, 'step')}: {UNREPORTED}")
    elif total:
        lines.append(f" {format_count(total, 'step')} ({cached} cached)")
    for base in result.bases:
        lines.append(f" base {base.describe()}")
    for tag in result.pushed:
        lines.append(f" pushed {tag.reference} {tag.digest}")
    if result.push_error is not None:
        lines.append(f" ✗ push: {result.push_error}")
    return "\n".join(lines)
