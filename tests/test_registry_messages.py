"""Registry logic without a daemon: names, credentials lookup, messages, push state, saving.

The daemon messages below were recorded from the real daemon (docker.io 20.10) against
the test registry of ``scripts/registry.sh`` (``tests/test_registry.py`` produces them
live); here they pin down the recogniser quickly, each one with what the user must read.
"""

from __future__ import annotations

import base64
import json
import os
import stat

import pytest

from jupyter_dockerbuild.engine import config as config_mod
from jupyter_dockerbuild.engine.auth import (
    INDEX_SERVER,
    auth_config_key,
    credentials_for_registry,
    encode_registry_auth,
    encode_registry_config,
)
from jupyter_dockerbuild.engine.config import save_docker_config
from jupyter_dockerbuild.engine.registry import (
    explain_registry_error,
    image_of_instruction,
    split_reference,
)
from jupyter_dockerbuild.errors import ConfigFileError
from jupyter_dockerbuild.images.push import PushState

R = "127.0.0.1:5443"
SECRET = "planted-pw-7f3a"
WITH_CREDS = encode_registry_config({R: {"username": "u", "password": SECRET}})
WITHOUT = encode_registry_config({"other.example": {"username": "u", "password": SECRET}})

NO_CREDS_400 = (
    "error parsing HTTP 400 response body: invalid character 'C' looking for beginning of "
    'value: "Client sent an HTTP request to an HTTPS server.\\n"'
)
NO_CREDS_RESET = f"read tcp 127.0.0.1:55900->{R}: read: connection reset by peer"
WRONG = "unauthorized: authentication required"
PUSH_NO_CREDS = "no basic auth credentials"
MISSING = f"manifest for {R}/team/nothere:1 not found: manifest unknown: manifest unknown"
# The same on the containerd image store (26.1, 28.5).
MISSING_CS = f'failed to resolve reference "{R}/team/base:1": {R}/team/base:1: not found'
DOWN = f'Get "http://{R}/v2/": dial tcp {R}: connect: connection refused'
LOGIN_WRONG = f"login attempt to https://{R}/v2/ failed with status: 401 Unauthorized"
# Docker 23+ (26.1, 28.5): after that 401 it tries plain HTTP on the TLS port, and says so.
LOGIN_WRONG_HTTP = f"login attempt to http://{R}/v2/ failed with status: 400 Bad Request"
UNTRUSTED = (
    'Get "https://jdb-untrusted.test:5444/v2/": x509: certificate signed by unknown authority'
)
DROPPED = "use of closed network connection"


@pytest.mark.parametrize(
    ("message", "config", "starts"),
    [
        (NO_CREDS_400, WITHOUT, f"registry {R} needs credentials and the docker config has none"),
        (NO_CREDS_400, None, f"registry {R} needs credentials"),
        (NO_CREDS_RESET, WITHOUT, f"registry {R} needs credentials"),
        (WRONG, WITH_CREDS, f"registry {R} refused the stored credentials"),
        (MISSING, WITH_CREDS, f"registry {R} has no image {R}/team/base:1 (manifest unknown)"),
        (MISSING_CS, WITH_CREDS, f"registry {R} has no image {R}/team/base:1 (manifest unknown)"),
        (DOWN, WITH_CREDS, f"registry {R} is not reachable (connection refused)"),
        (DOWN, None, f"registry {R} is not reachable (connection refused)"),
        # With credentials a reset is a real broken connection, not the HTTP fallback.
        (NO_CREDS_RESET, WITH_CREDS, f"the connection to registry {R} broke during the pull"),
    ],
)
def test_pull_messages(message, config, starts):
    explained = explain_registry_error(
        message,
        instruction=f"FROM --platform=linux/amd64 {R}/team/base:1 AS base",
        registry_config=config,
    )
    assert explained is not None and explained.startswith(starts), explained
    assert explained.endswith(f"(daemon: {message})")  # searchable, as the daemon said it
    assert SECRET not in explained and "\n" not in explained
    if "credentials" in starts:
        assert f"%docker_login {R}" in explained and f"docker login {R}" in explained


