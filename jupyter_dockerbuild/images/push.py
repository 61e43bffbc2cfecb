"""Push images to a registry: ``POST /images/{name}/push`` with ``X-Registry-Auth``.

:func:`push` takes a build result (each of its tags is pushed) or tag names. Every name
must carry its registry host: a bare ``myenv:1`` means Docker Hub, and is refused rather
than sent there. The credentials are the ones ``docker push`` would use for that
registry (``DOCKER_AUTH_CONFIG``, ``credHelpers``/``credsStore`` helpers, ``auths``),
sent as base64url JSON; nothing else ever sees them.

The daemon's push stream (``Preparing``/``Waiting``/``Pushing`` with byte counts/
``Pushed``/``Layer already exists``/``Mounted from``/``Retrying in``, then the status
``TAG: digest: DIGEST size: N`` and ``aux`` with the manifest ``Digest``; the containerd
image store sends only that status) is folded into a :class:`PushState` a view can show:
one entry per layer with the same fields as a build's downloads (``status``, ``current``,
``total``). A view draws a :class:`PushSnapshot` of it (taken under its lock: the push
folds on one thread while a widget's heartbeat draws on another). A failed push raises
:class:`~jupyter_dockerbuild.errors.PushError` naming the registry and the cause; the
image stays on the daemon.
"""

from __future__ import annotations

import re
import sys
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from ..engine.auth import credentials_for_registry, encode_registry_auth
from ..engine.client import BuildResponse, DockerClient
from ..engine.config import load_docker_config
from ..engine.registry import Reference, explain_registry_error, split_reference
from ..engine.stream import JSONStreamDecoder
from ..errors import DaemonError, HelperError, HTTPError, PushError, StreamError
from ..units import format_count, format_size

PushStatus = Literal["pending", "running", "pushed", "failed", "cancelled"]

#: Layer statuses after which a layer is in the registry.
_LAYER_DONE = ("Pushed", "Layer already exists", "Mounted from")
#: The pushed manifest, as a status line (``distribution/push_v2.go``, and the containerd
#: image store's ``daemon/containerd/image_push.go``, which sends no ``aux`` at all).
_DIGEST_LINE_RE = re.compile(r"(\S+): digest: (sha256:[0-9a-f]{64}) size: (\d+)")


def layer_done(status: str) -> bool:
    """True for a layer status after which the layer is in the registry."""
    return status.startswith(_LAYER_DONE)


@dataclass
class Layer:
    """One layer's upload: the daemon's status and bytes sent (like a build download)."""

    status: str
    current: int = 0
    total: int = 0

    @property
    def done(self) -> bool:
        """True once the layer is in the registry (pushed, already there or mounted)."""
        return layer_done(self.status)


@dataclass(frozen=True)
class PushSnapshot:
    """What a view shows of one tag's push, copied at one instant under its lock."""

    reference: str
    registry: str
    status: PushStatus
    #: ``(layer id, status, bytes sent, bytes to send, in the registry)`` per layer, in
    #: the daemon's order.
    layers: tuple[tuple[str, str, int, int, bool], ...]
    #: The daemon's lines without a layer (``The push refers to repository [...]``, the
    #: ``TAG: digest: sha256:... size: N`` line).
    messages: tuple[str, ...]
    digest: str | None
    size: int | None
    error: str | None
    elapsed: float

    @property
    def done(self) -> int:
        """How many layers are in the registry."""
        return sum(1 for layer in self.layers if layer[4])

    @property
    def sent(self) -> tuple[int, int]:
        """(bytes sent, bytes to send) over the layers that report sizes."""
        return sum(la[2] for la in self.layers), sum(la[3] for la in self.layers)


