"""After a successful build: which bases it used, and ``--push`` of its tags.

:func:`after_build` runs inside :func:`~jupyter_dockerbuild.builder.pipeline.execute`
once the image exists and before the view's final paint: it names the base image of
each stage (:mod:`.bases`) and, with ``push``, pushes every tag
(:func:`~jupyter_dockerbuild.images.push.push`, ``POST /images/{name}/push``), each
tag's :class:`~jupyter_dockerbuild.images.push.PushState` shown by the same view as the
build (per-layer upload bars beside the finished steps). :func:`push_again` is the
form's Push button: the same push of a build that already ended, into a new view.

A failed push is not a failed build: the image stays on the daemon, the state keeps
``status == "succeeded"`` and gets ``push_error``, and
:class:`~jupyter_dockerbuild.errors.PushError` carries the result with the digests of
the tags that did get pushed. An interrupt (or Cancel) during the push closes the
connection, which makes the daemon stop it; nothing is left under the tag in the
registry, as the registry only links a tag when its manifest arrives, last.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

from ..errors import PushError
from .options import BuildOptions

if TYPE_CHECKING:  # pragma: no cover
    from ..engine.client import BuildResponse, DockerClient
    from .state import BuildResult, BuildState


class View(Protocol):
    """A progress view (the pipeline's ``View``: this module sits below the pipeline)."""

    def update(self, state: BuildState) -> None:
        """Show the state so far (it throttles itself)."""

    def close(self, state: BuildState) -> None:
        """Show the final state."""


__all__ = ["after_build", "push_again", "push_tags"]


def after_build(
    state: BuildState,
    client: DockerClient,
    options: BuildOptions,
    *,
    view: View,
    cancel_event: threading.Event | None = None,
    on_response: Callable[[BuildResponse], object] | None = None,
) -> None:
    """Name the bases of a succeeded build; with ``options.push``, push its tags."""
    from .bases import resolve_bases

    state.bases = resolve_bases(client, state.log_text())
    if options.push:
        push_tags(state, client, view=view, cancel_event=cancel_event, on_response=on_response)


def push_tags(
    state: BuildState,
    client: DockerClient,
    *,
    view: View,
    cancel_event: threading.Event | None = None,
    on_response: Callable[[BuildResponse], object] | None = None,
    env: Any = None,
) -> None:
    """Push each tag of the succeeded build in ``state``, drawing the push in ``view``.

    Raises :class:`PushError` (with ``.result``) when a push fails, is cancelled, or is
    interrupted (``KeyboardInterrupt`` becomes that error: the push was stopped on the
    daemon, and the cell should say so in one line, naming the image kept).
    """
    from ..images.push import PushState, push

    state.pushes = []
    state.push_error = None

    def progress(push_state: PushState) -> None:
        state.track_push(push_state)
        view.update(state)

    result = state.result()
    try:
        push(
            result,
            client=client,
            env=env,
            progress=progress,
            cancel_event=cancel_event,
            on_response=on_response,
        )
    except PushError as exc:
        state.push_error = str(exc)
        raise PushError(
            str(exc), registry=exc.registry, reference=exc.reference, result=state.result()
        ) from None
    except KeyboardInterrupt:
        kept = ", ".join(result.tags)
        state.push_error = (
            f"the push was interrupted and stopped on the daemon; the image is still on the "
            f"daemon as {kept}"
        )
        raise PushError(state.push_error, result=state.result()) from None


def push_again(
    state: BuildState,
    *,
    view: View,
    host: str | None = None,
    client: DockerClient | None = None,
    cancel_event: threading.Event | None = None,
    on_response: Callable[[BuildResponse], object] | None = None,
) -> BuildResult:
    """Push the tags of a build that already ended (``state``); return its new result.

    The form's Push button. ``view`` draws the build's summary and the push, and is
    closed at the end; a client made here (for ``host``) is closed too.
    """
    owns = client is None
    try:
        view.update(state)
        if client is None:
            from ..engine.client import DockerClient

            client = DockerClient(host)
        push_tags(state, client, view=view, cancel_event=cancel_event, on_response=on_response)
        return state.result()
    finally:
        view.close(state)
        if owns and client is not None:
            client.close()
