"""Fixtures for driving a real JupyterLab in headless Chromium.

Reusable by any browser test (syntax highlighting, widgets, ...):

- ``lab_server`` (session): a ``jupyter lab`` on a free local port with a random token and
  isolated config, data, runtime, IPython and temp dirs. Extensions installed into the
  Python environment (``sys.prefix/share/jupyter/labextensions``) are still found; ours is
  served from this checkout's own build (``jupyter_dockerbuild/labextension``, what
  ``pip install -e .`` or ``npm run build`` in ``js/`` writes), so a worktree tests its
  own extension even when the environment's editable install points at another tree.
- ``browser`` (session): Debian's ``/usr/bin/chromium`` driven by Python playwright.
- ``context`` / ``page`` (per test): a fresh browser profile for every test.
- ``open_notebook`` (per test): write a notebook into the server's root dir, open it and
  wait until its kernel is idle; kernels started by a test are shut down after it.

The tests skip when playwright or ``/usr/bin/chromium`` is missing, unless
``JUPYTER_DOCKERBUILD_REQUIRE_BROWSER=1`` is set (CI sets it), in which case they fail:
a green CI run that skipped every browser test would lie.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Union

import nbformat
import pytest

if TYPE_CHECKING:
    from nbformat import NotebookNode
    from playwright.sync_api import Browser, BrowserContext, Page

CHROMIUM = Path("/usr/bin/chromium")
REPO = Path(__file__).resolve().parents[2]
#: This checkout's built extension and the sources it is built from.
BUILT_EXTENSION = REPO / "jupyter_dockerbuild" / "labextension"
EXTENSION_SOURCES = REPO / "js" / "src"
CHROMIUM_ARGS = [
    "--no-sandbox",  # needed as root
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
REQUIRE_ENV = "JUPYTER_DOCKERBUILD_REQUIRE_BROWSER"
SERVER_START_TIMEOUT = 60.0
#: Kernel start on a cold machine can take a while; opening a notebook waits this long (ms).
KERNEL_IDLE_TIMEOUT_MS = 60_000

#: JupyterLab user settings written into the isolated settings dir, by plugin id.
#: The news prompt would otherwise cover part of every page (and of screenshots).
USER_SETTINGS: dict[str, dict[str, Any]] = {
    "@jupyterlab/apputils-extension:notification": {
        "fetchNews": "false",
        "checkForUpdates": False,
    },
}

Cell = Union[str, "NotebookNode"]


def _skip_or_fail(reason: str) -> None:
    if os.environ.get(REQUIRE_ENV) == "1":
        pytest.fail(f"{reason} ({REQUIRE_ENV}=1, so browser tests may not skip)")
    pytest.skip(reason)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _port_taken(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


@dataclass
class LabServer:
    """A running ``jupyter lab`` and how to talk to it."""

    url: str
    """Base URL, ending in ``/``."""
    token: str
    root_dir: Path
    """Where notebooks are served from (``ServerApp.root_dir``)."""
    log_path: Path
    process: subprocess.Popen[bytes]

    def request(self, path: str, method: str = "GET", body: Any = None) -> Any:
        """Call the server's REST API (``path`` relative to the base URL); return JSON or text."""
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(
            self.url + path.lstrip("/"),
            data=data,
            method=method,
            headers={"Authorization": f"token {self.token}", "Content-Type": "application/json"},
        )
        with urllib.request.urlopen(req, timeout=10) as resp:
            text = resp.read().decode()
        if resp.headers.get_content_type() == "application/json" and text:
            return json.loads(text)
        return text

    def page_config(self) -> dict[str, Any]:
        """The ``jupyter-config-data`` JupyterLab embeds in its page."""
        html = self.request("lab")
        found = re.search(
            r'<script id="jupyter-config-data" type="application/json">(.*?)</script>', html, re.S
        )
        assert found, "no jupyter-config-data in the /lab page"
        return dict(json.loads(found.group(1)))

    def federated_extensions(self) -> set[str]:
        """Names of the prebuilt (federated) lab extensions the server serves."""
        return {ext["name"] for ext in self.page_config().get("federated_extensions", [])}

    def notebook_url(self, name: str) -> str:
        """URL opening ``name`` (relative to the root dir) with a fresh workspace."""
        return f"{self.url}lab/tree/{name}?reset&token={self.token}"

    def log_tail(self, lines: int = 40) -> str:
        """The end of the server's log, for failure messages."""
        text = self.log_path.read_text(errors="replace")
        return "\n".join(text.splitlines()[-lines:])


def _serve_built_extension(path: Path) -> list[str]:
    """Put this checkout's built extension first on JupyterLab's labextensions path.

    JupyterLab serves the first ``jupyter-dockerbuild`` it finds along the path, and in
    a virtualenv ``sys.prefix`` comes before any user data dir (jupyter_core prefers the
    environment), so a copy in ``JUPYTER_DATA_DIR`` would lose to the environment's
    install. ``extra_labextensions_path`` comes before both: returns the flag that puts
    ``path`` (holding a copy of the build) there, or nothing when this tree has no build.
    In CI ``pip install -e .`` made both from the same sources. A build older than
    ``js/src`` would test stale code, so that fails.
    """
    package = BUILT_EXTENSION / "package.json"
    if not package.exists():
        return []  # not built in this tree: the environment's install is what there is
    built = max(p.stat().st_mtime for p in BUILT_EXTENSION.rglob("*") if p.is_file())
    sources = [p for p in EXTENSION_SOURCES.rglob("*.ts") if p.stat().st_mtime > built]
    if sources:
        pytest.fail(
            f"{BUILT_EXTENSION.relative_to(REPO)} is older than {sources[0].relative_to(REPO)}:"
            " rebuild it (npm run build in js/, or pip install -e .)"
        )
    target = path / "jupyter-dockerbuild"
    shutil.copytree(BUILT_EXTENSION, target)
    install = REPO / "js" / "install.json"
    if install.exists():
        shutil.copy(install, target / "install.json")
    return [f"--LabApp.extra_labextensions_path={path}"]


