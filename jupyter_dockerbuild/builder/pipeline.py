"""The one build pipeline: the Python API, the magic, the form and the base image call it.

:func:`execute` runs a build from a Dockerfile and :class:`BuildOptions` to a
:class:`BuildResult`: first paint of the view, the builder's preflight, the client, the
docker config (credentials, proxies) for the daemon it builds on, the context, the
request, the events folded into the state as they stream, cancel, and the closing of
the response, the view and the client it made, whatever happens.

What differs between builders sits behind :class:`Builder`: the classic builder
(:mod:`.classic`) and BuildKit (:mod:`.buildkit`, ``/build?version=2``). Which one runs
is chosen by :mod:`.choose` (``builder="buildkit"|"classic"|"auto"``, else
``DOCKER_BUILDKIT``, else auto).

Failure is an event, not an HTTP status: an error before streaming (4xx/5xx) and an
``errorDetail`` inside the stream both end as one
:class:`~jupyter_dockerbuild.errors.BuildError` carrying the result, with the builder's
explanation as its message.

After a successful build (:mod:`.publish`, before the view's final paint) the result
names the base image of each stage and, with ``--push``, each tag is pushed with its
progress in the same view; a failed push is a
:class:`~jupyter_dockerbuild.errors.PushError` carrying the (succeeded) result.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any, Protocol

# Only what the first paint needs is imported with this module: the magic imports it
# before anything is drawn, and the HTTP stack (requests alone is ~100 ms in a fresh
# kernel) and the context tar load inside execute(), after the first paint.
from ..engine.stream import JSONStreamDecoder
from ..errors import BuildCancelled, BuildError, DockerBuildError, HTTPError, PushError
from .classic import ClassicBuilder
from .options import BuildOptions
from .state import BuildResult, BuildState

if TYPE_CHECKING:  # pragma: no cover
    from ..engine.client import BuildResponse, DockerClient

__all__ = ["Builder", "NullView", "View", "execute"]


class View(Protocol):
    """What the pipeline needs from a progress display."""

    def update(self, state: BuildState) -> None:
        """Show the state so far (called often: the view throttles itself)."""

    def close(self, state: BuildState) -> None:
        """Show the final state."""


class NullView:
    """A view that shows nothing (Python API without a display)."""

    def update(self, state: BuildState) -> None:  # noqa: D102
        pass

    def close(self, state: BuildState) -> None:  # noqa: D102
        pass


class Builder(Protocol):
    """One way of building on the daemon: what differs between builders.

    :func:`execute` owns everything around it (view, client, docker config, context,
    the stream's decoding, cancel, closing); a builder owns what it refuses before any
    request, the request, how the daemon's messages fold into the state, and how its
    errors read.
    """

    #: Short name (``"classic"``), for messages and for options that only some honour.
    name: str

    def preflight(self, dockerfile: str, options: BuildOptions, *, line_offset: int) -> None:
        """Raise a :class:`DockerBuildError` for what this builder cannot build."""

    def start(
        self, client: DockerClient, options: BuildOptions, body: Iterable[bytes] | None
    ) -> BuildResponse:
        """Send the build request with the context ``body``; return the streaming response.

        Raises :class:`HTTPError` when the daemon refuses before streaming.
        """

    def fold(self, state: BuildState, events: list[dict[str, Any]]) -> None:
        """Fold decoded JSON messages from the response into ``state``."""

    def explain(
        self, message: str, code: int | None, options: BuildOptions, state: BuildState
    ) -> str:
        """Turn the daemon's error into one sentence naming the culprit."""

    # Optional (looked up with getattr, so a minimal builder needs none of them):
    #   new_state(dockerfile, options, *, line_offset) -> BuildState   the state it folds into
    #   refuse_options(options)                 refuse options it ignores, before anything
    #   check_daemon(client, dockerfile, options, *, line_offset)   what this daemon can't
    #                                           do, after /version and before /build
    #   prepare(client, options, *, dockerfile, context_dir, files, docker_config, env)
    #                                           before the context (BuildKit's session)
    #   tar_body: bool                          False: no tar body is sent (default True)
    #   close()                                 after the build, whatever happened


def _make_builder(name: str) -> Builder:
    if name == "buildkit":
        from .buildkit import BuildKitBuilder

        return BuildKitBuilder()
    return ClassicBuilder()


def _new_state(builder: Builder, text: str, options: BuildOptions, line_offset: int) -> BuildState:
    make = getattr(builder, "new_state", None)
    if make is not None:
        state: BuildState = make(text, options, line_offset=line_offset)
        return state
    return BuildState(text, tags=options.tags, line_offset=line_offset)


def _preflight(builder: Builder, text: str | None, options: BuildOptions, line_offset: int) -> None:
    refuse = getattr(builder, "refuse_options", None)
    if refuse is not None:
        refuse(options)
    if text is not None and not options.remote:
        builder.preflight(text, options, line_offset=line_offset)


def _dockerfile_text(
    dockerfile: str | None, options: BuildOptions, context_dir: str | os.PathLike[str] | None
) -> str | None:
    """The Dockerfile's text for the step list and the preflight, if we can know it."""
    if dockerfile is not None or context_dir is None or options.remote:
        return dockerfile
    # The Dockerfile comes from the context directory (build_context reports it if it
    # is missing, with the daemon's wording).
    path = os.path.join(os.fspath(context_dir), options.dockerfile)
    try:
        with open(path, encoding="utf-8", errors="replace") as fh:
            return fh.read()
    except OSError:
        return None


def execute(
    dockerfile: str | None,
    options: BuildOptions,
    *,
    context_dir: str | os.PathLike[str] | None = None,
    files: Mapping[str, str | bytes] | None = None,
    host: str | None = None,
    client: DockerClient | None = None,
    view: View | None = None,
    line_offset: int = 0,
    cancel_event: threading.Event | None = None,
    on_response: Callable[[BuildResponse], object] | None = None,
    builder: Builder | str | None = None,
    docker_config: bool = True,
    env: Mapping[str, str] | None = None,
) -> BuildResult:
    """Build an image and return its :class:`BuildResult`.

    ``dockerfile`` is the Dockerfile's text (None: ``options.dockerfile`` inside
    ``context_dir``); ``context_dir`` and ``files`` make the context. The build runs on
    ``client``, else on a client for ``host`` (like ``DOCKER_HOST``; None: found like
    the docker CLI) that is closed at the end. With ``docker_config`` the user's docker
    config adds registry credentials and proxies for that daemon, as ``docker build``
    does. ``line_offset`` is how many lines come before the Dockerfile's first (the
    magic's line). ``on_response`` gets the streaming response as soon as there is one
    (the form keeps it to cancel from another thread). ``builder`` is a
    :class:`Builder`, or ``"buildkit"``, ``"classic"`` or ``"auto"``; None: as
    ``DOCKER_BUILDKIT`` in ``env`` (default ``os.environ``) says, else auto (see
    :mod:`.choose`). The result's ``builder`` names the one that ran.

    ``view`` gets the state from before anything slow happens and is always closed,
    also when the build fails before the request.

    Raises :class:`BuildError` (with ``.result``) when the build fails and
    :class:`BuildCancelled` when ``cancel_event`` is set. On ``KeyboardInterrupt`` the
    connection is closed, which makes the daemon kill and remove the running build
    container, the view shows "cancelled", and the interrupt is re-raised.

    With ``options.push`` the tags are checked before anything is sent (each must name
    its registry) and pushed after the build; a push that fails, is cancelled or is
    interrupted raises :class:`PushError` whose ``.result`` is the build's, with the
    digests of the tags pushed so far.
    """
    view = view or NullView()
    text = _dockerfile_text(dockerfile, options, context_dir)
    if builder is None:
        builder = options.builder  # --builder, the form's field, builder= (None: not said)
    refused: DockerBuildError | None = None
    note = ""
    if builder is None or isinstance(builder, str):
        from .choose import choose_builder

        try:
            choice = choose_builder(builder, text, options, line_offset=line_offset, env=env)
            note = choice.reason
            builder = _make_builder(choice.name)
        except DockerBuildError as exc:
            # Shown in the view like any other failure before the request.
            refused, builder = exc, ClassicBuilder()
    state = _new_state(builder, text or "", options, line_offset)
    state.secret_args = tuple(sorted(options.secret_args))
    state.builder_note = note
    owns_client = client is None
    response: BuildResponse | None = None
    try:
        # First paint: the steps, waiting, before anything slow.
        view.update(state)
        if refused is not None:
            raise refused
        _preflight(builder, text, options, line_offset)
        if options.push:
            from ..images.push import check_push_tags

            # No tag, or one that would go to Docker Hub: refused before any request.
            check_push_tags(options.tags)
        if client is None:
            from ..engine.client import DockerClient

            client = DockerClient(host)
        check_daemon = getattr(builder, "check_daemon", None)
        if check_daemon is not None:
            check_daemon(client, text, options, line_offset=line_offset)
        if docker_config:
            from .docker_config import apply_docker_config

            # Credentials and proxies for the daemon this build really runs on.
            options = apply_docker_config(options, host=client.host)
            state.secret_args = tuple(sorted(options.secret_args))
        prepare = getattr(builder, "prepare", None)
        if prepare is not None:
            # BuildKit's session opens before the context is made and /build is sent.
            prepare(
                client,
                options,
                dockerfile=dockerfile,
                context_dir=context_dir,
                files=files,
                docker_config=docker_config,
                env=env,
            )
        body = None
        if not options.remote and getattr(builder, "tar_body", True):
            from .context import build_context

            body = build_context(
                dockerfile,
                dockerfile_path=options.dockerfile,
                context_dir=context_dir,
                files=files,
            )
        try:
            response = builder.start(client, options, body)
        except HTTPError as exc:
            # Errors before streaming: parse errors, bad tags, missing Dockerfile ...
            state.fail(builder.explain(exc.message, None, options, state))
            raise BuildError(
                state.error.message if state.error else exc.message, state.result()
            ) from None
        if on_response is not None:
            on_response(response)
        decoder = JSONStreamDecoder()
        for chunk in response.chunks():
            if cancel_event is not None and cancel_event.is_set():
                break
            builder.fold(state, decoder.feed(chunk))
            view.update(state)
        if response.cancelled or (cancel_event is not None and cancel_event.is_set()):
            response.cancel()
            state.cancel()
            raise BuildCancelled("the build was cancelled", state.result())
        builder.fold(state, decoder.close())
        state.finish()
        if state.status != "succeeded":
            err = state.error
            message = builder.explain(
                err.message if err else "the build ended without an image id",
                err.code if err else None,
                options,
                state,
            )
            state.explain_error(message)
            raise BuildError(message, state.result())
        from .publish import after_build

        after_build(
            state, client, options, view=view, cancel_event=cancel_event, on_response=on_response
        )
        return state.result()
    except KeyboardInterrupt:
        if response is not None:
            response.cancel()
        state.cancel()
        raise
    except BuildError:
        raise
    except PushError as exc:
        # Refused before the build (its tags), or the push after it (the build is kept).
        if state.status in ("pending", "running"):
            state.fail(str(exc))
        raise
    except DockerBuildError as exc:
        if state.status in ("pending", "running"):
            state.fail(str(exc))
        if response is not None:
            # The connection broke or the stream was garbled mid-build: that is a
            # failed build, with the log so far attached. Cancel it on the daemon: a
            # build we no longer read must not go on running there.
            response.cancel()
            raise BuildError(str(exc), state.result()) from exc
        raise
    except Exception as exc:
        # Not ours (a bug, an odd OSError): the view must not stay "Building" anyway.
        if state.status in ("pending", "running"):
            state.fail(str(exc) or type(exc).__name__)
        raise
    finally:
        if response is not None:
            response.close()
        close_builder = getattr(builder, "close", None)
        if close_builder is not None:
            close_builder()  # the BuildKit session ends with the build
        view.close(state)
        if owns_client and client is not None:
            client.close()
