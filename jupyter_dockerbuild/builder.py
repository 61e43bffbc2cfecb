"""Run one build: options + context -> request -> events -> state -> view -> result.

This is the only place the pieces meet, so the magic, the form and the Python API all
build the same way. Failure is an event, not an HTTP status: an error before streaming
(4xx/5xx) and an ``errorDetail`` inside the stream both end as one
:class:`~jupyter_dockerbuild.errors.BuildError` carrying the result, with a message that
names the culprit (the failing step and its cell line, the flag, the base image).
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Mapping
from typing import Any, Protocol

from .client import DockerClient, HTTPError
from .context import build_context
from .errors import BuildCancelled, BuildError, DockerBuildError
from .options import BuildOptions, format_size
from .preflight import check_dockerfile
from .progress import BuildResult, BuildState
from .stream import JSONStreamDecoder


class View(Protocol):
    """What the builder needs from a progress display."""

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


# "parse error line N" up to Docker 20.10, "parse error on line N" from 23 on.
_PARSE_LINE_RE = re.compile(r"(dockerfile parse error (?:on )?)line (\d+)")


def explain_error(message: str, code: int | None, options: BuildOptions, state: BuildState) -> str:
    """Turn a daemon error into one sentence that names what was wrong.

    The daemon's text stays in the message (people search for it); we add what it
    leaves out: the step and cell line, the flag that caused it, what to try.
    """
    step = state.error.step if state.error is not None else None
    info = state.steps[step - 1] if step is not None and 0 < step <= len(state.steps) else None
    where = ""
    if step is not None:
        total = state.total_steps or len(state.steps)
        where = f"step {step}/{total}"
        if info is not None and info.line:
            # In the magic the Dockerfile starts on the cell's second line.
            label = "cell line" if state.line_offset else "line"
            where += f" ({label} {info.line + state.line_offset})"
        where += ": "
    instruction = info.instruction if info is not None else ""

    lowered = message.lower()
    if code == 137 or "returned a non-zero code: 137" in message:
        if options.memory:
            return (
                f"{where}killed (exit code 137): the step ran out of memory under the memory "
                f"limit -m {format_size(options.memory)}. Raise -m/--memory."
            )
        # Without a limit, SIGKILL means the host ran out of memory or someone killed
        # the container: say both rather than guess.
        return (
            f"{where}killed (exit code 137, SIGKILL): out of memory on the daemon's host, "
            "or the build container was killed"
        )
    if "returned a non-zero code" in message:
        return f"{where}{instruction}: {message}" if instruction else f"{where}{message}"
    if "no build stage" in lowered:
        return f"the Dockerfile must start with FROM (only ARG may come before it) ({message})"
    if "cannot be empty" in lowered:
        return f"the Dockerfile is empty: write at least a FROM line ({message})"
    match = _PARSE_LINE_RE.search(message)
    if match:
        cell_line = int(match.group(2)) + state.line_offset
        return f"{message} (cell line {cell_line})"
    if "network" in lowered and "not found" in lowered and options.network:
        return f"--network {options.network!r}: no such network on the daemon ({message})"
    if "cpuset" in lowered or ("cpus" in lowered and options.cpuset_cpus):
        return (
            f"--cpuset-cpus {options.cpuset_cpus!r}: those CPUs are not available on the "
            f"daemon's host ({message})"
        )
    if "extra host" in lowered or "invalid ip address" in lowered:
        return f"--add-host: {message}"
    if "cannot locate specified dockerfile" in lowered:
        return (
            f"-f/--file {options.dockerfile!r}: there is no such file in the build context "
            f"({message})"
        )
    if any(
        s in lowered
        for s in (
            "pull access denied",
            "manifest unknown",
            "connection refused",
            "no such host",
            "repository does not exist",
            "not found: manifest",
        )
    ):
        image = _base_image_in(message)
        if instruction.upper().startswith("FROM "):
            # The daemon's message names the registry URL, not the image: take it from
            # the FROM line (the word after FROM, before any "AS name").
            image = instruction.split()[1]
        subject = f"base image {image!r}" if image else "the base image"
        return (
            f"{where}{subject} is not on the daemon and could not be pulled ({message}). "
            "Build or load it locally first, e.g. jupyter_dockerbuild.ensure_base_image()"
        )
    if "invalid reference format" in lowered and options.tags:
        return f"-t/--tag {' '.join(options.tags)}: {message}"
    if "squash" in lowered and "experimental" in lowered:
        return f"--squash needs a daemon started with --experimental ({message})"
    return f"{where}{message}" if where else message


_IMAGE_IN_ERROR = re.compile(r"(?:for|pull|image|repository) ([\w./:@-]+:[\w.-]+)")


def _base_image_in(message: str) -> str | None:
    match = _IMAGE_IN_ERROR.search(message)
    return match.group(1) if match else None


def run_build(
    dockerfile: str | None,
    options: BuildOptions,
    *,
    context_dir: str | Any | None = None,
    files: Mapping[str, str | bytes] | None = None,
    client: DockerClient | None = None,
    view: View | None = None,
    line_offset: int = 0,
    cancel_event: threading.Event | None = None,
    on_response: Any = None,
) -> BuildResult:
    """Build an image and return its :class:`BuildResult`.

    Raises :class:`BuildError` (with ``.result``) when the build fails and
    :class:`BuildCancelled` when ``cancel_event`` is set. On ``KeyboardInterrupt`` the
    connection is closed, which makes the daemon kill and remove the running build
    container, the view shows "cancelled", and the interrupt is re-raised.
    """
    view = view or NullView()
    text = dockerfile
    if text is None and context_dir is not None and not options.remote:
        # The Dockerfile comes from the context directory: read it for the step list
        # and the preflight check (build_context reports it if it is missing).
        path = os.path.join(os.fspath(context_dir), options.dockerfile)
        try:
            with open(path, encoding="utf-8", errors="replace") as fh:
                text = fh.read()
        except OSError:
            text = None
    state = BuildState(text or "", tags=options.tags, line_offset=line_offset)
    state.secret_args = tuple(sorted(options.secret_args))
    owns_client = client is None
    response = None
    try:
        if text is not None and not options.remote:
            # BuildKit-only syntax gets one clear sentence, not an opaque daemon error.
            check_dockerfile(text, line_offset=line_offset)
        client = client or DockerClient()
        body = None
        if not options.remote:
            body = build_context(
                dockerfile,
                dockerfile_path=options.dockerfile,
                context_dir=context_dir,
                files=files,
            )
        view.update(state)
        try:
            response = client.build(options.to_query(), body, options.headers())
        except HTTPError as exc:
            # Errors before streaming: parse errors, bad tags, missing Dockerfile ...
            state.fail(explain_error(exc.message, None, options, state))
            raise BuildError(
                state.error.message if state.error else exc.message, state.result()
            ) from None
        if on_response is not None:
            on_response(response)
        decoder = JSONStreamDecoder()
        for chunk in response.chunks():
            if cancel_event is not None and cancel_event.is_set():
                break
            state.apply_many(decoder.feed(chunk))
            view.update(state)
        if response.cancelled or (cancel_event is not None and cancel_event.is_set()):
            response.cancel()
            state.cancel()
            raise BuildCancelled("the build was cancelled", state.result())
        state.apply_many(decoder.close())
        state.finish()
        if state.status != "succeeded":
            err = state.error
            message = explain_error(
                err.message if err else "the build ended without an image id",
                err.code if err else None,
                options,
                state,
            )
            if err is not None:
                err.message = message
            raise BuildError(message, state.result())
        return state.result()
    except KeyboardInterrupt:
        if response is not None:
            response.cancel()
        state.cancel()
        raise
    except BuildError:
        raise
    except DockerBuildError as exc:
        if state.status in ("pending", "running"):
            state.fail(str(exc))
        if response is not None:
            # The connection broke or the stream was garbled mid-build: that is a
            # failed build, with the log so far attached.
            raise BuildError(str(exc), state.result()) from exc
        raise
    finally:
        if response is not None:
            response.close()
        view.close(state)
        if owns_client and client is not None:
            client.close()
