"""A real registry on 127.0.0.1 (``scripts/registry.sh``) and the real daemon.

Push, delete the local image, build ``FROM`` the pushed image with the credentials of the
docker config (file ``auths``, ``credsStore``, ``credHelpers`` helpers), with the pull's
progress in the widget's renderer; log in and out like ``docker login``/``logout``; and
every fault a user meets: no credentials, a wrong password, the registry down, a TLS
certificate the daemon does not trust, an untagged build, a tag without a registry, a
registry dropping the connection mid-upload. Each must give one message naming the
registry and the cause, and the password must show nowhere (nor in the registry's log).
"""

from __future__ import annotations

import base64
import io
import json
import os
import stat
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from registryutil import ByteProxy, RegistryEnv, helper_secrets, registry_env, write_helper

from jupyter_dockerbuild.builder.docker_config import apply_docker_config
from jupyter_dockerbuild.builder.options import BuildOptions
from jupyter_dockerbuild.builder.pipeline import execute
from jupyter_dockerbuild.builder.state import BuildState
from jupyter_dockerbuild.engine.client import DockerClient
from jupyter_dockerbuild.engine.registry import explain_registry_error, login, logout
from jupyter_dockerbuild.errors import (
    BuildError,
    ConfigFileError,
    HelperError,
    PushError,
    RegistryError,
)
from jupyter_dockerbuild.images.push import PushState, push
from jupyter_dockerbuild.ui.html import render_html

# base_image: every build here starts FROM local/busybox; on a fresh engine (a new data
# root, or this file run first) the daemon would otherwise try to pull it from Docker Hub.
pytestmark = [pytest.mark.daemon, pytest.mark.registry, pytest.mark.usefixtures("base_image")]


# The fixtures reg, cfg and repo are in conftest.py (test_push.py uses them too).


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def write_config(directory: Path, config: dict) -> Path:
    path = directory / "config.json"
    path.write_text(json.dumps(config))
    return path


def logged_in(directory: Path, reg: RegistryEnv, address: str | None = None) -> Path:
    """config.json with the test user's ``auth`` for the registry (or another address)."""
    auth = b64(f"{reg.user}:{reg.password}")
    return write_config(directory, {"auths": {address or reg.address: {"auth": auth}}})


def build_unique(tag: str | None, size: int = 0) -> tuple[Any, str]:
    """An image FROM local/busybox with a marker file (and ``size`` random bytes)."""
    marker = uuid.uuid4().hex
    blob = f"head -c {size} /dev/urandom > /blob && " if size else ""
    result = execute(
        f"FROM local/busybox:latest\nRUN {blob}echo {marker} > /marker\n",
        BuildOptions.from_user(tags=[tag] if tag else [], network="none"),
    )
    return result, marker


def tag_image(docker: DockerClient, image: str, ref: str) -> None:
    repo, _, tag = ref.rpartition(":")
    docker.request("POST", f"/images/{image}/tag", params={"repo": repo, "tag": tag})


MANIFEST_TYPES = (
    "application/vnd.docker.distribution.manifest.v2+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.oci.image.index.v1+json",
)


def registry_digest(reg: RegistryEnv, path: str, tag: str) -> str:
    """The manifest digest the registry itself holds for ``path:tag``."""
    resp = requests.head(
        f"https://{reg.address}/v2/{path}/manifests/{tag}",
        auth=(reg.user, reg.password),
        verify=reg.ca,
        # The containerd image store pushes OCI manifests (or an index), the classic
        # store Docker v2 ones: ask for any, so the tag's own manifest is what answers.
        headers={"Accept": ", ".join(MANIFEST_TYPES)},
        timeout=10,
    )
    assert resp.status_code == 200, resp.status_code
    return resp.headers["Docker-Content-Digest"]


class Recorder:
    """A build view that keeps what the widget would draw at every update."""

    def __init__(self) -> None:
        self.downloads: list[dict[str, tuple[str, int, int]]] = []
        self.html: list[str] = []

    def update(self, state: BuildState) -> None:
        self.downloads.append(
            {k: (d.status, d.current, d.total) for k, d in state.downloads.items()}
        )
        self.html.append(render_html(state))

    def close(self, state: BuildState) -> None:
        self.html.append(render_html(state, final=True))


