"""The classic builder: ``POST /build`` (no ``version``), ``Step k/N`` in the stream.

What is specific to the daemon's original builder, behind the pipeline's
:class:`~jupyter_dockerbuild.builder.pipeline.Builder` protocol: the refusal of
BuildKit-only syntax before any request, the request itself, the fold of its JSON
messages into the :class:`BuildState`, and the explanation of its errors in one
sentence that names the culprit (the failing step and its cell line, the flag, the base
image).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from ..units import format_size
from .options import CLASSIC, BuildOptions, refusal
from .state import BuildState

if TYPE_CHECKING:  # pragma: no cover
    from ..engine.client import BuildResponse, DockerClient


class ClassicBuilder:
    """The classic (non-BuildKit) builder of the Docker Engine API."""

    name = "classic"

    def refuse_options(self, options: BuildOptions) -> None:
        """Refuse what only BuildKit honours (``--secret``, ``--ssh``: they need its session)."""
        refused = refusal(options, CLASSIC)
        if refused is not None:
            raise refused

    def preflight(self, dockerfile: str, options: BuildOptions, *, line_offset: int) -> None:
        """Refuse BuildKit-only syntax with one clear sentence, not an opaque daemon error."""
        # Imported here: the magic imports this module before its first paint.
        from .preflight import check_dockerfile

        check_dockerfile(dockerfile, line_offset=line_offset)

    def start(
        self, client: DockerClient, options: BuildOptions, body: Iterable[bytes] | None
    ) -> BuildResponse:
        """Send ``POST /build``; the daemon answers with a JSON stream."""
        return client.build(options.to_query(), body, options.headers())

    def fold(self, state: BuildState, events: list[dict[str, Any]]) -> None:
        """Fold decoded stream messages into the state."""
        state.apply_many(events)

    def explain(
        self, message: str, code: int | None, options: BuildOptions, state: BuildState
    ) -> str:
        """One sentence that names what was wrong (see :func:`explain_error`)."""
        return explain_error(message, code, options, state)


# "parse error line N" up to Docker 20.10, "parse error on line N" from 23 on.
_PARSE_LINE_RE = re.compile(r"(dockerfile parse error (?:on )?)line (\d+)")


def explain_error(message: str, code: int | None, options: BuildOptions, state: BuildState) -> str:
    """Turn a daemon error into one sentence that names what was wrong.

    The daemon's text stays in the message (people search for it); we add what it
    leaves out: the step and cell line, the flag that caused it, what to try.
    """
    # Imported here: the registry module loads the HTTP stack, and the magic imports
    # this module before its first paint.
    from ..engine.registry import explain_registry_error, image_of_instruction

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
        # The daemon's "The command '/bin/sh -c ...'" already quotes the instruction:
        # naming it again would say the command twice in one line.
        return f"{where}{message}"
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
    # A registry we can name (a private or loopback one) gets its own sentence: log in,
    # start it, trust its CA. Docker Hub images fall through to "build it locally".
    registry = explain_registry_error(
        message, instruction=instruction, registry_config=options.registry_config
    )
    if registry is not None:
        pulled = image_of_instruction(instruction) if instruction else None
        subject = f"base image {pulled!r} is not on the daemon and " if pulled else ""
        return f"{where}{subject}{registry}"
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
