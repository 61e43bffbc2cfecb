"""Shared fixtures: the real Docker daemon, the local base image, leak checks, the registry.

Daemon tests never skip silently: if no daemon answers they fail with the command that
starts one (``scripts/ensure-docker.sh``), because a green run without a daemon would lie.
"""

from __future__ import annotations

import io
import json
import tarfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from jupyter_dockerbuild.builder.base import BASE_IMAGE, ensure_base_image
from jupyter_dockerbuild.engine.client import DockerClient, HTTPError

TEST_LABEL = "org.jupyter-dockerbuild.test"


@pytest.fixture(scope="session")
def ipshell() -> Any:
    """The real IPython shell (a singleton) with the extension loaded."""
    from IPython.core.interactiveshell import InteractiveShell

    shell = InteractiveShell.instance()
    shell.run_line_magic("load_ext", "jupyter_dockerbuild")
    return shell


@pytest.fixture(scope="session")
def docker() -> Iterator[DockerClient]:
    """A client for the real daemon (DOCKER_HOST or /var/run/docker.sock)."""
    client = DockerClient()
    try:
        client.ping()
    except Exception as exc:
        pytest.fail(
            f"no Docker daemon for the integration tests ({exc}); run scripts/ensure-docker.sh"
        )
    yield client
    client.close()


@pytest.fixture(scope="session")
def base_image(docker: DockerClient) -> str:
    """The local busybox image every test Dockerfile starts FROM (never a registry)."""
    return ensure_base_image(client=docker)


@pytest.fixture
def tag_prefix(docker: DockerClient) -> Iterator[str]:
    """A unique repository name for this test; its images are removed afterwards."""
    prefix = f"dockerbuild-test-{uuid.uuid4().hex[:10]}"
    yield prefix
    for image in docker.get_json("/images/json"):
        for ref in image.get("RepoTags") or []:
            if ref.startswith(prefix):
                try:
                    docker.delete(f"/images/{ref}", params={"force": "1"})
                except HTTPError:
                    pass


@pytest.fixture
def no_leftover_containers(docker: DockerClient) -> Iterator[None]:
    """Fail the test if it leaves any container (running or exited) behind."""
    before = {c["Id"] for c in docker.containers(all=True)}
    yield
    after = docker.containers(all=True)
    new = [c for c in after if c["Id"] not in before]
    # Reported, not removed: each test compares with its own "before", so a leak cannot
    # cascade, and removing would kill containers of anything else using the daemon.
    assert not new, f"build left containers behind: {[(c['Id'][:12], c['Status']) for c in new]}"


def read_file_from_image(docker: DockerClient, image: str, path: str) -> bytes:
    """Read one file out of an image without running it (create, archive, remove)."""
    resp = docker.request(
        "POST",
        "/containers/create",
        data=json.dumps({"Image": image, "Cmd": ["true"], "Labels": {TEST_LABEL: "1"}}),
        headers={"Content-Type": "application/json"},
    )
    cid = resp.json()["Id"]
    try:
        tar_bytes = docker.request("GET", f"/containers/{cid}/archive", params={"path": path})
        with tarfile.open(fileobj=io.BytesIO(tar_bytes.content)) as tar:
            member = tar.getmembers()[0]
            fh = tar.extractfile(member)
            assert fh is not None
            return fh.read()
    finally:
        docker.delete(f"/containers/{cid}", params={"force": "1"})


@pytest.fixture
def image_file(docker: DockerClient):
    """``image_file(image, path)`` -> the file's bytes."""
    return lambda image, path: read_file_from_image(docker, image, path)


__all__ = ["BASE_IMAGE", "TEST_LABEL"]


# -- the test registry (scripts/registry.sh) -------------------------------------------------


@pytest.fixture(scope="session")
def reg() -> Any:
    """The running test registry (``RegistryEnv``), or a failure saying how to start it."""
    from registryutil import registry_env

    return registry_env()


@pytest.fixture
def cfg(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh, empty DOCKER_CONFIG directory for this test."""
    directory = tmp_path / "dockercfg"
    directory.mkdir()
    for name in ("DOCKER_AUTH_CONFIG", "DOCKER_CONTEXT"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("DOCKER_CONFIG", str(directory))
    return directory


@pytest.fixture
def repo(docker: DockerClient) -> Iterator[str]:
    """A unique repository path; local images under it (any registry) go afterwards."""
    name = f"team/t-{uuid.uuid4().hex[:10]}"
    yield name
    for image in docker.get_json("/images/json"):
        for ref in image.get("RepoTags") or []:
            if f"/{name}:" in ref:
                docker.delete(f"/images/{ref}", params={"force": "1"})
