"""The BuildKit builder: ``POST /build?version=2`` with the tar body, through a session.

What is specific to the daemon's built-in BuildKit, behind the pipeline's
:class:`~jupyter_dockerbuild.builder.pipeline.Builder` protocol:

- **Refusals before any request.** moby's builder-next never reads the per-build
  resource limits, ``rm``/``forcerm``, ``squash`` or ``isolation`` (20.10's
  ``builder/builder-next/builder.go``, and master's ``daemon/internal/builder-next``), and
  runs RUN steps only on the ``default``, ``host`` or ``none`` network: each such flag
  fails with a sentence naming it and pointing at the classic builder. A ``# syntax=``
  line would make BuildKit pull a frontend image from a registry: refused too. Secret
  and ssh mounts get what ``--secret`` and ``--ssh`` give through the build's session
  (:mod:`.secrets`, :mod:`.ssh`).
- **The session** (:mod:`.session`, :meth:`BuildKitBuilder.prepare`): opened before the
  context is made, named by ``session=<id>`` on ``/build``, closed by
  :meth:`BuildKitBuilder.close` whatever happens; it serves what the providers add
  (registry credentials, build secrets, ssh agents).
- **What the daemon's frontend can parse** (:meth:`BuildKitBuilder.check_daemon`, after
  ``/version``, before ``/build``): Docker 20.10's built-in Dockerfile frontend (BuildKit
  0.8) has no heredocs and refuses ``COPY --link`` or ``RUN --network`` (measured: they
  fail inside a 200 stream, "Unknown flag: link"); Docker 23 and later parse them.
  ``--shm-size`` is read by BuildKit from Docker 23 on. ``--network default`` needs the
  daemon's bridge network, which a daemon started with ``--bridge=none`` has not.
- **The request**: ``version=2``, ``networkmode=none`` unless ``--network`` says
  ``default`` or ``host``, a ``buildid`` so that a cancel sends ``POST /build/cancel``
  besides closing the connection, and the options BuildKit reads.
- **The fold** into a :class:`~jupyter_dockerbuild.builder.buildkit_progress.BuildKitBuildState`,
  and **errors in one sentence**: the failing vertex's cell line, name and exit code,
  then its last output lines.
"""

from __future__ import annotations

import os
import re
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from ..errors import DaemonError, DockerBuildError, OptionsError, StreamError, UnsupportedSyntax
from .buildkit_progress import BuildKitBuildState
from .options import BUILDKIT, BuildOptions, refusal
from .state import BuildState

if TYPE_CHECKING:  # pragma: no cover
    from ..engine.client import BuildResponse, DockerClient
    from ..engine.session import Session
    from .result import ContextTransfer
    from .session import SessionPlan, SessionProvider

__all__ = [
    "BuildKitBuilder",
    "buildkit_query",
    "containerd_image_store",
    "daemon_version",
    "tar_context_refusal",
]

#: The first Engine API with BuildKit behind ``/build?version=2`` (Docker 18.09).
MIN_API = (1, 39)
#: Docker versions whose built-in Dockerfile frontend parses a construct (moby's
#: vendored BuildKit: 20.10 -> 0.8, 23.0 -> 0.10, 24.0 -> 0.11, 28.3 -> 0.23, 28.5 ->
#: 0.25; each construct checked in that version's frontend/dockerfile/instructions).
_FRONTEND_SINCE: dict[tuple[str, str | None], tuple[int, int]] = {
    ("RUN", "mount"): (20, 10),
    ("COPY", "chmod"): (20, 10),
    ("ADD", "chmod"): (20, 10),
    ("RUN", None): (23, 0),  # heredocs
    ("COPY", None): (23, 0),
    ("ADD", None): (23, 0),
    ("COPY", "link"): (23, 0),
    ("ADD", "link"): (23, 0),
    ("RUN", "network"): (23, 0),
    ("ADD", "checksum"): (24, 0),
    ("ADD", "keep-git-dir"): (24, 0),
    ("ADD", "unpack"): (28, 3),
    ("COPY", "exclude"): (28, 5),
    ("ADD", "exclude"): (28, 5),
}
#: Behind the frontend's "labs" build tags: only a ``# syntax=...:labs`` image has them.
_LABS_ONLY = frozenset(
    {("RUN", "security"), ("RUN", "device"), ("COPY", "parents"), ("ADD", "parents")}
)
#: Shared memory size is read by builder-next from Docker 23 on (``Options.ShmSize``).
_SHM_SINCE = (23, 0)
#: From Docker 28.0 the containerd image store's BuildKit reads a context sent as the
#: request body (moby 8d5cf1db1e, "Use the roundtripper during build"; moby/moby#47717).
_TAR_ON_CONTAINERD_SINCE = (28, 0)
#: API version -> Docker release, for a daemon whose version string is not a number.
_API_RELEASES = ((1, 44, (25, 0)), (1, 43, (24, 0)), (1, 42, (23, 0)), (1, 41, (20, 10)))

