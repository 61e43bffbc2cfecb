"""The BuildKit session on real daemons (20.10 on the host, 26.1 and later in the matrix).

The daemon upgrades ``/session``, calls the health check on its own schedule, and a
BuildKit build names the session; a private base image on the test registry
(127.0.0.1) is pulled with the credentials the session's Auth service gives, which is
the only way BuildKit gets them (it ignores ``X-Registry-Config``). No daemon is ever
asked for anything off the loopback: every image is local or on 127.0.0.1.
"""

from __future__ import annotations

import base64
import json
import os
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from registryutil import registry_env

from jupyter_dockerbuild.builder.buildkit import BuildKitBuilder
from jupyter_dockerbuild.builder.options import BuildOptions
from jupyter_dockerbuild.builder.pipeline import execute
from jupyter_dockerbuild.engine import grpc
from jupyter_dockerbuild.engine.client import DockerClient
from jupyter_dockerbuild.engine.registry import login
from jupyter_dockerbuild.engine.session import HEALTH_CHECK, Session
from jupyter_dockerbuild.engine.session_auth import CREDENTIALS
from jupyter_dockerbuild.errors import BuildError
from jupyter_dockerbuild.images.push import push
from tests.sessionfake import session_threads

pytestmark = [pytest.mark.daemon, pytest.mark.usefixtures("base_image")]


@pytest.fixture(autouse=True)
def _no_session_thread_left() -> Iterator[None]:
    yield
    deadline = time.monotonic() + 2
    while session_threads() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert session_threads() == []


def _daemon_log() -> Path | None:
    """The log of the daemon under test, if this machine's scripts started it."""
    engine = os.environ.get("JUPYTER_DOCKERBUILD_ENGINE")
    name = (
        f"jupyter-dockerbuild-engine-{engine}.log" if engine else "jupyter-dockerbuild-dockerd.log"
    )
    path = Path("/var/log") / name
    return path if path.is_file() and os.access(path, os.R_OK) else None


class LogWatch:
    """What the daemon logged during a test (to see it never tried a registry off-box)."""

    def __init__(self) -> None:
        self.path = _daemon_log()
        self.start = self.path.stat().st_size if self.path else 0

    def text(self) -> str:
        if self.path is None:
            return ""
        with open(self.path, "rb") as fh:
            fh.seek(self.start)
            return fh.read().decode("utf-8", "replace")

    def assert_no_internet(self) -> None:
        text = self.text().lower()
        for name in ("docker.io", "registry-1", "auth.docker", "production.cloudflare"):
            assert name not in text, f"the daemon mentioned {name}: {text[-2000:]}"


def test_the_daemon_calls_the_health_check_and_the_session_closes(docker: DockerClient) -> None:
    calls: list[str] = []

    def probe(stream: grpc.Stream) -> None:
        calls.append(stream.method)
        stream.recv()
        stream.send(b"")

    with Session(docker, {"/jdb.test.v1.Probe/Call": probe}) as session:
        deadline = time.monotonic() + 15  # 1 s on 20.10's BuildKit, 5 s later
        while not session.calls.get(HEALTH_CHECK) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert session.calls.get(HEALTH_CHECK, 0) >= 1
        assert session.alive and session.ended is None
    assert not session.alive
    assert calls == []  # the daemon calls only what a build asks for


def test_two_sessions_at_once_are_independent(docker: DockerClient) -> None:
    with Session(docker, {}) as one, Session(docker, {}) as two:
        assert one.id != two.id
        assert one.alive and two.alive