def build_from(image: str, *, view: Any = None) -> Any:
    """Build FROM ``image`` (pulled with the docker config's credentials) and cat /marker."""
    options = apply_docker_config(BuildOptions.from_user(network="none"))
    return execute(f"FROM {image}\nRUN cat /marker\n", options, view=view)


def daemon_error(image: str) -> tuple[str, BuildError, BuildOptions]:
    """Build FROM ``image``, expecting the pull to fail: (daemon's text, error, options)."""
    absent(image)
    options = apply_docker_config(BuildOptions.from_user(network="none"))
    with pytest.raises(BuildError) as info:
        execute(f"FROM {image}\nRUN true\n", options)
    errors = [line for line in info.value.result.log.splitlines() if line.startswith("ERROR: ")]
    assert errors, info.value.result.log
    return errors[-1][len("ERROR: ") :], info.value, options


def absent(image: str) -> None:
    """Make sure ``image`` is not on the daemon, so that ``FROM`` has to pull it."""
    client = DockerClient()
    try:
        if client.image_exists(image):
            client.delete(f"/images/{image}", params={"force": "1"})
    finally:
        client.close()


@pytest.fixture(scope="module")
def private_base(tmp_path_factory) -> Iterator[str]:
    """A small image pushed to the test registry, not on the daemon: ``FROM`` pulls it."""
    reg = registry_env()
    directory = tmp_path_factory.mktemp("base-cfg")
    env = {**os.environ, "DOCKER_CONFIG": str(directory)}
    env.pop("DOCKER_AUTH_CONFIG", None)
    ref = f"{reg.address}/team/base-{uuid.uuid4().hex[:8]}:1"
    result, _ = build_unique(ref)
    login(reg.address, reg.user, password=reg.password, env=env)
    push(result, env=env)
    absent(ref)
    yield ref
    absent(ref)


# -- the happy paths ------------------------------------------------------------------


def test_push_delete_then_build_from_the_pushed_image(reg, cfg, repo, docker, image_file):
    ref = f"{reg.address}/{repo}:1"
    built, marker = build_unique(ref)
    logged = login(reg.address, reg.user, password=reg.password)
    assert logged.stored_in == "config.json" and not logged.reused
    config = json.loads((cfg / "config.json").read_text())
    assert config["auths"][reg.address] == {"auth": b64(f"{reg.user}:{reg.password}")}
    assert stat.S_IMODE((cfg / "config.json").stat().st_mode) == 0o600

    states: list[tuple[str, int, int]] = []

    def view(state: PushState) -> None:
        states.extend((la.status, la.current, la.total) for la in state.layers.values())

    pushed = push(built, progress=view)
    assert pushed.references == (ref,)
    assert pushed.digest == registry_digest(reg, repo, "1")
    statuses = dict(pushed.pushed[0].layers)
    assert "Pushed" in statuses.values()
    assert states, "the progress callback saw no layer"  # part-way: the test below

    docker.delete(f"/images/{ref}", params={"force": "1"})
    assert not docker.image_exists(ref)
    result = build_from(ref)
    assert image_file(result.image_id, "/marker").decode().strip() == marker
    docker.delete(f"/images/{result.image_id}", params={"force": "1"})
    assert f"Downloaded newer image for {ref}" in result.log