_VERSION_RE = re.compile(r"^v?(\d+)\.(\d+)")
_PARSE_LINE_RE = re.compile(r"(dockerfile parse error )line (\d+)")
_EXIT_RE = re.compile(r"exit code: (\d+)")
_CLASSIC_HINT = "use the classic builder (--builder classic)"


def _vtuple(text: str) -> tuple[int, int] | None:
    match = _VERSION_RE.match(text.strip())
    return (int(match.group(1)), int(match.group(2))) if match else None


def daemon_version(client: DockerClient) -> tuple[tuple[int, int] | None, str]:
    """The daemon's Docker release as ``(major, minor)`` (None: unknown) and as written."""
    info = client.version_info()
    text = str(info.get("Version") or "")
    version = _vtuple(text)
    if version is None or version[0] < 17:
        # A development build ("master-dockerproject-...") or a distribution's odd
        # string: the API version it speaks tells its release well enough.
        api = _vtuple(str(info.get("ApiVersion") or ""))
        if api is not None:
            for major, minor, release in _API_RELEASES:
                if api >= (major, minor):
                    return release, text or f"API {api[0]}.{api[1]}"
    return version, text or "unknown"


def containerd_image_store(client: DockerClient) -> bool:
    """Whether the daemon keeps images in containerd (``/info`` ``DriverStatus``).

    The containerd image store reports ``driver-type`` ``io.containerd.snapshotter.v1``
    (measured on Docker 26.1 and 28.5); the graph drivers report their own keys.
    """
    from .filesync import containerd_store  # the one reading of /info, for both paths

    return containerd_store(client.get_json("/info"))


def tar_context_refusal(client: DockerClient) -> str | None:
    """Why this daemon's BuildKit cannot build a context sent as the request body, or None.

    Before Docker 28.0 the containerd image store's BuildKit fetches such a context from
    a made-up ``build-context-ID`` host, so the build fails ("no such host") after the
    daemon has sent that name to its resolver (moby/moby#47717). A build whose context
    goes through a session's FileSync is not affected.
    """
    version, written = daemon_version(client)
    if version is not None and version >= _TAR_ON_CONTAINERD_SINCE:
        return None
    if not containerd_image_store(client):
        return None
    return (
        f"this daemon (Docker {written}) keeps images in the containerd image store, where "
        "BuildKit cannot read a build context sent with the request (it looks up a made-up "
        f"build-context host instead, moby/moby#47717); {_CLASSIC_HINT}"
    )


def _release(version: tuple[int, int]) -> str:
    return f"{version[0]}.{version[1]}" if version[0] < 23 else str(version[0])


def buildkit_query(options: BuildOptions, build_id: str | None) -> list[tuple[str, str]]:
    """The ``/build`` query of a BuildKit build (the options were checked before)."""
    query = [("version", "2"), ("networkmode", options.network or "none")]
    for key, value in options.to_query():
        # rm/forcerm are always sent to the classic builder; BuildKit reads neither
        # (it always removes its step containers), and the network is set above.
        if key not in ("rm", "forcerm", "networkmode"):
            query.append((key, value))
    if build_id:
        query.append(("buildid", build_id))
    return query