class PushState:
    """One tag's push in progress, folded from the daemon's messages; no IO.

    Every change holds the state's lock, and so does :meth:`snapshot`, which is what
    views read from other threads.
    """

    def __init__(self, reference: str, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self.reference = reference
        ref = split_reference(reference)
        self.registry = ref.host
        self._tag = ref.tag or "latest"
        self.status: PushStatus = "pending"
        self.layers: dict[str, Layer] = {}
        self.digest: str | None = None
        self.size: int | None = None
        self.error: str | None = None
        self.messages: list[str] = []
        self.started = clock()
        self.ended: float | None = None
        self.version = 0
        self._lock = threading.Lock()

    def apply(self, event: Mapping[str, Any]) -> None:
        """Fold one message of the push stream."""
        with self._lock:
            self._apply(event)

    def _apply(self, event: Mapping[str, Any]) -> None:
        self.version += 1
        if self.status == "pending":
            self.status = "running"
        if "errorDetail" in event or "error" in event:
            detail = event.get("errorDetail") or {}
            self.error = str(detail.get("message") or event.get("error") or "unknown error")
            return
        aux = event.get("aux")
        if isinstance(aux, dict) and aux.get("Digest"):
            self.digest = str(aux["Digest"])
            size = aux.get("Size")
            self.size = size if isinstance(size, int) else None
            return
        status = event.get("status")
        if not isinstance(status, str):
            return
        layer_id = event.get("id")
        if not layer_id:
            line = _DIGEST_LINE_RE.fullmatch(status.strip())
            if line and line.group(1) == self._tag and self.digest is None:
                self.digest, self.size = line.group(2), int(line.group(3))
            self.messages.append(status)
            return
        layer = self.layers.setdefault(str(layer_id), Layer(status))
        layer.status = status
        detail = event.get("progressDetail") or {}
        current, total = detail.get("current"), detail.get("total")
        if isinstance(current, int):
            layer.current = current
        if isinstance(total, int):
            layer.total = total
        if layer.done and layer.total:
            layer.current = layer.total

    def finish(self) -> None:
        """The stream ended: pushed when the daemon sent the digest and no error."""
        with self._lock:
            self.status = "pushed" if self.digest and self.error is None else "failed"
            if self.status == "failed" and self.error is None:
                self.error = "the push ended without a digest"
            self.ended = self.clock()
            self.version += 1

    def fail(self, message: str) -> None:
        """A failure outside the stream (HTTP error, broken connection)."""
        with self._lock:
            self.error = message
            self.status = "failed"
            self.ended = self.clock()
            self.version += 1

    def cancel(self) -> None:
        """The push was interrupted."""
        with self._lock:
            self.status = "cancelled"
            self.ended = self.clock()
            self.version += 1

    def elapsed(self) -> float:
        """Seconds since the push started (until it ended)."""
        end = self.ended if self.ended is not None else self.clock()
        return max(0.0, end - self.started)

    @property
    def sent(self) -> tuple[int, int]:
        """(bytes sent, bytes to send) over the layers that report sizes."""
        return self.snapshot().sent

    def snapshot(self) -> PushSnapshot:
        """Copy what a view draws, at one instant."""
        with self._lock:
            return PushSnapshot(
                reference=self.reference,
                registry=self.registry,
                status=self.status,
                layers=tuple(
                    (key, la.status, la.current, la.total, la.done)
                    for key, la in self.layers.items()
                ),
                messages=tuple(self.messages),
                digest=self.digest,
                size=self.size,
                error=self.error,
                elapsed=self.elapsed(),
            )

    def pushed_tag(self) -> PushedTag | None:
        """The tag as pushed (name, digest, size, layers), or ``None`` if it is not (yet)."""
        with self._lock:
            if self.status != "pushed" or self.digest is None:
                return None
            return PushedTag(
                self.reference,
                self.digest,
                self.size,
                tuple((k, la.status) for k, la in self.layers.items()),
            )

    def lines(self) -> list[str]:
        """A plain-text picture: a header, then one line per layer."""
        return push_lines(self.snapshot())


def push_lines(snap: PushSnapshot) -> list[str]:
    """A push as plain text: a header (reference, layers done, time, digest), then layers."""
    head = {
        "pending": "Pushing",
        "running": "Pushing",
        "pushed": "Pushed",
        "failed": "Push failed:",
        "cancelled": "Push cancelled:",
    }[snap.status]
    layers = format_count(len(snap.layers), "layer")
    title = f"{head} {snap.reference} ({snap.done}/{layers}) {snap.elapsed:.1f}s"
    if snap.status == "pushed" and snap.digest:
        title += f"  {snap.digest}"
    out = [title]
    for layer_id, status, current, total, done in snap.layers:
        amount = f"  {format_size(current)} / {format_size(total)}" if total and not done else ""
        out.append(f"  {layer_id[:12]}: {status}{amount}")
    return out


@dataclass(frozen=True)
class PushedTag:
    """One pushed tag: its full name, the manifest digest the registry stored, its size."""

    reference: str
    digest: str
    size: int | None = None
    #: Each layer's last status (``Pushed``, ``Layer already exists``, ``Mounted from x``).
    layers: tuple[tuple[str, str], ...] = field(default=(), repr=False)


@dataclass(frozen=True)
class PushResult:
    """What a push did: every tag pushed, with its digest."""

    pushed: tuple[PushedTag, ...]
    elapsed: float

    @property
    def digest(self) -> str:
        """The manifest digest (the same for every tag of one image)."""
        return self.pushed[0].digest

    @property
    def references(self) -> tuple[str, ...]:
        """The names pushed, ``host/path:tag``."""
        return tuple(p.reference for p in self.pushed)

    def __repr__(self) -> str:
        names = ", ".join(self.references)
        return f"<PushResult {names} {self.digest} in {self.elapsed:.1f}s>"


def _targets(target: Any) -> tuple[list[str], str | None]:
    """The names to push and, for a build result, its image id."""
    if isinstance(target, str):
        return [target], None
    if hasattr(target, "tags") and hasattr(target, "image_id"):
        if getattr(target, "status", "succeeded") != "succeeded" or not target.image_id:
            raise PushError("the build did not succeed: there is no image to push")
        tags = list(target.tags)
        if not tags:
            raise PushError(
                "the build has no tag, so there is nothing to push: build with -t "
                "REGISTRY/NAME:TAG (e.g. -t 127.0.0.1:5443/team/app:1), then push"
            )
        return tags, str(target.image_id)
    if isinstance(target, Iterable):
        names = [str(t) for t in target]
        if not names:
            raise PushError("no tag given to push")
        return names, None
    raise PushError(f"cannot push {type(target).__name__}: give a build result or a tag")


def check_push_tags(tags: Iterable[str]) -> list[Reference]:
    """Check, before building, that every tag can be pushed: raise :class:`PushError`.

    For ``--push``: a build without a tag, or a tag that names no registry host (it
    would go to Docker Hub), is refused before anything is sent.
    """
    names = list(tags)
    if not names:
        raise PushError(
            "--push needs a tag naming the registry: add -t REGISTRY/NAME:TAG "
            "(e.g. -t 127.0.0.1:5443/team/app:1)"
        )
    return [push_reference(n) for n in names]


def push_reference(name: str) -> Reference:
    """Parse a tag to push; :class:`PushError` if it names no registry or is a digest."""
    try:
        ref = split_reference(name)
    except ValueError as exc:
        raise PushError(f"cannot push {name!r}: {exc}") from None
    if ref.digest:
        raise PushError(f"cannot push {name!r}: push a tag, not a digest")
    if not ref.explicit_host:
        tag = ref.tag or "latest"
        raise PushError(
            f"{name!r} names no registry, so pushing it would go to Docker Hub (docker.io): "
            f"refused. Tag it with the registry it is for, e.g. "
            f"127.0.0.1:5443/{ref.path.removeprefix('library/')}:{tag}",
            reference=name,
        )
    if not ref.tag:
        ref = Reference(ref.host, ref.path, "latest", None, True)
    return ref


class PushPrinter:
    """A push as text, like ``docker push`` prints it: one line per layer status.

    ``progress=True`` outside a widget, and the build's text view after ``--push``.
    ``stream`` is looked up at each call when not given (IPython swaps ``sys.stdout``).
    """

    def __init__(self, stream: Any = None) -> None:
        self._stream = stream
        self.seen: dict[str, str] = {}
        self.messages = 0

    def __call__(self, state: PushState | PushSnapshot) -> None:
        """Print what changed since the last call."""
        snap = state.snapshot() if isinstance(state, PushState) else state
        out = self._stream if self._stream is not None else sys.stdout
        for text in snap.messages[self.messages :]:
            print(text, file=out)
        self.messages = len(snap.messages)
        for layer_id, status, *_ in snap.layers:
            # "Pushing" changes with every chunk: print it once, not per byte count.
            if self.seen.get(layer_id) != status:
                self.seen[layer_id] = status
                print(f"{layer_id}: {status}", file=out)


def push(
    target: Any,
    *,
    client: DockerClient | None = None,
    env: Mapping[str, str] | None = None,
    progress: bool | Callable[[PushState], None] = False,
    config: Mapping[str, Any] | None = None,
    cancel_event: threading.Event | None = None,
    on_response: Callable[[BuildResponse], None] | None = None,
) -> PushResult:
    """Push a build result's tags (or the tags named) to their registries.

    ``target`` is a :class:`~jupyter_dockerbuild.builder.result.BuildResult`, a tag, or
    a list of tags; each must name its registry (``127.0.0.1:5443/team/app:1``), a tag
    defaults to ``latest``. ``progress`` is a callable given the :class:`PushState`
    after each message (a view; it throttles itself), or True to print like the CLI.
    Returns a :class:`PushResult` with each tag's digest. Raises :class:`PushError`
    (the image is kept on the daemon) naming the registry and the cause.

    A Cancel button sets ``cancel_event`` or calls ``cancel()`` on the response handed
    to ``on_response`` (from another thread): the connection closes, the daemon stops
    the push, and :class:`PushError` says it was cancelled.
    """
    names, image_id = _targets(target)
    refs = [push_reference(n) for n in names]
    on_state: Callable[[PushState], None] | None
    on_state = PushPrinter() if progress is True else (progress or None)
    owns = client is None
    client = client or DockerClient(env=env)
    started = time.monotonic()
    try:
        for ref in refs:
            if not client.image_exists(str(ref)):
                raise PushError(
                    f"there is no image {ref} on the daemon to push"
                    + (" (it was untagged since the build)" if image_id else ""),
                    registry=ref.host,
                    reference=str(ref),
                )
        config = load_docker_config(env) if config is None else config
        pushed = [
            _push_one(client, ref, config, env, on_state, cancel_event, on_response) for ref in refs
        ]
    finally:
        if owns:
            client.close()
    return PushResult(tuple(pushed), time.monotonic() - started)


def _push_one(
    client: DockerClient,
    ref: Reference,
    config: Mapping[str, Any],
    env: Mapping[str, str] | None,
    on_state: Callable[[PushState], None] | None,
    cancel_event: threading.Event | None = None,
    on_response: Callable[[BuildResponse], None] | None = None,
) -> PushedTag:
    name = str(ref)
    kept = f"; the image is still on the daemon as {name}"
    try:
        creds = credentials_for_registry(ref.host, config, env)
    except HelperError as exc:
        raise PushError(
            f"push of {name} to registry {ref.host}: no credentials, {exc}{kept}",
            registry=ref.host,
            reference=name,
        ) from None
    header = encode_registry_auth(creds)
    state = PushState(name)
    response = None

    def failed(message: str) -> PushError:
        explained = explain_registry_error(
            message, image=name, registry=ref.host, sent_credentials=bool(creds), action="push"
        )
        return PushError(
            f"push of {name} failed: {explained or f'{message} (registry {ref.host})'}{kept}",
            registry=ref.host,
            reference=name,
        )

    try:
        try:
            response = client.push(ref.repository, ref.tag or "latest", header)
        except HTTPError as exc:
            state.fail(exc.message)
            raise failed(exc.message) from None
        if on_response is not None:
            on_response(response)
        decoder = JSONStreamDecoder()
        for chunk in response.chunks():
            if cancel_event is not None and cancel_event.is_set():
                break
            for event in decoder.feed(chunk):
                state.apply(event)
            if on_state is not None:
                on_state(state)
        if response.cancelled or (cancel_event is not None and cancel_event.is_set()):
            response.cancel()
            state.cancel()
            if on_state is not None:
                on_state(state)
            raise PushError(
                f"the push of {name} was cancelled{kept}", registry=ref.host, reference=name
            )
        for event in decoder.close():
            state.apply(event)
        state.finish()
        if on_state is not None:
            on_state(state)
        if state.status != "pushed":
            raise failed(state.error or "the push ended without a digest")
        tag = state.pushed_tag()
        assert tag is not None
        return tag
    except KeyboardInterrupt:
        if response is not None:
            response.cancel()  # closing the connection makes the daemon stop the push
        state.cancel()
        if on_state is not None:
            on_state(state)
        raise
    except (DaemonError, StreamError) as exc:
        if isinstance(exc, HTTPError):
            raise
        state.fail(str(exc))
        if on_state is not None:
            on_state(state)
        raise PushError(f"push of {name}: {exc}{kept}", registry=ref.host, reference=name) from exc
    finally:
        if response is not None:
            response.close()