def test_push_and_pull_progress_part_way_through_a_layer(reg, cfg, repo, docker):
    # Over a link slower than the loopback: the containerd image store reports progress
    # every 100 ms (daemon/containerd/progress.go), and a 6 MB layer can be up before the
    # first report at loopback speed. At 8 MB/s each way it takes most of a second.
    host, port = reg.address.rsplit(":", 1)
    proxy = ByteProxy((host, int(port)), rate=8_000_000)
    try:
        logged_in(cfg, reg, proxy.address)
        ref = f"{proxy.address}/{repo}:1"
        built, _ = build_unique(ref, size=6_000_000)
        states: list[tuple[str, int, int]] = []

        def view(state: PushState) -> None:
            states.extend((la.status, la.current, la.total) for la in state.layers.values())

        push(built, progress=view)
        # Upload progress was shown layer by layer, part-way through the 6 MB layer.
        assert any(s == "Pushing" and 0 < cur < tot for s, cur, tot in states), states

        docker.delete(f"/images/{ref}", params={"force": "1"})
        view_ = Recorder()
        result = build_from(ref, view=view_)
        docker.delete(f"/images/{result.image_id}", params={"force": "1"})
    finally:
        proxy.stop()
    # The pull's progress reached the widget: some layer part-way downloaded, with a bar.
    partial = [
        i
        for i, snap in enumerate(view_.downloads)
        if any(s.startswith("Downloading") and 0 < c < t for s, c, t in snap.values())
    ]
    assert partial, view_.downloads[-1]
    assert "jdb-downloads" in view_.html[partial[0]] and "MiB" in view_.html[partial[0]]


def test_credential_helper_store_push_pull_and_logout(
    reg, cfg, repo, docker, tmp_path, monkeypatch
):
    keychain = tmp_path / "keychain"
    write_helper(tmp_path / "bin", "jdbkeys", keychain)
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}{os.pathsep}{os.environ['PATH']}")
    write_config(cfg, {"credsStore": "jdbkeys", "currentContext": "default"})
    ref = f"{reg.address}/{repo}:helper"
    built, marker = build_unique(ref)

    logged = login(reg.address, reg.user, password=reg.password)
    assert logged.stored_in == "docker-credential-jdbkeys"
    assert helper_secrets(keychain)[reg.address] == {
        "ServerURL": reg.address,
        "Username": reg.user,
        "Secret": reg.password,
    }
    saved = (cfg / "config.json").read_text()
    # Like the CLI: an empty entry, the other settings kept, no secret in the file.
    assert json.loads(saved) == {
        "credsStore": "jdbkeys",
        "currentContext": "default",
        "auths": {reg.address: {}},
    }
    assert reg.password not in saved

    assert push(built).digest == registry_digest(reg, repo, "helper")
    docker.delete(f"/images/{ref}", params={"force": "1"})
    result = build_from(ref)  # X-Registry-Config from the helper's list + get
    assert marker in result.log
    docker.delete(f"/images/{result.image_id}", params={"force": "1"})

    out = logout(reg.address)
    assert "docker-credential-jdbkeys" in out.erased
    assert helper_secrets(keychain) == {}
    assert json.loads((cfg / "config.json").read_text())["auths"] == {}
    calls = (keychain / "calls.log").read_text()
    assert f"store {reg.address}" in calls and f"erase {reg.address}" in calls
    with pytest.raises(PushError, match="needs credentials"):
        push(built)


def test_cred_helpers_entry_for_the_registry(reg, cfg, repo, docker, tmp_path, monkeypatch):
    keychain = tmp_path / "keychain"
    write_helper(tmp_path / "bin", "jdbkeys", keychain)
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}{os.pathsep}{os.environ['PATH']}")
    write_config(cfg, {"credHelpers": {reg.address: "jdbkeys"}})
    ref = f"{reg.address}/{repo}:per-registry"
    built, marker = build_unique(ref)
    assert login(reg.address, reg.user, password=reg.password).stored_in == (
        "docker-credential-jdbkeys"
    )
    push(built)
    docker.delete(f"/images/{ref}", params={"force": "1"})
    result = build_from(ref)
    assert marker in result.log
    docker.delete(f"/images/{result.image_id}", params={"force": "1"})


def test_login_reuses_stored_credentials_and_reads_stdin(reg, cfg):
    def never(prompt: str) -> str:
        raise AssertionError(f"asked {prompt!r}")

    with pytest.raises(RegistryError, match="needs the user name"):
        login(reg.address, password_stdin=True, stdin=io.StringIO(reg.password))
    result = login(
        reg.address, reg.user, password_stdin=True, stdin=io.StringIO(reg.password + "\n")
    )
    assert not result.reused
    again = login(reg.address, ask_username=never, ask_password=never)
    assert again.reused and again.username == reg.user

    # Stored credentials that no longer work: asked again, the stored user offered.
    logged = b64(f"{reg.user}:expired-{uuid.uuid4().hex}")
    write_config(cfg, {"auths": {reg.address: {"auth": logged}}})
    prompts: list[str] = []
    typed = login(
        reg.address,
        ask_username=lambda p: prompts.append(p) or "",
        ask_password=lambda p: prompts.append(p) or reg.password,
    )
    assert prompts == [f"Username ({reg.user}): ", "Password: "]
    assert not typed.reused and typed.username == reg.user
    saved = json.loads((cfg / "config.json").read_text())
    assert saved["auths"][reg.address] == {"auth": b64(f"{reg.user}:{reg.password}")}