class BuildKitBuilder:
    """The daemon's built-in BuildKit, over ``/build?version=2`` (see the module)."""

    name = "buildkit"
    #: A tar body reaches BuildKit as a remote context: its ``.dockerignore`` is not applied
    #: (dockerui filters local contexts only), so the context must not rely on it.
    reads_dockerignore = False

    def __init__(
        self,
        *,
        build_id: str | None = None,
        providers: Sequence[SessionProvider] | None = None,
    ) -> None:
        #: The ``buildid`` of the next build (a fresh one per build when not given).
        self.build_id = build_id
        #: What the build's session is made from (None: :data:`.session.PROVIDERS`).
        self.providers = providers
        #: The open session of the build under way, and its plan (see :meth:`prepare`).
        self.session: Session | None = None
        self.plan: SessionPlan | None = None

    # -- the session -------------------------------------------------------------------

    def prepare(
        self,
        client: DockerClient,
        options: BuildOptions,
        *,
        dockerfile: str | None,
        context_dir: str | os.PathLike[str] | None,
        files: Mapping[str, str | bytes] | None,
        docker_config: bool = True,
        env: Mapping[str, str] | None = None,
    ) -> None:
        """Open the build's session (before the context and ``/build``).

        Raises :class:`~jupyter_dockerbuild.errors.SessionError` with a sentence when
        the daemon has no session to offer.
        """
        from ..engine.session import Session
        from .session import PROVIDERS, SessionPlan

        self.close()
        plan = SessionPlan(
            client,
            options,
            dockerfile=dockerfile,
            context_dir=os.fspath(context_dir) if context_dir is not None else None,
            files=files,
            env=dict(os.environ if env is None else env),
            docker_config=docker_config,
        )
        for provider in PROVIDERS if self.providers is None else self.providers:
            provider(plan)
        self.plan = plan
        # Kept before it opens: an interrupt during the upgrade still gets it closed.
        self.session = Session(client, plan.services, shared_key=plan.shared_key, name=plan.name)
        self.session.open()

    @property
    def context_transfer(self) -> Callable[[], ContextTransfer] | None:
        """The figures of the context sent through the session (None: a tar body)."""
        from .filesync import sender_of

        server = sender_of(self.plan.services) if self.plan is not None else None
        return server.summary if server is not None else None

    @property
    def tar_body(self) -> bool:
        """Whether the context goes as the request's tar body (False: the session sends it)."""
        return self.plan.tar_body if self.plan is not None else True

    def close(self) -> None:
        """Close the build's session (called by the pipeline whatever happened)."""
        session, self.session = self.session, None
        plan, self.plan = self.plan, None
        if session is not None:
            session.close()
        for done in plan.on_close if plan is not None else ():
            try:
                done()
            except Exception:
                pass

    # -- before any request ----------------------------------------------------------

    def new_state(self, dockerfile: str, options: BuildOptions, *, line_offset: int) -> BuildState:
        """The state BuildKit's events fold into: vertices as rows."""
        return BuildKitBuildState(dockerfile, tags=options.tags, line_offset=line_offset)

    def refuse_options(self, options: BuildOptions) -> None:
        """Refuse every option BuildKit would ignore (the table's ``builders``), naming one."""
        refused = refusal(options, BUILDKIT)
        if refused is not None:
            raise refused

    def preflight(self, dockerfile: str, options: BuildOptions, *, line_offset: int) -> None:
        """Refuse what needs a registry, whatever the daemon's version."""
        from .dockerfile import parse

        label = "cell line" if line_offset else "line"
        df = parse(dockerfile)
        for directive in df.directives:
            if directive.name != "syntax":
                continue
            raw = df.lines[directive.line - 1]
            raise UnsupportedSyntax(
                f"{label} {directive.line + line_offset} ({raw.strip()}): a # syntax= "
                f"directive makes BuildKit pull the frontend image {directive.value} from a "
                "registry before it reads the Dockerfile; remove the line to build with the "
                "daemon's built-in frontend",
                construct="# syntax=",
                line=directive.line,
                text=raw,
            )

    def check_daemon(
        self,
        client: DockerClient,
        dockerfile: str | None,
        options: BuildOptions,
        *,
        line_offset: int,
    ) -> None:
        """Refuse what this daemon's BuildKit cannot do, before ``/build`` is sent."""
        api = _vtuple(client.api_version)
        if api is not None and api < MIN_API:
            raise DaemonError(
                f"the daemon at {client.host} speaks API {client.api_version}, which has no "
                f"BuildKit (Docker 18.09 and later have it); {_CLASSIC_HINT}"
            )
        version, written = daemon_version(client)
        if options.shm_size is not None and version is not None and version < _SHM_SINCE:
            raise OptionsError(
                f"--shm-size: BuildKit ignores it on Docker {written} (it reads it from Docker "
                f"23 on); {_CLASSIC_HINT}, which honours it"
            )
        if dockerfile and version is not None:
            self._check_frontend(dockerfile, version, written, line_offset)
        if dockerfile:
            from .platforms import check_base_platforms

            # Whatever carries the context: a foreign platform would reach a registry.
            check_base_platforms(client, dockerfile, options, line_offset=line_offset)
        if options.network == "default" and not _has_bridge(client):
            raise OptionsError(
                "--network default: the daemon has no default bridge network (it was started "
                "with --bridge=none), so every RUN step would fail; use --network none (the "
                "default here) or --network host"
            )
        for entry in options.extra_hosts:
            if entry.endswith(":host-gateway") and not _has_bridge(client):
                raise OptionsError(
                    f"--add-host {entry}: the daemon has no host gateway address (it runs "
                    "without a bridge network); give the host's IP address instead"
                )

    @staticmethod
    def _check_frontend(
        dockerfile: str, version: tuple[int, int], written: str, line_offset: int
    ) -> None:
        from .dockerfile import parse
        from .preflight import buildkit_constructs

        label = "cell line" if line_offset else "line"
        for construct in buildkit_constructs(parse(dockerfile)):
            key = (construct.keyword, construct.flag)
            since = _FRONTEND_SINCE.get(key)
            if key in _LABS_ONLY:
                why = (
                    "exists only in the labs Dockerfile frontend, which a # syntax= line "
                    "would pull from a registry"
                )
            elif since is not None and version < since:
                why = (
                    f"needs Docker {_release(since)} or later; the built-in frontend of this "
                    f"daemon (Docker {written}) cannot parse it"
                )
            else:
                continue
            shown = construct.text.strip()
            if len(shown) > 60:
                shown = shown[:59] + "…"
            raise UnsupportedSyntax(
                f"{label} {construct.line + line_offset} ({shown}): {construct.name} {why}; "
                f"{construct.hint}",
                construct=construct.name,
                line=construct.line,
                text=construct.text,
            )

    # -- the build -------------------------------------------------------------------

    def start(
        self, client: DockerClient, options: BuildOptions, body: Iterable[bytes] | None
    ) -> BuildResponse:
        """Send ``POST /build?version=2``; cancelling the response cancels by ``buildid``.

        A context going as the tar body is refused first where the daemon cannot read
        it (:func:`tar_context_refusal`); nothing has been sent then.
        """
        if body is not None and getattr(self, "tar_body", True) and not options.remote:
            refused = tar_context_refusal(client)
            if refused is not None:
                raise DaemonError(refused)
        build_id = self.build_id or f"jupyter-dockerbuild-{uuid.uuid4().hex}"
        query = buildkit_query(options, build_id)
        if self.session is not None:
            query.append(("session", self.session.id))
        if self.plan is not None:
            query += self.plan.query
        return client.build(query, body, options.headers(), build_id=build_id)

    def fold(self, state: BuildState, events: list[dict[str, Any]]) -> None:
        """Fold decoded stream messages into the state."""
        if not isinstance(state, BuildKitBuildState):
            raise TypeError("the BuildKit builder folds into a BuildKitBuildState")
        for event in events:
            if not state.kit.traces and _CLASSIC_STEP_RE.match(str(event.get("stream", ""))):
                # An old daemon that ignores version=2 runs the classic builder instead.
                raise StreamError(
                    "the daemon answered with the classic builder's output (Step 1/N), not "
                    f"BuildKit's: it does not run BuildKit builds; {_CLASSIC_HINT}"
                )
        state.apply_many(events)

    # -- errors ----------------------------------------------------------------------

    def explain(
        self, message: str, code: int | None, options: BuildOptions, state: BuildState
    ) -> str:
        """One sentence (and the failing step's last lines) for a BuildKit error."""
        lowered = message.lower()
        if not isinstance(state, BuildKitBuildState):
            return message
        from .filesync import CONTEXT_ENV, sender_of

        sender = sender_of(self.plan.services) if self.plan is not None else None
        if sender is not None and sender.error is not None:
            # A file of the context could not be sent (the daemon says "error from
            # sender: ..."): the notebook's own sentence names the file.
            return str(sender.error)
        if "build-context-" in message and "remote build context" in lowered:
            # moby/moby#47717: with the containerd image store the daemon fetches a tar
            # body from its made-up URL http://build-context-<id> over the network.
            return (
                "the daemon keeps its images in containerd, where BuildKit cannot read the "
                f"context as a tar body (moby/moby#47717); unset {CONTEXT_ENV} (it says tar) "
                "so that the context goes through the session"
            )
        ended = self.session.ended if self.session is not None else None
        if ended is not None or "no active session" in lowered:
            # The daemon dropped the session (or never saw it): whatever it needed from
            # the notebook failed with it; say so before the daemon's words.
            why = ended or "the daemon did not find it"
            return f"the BuildKit session ended during the build ({why}): {_short_error(message)}"
        if "invalid version" in lowered or ("buildkit" in lowered and "not supported" in lowered):
            if "network mode" not in lowered:
                return f"the daemon does not run BuildKit builds ({message}); {_CLASSIC_HINT}"
        if "network mode" in lowered and "not supported by buildkit" in lowered:
            return f"--network {options.network}: {message}; {_CLASSIC_HINT}"
        if "network bridge not found" in lowered:
            return state.failure_text(
                "the daemon has no default bridge network (--network default); use "
                "--network none or host"
            )
        if "failed to parse additional hosts" in lowered:
            return f"--add-host: {message}"
        match = _PARSE_LINE_RE.search(message)
        if match:
            label = "cell line" if state.line_offset else "line"
            line = int(match.group(2)) + state.line_offset
            return f"{label} {line}: {message[match.start() :]}"
        if state.kit.cancelled:
            return "the build was cancelled on the daemon (context canceled)"
        vertex = state.kit.failed_vertex()
        exit_code = code if code is not None else state.kit.exit_code
        if vertex is not None and exit_code is not None:
            if exit_code == 137:
                return state.failure_text(
                    "killed (exit code 137, SIGKILL): out of memory on the daemon's host, or "
                    "the step was killed"
                )
            return state.failure_text(f"exit code {exit_code}")
        missing = _explain_missing_mount(vertex.error or message if vertex else message)
        if missing is not None:
            return state.failure_text(missing)
        registry = self._registry_sentence(message, options, state)
        if registry is not None:
            return registry
        if vertex is not None:
            return state.failure_text(_short_error(vertex.error or message))
        return message

    @staticmethod
    def _registry_sentence(
        message: str, options: BuildOptions, state: BuildKitBuildState
    ) -> str | None:
        vertex = state.kit.failed_vertex()
        image = None
        if vertex is not None and vertex.name.startswith("[internal] load metadata for "):
            image = vertex.name[len("[internal] load metadata for ") :].strip()
        elif vertex is not None:
            ins = state.instruction_of(vertex)
            if ins is not None and ins.keyword == "FROM":
                image = ins.text.split()[1] if len(ins.text.split()) > 1 else None
        if image is None:
            return None
        from ..engine.registry import explain_registry_error

        sentence = explain_registry_error(
            message, image=image, registry_config=options.registry_config
        )
        where = _from_line(state, image)
        if sentence is not None:
            return f"{where}base image {image!r} is not on the daemon and {sentence}"
        lowered = message.lower()
        if any(
            s in lowered
            for s in ("pull access denied", "not found", "connection refused", "no such host")
        ):
            return (
                f"{where}base image {image!r} is not on the daemon and could not be pulled "
                f"({_short_error(message)}). Build or load it locally first, e.g. "
                "jupyter_dockerbuild.ensure_base_image()"
            )
        return None


