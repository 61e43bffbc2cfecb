"""A BuildKit build opens its session first and closes it with the build (fake daemon).

What the daemon sees of the session around ``/build``: ``POST /session`` before it,
the same id in ``session=``, the methods announced, the connection hung up when the
build ends however it ends, and a clear sentence when the daemon has no ``/session``.
The session's protocol is in ``test_session.py``; real daemons in
``test_session_daemon.py``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from urllib.parse import parse_qsl, urlsplit

import bkcapture as bk
import pytest
from fakedaemon import FakeDaemon

from jupyter_dockerbuild.builder import session as build_session
from jupyter_dockerbuild.builder.buildkit import BuildKitBuilder
from jupyter_dockerbuild.builder.options import BuildOptions
from jupyter_dockerbuild.builder.pipeline import execute
from jupyter_dockerbuild.builder.state import BuildState
from jupyter_dockerbuild.engine.session import HEALTH_CHECK
from jupyter_dockerbuild.engine.session_auth import CREDENTIALS
from jupyter_dockerbuild.errors import BuildError, SessionError
from tests.sessionfake import session_threads

DOCKERFILE = "FROM local/busybox:latest\nRUN true\n"


def _stream(name: str, count: int | None = None, *, status: int = 200):
    lines = [json.dumps(e).encode() + b"\r\n" for e in bk.oracle_events(name)[:count]]

    def handler(req) -> None:
        req.send_response(status)
        req.send_header("Content-Type", "application/json")
        req.send_header("Transfer-Encoding", "chunked")
        req.end_headers()
        for line in lines:
            req.wfile.write(b"%x\r\n%s\r\n" % (len(line), line))
        req.wfile.write(b"0\r\n\r\n")
        req.wfile.flush()

    return handler


def _refuse(req) -> None:
    body = b'{"message":"no such image"}'
    req.send_response(500)
    req.send_header("Content-Type", "application/json")
    req.send_header("Content-Length", str(len(body)))
    req.end_headers()
    req.wfile.write(body)


def _queries(fake: FakeDaemon) -> list[dict[str, str]]:
    return [
        dict(parse_qsl(urlsplit(path).query))
        for method, path in fake.requests
        if method == "POST" and "/build?" in path
    ]


def _wait_ended(fake: FakeDaemon, count: int = 1) -> None:
    deadline = time.monotonic() + 5
    while fake.sessions_ended < count and time.monotonic() < deadline:
        time.sleep(0.01)
    assert fake.sessions_ended == count


@pytest.fixture(autouse=True)
def _no_session_thread_left() -> Iterator[None]:
    yield
    assert session_threads() == []


def build(fake: FakeDaemon, **kwargs) -> object:
    kwargs.setdefault("docker_config", False)
    return execute(DOCKERFILE, BuildOptions(), host=fake.host, builder="buildkit", **kwargs)


def test_the_session_opens_before_build_and_names_it(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path))
    with FakeDaemon(build=_stream("b01_success_multistep"), version="20.10.24") as fake:
        result = build(fake, docker_config=True)
        _wait_ended(fake)
    assert result.ok
    posts = [path for method, path in fake.requests if method == "POST"]
    assert posts[0] == "/v1.41/session" and posts[1].startswith("/v1.41/build?")
    [headers] = fake.session_headers
    [session_id] = headers["X-Docker-Expose-Session-Uuid"]
    assert _queries(fake)[0]["session"] == session_id
    assert headers["Upgrade"] == ["h2c"] and headers["Connection"] == ["Upgrade"]
    assert headers["X-Docker-Expose-Session-Grpc-Method"] == [HEALTH_CHECK, CREDENTIALS]


def test_without_the_docker_config_no_credentials_are_offered() -> None:
    with FakeDaemon(build=_stream("b01_success_multistep"), version="20.10.24") as fake:
        build(fake, docker_config=False)
        _wait_ended(fake)
    [headers] = fake.session_headers
    assert headers["X-Docker-Expose-Session-Grpc-Method"] == [HEALTH_CHECK]


def test_a_failed_build_closes_the_session() -> None:
    with FakeDaemon(build=_stream("b08_fail_exit3_stage2"), version="20.10.24") as fake:
        with pytest.raises(BuildError):
            build(fake)
        _wait_ended(fake)


def test_a_refused_build_closes_the_session() -> None:
    with FakeDaemon(build=_refuse, version="20.10.24") as fake:
        with pytest.raises(BuildError, match="no such image"):
            build(fake)
        _wait_ended(fake)


class _Interrupting:
    """A view that interrupts the build at its first update after the request."""

    def __init__(self) -> None:
        self.updates = 0

    def update(self, state: BuildState) -> None:
        self.updates += 1
        if self.updates == 2:
            raise KeyboardInterrupt

    def close(self, state: BuildState) -> None:
        pass


def test_an_interrupt_closes_the_session() -> None:
    with FakeDaemon(build=_stream("b01_success_multistep"), version="20.10.24") as fake:
        with pytest.raises(KeyboardInterrupt):
            build(fake, view=_Interrupting())
        _wait_ended(fake)


def test_a_daemon_without_session_is_one_sentence_and_no_build() -> None:
    with FakeDaemon(build=_stream("b01_success_multistep"), version="20.10.24", session=False) as f:
        with pytest.raises(SessionError) as info:
            build(f)
    assert str(info.value).startswith(f"the daemon at {f.host} has no BuildKit session endpoint")
    assert _queries(f) == []


def test_the_classic_builder_opens_no_session() -> None:
    body = b'{"aux":{"ID":"sha256:' + b"cd" * 32 + b'"}}\r\n'

    def ok(req) -> None:
        req.send_response(200)
        req.send_header("Content-Length", str(len(body)))
        req.end_headers()
        req.wfile.write(body)

    with FakeDaemon(build=ok, version="20.10.24") as fake:
        execute(DOCKERFILE, BuildOptions(), host=fake.host, builder="classic", docker_config=False)
    assert fake.session_headers == []


def test_providers_add_services_query_and_can_drop_the_tar_body() -> None:
    """How FileSync plugs in: a service, remote=client-session, no tar body."""
    closed: list[str] = []

    def filesync(plan: build_session.SessionPlan) -> None:
        assert plan.dockerfile == DOCKERFILE
        plan.services["/moby.filesync.v1.FileSync/DiffCopy"] = lambda stream: None
        plan.query.append(("remote", "client-session"))
        plan.tar_body = False
        plan.shared_key = "nb-key"
        plan.on_close.append(lambda: closed.append("done"))

    bodies: list[bytes] = []
    handler = _stream("b01_success_multistep")

    def record(req) -> None:
        bodies.append(
            req.headers.get("Transfer-Encoding", "") + req.headers.get("Content-Length", "")
        )
        handler(req)

    builder = BuildKitBuilder(providers=[*build_session.PROVIDERS, filesync])
    with FakeDaemon(build=record, version="20.10.24") as fake:
        execute(DOCKERFILE, BuildOptions(), host=fake.host, builder=builder, docker_config=False)
        _wait_ended(fake)
    [headers] = fake.session_headers
    assert headers["X-Docker-Expose-Session-Grpc-Method"] == [
        HEALTH_CHECK,
        "/moby.filesync.v1.FileSync/DiffCopy",
    ]
    assert headers["X-Docker-Expose-Session-Sharedkey"] == ["nb-key"]
    assert _queries(fake)[0]["remote"] == "client-session"
    assert bodies == ["0"]  # no tar: an empty body
    assert closed == ["done"]
    assert builder.session is None


def test_a_session_dropped_by_the_daemon_is_named_in_the_error() -> None:
    error = b'{"errorDetail":{"message":"no active session for x: context deadline exceeded"},'
    error += b'"error":"no active session for x: context deadline exceeded"}\r\n'

    def fails(req) -> None:
        time.sleep(0.3)  # the session is gone by now
        req.send_response(200)
        req.send_header("Content-Type", "application/json")
        req.send_header("Content-Length", str(len(error)))
        req.end_headers()
        req.wfile.write(error)

    with FakeDaemon(build=fails, version="20.10.24", session_drop=True) as fake:
        with pytest.raises(BuildError) as info:
            build(fake)
    assert str(info.value).startswith(
        "the BuildKit session ended during the build (the daemon closed the session): "
        "no active session for x"
    )