def test_login_magic_asks_without_echo_and_prints_no_secret(ipshell, reg, cfg, monkeypatch, capsys):
    import getpass

    asked: list[str] = []
    monkeypatch.setattr(getpass, "getpass", lambda prompt="": asked.append(prompt) or reg.password)
    ipshell.run_line_magic("docker_login", f"-u {reg.user} {reg.address}")
    ipshell.run_line_magic("docker_logout", reg.address)
    out = capsys.readouterr()
    assert asked == ["Password: "]
    assert f"Login Succeeded: {reg.address} as {reg.user} (credentials in config.json)" in out.out
    assert f"Removed the login credentials for {reg.address}" in out.out
    for secret in (reg.password, b64(f"{reg.user}:{reg.password}")):
        assert secret not in out.out + out.err
    assert json.loads((cfg / "config.json").read_text()) == {"auths": {}}


# -- nothing half-written in the docker config -----------------------------------------


def test_failed_logins_leave_the_config_as_it_was(reg, cfg, tmp_path, monkeypatch):
    path = write_config(cfg, {"auths": {"other.example": {"auth": b64("a:b")}}, "x": 1})
    path.chmod(0o640)
    before = path.read_bytes()
    wrong = f"wrong-{uuid.uuid4().hex}"
    with pytest.raises(RegistryError) as info:
        login(reg.address, reg.user, password=wrong)
    assert str(info.value).startswith(f"registry {reg.address} refused the user name or password")
    assert wrong not in str(info.value)
    assert path.read_bytes() == before

    # A helper that fails to store (and echoes what it got): no secret in the message,
    # config.json untouched.
    write_helper(tmp_path / "bin", "badkeys", tmp_path / "bad", fail_store=True)
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}{os.pathsep}{os.environ['PATH']}")
    path.write_text(json.dumps({"credsStore": "badkeys"}))
    before = path.read_bytes()
    with pytest.raises(HelperError) as failed:
        login(reg.address, reg.user, password=reg.password)
    assert "docker-credential-badkeys store exited with code 1" in str(failed.value)
    assert reg.password not in str(failed.value)
    assert path.read_bytes() == before

    # A config that is not JSON is refused before anything is asked or sent.
    path.write_text("{not json")
    with pytest.raises(ConfigFileError, match="not a JSON object"):
        login(reg.address, reg.user, ask_password=lambda p: pytest.fail("asked"))
    assert path.read_text() == "{not json"
    assert sorted(p.name for p in cfg.iterdir()) == ["config.json"]  # no temp file left


def test_login_writes_through_a_symlink_and_keeps_the_mode(reg, cfg, tmp_path):
    target = tmp_path / "real-config.json"
    target.write_text(json.dumps({"detachKeys": "ctrl-e,e"}))
    target.chmod(0o640)
    (cfg / "config.json").symlink_to(target)
    login(reg.address, reg.user, password=reg.password)
    assert (cfg / "config.json").is_symlink()
    saved = json.loads(target.read_text())
    assert saved["detachKeys"] == "ctrl-e,e" and reg.address in saved["auths"]
    assert stat.S_IMODE(target.stat().st_mode) == 0o640
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith("real")) == [
        "real-config.json"
    ]


# -- faults: each one sentence naming the registry and the cause ------------------------


def test_pull_without_credentials(reg, cfg, private_base):
    raw, error, options = daemon_error(private_base)
    explained = explain_registry_error(
        raw, instruction=f"FROM {private_base}", registry_config=options.registry_config
    )
    assert explained is not None
    assert explained.startswith(f"registry {reg.address} needs credentials")
    assert f"%docker_login {reg.address}" in explained
    # The cell's error is that sentence, naming the base image and the cell's step.
    message = str(error)
    assert message.startswith(f"step 1/2 (line 1): base image {private_base!r} is not on")
    assert message.endswith(explained)