_CLASSIC_STEP_RE = re.compile(r"Step \d+/\d+ : ")


def _explain_missing_mount(message: str) -> str | None:
    """A secret or ssh mount whose id the build was not given, naming the flag to add."""
    from .secrets import explain_missing_secret
    from .ssh import explain_missing_agent

    return explain_missing_secret(message) or explain_missing_agent(message)


def _short_error(message: str) -> str:
    """BuildKit's error without its wrapping ("failed to solve with frontend ...: ")."""
    for prefix in (
        "failed to solve with frontend dockerfile.v0: ",
        "failed to create LLB definition: ",
        "failed to solve: ",
    ):
        if message.startswith(prefix):
            message = message[len(prefix) :]
    return message


def _same_image(a: str, b: str) -> bool:
    """Whether two names are one image (``local/x`` is ``docker.io/local/x:latest``)."""
    from ..engine.registry import DOCKER_HUB, split_reference

    def key(name: str) -> tuple[str, str, str]:
        ref = split_reference(name)
        path = ref.path
        if ref.host == DOCKER_HUB and "/" not in path:
            path = f"library/{path}"
        return ref.host, path, ref.tag or "latest"

    try:
        return key(a) == key(b)
    except ValueError:
        return a == b


def _from_line(state: BuildKitBuildState, image: str) -> str:
    """``cell line 1: `` for the FROM that names ``image`` ("" if none does)."""
    for stage in state.step_lines.stages:
        if _same_image(stage.base, image):
            label = "cell line" if state.line_offset else "line"
            return f"{label} {stage.start.line + state.line_offset}: "
    return ""


def _has_bridge(client: DockerClient) -> bool:
    """Whether the daemon has its default ``bridge`` network (BuildKit's ``default``)."""
    from ..errors import HTTPError

    try:
        client.get_json("/networks/bridge")
    except HTTPError as exc:
        if exc.status == 404:
            return False
        raise
    except DockerBuildError:
        raise
    return True