def test_untrusted_certificate_names_the_certs_d_file():
    explained = explain_registry_error(
        UNTRUSTED, image="jdb-untrusted.test:5444/team/x:1", action="push"
    )
    assert explained is not None
    assert explained.startswith(
        "the Docker daemon does not trust the TLS certificate of registry "
        "jdb-untrusted.test:5444: its certificate is signed by a CA the daemon does not trust"
    )
    assert "/etc/docker/certs.d/jdb-untrusted.test:5444/ca.crt" in explained
    # The registry comes from the daemon's URL when no image is known.
    assert "registry jdb-untrusted.test:5444" in (explain_registry_error(UNTRUSTED) or "")


def test_push_and_login_messages():
    push = explain_registry_error(PUSH_NO_CREDS, registry=R, sent_credentials=False, action="push")
    assert push is not None and push.startswith(f"registry {R} needs credentials")
    dropped = explain_registry_error(DROPPED, registry=R, sent_credentials=True, action="push")
    assert dropped is not None
    assert dropped.startswith(f"the connection to registry {R} broke during the push")
    for said in (LOGIN_WRONG, LOGIN_WRONG_HTTP):
        login = explain_registry_error(said, registry=R, sent_credentials=True, action="login")
        assert login is not None
        assert login.startswith(f"registry {R} refused the user name or password")
        assert f"%docker_login {R}" in login and login.endswith(f"(daemon: {said})")
    # Only a login's: a pull's 400 is not a password it was given.
    assert explain_registry_error(LOGIN_WRONG_HTTP, registry=R, action="pull") is None


def test_the_containerd_stores_not_found_names_its_registry():
    explained = explain_registry_error(MISSING_CS)
    assert explained is not None and explained.startswith(f"registry {R} has no image")


def test_docker_hub_pulls_are_left_to_the_builder():
    offline = (
        'Get "https://registry-1.docker.io/v2/": dial tcp: lookup registry-1.docker.io: '
        "no such host"
    )
    assert explain_registry_error(offline, instruction="FROM python:3.12-slim") is None
    assert explain_registry_error(offline) is None


def test_steps_that_pull_nothing_are_left_alone():
    assert explain_registry_error(DOWN, instruction="RUN wget http://127.0.0.1:5443/x") is None
    assert explain_registry_error("The command returned a non-zero code: 1") is None
    assert explain_registry_error(WRONG, instruction=f"COPY --from={R}/a/b:1 / /") is not None
    assert image_of_instruction(f"COPY --from={R}/a/b:1 /x /y") == f"{R}/a/b:1"
    assert image_of_instruction("FROM --platform=$P img:1 AS x") == "img:1"
    assert image_of_instruction("RUN true") is None


@pytest.mark.parametrize(
    ("name", "host", "path", "tag", "explicit"),
    [
        ("busybox", "docker.io", "busybox", None, False),
        ("team/app:1", "docker.io", "team/app", "1", False),
        ("local/busybox:latest", "docker.io", "local/busybox", "latest", False),
        (f"{R}/team/app:1", R, "team/app", "1", True),
        ("localhost/app", "localhost", "app", None, True),
        ("registry.example.com/a/b/c:v1.2", "registry.example.com", "a/b/c", "v1.2", True),
        ("index.docker.io/library/x:1", "docker.io", "library/x", "1", True),
        (f"{R}/app", R, "app", None, True),  # the port's colon is no tag
    ],
)
def test_split_reference(name, host, path, tag, explicit):
    ref = split_reference(name)
    assert (ref.host, ref.path, ref.tag, ref.explicit_host) == (host, path, tag, explicit)


def test_auth_config_keys_like_the_cli():
    assert auth_config_key("docker.io") == INDEX_SERVER
    assert auth_config_key("https://127.0.0.1:5443/v2/") == R
    assert auth_config_key(R) == R


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def test_credentials_for_one_registry_precedence():
    config = {"auths": {f"https://{R}/v1/": {"auth": b64("legacy:pw-1")}}}
    # A legacy URL key still matches by hostname.
    assert credentials_for_registry(R, config, env={}) == {
        "username": "legacy",
        "password": "pw-1",
        "serveraddress": R,
    }
    env = {"DOCKER_AUTH_CONFIG": json.dumps({"auths": {R: {"auth": b64("env:pw-2")}}})}
    assert credentials_for_registry(R, config, env=env)["password"] == "pw-2"
    assert credentials_for_registry("other.example", config, env={}) == {}
    assert encode_registry_auth({}) == "e30="  # "{}": the daemon answers for itself


