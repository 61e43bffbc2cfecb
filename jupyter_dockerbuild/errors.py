"""The project's exceptions: one base class, each user-facing error naming its culprit.

Inner modules raise these (``raise ... from e``); the magic turns them into a short
message instead of a long traceback. A failed build raises :class:`BuildError`, which
carries the same :class:`~jupyter_dockerbuild.builder.state.BuildResult` a successful
build returns, so the log and the failing step are never lost.
"""

from __future__ import annotations

from typing import Any


class DockerBuildError(Exception):
    """Base class of every error this package raises on purpose."""

    #: True once a build's view showed this error's message (its summary says why the
    #: build failed): the cell's error line then points there instead of repeating it.
    shown_above = False

    def _render_traceback_(self) -> list[str]:
        """IPython hook: the cell fails with one short line, not a 40-frame traceback.

        The message already names the culprit; the frames inside this package would
        only hide it. Python callers outside IPython still get a normal traceback, and
        ``str(error)`` is the whole message in any case.
        """
        name = f"\x1b[0;31m{type(self).__name__}\x1b[0m"
        if self.shown_above:
            return [f"{name}: see the build's summary above"]
        return [f"{name}: {self}"]


class OptionsError(DockerBuildError, ValueError):
    """A build option is malformed or out of range; raised before any request is sent.

    ``option`` names the option it is about (``"memory_swap"``, the Python name of
    :mod:`~jupyter_dockerbuild.builder.options`), ``None`` when it is about no single one
    (an unknown keyword); a form flags that field. ``detail`` is the problem without the
    flag in front, for showing beside the field (the whole message when it has no flag).
    """

    def __init__(
        self, message: str, *, option: str | None = None, detail: str | None = None
    ) -> None:
        super().__init__(message)
        self.option = option
        self.detail = message if detail is None else detail


class ContextError(DockerBuildError):
    """The build context cannot be assembled (missing directory, bad path, bad variable)."""


class DaemonError(DockerBuildError):
    """The Docker daemon cannot be reached or refused the request outright."""


class DaemonUnavailable(DaemonError):
    """No daemon answers at the configured host or socket."""


class APIVersionError(DaemonError):
    """The daemon and this client share no Docker Engine API version."""


class HTTPError(DaemonError):
    """The daemon answered a request with an HTTP error status."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class HelperError(DockerBuildError):
    """A docker credential helper failed (missing, timed out, exited non-zero, bad output)."""


class ConfigFileError(DockerBuildError):
    """The docker config file cannot be read for an update, or cannot be written."""


class RegistryError(DockerBuildError):
    """A registry refused a login, push or pull, or could not be reached.

    The message names the registry (``registry``: ``host[:port]``) and says what to do;
    it never carries a credential.
    """

    def __init__(self, message: str, *, registry: str | None = None) -> None:
        super().__init__(message)
        self.registry = registry


class PushError(RegistryError):
    """A push failed; the image is still on the daemon under ``reference``.

    After ``--push`` (a build that succeeded, then a push that did not), ``result`` is the
    build's :class:`~jupyter_dockerbuild.builder.result.BuildResult`, with the digests of
    the tags that were pushed and ``push_error``.
    """

    def __init__(
        self,
        message: str,
        *,
        registry: str | None = None,
        reference: str | None = None,
        result: Any = None,
    ) -> None:
        super().__init__(message, registry=registry)
        self.reference = reference
        self.result = result


class ImageNotFound(DockerBuildError, LookupError):
    """The image (tag, id or build result) is not on the daemon."""


class UnsupportedSyntax(DockerBuildError):
    """The Dockerfile uses syntax the chosen builder cannot run; nothing was sent.

    ``construct`` names it (``"RUN --mount"``), ``line`` is its 1-based line in the
    Dockerfile text and ``text`` that line as written.
    """

    def __init__(self, message: str, *, construct: str, line: int, text: str) -> None:
        super().__init__(message)
        self.construct = construct
        self.line = line
        self.text = text


class StreamError(DockerBuildError):
    """The daemon's JSON stream is malformed or ended in the middle of a message."""


class SessionError(DaemonError):
    """The BuildKit session (``/session``) could not be opened or broke during a build."""


class GrpcError(Exception):
    """A gRPC status to end one call of the BuildKit session with (not shown to users).

    Raised by a session service to answer the daemon with ``code`` (a gRPC status
    number, e.g. 12 UNIMPLEMENTED, 5 NOT_FOUND) and ``message``; the session turns it into
    the call's trailers. It is not a :class:`DockerBuildError`: it never reaches a cell.
    """

    def __init__(self, code: int, message: str = "") -> None:
        super().__init__(f"gRPC status {code}: {message}")
        self.code = code
        self.message = message


class BuildError(DockerBuildError):
    """The build failed; ``result`` holds the log, steps and the failing step."""

    def __init__(self, message: str, result: Any = None, **extra: Any) -> None:
        # ``result`` is a BuildResult; typed loosely so this bottom layer imports nothing.
        super().__init__(message)
        self.result = result
        self.extra = extra


class BuildCancelled(BuildError):
    """The build was cancelled (interrupt or Cancel button); the daemon stopped it.

    ``result`` is the cancelled build's: status ``"cancelled"``, the steps and the log
    up to the cancel.
    """


class BuildInterrupted(KeyboardInterrupt):
    """A build was interrupted (Ctrl-C, the kernel's ■); the daemon stopped it.

    ``result`` is the cancelled build's :class:`BuildResult` (status ``"cancelled"``,
    the steps and the log so far). It is a :class:`KeyboardInterrupt` and not a
    :class:`DockerBuildError` on purpose: ``except Exception`` (or ``except BuildError``)
    around a build in a loop must not swallow the user's interrupt and carry on. The
    ``%%dockerbuild`` magic turns it into :class:`BuildCancelled` (the cell fails, with
    ``--out NAME`` set); the Python API raises it as is.
    """

    def __init__(self, message: str, result: Any = None) -> None:
        super().__init__(message)
        self.result = result

    def _render_traceback_(self) -> list[str]:
        """IPython hook: one short line, not a traceback through the HTTP stack."""
        return [f"\x1b[0;31m{type(self).__name__}\x1b[0m: {self}"]
