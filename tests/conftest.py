"""Shared fixtures: the real Docker daemon, the local base image, leak checks, the registry.

Daemon tests never skip silently: if no daemon answers they fail with the command that
starts one (``scripts/ensure-docker.sh``), because a green run without a daemon would lie.

The engine matrix (``scripts/test.sh``) runs the daemon tests once per Docker Engine, with
``DOCKER_HOST`` pointing at it. Every session ends with one ``engine:`` line saying which
engine answered (version, API version, storage driver, image store, cgroup version) and
how many tests ran; ``JUPYTER_DOCKERBUILD_ENGINE_REPORT=FILE`` also appends it to FILE.
A test that only makes sense on some engines says so with
``@pytest.mark.engine(min_api=..., max_api=..., store=..., reason=...)`` (``store``:
``"classic"`` or ``"containerd"``, the image store; every bound given must hold);
elsewhere it is skipped with that reason and the engine's version, which ``-ra`` prints.
Several ``engine`` markers on one test name several kinds of engine: it runs on any of them.
"""

from __future__ import annotations

import io
import json
import os
import tarfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from jupyter_dockerbuild.builder.base import BASE_IMAGE, ensure_base_image
from jupyter_dockerbuild.engine.client import DockerClient, HTTPError

TEST_LABEL = "org.jupyter-dockerbuild.test"
REPORT_ENV = "JUPYTER_DOCKERBUILD_ENGINE_REPORT"


# -- which engine answers: the engine line and the `engine` marker -----------------------


def _api(version: str) -> tuple[int, ...]:
    return tuple(int(p) for p in version.split("."))


_engine_cache: dict[str, Any] = {}


def engine_facts() -> dict[str, Any]:
    """What the daemon of this session (``DOCKER_HOST`` or the default) says about itself.

    ``{"error": ...}`` when no daemon answers. Asked once per session.
    """
    if not _engine_cache:
        try:
            client = DockerClient(timeout=10)
            try:
                version = client.version_info()
                info = client.get_json("/info")
                ping = client.request("GET", "/_ping", versioned=False).headers
                negotiated = client.api_version
            finally:
                client.close()
        except Exception as exc:
            _engine_cache["error"] = f"no daemon answers ({exc})"
        else:
            driver_status = dict(tuple(x) for x in info.get("DriverStatus") or [] if len(x) == 2)
            containerd = "snapshotter" in str(driver_status.get("driver-type", ""))
            _engine_cache.update(
                name=os.environ.get("JUPYTER_DOCKERBUILD_ENGINE") or "host",
                host=client.host,
                version=str(version.get("Version", "?")),
                api=str(version.get("ApiVersion", "?")),
                min_api=str(version.get("MinAPIVersion", "?")),
                negotiated=negotiated,
                driver=str(info.get("Driver", "?")),
                store="containerd" if containerd else "classic",
                cgroup=str(info.get("CgroupVersion", "?")),
                builder="BuildKit" if ping.get("Builder-Version") == "2" else "classic",
            )
    return _engine_cache


def engine_line(counts: str | None = None) -> str:
    """One line naming the engine (and, at the end of a session, the test counts)."""
    f = engine_facts()
    if "error" in f:
        line = f"engine: {f['error']}"
    else:
        line = (
            f"engine {f['name']}: Docker {f['version']}, API {f['api']} (min {f['min_api']}, "
            f"negotiated {f['negotiated']}), storage driver {f['driver']}, {f['store']} image "
            f"store, cgroup v{f['cgroup']}, default builder {f['builder']}, at {f['host']}"
        )
    return f"{line}: {counts}" if counts else line


def pytest_report_header(config: pytest.Config) -> str:
    return engine_line()


@pytest.hookimpl(tryfirst=True)  # before -m deselects
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        # The notebooks (nbval cells) build on the real daemon: `-m daemon` selects them.
        if type(item).__module__.startswith("nbval"):
            item.add_marker(pytest.mark.daemon)
    marked = [(item, list(item.iter_markers("engine"))) for item in items]
    marked = [(item, ms) for item, ms in marked if ms]
    if not marked:
        return
    f = engine_facts()
    if "error" in f:
        return  # the daemon fixtures fail these tests, naming the command to run
    api = _api(f["api"])
    for item, markers in marked:
        for marker in markers:
            store = marker.kwargs.get("store")
            bounds = marker.kwargs.get("min_api") or marker.kwargs.get("max_api") or store
            if not marker.kwargs.get("reason") or not bounds or store not in (None, *_STORES):
                raise pytest.UsageError(
                    f"{item.nodeid}: @pytest.mark.engine needs an API bound or "
                    f"store={' or '.join(map(repr, _STORES))}, and reason="
                )
        if any(_fits(marker, f["store"], api) for marker in markers):
            continue
        wanted = "; or on ".join(
            f"{_engines(m.kwargs.get('min_api'), m.kwargs.get('max_api'), m.kwargs.get('store'))}"
            f": {m.kwargs['reason']}"
            for m in markers
        )
        item.add_marker(
            pytest.mark.skip(
                reason=f"only on {wanted} (this engine: Docker {f['version']}, API {f['api']}, "
                f"{f['store']} image store)"
            )
        )


def _fits(marker: pytest.Mark, store: str, api: tuple[int, ...]) -> bool:
    """Whether this engine (image store, API version) is one the marker names."""
    low, high = marker.kwargs.get("min_api"), marker.kwargs.get("max_api")
    if (low and api < _api(low)) or (high and api > _api(high)):
        return False
    return marker.kwargs.get("store") in (None, store)


_STORES = ("classic", "containerd")


def _engines(low: str | None, high: str | None, store: str | None) -> str:
    """``engines with API 1.42 and later and the classic image store``, for a skip."""
    parts = []
    if low and high:
        parts.append(f"API {low} to {high}")
    elif low:
        parts.append(f"API {low} and later")
    elif high:
        parts.append(f"API up to {high}")
    if store:
        parts.append(f"the {store} image store")
    return "engines with " + " and ".join(parts)


def pytest_terminal_summary(terminalreporter: Any) -> None:
    stats = terminalreporter.stats
    run = [
        r
        for key in ("passed", "failed", "error", "skipped", "xfailed", "xpassed")
        for r in stats.get(key, [])
        if getattr(r, "when", "call") == "call" or key in ("error", "skipped")
    ]
    counts = {
        key: len([r for r in run if r in stats.get(key, [])])
        for key in ("passed", "failed", "error", "skipped", "xfailed", "xpassed")
    }
    executed = counts["passed"] + counts["failed"] + counts["xfailed"] + counts["xpassed"]
    parts = [f"{n} {key}" for key, n in counts.items() if n]
    summary = f"{executed} tests run ({', '.join(parts) or 'nothing collected'})"
    line = engine_line(summary)
    terminalreporter.write_line(line, bold=True)
    path = os.environ.get(REPORT_ENV)
    if path:
        with open(path, "a", encoding="utf-8") as fh:
            fh.write(line + "\n")


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
def image_store(docker: DockerClient) -> str:
    """``"classic"`` (graph drivers) or ``"containerd"`` (the containerd image store)."""
    return str(engine_facts().get("store", "classic"))


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
            # "team/t-..:1" (no registry, as the Docker Hub push test tags it) too.
            if ref.startswith(f"{name}:") or f"/{name}:" in ref:
                docker.delete(f"/images/{ref}", params={"force": "1"})