def test_push_state_folds_the_daemon_stream():
    # Recorded from POST /images/127.0.0.1:5443%2Fteam%2Fpushme/push?tag=1.
    events = [
        {"status": f"The push refers to repository [{R}/team/pushme]"},
        {"status": "Preparing", "progressDetail": {}, "id": "4d7858e37955"},
        {"status": "Preparing", "progressDetail": {}, "id": "19504ec01214"},
        {
            "status": "Pushing",
            "progressDetail": {"current": 512, "total": 2048},
            "progress": "[==>  ]",
            "id": "19504ec01214",
        },
        {"status": "Mounted from team/base", "progressDetail": {}, "id": "4d7858e37955"},
        {"status": "Pushed", "progressDetail": {}, "id": "19504ec01214"},
        {"status": "1: digest: sha256:" + "c2" * 32 + " size: 736"},
        {"progressDetail": {}, "aux": {"Tag": "1", "Digest": "sha256:" + "c2" * 32, "Size": 736}},
    ]
    state = PushState(f"{R}/team/pushme:1", clock=iter(range(100)).__next__)
    for event in events[:4]:
        state.apply(event)
    assert state.status == "running" and state.sent == (512, 2048)
    assert "  19504ec01214: Pushing  512B / 2KiB" in state.lines()
    for event in events[4:]:
        state.apply(event)
    state.finish()
    assert state.status == "pushed" and state.digest == "sha256:" + "c2" * 32
    assert state.size == 736 and all(la.done for la in state.layers.values())
    assert state.lines()[0].startswith(f"Pushed {R}/team/pushme:1 (2/2 layers)")

    failed = PushState(f"{R}/team/pushme:1")
    failed.apply({"errorDetail": {"message": "no basic auth credentials"}})
    failed.finish()
    assert failed.status == "failed" and failed.error == "no basic auth credentials"


def test_push_state_on_the_containerd_image_store():
    # Docker 26.1 and 28.5 with the containerd store: no aux, the digest only as a status.
    digest = "sha256:" + "50" * 32
    state = PushState(f"{R}/team/pushme:1")
    for event in (
        {"status": f"The push refers to repository [{R}/team/pushme]"},
        {"status": "Mounted from team/other", "progressDetail": {}, "id": "3728de1fbe6b"},
        {"status": "Layer already exists", "progressDetail": {}, "id": "db76df719d94"},
        {"status": f"1: digest: {digest} size: 752"},
    ):
        state.apply(event)
    state.finish()
    assert state.status == "pushed" and state.digest == digest and state.size == 752
    # Another tag's line (a push of every tag) is not this tag's digest.
    other = PushState(f"{R}/team/pushme:2")
    other.apply({"status": f"1: digest: {digest} size: 752"})
    other.finish()
    assert other.status == "failed" and other.digest is None


def test_a_failed_save_leaves_the_old_config_and_no_temp_file(tmp_path, monkeypatch):
    path = tmp_path / "config.json"
    path.write_text('{"auths": {}, "keep": true}')
    path.chmod(0o640)
    env = {"DOCKER_CONFIG": str(tmp_path)}

    def half_then_fail(obj, fh, **kwargs):
        fh.write('{"auths": {"half')
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(config_mod.json, "dump", half_then_fail)
    with pytest.raises(ConfigFileError, match="nothing was changed"):
        save_docker_config({"auths": {R: {"auth": b64("u:" + SECRET)}}}, env)
    assert path.read_text() == '{"auths": {}, "keep": true}'
    assert os.listdir(tmp_path) == ["config.json"]
    monkeypatch.undo()
    save_docker_config({"auths": {}, "keep": False}, env)
    assert json.loads(path.read_text()) == {"auths": {}, "keep": False}
    assert stat.S_IMODE(path.stat().st_mode) == 0o640
    # A new file is private, as the CLI makes it.
    fresh = tmp_path / "new"
    save_docker_config({}, {"DOCKER_CONFIG": str(fresh)})
    assert stat.S_IMODE((fresh / "config.json").stat().st_mode) == 0o600
