"""Which base image a build used: read from what Docker 20.10's classic builder says.

The daemon reports the base of each stage in its stream, and nowhere else: the built
image's inspect and history name no base (``Parent`` is the previous step's image, and
history rows of pulled layers are ``<missing>``). After ``Step k/N : FROM NAME`` it may
pull (``Digest: sha256:...`` then ``Status: Downloaded newer image for NAME`` or
``Status: Image is up to date for NAME``, with ``--pull`` or when the image is missing),
and then always prints `` ---> <12 digits>``: the local image the stage starts from.
That image's ``RepoDigests`` (``GET /images/{id}/json``) hold the registry digest it was
pulled or pushed as, which is how a base the daemon already had is named.

:func:`from_steps` reads the log (a pure function, tested on recordings);
:func:`resolve_bases` asks the daemon for the digests. Stages built ``FROM`` an earlier
stage, and ``FROM scratch``, are not bases and are left out.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from ..engine.registry import image_of_instruction, split_reference
from ..errors import DockerBuildError
from .result import BaseImage, BaseSource

if TYPE_CHECKING:  # pragma: no cover
    from ..engine.client import DockerClient

__all__ = ["FromStep", "from_steps", "resolve_bases"]

# Only FROM steps are read, from their header to their `` ---> <id>``: a FROM step prints
# no output of its own, so the search never reads a 1M-line RUN log line by line.
_FROM_RE = re.compile(r"Step \d+/\d+ : ([Ff][Rr][Oo][Mm]\s[^\n]*)")
_COMMIT_RE = re.compile(r"^ ---> ([0-9a-f]{12})$")
_DIGEST_RE = re.compile(r"^Digest: (sha256:[0-9a-f]{64})$")
_PULLED = "Status: Downloaded newer image for "
_UP_TO_DATE = "Status: Image is up to date for "
_AS_RE = re.compile(r"\s+as\s+(\S+)\s*$", re.IGNORECASE)


@dataclass
class FromStep:
    """One ``FROM`` step as the log tells it."""

    reference: str
    #: The 12-digit id of `` ---> <id>`` (``None`` when ONBUILD triggers ran in between).
    short_id: str | None = None
    #: ``Digest: ...`` of a pull in this step.
    digest: str | None = None
    source: BaseSource = "local"


def from_steps(log: str) -> list[FromStep]:
    """The ``FROM`` steps of a classic build's log that start from an image, in order."""
    steps: list[FromStep] = []
    stages: set[str] = set()
    for header in _headers(log):
        instruction = header.group(1).strip()
        image = image_of_instruction(instruction)
        earlier = image is not None and image.lower() in stages  # FROM a stage: no base
        named = _AS_RE.search(instruction)
        if named:
            stages.add(named.group(1).lower())
        if not image or earlier or image.lower() == "scratch":
            continue
        step = FromStep(image)
        steps.append(step)
        _read_from_step(step, log, header.end())
    return steps


def _headers(log: str) -> Iterator[re.Match[str]]:
    """The ``Step k/N : FROM ...`` lines (``str.find``: a regex would test every char)."""
    start = 0  # the log's first line, then each line after a newline that starts so
    while True:
        header = _FROM_RE.match(log, start)
        if header is not None:
            yield header
        newline = log.find("\nStep ", start)
        if newline < 0:
            return
        start = newline + 1


def _read_from_step(step: FromStep, log: str, start: int) -> None:
    """Fill ``step`` from the lines after its header, up to its `` ---> <id>``."""
    pos = start + 1
    while pos < len(log):
        end = log.find("\n", pos)
        line = log[pos : end if end >= 0 else len(log)]
        pos = len(log) if end < 0 else end + 1
        commit = _COMMIT_RE.match(line)
        digest = _DIGEST_RE.match(line)
        if commit:
            step.short_id = commit.group(1)
            return
        if line.startswith("Step "):
            return  # the next step: this one printed no id
        if digest:
            step.digest = digest.group(1)
        elif line.startswith(_PULLED):
            step.source = "pulled"
            step.reference = line[len(_PULLED) :].strip() or step.reference
        elif line.startswith(_UP_TO_DATE):
            step.source = "checked"
            step.reference = line[len(_UP_TO_DATE) :].strip() or step.reference
        elif "Executing" in line and "build trigger" in line:
            # ONBUILD triggers run inside FROM: the id printed next is theirs, not the base's.
            return


def _repository(name: str) -> str:
    """A name's repository the way ``RepoDigests`` writes it (Docker Hub names familiar)."""
    ref = split_reference(name)
    if not ref.explicit_host or ref.host == "docker.io":
        return ref.path.removeprefix("library/")
    return ref.repository


def _repo_digest(reference: str, repo_digests: list[Any]) -> str | None:
    """The digest in ``RepoDigests`` for ``reference``'s repository (the only one if unsure)."""
    entries = [str(d) for d in repo_digests if isinstance(d, str) and "@" in d]
    if "$" in reference:  # FROM $BASE, never expanded in the log: only a lone digest is sure
        return entries[0].rpartition("@")[2] if len(entries) == 1 else None
    try:
        wanted = _repository(reference)
    except ValueError:
        return None
    for entry in entries:
        name, _, digest = entry.rpartition("@")
        try:
            if _repository(name) == wanted:
                return digest
        except ValueError:
            continue
    return None


def resolve_bases(client: DockerClient, log: str) -> tuple[BaseImage, ...]:
    """The base of each stage, with its registry digest (asked from the daemon if needed).

    Never fails a build: a daemon that cannot be asked leaves the digest to what the
    pull said, and the id as the log's 12 digits.
    """
    bases: list[BaseImage] = []
    for step in from_steps(log):
        image_id, digest = step.short_id, step.digest
        if image_id is None and digest is None:
            continue  # nothing says which image it was (ONBUILD ran, nothing was pulled)
        try:
            written = split_reference(step.reference) if "$" not in step.reference else None
        except ValueError:
            written = None
        if digest is None and written is not None and written.digest:
            digest = written.digest  # FROM name@sha256:...
        info = None
        if step.short_id is not None:
            try:
                info = client.get_json(f"/images/{quote(step.short_id)}/json")
            except DockerBuildError:
                pass  # keep what the log says
        if isinstance(info, dict):
            image_id = str(info.get("Id") or image_id)
            if digest is None:
                digest = _repo_digest(step.reference, list(info.get("RepoDigests") or []))
        bases.append(BaseImage(step.reference, image_id, digest, step.source))
    return tuple(bases)
