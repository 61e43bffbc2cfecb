"""The session's Auth service: what the daemon's BuildKit gets when it asks for credentials.

Each case is a docker config (and credential helpers) a user may have; the service is
called through a real session server by the fake daemon, as the daemon calls it.
"""

from __future__ import annotations

import base64
import json
import logging
from pathlib import Path
from typing import Any

import pytest
from registryutil import path_with, write_helper

from jupyter_dockerbuild.engine import auth, grpc, protobuf
from jupyter_dockerbuild.engine.session_auth import (
    CREDENTIALS,
    RegistryAuth,
    credentials_response,
    parse_credentials_request,
)
from tests.sessionfake import pair


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def request(host: str) -> bytes:
    return protobuf.bytes_field(1, host)


def answer(data: bytes) -> dict[int, str]:
    return {n: bytes(v).decode() for n, _, v in protobuf.fields(data) if isinstance(v, memoryview)}


def env_with(cfg: Path, config: dict[str, Any], **extra: str) -> dict[str, str]:
    (cfg / "config.json").write_text(json.dumps(config))
    return {"DOCKER_CONFIG": str(cfg), "PATH": "/usr/bin:/bin", **extra}


@pytest.fixture
def cfg(tmp_path: Path) -> Path:
    directory = tmp_path / "dockercfg"
    directory.mkdir()
    return directory


def ask(service: RegistryAuth, host: str) -> Any:
    """Call Credentials for ``host`` through a session, as the daemon does."""
    server, daemon = pair(service.services())
    try:
        return daemon.call(CREDENTIALS, request(host))
    finally:
        server.close()


def test_auths_entry_answers_user_and_password(cfg: Path) -> None:
    env = env_with(cfg, {"auths": {"127.0.0.1:5443": {"auth": b64("alice:s3cret-pw")}}})
    reply = ask(RegistryAuth(env=env), "127.0.0.1:5443")
    assert reply.status == grpc.OK
    assert [answer(m) for m in reply.messages] == [{1: "alice", 2: "s3cret-pw"}]


def test_docker_hub_hosts_find_the_index_server_entry(cfg: Path) -> None:
    env = env_with(cfg, {"auths": {auth.INDEX_SERVER: {"auth": b64("bob:hub-pw")}}})
    service = RegistryAuth(env=env)
    for host in ("registry-1.docker.io", "docker.io"):
        assert service.lookup(host) == ("bob", "hub-pw")


def test_an_identity_token_is_the_secret_without_a_user(cfg: Path) -> None:
    env = env_with(
        cfg, {"auths": {"reg.example:5000": {"auth": b64("<token>:"), "identitytoken": "idt-7"}}}
    )
    reply = ask(RegistryAuth(env=env), "reg.example:5000")
    assert [answer(m) for m in reply.messages] == [{2: "idt-7"}]


def test_a_registry_without_credentials_gets_an_empty_answer(cfg: Path) -> None:
    env = env_with(cfg, {"auths": {"other:5000": {"auth": b64("u:p")}}})
    reply = ask(RegistryAuth(env=env), "127.0.0.1:5443")
    assert reply.status == grpc.OK
    assert reply.messages == [b""]  # anonymous: the daemon pulls without credentials


def test_docker_auth_config_overrides_the_file(cfg: Path) -> None:
    override = json.dumps({"auths": {"127.0.0.1:5443": {"auth": b64("env-user:env-pw")}}})
    env = env_with(
        cfg,
        {"auths": {"127.0.0.1:5443": {"auth": b64("file-user:file-pw")}}},
        DOCKER_AUTH_CONFIG=override,
    )
    assert RegistryAuth(env=env).lookup("127.0.0.1:5443") == ("env-user", "env-pw")


def test_a_credential_helper_is_asked_once_per_host(
    cfg: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = tmp_path / "keychain"
    write_helper(tmp_path / "bin", "dir", store)
    env = env_with(cfg, {"credHelpers": {"127.0.0.1:5443": "dir"}})
    monkeypatch.setenv("PATH", path_with(tmp_path / "bin"))  # helpers run from the PATH
    auth.helper_store("dir", "127.0.0.1:5443", "carol", "helper-pw")
    service = RegistryAuth(env=env)
    server, daemon = pair(service.services())
    try:
        for _ in range(2):
            reply = daemon.call(CREDENTIALS, request("127.0.0.1:5443"))
            assert [answer(m) for m in reply.messages] == [{1: "carol", 2: "helper-pw"}]
    finally:
        server.close()
    gets = [c for c in (store / "calls.log").read_text().splitlines() if c.startswith("get")]
    assert gets == ["get 127.0.0.1:5443"]
    assert service.hosts == ["127.0.0.1:5443", "127.0.0.1:5443"]


def test_a_broken_helper_fails_the_call_naming_it_not_its_output(
    cfg: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bindir = tmp_path / "bin"
    bindir.mkdir()
    script = bindir / "docker-credential-broken"
    script.write_text("#!/bin/sh\necho leaked-secret-output\nexit 3\n")
    script.chmod(0o755)
    env = env_with(cfg, {"credsStore": "broken"})
    monkeypatch.setenv("PATH", path_with(bindir))
    reply = ask(RegistryAuth(env=env), "127.0.0.1:5443")
    assert reply.status == grpc.UNAVAILABLE
    assert "docker-credential-broken" in reply.message
    assert "leaked-secret-output" not in reply.message


def test_token_methods_are_unimplemented_so_the_daemon_falls_back(cfg: Path) -> None:
    env = env_with(cfg, {"auths": {"127.0.0.1:5443": {"auth": b64("alice:pw")}}})
    server, daemon = pair(RegistryAuth(env=env).services())
    try:
        for method in ("GetTokenAuthority", "FetchToken", "VerifyTokenAuthority"):
            reply = daemon.call(f"/moby.filesync.v1.Auth/{method}", request("127.0.0.1:5443"))
            assert reply.status == grpc.UNIMPLEMENTED, method
    finally:
        server.close()


@pytest.mark.parametrize("data", [b"\x0a\x05ab", b"\x0a\x02\xff\xfe", b"\xff"])
def test_a_malformed_request_is_invalid_argument(data: bytes) -> None:
    with pytest.raises(Exception) as info:
        parse_credentials_request(data)
    assert getattr(info.value, "code", None) == grpc.INVALID_ARGUMENT


def test_no_value_is_logged(cfg: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    env = env_with(cfg, {"auths": {"127.0.0.1:5443": {"auth": b64("alice:never-logged-pw")}}})
    ask(RegistryAuth(env=env), "127.0.0.1:5443")
    assert "never-logged-pw" not in caplog.text


def test_response_encoding_round_trips() -> None:
    assert answer(credentials_response("u", "s")) == {1: "u", 2: "s"}
    assert credentials_response("", "") == b""
