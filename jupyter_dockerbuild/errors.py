"""The project's exceptions: one base class, each user-facing error naming its culprit.

Inner modules raise these (``raise ... from e``); the magic turns them into a short
message instead of a long traceback. A failed build raises :class:`BuildError`, which
carries the same :class:`~jupyter_dockerbuild.progress.BuildResult` a successful build
returns, so the log and the failing step are never lost.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover - import for type checkers only
    from .progress import BuildResult


class DockerBuildError(Exception):
    """Base class of every error this package raises on purpose."""

    def _render_traceback_(self) -> list[str]:
        """IPython hook: the cell fails with one short line, not a 40-frame traceback.

        The message already names the culprit; the frames inside this package would
        only hide it. Python callers outside IPython still get a normal traceback.
        """
        return [f"\x1b[0;31m{type(self).__name__}\x1b[0m: {self}"]


class OptionsError(DockerBuildError, ValueError):
    """A build option is malformed or out of range; raised before any request is sent."""


class ContextError(DockerBuildError):
    """The build context cannot be assembled (missing directory, bad path, bad variable)."""


class DaemonError(DockerBuildError):
    """The Docker daemon cannot be reached or refused the request outright."""


class DaemonUnavailable(DaemonError):
    """No daemon answers at the configured host or socket."""


class APIVersionError(DaemonError):
    """The daemon and this client share no Docker Engine API version."""


class StreamError(DockerBuildError):
    """The daemon's JSON stream is malformed or ended in the middle of a message."""


class BuildError(DockerBuildError):
    """The build failed; ``result`` holds the log, steps and the failing step."""

    def __init__(self, message: str, result: BuildResult | None = None, **extra: Any) -> None:
        super().__init__(message)
        self.result = result
        self.extra = extra


class BuildCancelled(BuildError):
    """The build was cancelled (interrupt or Cancel button); the daemon stopped it."""