@pytest.fixture(scope="session")
def lab_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LabServer]:
    """A session-wide isolated ``jupyter lab`` on a free local port."""
    base = tmp_path_factory.mktemp("lab")
    dirs = {
        name: base / name for name in ("config", "data", "runtime", "ipython", "tmp", "notebooks")
    }
    for path in dirs.values():
        path.mkdir()
    env = {
        **os.environ,
        "JUPYTER_CONFIG_DIR": str(dirs["config"]),
        "JUPYTER_DATA_DIR": str(dirs["data"]),
        "JUPYTER_RUNTIME_DIR": str(dirs["runtime"]),
        "IPYTHONDIR": str(dirs["ipython"]),
        "TMPDIR": str(dirs["tmp"]),
    }
    extra_labextensions = _serve_built_extension(base / "labextensions")
    settings_dir = dirs["config"] / "lab" / "user-settings"  # JupyterLab's default
    for plugin_id, values in USER_SETTINGS.items():
        package, plugin = plugin_id.split(":")
        path = settings_dir / package / f"{plugin}.jupyterlab-settings"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(values))
    # Settings a developer may have exported would defeat the isolation.
    for var in ("JUPYTER_PATH", "JUPYTERLAB_SETTINGS_DIR", "JUPYTERLAB_WORKSPACES_DIR"):
        env.pop(var, None)

    port = _free_port()
    if _port_taken(port):  # a stale server would make the tests lie
        pytest.fail(f"port {port} is already in use")
    token = secrets.token_hex(16)
    log_path = base / "server.log"
    cmd = [
        sys.executable,
        "-m",
        "jupyterlab",
        "--no-browser",
        "--ip=127.0.0.1",
        f"--port={port}",
        f"--ServerApp.token={token}",
        "--allow-root",
        f"--ServerApp.root_dir={dirs['notebooks']}",
        "--ServerApp.port_retries=0",
        "--LabApp.news_url=None",
        *extra_labextensions,
    ]
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            cmd, env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
        )
    server = LabServer(
        url=f"http://127.0.0.1:{port}/",
        token=token,
        root_dir=dirs["notebooks"],
        log_path=log_path,
        process=process,
    )
    try:
        deadline = time.monotonic() + SERVER_START_TIMEOUT
        while True:
            if process.poll() is not None:
                pytest.fail(f"jupyter lab exited with {process.returncode}:\n{server.log_tail()}")
            try:
                server.request("api/status")
                break
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                if time.monotonic() > deadline:
                    pytest.fail(f"jupyter lab did not answer in time:\n{server.log_tail()}")
                time.sleep(0.2)
        yield server
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    """Headless Debian Chromium, shared by the session (contexts are per test)."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _skip_or_fail("playwright is not installed (pip install playwright)")
    if not CHROMIUM.exists():
        _skip_or_fail(f"{CHROMIUM} is missing (apt-get install -y chromium)")
    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def context(browser: Browser) -> Iterator[BrowserContext]:
    """A fresh browser profile for one test."""
    ctx = browser.new_context(viewport={"width": 1280, "height": 900})
    try:
        yield ctx
    finally:
        ctx.close()


@pytest.fixture
def page(context: BrowserContext) -> Page:
    """A new tab in the test's fresh profile."""
    return context.new_page()


def write_notebook(
    root_dir: Path,
    name: str,
    cells: Sequence[Cell],
    kernel_name: str = "python3",
) -> Path:
    """Write a notebook into ``root_dir``; plain strings become code cells."""
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {
        "name": kernel_name,
        "display_name": "Python 3 (ipykernel)",
        "language": "python",
    }
    nb.cells = [nbformat.v4.new_code_cell(c) if isinstance(c, str) else c for c in cells]
    path = root_dir / name
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, str(path))
    return path


def wait_for_kernel_idle(page: Page, timeout_ms: int = KERNEL_IDLE_TIMEOUT_MS) -> None:
    """Wait until the status bar says the kernel is idle.

    The status bar reads e.g. ``Python 3 (ipykernel) | Idle``; the execution indicator
    alone can claim idle before the kernel is up.
    """
    from playwright.sync_api import expect

    expect(page.locator("#jp-main-statusbar")).to_contain_text("| Idle", timeout=timeout_ms)


@pytest.fixture
def open_notebook(lab_server: LabServer, page: Page) -> Iterator[Callable[..., Page]]:
    """Return ``open(name, cells, **write_notebook_kwargs) -> page``.

    Writes the notebook, opens it in the test's page and waits for an idle kernel.
    Kernel sessions the test started are shut down afterwards.
    """
    before = {s["id"] for s in lab_server.request("api/sessions")}

    def _open(name: str, cells: Sequence[Cell], **kwargs: Any) -> Page:
        write_notebook(lab_server.root_dir, name, cells, **kwargs)
        page.goto(lab_server.notebook_url(name))
        page.locator(".jp-Notebook").first.wait_for(timeout=30_000)
        wait_for_kernel_idle(page)
        return page

    yield _open
    for session in lab_server.request("api/sessions"):
        if session["id"] not in before:
            try:
                lab_server.request(f"api/sessions/{session['id']}", method="DELETE")
            except urllib.error.HTTPError:
                pass  # already gone