def test_pull_with_a_wrong_password(reg, cfg, private_base):
    wrong = f"wrong-{uuid.uuid4().hex}"
    write_config(cfg, {"auths": {reg.address: {"auth": b64(f"{reg.user}:{wrong}")}}})
    raw, error, options = daemon_error(private_base)
    explained = explain_registry_error(
        raw, instruction=f"FROM {private_base}", registry_config=options.registry_config
    )
    assert explained is not None
    assert explained.startswith(f"registry {reg.address} refused the stored credentials")
    for text in (explained, str(error), error.result.log, repr(error.result)):
        assert wrong not in text and b64(f"{reg.user}:{wrong}") not in text


def test_pull_of_a_missing_image_with_credentials(reg, cfg, repo):
    logged_in(cfg, reg)
    image = f"{reg.address}/{repo}:nothere"
    raw, _, options = daemon_error(image)
    explained = explain_registry_error(
        raw, instruction=f"FROM {image}", registry_config=options.registry_config
    )
    assert explained is not None
    assert explained.startswith(f"registry {reg.address} has no image {image}")


def test_registry_down(reg, cfg, repo, docker, private_base):
    host, port = reg.address.rsplit(":", 1)
    proxy = ByteProxy((host, int(port)))
    logged_in(cfg, reg, proxy.address)
    # Through the proxy the registry works: the address is right, only "down" differs.
    assert login(proxy.address, reg.user, password=reg.password).stored_in == "config.json"
    proxy.stop()
    image = f"{proxy.address}/{repo}:1"
    raw, _, options = daemon_error(image)
    explained = explain_registry_error(
        raw, instruction=f"FROM {image}", registry_config=options.registry_config
    )
    assert explained is not None
    assert explained.startswith(f"registry {proxy.address} is not reachable (connection refused)")

    built, _ = build_unique(image)
    with pytest.raises(PushError) as pushed:
        push(built)
    assert f"registry {proxy.address} is not reachable (connection refused)" in str(pushed.value)
    assert f"the image is still on the daemon as {image}" in str(pushed.value)
    assert docker.image_exists(image)
    with pytest.raises(RegistryError, match=f"registry {proxy.address} is not reachable"):
        login(proxy.address, reg.user, password=reg.password)


@pytest.mark.engine(
    max_api="1.47",
    reason="Docker 28+ treats ::1 as an insecure registry too (moby 6a1d8a9899), so no "
    "loopback registry has its certificate checked",
)
def test_tls_certificate_not_trusted(reg, cfg, repo, docker):
    logged_in(cfg, reg, reg.untrusted)
    image = f"{reg.untrusted}/{repo}:1"
    raw, _, options = daemon_error(image)
    assert "x509" in raw  # the daemon really checked, and refused
    expected = f"the Docker daemon does not trust the TLS certificate of registry {reg.untrusted}"
    explained = explain_registry_error(
        raw, instruction=f"FROM {image}", registry_config=options.registry_config
    )
    assert explained is not None and explained.startswith(expected)
    assert f"/etc/docker/certs.d/{reg.untrusted}/ca.crt" in explained

    built, _ = build_unique(image)
    with pytest.raises(PushError, match=expected):
        push(built)
    assert docker.image_exists(image)
    with pytest.raises(RegistryError, match=expected):
        login(reg.untrusted, reg.user, password=reg.password)


def test_push_of_an_untagged_or_failed_build(cfg):
    built, _ = build_unique(None)
    with pytest.raises(PushError, match="the build has no tag, so there is nothing to push"):
        push(built)
    options = BuildOptions.from_user(network="none")
    with pytest.raises(BuildError) as failed:
        execute("FROM local/busybox:latest\nRUN exit 3\n", options)
    with pytest.raises(PushError, match="the build did not succeed"):
        push(failed.value.result)