class _Probe(BuildKitBuilder):
    """The BuildKit builder, keeping its session to look at after the build."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[Session] = []

    def prepare(self, *args, **kwargs) -> None:  # type: ignore[no-untyped-def]
        super().prepare(*args, **kwargs)
        assert self.session is not None
        self.seen.append(self.session)


def test_a_buildkit_build_runs_through_its_session(docker: DockerClient, tag_prefix: str) -> None:
    watch = LogWatch()
    builder = _Probe()
    marker = uuid.uuid4().hex
    before = threading.active_count()
    result = execute(
        f"FROM local/busybox:latest\nRUN echo {marker}\n",
        BuildOptions.from_user(tags=[f"{tag_prefix}:s"], network="none"),
        client=docker,
        builder=builder,
    )
    assert result.ok and result.builder == "buildkit"
    [session] = builder.seen
    assert not session.alive and session.ended is None  # closed by us, not dropped
    assert builder.session is None
    assert threading.active_count() <= before
    watch.assert_no_internet()


# -- a private base image through the session's Auth --------------------------------------


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def _absent(docker: DockerClient, image: str) -> None:
    if docker.image_exists(image):
        docker.delete(f"/images/{image}", params={"force": "1"})


@pytest.fixture(scope="module")
def private_base(tmp_path_factory) -> Iterator[str]:
    """A small image pushed to the test registry and removed from the daemon."""
    reg = registry_env()
    directory = tmp_path_factory.mktemp("session-base-cfg")
    env = {k: v for k, v in os.environ.items() if k != "DOCKER_AUTH_CONFIG"}
    env["DOCKER_CONFIG"] = str(directory)
    ref = f"{reg.address}/team/session-base-{uuid.uuid4().hex[:8]}:1"
    marker = uuid.uuid4().hex
    result = execute(
        f"FROM local/busybox:latest\nRUN echo {marker} > /marker\n",
        BuildOptions.from_user(tags=[ref], network="none"),
        builder="classic",
        docker_config=False,
    )
    login(reg.address, reg.user, password=reg.password, env=env)
    push(result, env=env)
    client = DockerClient()
    try:
        _absent(client, ref)
        yield ref
        _absent(client, ref)
    finally:
        client.close()


class PlainFront:
    """Plain HTTP on a loopback port, relayed byte for byte into TLS to the test registry.

    Docker 20.10's BuildKit (0.8) speaks only plain HTTP to a loopback registry unless
    the daemon lists it in ``insecure-registries`` (buildkit ``fillInsecureOpts``), and
    the test registry is HTTPS; Docker 23 and later ask it over HTTPS. This front lets
    20.10 reach the same registry, users and images; the registry's basic-auth challenge
    passes through, so the credentials still come from the session.
    """

    def __init__(self, upstream: str, ca: str) -> None:
        import socket
        import ssl

        self._ssl = ssl.create_default_context(cafile=ca)
        self._ssl.check_hostname = False  # the certificate names 127.0.0.1, as we dial
        host, _, port = upstream.rpartition(":")
        self._upstream = (host, int(port))
        self._socket = socket
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.address = f"127.0.0.1:{self.listener.getsockname()[1]}"
        self._threads: list[threading.Thread] = []
        self._open: list[object] = []
        self._accept = threading.Thread(target=self._serve, daemon=True)
        self._accept.start()

    def _serve(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            t = threading.Thread(target=self._connect, args=(client,), daemon=True)
            t.start()
            self._threads.append(t)

    def _connect(self, client) -> None:  # type: ignore[no-untyped-def]
        """Dial the registry for one accepted connection (never in the accept loop)."""
        try:
            raw = self._socket.create_connection(self._upstream, timeout=10)
            upstream = self._ssl.wrap_socket(raw, server_hostname=self._upstream[0])
        except OSError:
            client.close()
            return
        upstream.settimeout(None)
        self._open += [client, upstream]
        self._relay(client, upstream)

    def _relay(self, client, upstream) -> None:  # type: ignore[no-untyped-def]
        """Copy both ways in ONE thread: an SSL socket read and written by two threads at
        once (OpenSSL's object is not thread-safe) hung the pull in a full run."""
        import select
        import ssl

        ends = {client: upstream, upstream: client}
        try:
            while True:
                # Bytes OpenSSL already decrypted are not seen by select: drain them first.
                ready = [upstream] if upstream.pending() else select.select(list(ends), [], [])[0]
                for src in ready:
                    if src is upstream:
                        # A TLS record with no data for us (a session ticket) must not
                        # block the loop while the client has a request to pass on.
                        upstream.setblocking(False)
                        try:
                            data = upstream.recv(65536)
                        except ssl.SSLWantReadError:
                            continue
                        finally:
                            upstream.setblocking(True)
                    else:
                        data = src.recv(65536)
                    if not data:
                        return
                    ends[src].sendall(data)
        except OSError:
            pass
        finally:
            for sock in (client, upstream):
                try:
                    sock.shutdown(self._socket.SHUT_RDWR)
                except OSError:
                    pass

    def close(self) -> None:
        self.listener.close()
        for sock in self._open:
            try:
                sock.close()  # type: ignore[attr-defined]
            except OSError:
                pass
        self._accept.join(5)
        for t in self._threads:
            t.join(5)


@pytest.fixture
def pull_address(docker: DockerClient) -> Iterator[str]:
    """Where this daemon's BuildKit can reach the test registry (see :class:`PlainFront`)."""
    reg = registry_env()
    if tuple(int(p) for p in docker.api_version.split(".")) > (1, 41):
        yield reg.address
        return
    front = PlainFront(reg.address, reg.ca)
    try:
        yield front.address
    finally:
        front.close()


@pytest.mark.registry
def test_a_private_base_is_pulled_with_the_sessions_credentials(
    docker: DockerClient, cfg: Path, private_base: str, tag_prefix: str, pull_address: str
) -> None:
    reg = registry_env()
    secret = _b64(f"{reg.user}:{reg.password}")
    (cfg / "config.json").write_text(json.dumps({"auths": {pull_address: {"auth": secret}}}))
    image = private_base.replace(reg.address, pull_address, 1)
    watch = LogWatch()
    builder = _Probe()
    try:
        result = execute(
            f"FROM {image}\nRUN cat /marker\n",
            BuildOptions.from_user(tags=[f"{tag_prefix}:private"], network="none"),
            client=docker,
            builder=builder,
        )
    finally:
        _absent(docker, image)
    assert result.ok and result.builder == "buildkit"
    [session] = builder.seen
    assert session.calls.get(CREDENTIALS, 0) >= 1
    assert reg.password not in result.log
    watch.assert_no_internet()


@pytest.mark.registry
def test_without_credentials_the_session_answers_anonymous_and_the_pull_fails(
    docker: DockerClient, cfg: Path, private_base: str, pull_address: str
) -> None:
    image = private_base.replace(registry_env().address, pull_address, 1)
    builder = _Probe()
    try:
        with pytest.raises(BuildError) as info:
            execute(
                f"FROM {image}\nRUN cat /marker\n",
                BuildOptions.from_user(network="none"),
                client=docker,
                builder=builder,
            )
    finally:
        _absent(docker, image)
    [session] = builder.seen
    assert session.calls.get(CREDENTIALS, 0) >= 1
    assert image in str(info.value)