def test_push_of_a_tag_without_registry_is_refused_before_any_request(repo, cfg):
    # A client whose every request would fail: the refusal must come first.
    dead = DockerClient("tcp://127.0.0.1:5999")
    for name in (f"{repo.split('/')[1]}:1", f"{repo}:1", "busybox"):
        with pytest.raises(PushError) as info:
            push(name, client=dead)
        message = str(info.value)
        assert f"{name!r} names no registry, so pushing it would go to Docker Hub" in message
        assert "refused" in message
    built, _ = build_unique(f"{repo}:1")
    with pytest.raises(PushError, match="would go to Docker Hub"):
        push(built, client=dead)


def test_cancelling_a_push_mid_layer(reg, cfg, repo, docker):
    import threading

    logged_in(cfg, reg)
    image = f"{reg.address}/{repo}:cancel"
    built, _ = build_unique(image, size=30_000_000)
    cancel = threading.Event()
    seen: list[str] = []

    def view(state: PushState) -> None:
        seen.extend(la.status for la in state.layers.values())
        if any(la.status == "Pushing" for la in state.layers.values()):
            cancel.set()  # what the form's Cancel button does, from another thread

    with pytest.raises(PushError, match=f"the push of {image} was cancelled"):
        push(built, progress=view, cancel_event=cancel)
    assert "Pushing" in seen
    assert docker.image_exists(image)
    resp = requests.head(
        f"https://{reg.address}/v2/{repo}/manifests/cancel",
        auth=(reg.user, reg.password),
        verify=reg.ca,
        timeout=10,
    )
    assert resp.status_code == 404  # nothing half-pushed under the tag


def test_push_tags_are_checked_before_a_build():
    from jupyter_dockerbuild.images.push import check_push_tags

    with pytest.raises(PushError, match="--push needs a tag naming the registry"):
        check_push_tags([])
    with pytest.raises(PushError, match="would go to Docker Hub"):
        check_push_tags(["127.0.0.1:5443/team/ok:1", "myenv:1"])
    [ref] = check_push_tags(["127.0.0.1:5443/team/app"])
    assert str(ref) == "127.0.0.1:5443/team/app:latest"


def test_push_of_an_image_that_is_not_there(reg, cfg, repo):
    with pytest.raises(PushError, match=f"there is no image {reg.address}/{repo}:1 on the daemon"):
        push(f"{reg.address}/{repo}:1")


def _push_through_a_dropping_link(reg: RegistryEnv, cfg: Path, repo: str, docker: Any) -> set[str]:
    """Push over a link cut after 1 MiB: check the message; return the layer statuses."""
    host, port = reg.address.rsplit(":", 1)
    proxy = ByteProxy((host, int(port)), drop_after=1 << 20)
    try:
        logged_in(cfg, reg, proxy.address)
        image = f"{proxy.address}/{repo}:1"
        built, _ = build_unique(image, size=4_000_000)
        statuses: set[str] = set()

        def view(state: PushState) -> None:
            statuses.update(la.status for la in state.layers.values())

        with pytest.raises(PushError) as info:
            push(built, progress=view)
    finally:
        proxy.stop()
    message = str(info.value)
    assert message.startswith(
        f"push of {image} failed: the connection to registry {proxy.address} broke during the push"
    ), message
    assert f"the image is still on the daemon as {image}" in message
    assert proxy.dropped >= 1
    assert docker.image_exists(image)
    return statuses


@pytest.mark.engine(store="classic", reason="its pusher retries a layer (distribution/xfer)")
def test_registry_dropping_the_connection_mid_upload(reg, cfg, repo, docker):
    # The daemon retries each layer upload 5 times (~50 s) before it gives up.
    statuses = _push_through_a_dropping_link(reg, cfg, repo, docker)
    assert any(s.startswith("Retrying in") for s in statuses), statuses  # shown to the user


@pytest.mark.engine(store="containerd", reason="its pusher gives up at the first broken upload")
def test_registry_dropping_the_connection_mid_upload_containerd_store(reg, cfg, repo, docker):
    # The "Retrying in" loop is the classic store's (distribution/xfer/upload.go); the
    # containerd store's push (daemon/containerd/image_push.go) ends at the first cut.
    statuses = _push_through_a_dropping_link(reg, cfg, repo, docker)
    assert "Pushing" in statuses and not any(s.startswith("Retrying") for s in statuses)


# -- the secret never shows, a real kernel and its saved notebook included ---------------


@pytest.mark.kernel
def test_kernel_login_build_push_and_saved_notebook(reg, cfg, repo, private_base, tmp_path):
    import nbformat
    from jupyter_client.manager import start_new_kernel
    from test_secrets import _outputs

    absent(private_base)
    km, kc = start_new_kernel(kernel_name="python3")  # inherits DOCKER_CONFIG
    ref = f"{reg.address}/{repo}:kernel"
    nb = nbformat.v4.new_notebook()
    everything: list[dict] = []
    widget_state: dict[str, dict] = {}
    asked: list[dict] = []

    def run(code: str) -> dict:
        msg_id = kc.execute(code, allow_stdin=True)
        messages: list[dict] = []
        while True:
            try:
                request = kc.get_stdin_msg(timeout=0.2)
                asked.append(request["content"])
                kc.input(reg.password)
            except Exception:
                pass
            try:
                msg = kc.get_iopub_msg(timeout=0.2)
            except Exception:
                continue
            if msg["parent_header"].get("msg_id") != msg_id:
                continue
            messages.append(msg)
            if msg["msg_type"] == "status" and msg["content"]["execution_state"] == "idle":
                break
        reply = kc.get_shell_msg(timeout=60)
        cell = nbformat.v4.new_code_cell(code)
        cell.outputs = _outputs(messages)
        nb.cells.append(cell)
        everything.extend(messages)
        for msg in messages:
            if msg["msg_type"] in ("comm_open", "comm_msg"):
                comm = msg["content"]["comm_id"]
                widget_state.setdefault(comm, {}).update(
                    msg["content"].get("data", {}).get("state", {})
                )
        return reply["content"]

    try:
        assert run("%load_ext jupyter_dockerbuild")["status"] == "ok"
        assert run(f"%docker_login -u {reg.user} {reg.address}")["status"] == "ok"
        assert [a.get("password") for a in asked] == [True]  # a password box: no echo
        built = run(
            f"%%dockerbuild -t {ref} --network none --out res\n"
            f"FROM {private_base}\nRUN cat /marker\n"
        )
        assert built["status"] == "ok"
        assert (
            run("import jupyter_dockerbuild as jd\npushed = jd.push(res, progress=True)\npushed")[
                "status"
            ]
            == "ok"
        )
        # --push: the live view draws the upload under the build's steps.
        pushed_by_flag = run(
            f"%%dockerbuild -t {ref}-flag --network none --push\nFROM {private_base}\n"
            "RUN head -c 20000000 /dev/urandom > /blob\n"  # long enough to be drawn live
        )
        assert pushed_by_flag["status"] == "ok"
        assert run(f"%docker_logout {reg.address}")["status"] == "ok"
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)
    nb.metadata["widgets"] = {"application/vnd.jupyter.widget-state+json": {"state": widget_state}}
    path = tmp_path / "saved.ipynb"
    nbformat.write(nb, path)
    saved = path.read_text()
    # Not vacuous: the notebook shows the login, the pull and the pushed digest.
    assert "Login Succeeded" in saved and f"Downloaded newer image for {private_base}" in saved
    assert "digest: sha256:" in saved and "Removed the login credentials" in saved
    assert f"Pushed {ref}-flag" in saved and f" pushed {ref}-flag sha256:" in saved
    assert "jdb-push-layer" in json.dumps([m["content"] for m in everything])  # live bars
    kernel_messages = json.dumps([m["content"] for m in everything])
    for secret in (reg.password, b64(f"{reg.user}:{reg.password}")):
        assert secret not in saved, "the password is in the saved notebook"
        assert secret not in kernel_messages, "the password reached the frontend"


def test_the_registry_log_as_printed_holds_no_password(reg):
    printed = reg.printed_log()
    # Not vacuous: the log records the authenticated requests of the tests above.
    assert "authorized request" in printed and reg.user in printed
    for secret in (reg.password, b64(f"{reg.user}:{reg.password}")):
        assert secret not in printed
