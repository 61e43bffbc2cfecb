"""The build form as a person uses it: JupyterLab in headless Chromium, real daemon.

``%%dockerbuild --form`` cells are run from the Run menu. A tag and build args are typed
into the rendered form (one of them secret), an invalid tag is flagged, Build shows the
image id the daemon really tagged; Cancel on a long RUN stops it on the daemon. The
notebook is then saved with its widget state, and the secret must not be in the file.
A screenshot goes to ``docs/screenshots/form.png`` for the README.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from jupyter_dockerbuild.ui.form import SECRET_SET

try:
    from playwright.sync_api import expect
except ImportError:  # the browser fixture skips or fails with the reason
    expect = None

pytestmark = [pytest.mark.browser, pytest.mark.daemon]

SHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
SECRET = "browser-typed-s3cret"
WIDGETS_PLUGIN = "@jupyter-widgets/jupyterlab-manager:plugin"


def run_all(page):
    page.locator(".jp-Notebook .jp-Cell").first.click()
    page.get_by_text("Run", exact=True).first.click()
    page.get_by_text("Run All Cells", exact=True).click()


def add_tag(form, text):
    box = form.locator(".jdb-tags-input input")
    box.press_sequentially(text)
    box.press("Enter")


def test_form_build_then_cancel(
    open_notebook, lab_server, docker, base_image, tag_prefix, image_file
):
    # Save widget state into the notebook, so we can check the secret stays out of it.
    lab_server.request(
        f"lab/api/settings/{WIDGETS_PLUGIN}",
        method="PUT",
        body={"raw": json.dumps({"saveState": True})},
    )
    page = open_notebook(
        "form.ipynb",
        [
            "%load_ext jupyter_dockerbuild",
            f"%%dockerbuild --form -t {tag_prefix}:1 -m 512m --cpu-period 100000 "
            "--cpu-quota 150000 --network none --label course=intro\n"
            f"FROM {base_image}\n"
            "ARG GREETING=hello\n"
            "ARG TOKEN\n"
            'RUN echo "$GREETING" > /greeting && echo -n "$TOKEN" > /token\n'
            "RUN for i in $(seq 1 15); do echo line-$i; sleep 0.1; done\n",
            f"%%dockerbuild --form -t {tag_prefix}:slow --no-cache --network none\n"
            f"FROM {base_image}\n"
            f"RUN x=run; echo ${{x}}ning-marker {tag_prefix} && sleep 120\n",
        ],
    )
    # Tall enough for a whole form in the screenshots.
    page.set_viewport_size({"width": 1280, "height": 2400})
    run_all(page)
    forms = page.locator(".jdb-form")
    expect(forms).to_have_count(2, timeout=30_000)
    form = forms.nth(0)
    build = form.locator(".jdb-build-button")
    # Pre-filled from the magic line; /info was asked (this daemon is not experimental).
    expect(form.locator(".jdb-cli-magic")).to_have_value(
        f"%%dockerbuild -t {tag_prefix}:1 --label course=intro --memory 512m "
        "--cpu-period 100000 --cpu-quota 150000 --network none",
        timeout=10_000,
    )
    expect(form).to_contain_text("= 150000 µs per 100000 µs")
    expect(form.locator(".jdb-field-cpus input")).to_have_value("1.5")
    expect(form).to_contain_text("= 536,870,912 B (512MiB)")
    expect(form).to_contain_text("daemon: Docker", timeout=10_000)
    expect(form.locator(".jdb-opt-squash input")).to_be_disabled()

    # An invalid tag is flagged with the reason and blocks Build; removing it unblocks.
    form.locator(".jdb-tags-input input").press_sequentially("Not:Valid")
    expect(form).to_contain_text("repository names must be lowercase")  # while typing
    expect(build).to_be_disabled()
    form.locator(".jdb-tags-input input").press("Enter")
    expect(form.locator(".jdb-tags > .jupyter-widget-tag")).to_have_count(2)
    memory = form.locator(".jdb-field-memory input")
    memory.fill("4m")
    expect(form).to_contain_text("below Docker's minimum of 6MiB")
    form.screenshot(path=str(SHOTS / "form-invalid.png"))
    memory.fill("512m")
    form.locator(".jdb-tags > .jupyter-widget-tag").nth(1).locator(
        ".jupyter-widget-tag-close"
    ).click()
    expect(build).to_be_enabled()
    add_tag(form, f"{tag_prefix}:typed")

    # Build args: the Dockerfile's ARGs are offered with their defaults.
    rows = form.locator(".jdb-arg-row")
    expect(rows).to_have_count(2)
    greeting = rows.nth(0).locator(".jdb-arg-value input")
    expect(greeting).to_have_attribute("placeholder", "default: hello")
    greeting.fill("from-the-browser")
    token = rows.nth(1)
    token.locator(".jdb-arg-toggle").click()
    secret_box = token.locator(".jdb-arg-secret input")
    expect(secret_box).to_have_attribute("type", "password")
    secret_box.fill(SECRET)
    secret_box.press("Enter")
    # The kernel took the value and cleared the field; the commands name it, masked.
    expect(secret_box).to_have_value("")
    expect(secret_box).to_have_attribute("placeholder", SECRET_SET)
    magic = form.locator(".jdb-cli-magic")
    expect(magic).to_have_value(
        f"%%dockerbuild -t {tag_prefix}:1 -t {tag_prefix}:typed --build-arg "
        "GREETING=from-the-browser --build-arg TOKEN --label course=intro --memory 512m "
        "--cpu-period 100000 --cpu-quota 150000 --network none"
    )
    assert SECRET not in form.inner_text()
    form.screenshot(path=str(SHOTS / "form.png"))

    build.click()
    expect(form.locator(".jdb-status")).to_contain_text("built", timeout=60_000)
    title = form.locator(".jdb-build .jdb-title")
    expect(title).to_contain_text("Built sha256:")
    image = docker.get_json(f"/images/{tag_prefix}:typed/json")
    assert docker.get_json(f"/images/{tag_prefix}:1/json")["Id"] == image["Id"]
    expect(title).to_contain_text(image["Id"][:19])
    expect(form.locator(".jdb-status")).to_contain_text(image["Id"][7:19])
    assert image["Config"]["Labels"]["course"] == "intro"
    assert image_file(image["Id"], "/greeting") == b"from-the-browser\n"
    assert image_file(image["Id"], "/token") == SECRET.encode()
    form.screenshot(path=str(SHOTS / "form-built.png"))

    # Cancel a long build in the second form: handled at once, the daemon stops it.
    slow = forms.nth(1)
    slow.locator(".jdb-build-button").click()
    expect(slow.locator(".jdb-tail")).to_contain_text("running-marker", timeout=30_000)
    running = [c for c in docker.containers(all=True) if tag_prefix in c.get("Command", "")]
    assert running, "the RUN container should be running"
    slow.locator(".jdb-cancel-button").click()
    expect(slow.locator(".jdb-build .jdb-title")).to_contain_text("Cancelled", timeout=10_000)
    expect(slow.locator(".jdb-status")).to_contain_text("cancelled")
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        left = [c for c in docker.containers(all=True) if tag_prefix in c.get("Command", "")]
        if not left:
            break
        time.sleep(0.2)
    assert not left, left
    slow.screenshot(path=str(SHOTS / "form-cancelled.png"))

    # Save: the widget state goes into the notebook, the secret does not.
    page.locator(".jp-Notebook").first.click()
    page.keyboard.press("Control+s")
    path = lab_server.root_dir / "form.ipynb"
    deadline = time.monotonic() + 15
    saved = ""
    while time.monotonic() < deadline:
        saved = path.read_text()
        if "widget-state" in saved and f"{tag_prefix}:typed" in saved:
            break
        time.sleep(0.3)
    assert "application/vnd.jupyter.widget-state+json" in saved
    assert f"{tag_prefix}:typed" in saved and "from-the-browser" in saved
    assert SECRET not in saved


@pytest.mark.registry
def test_form_push_to_the_registry(open_notebook, lab_server, docker, base_image, tmp_path):
    import base64
    import uuid

    import requests
    from registryutil import registry_env

    reg = registry_env()
    config = tmp_path / "dockercfg"
    config.mkdir()
    auth = base64.b64encode(f"{reg.user}:{reg.password}".encode()).decode()
    (config / "config.json").write_text(json.dumps({"auths": {reg.address: {"auth": auth}}}))
    repo = f"team/browser-{uuid.uuid4().hex[:10]}"
    ref = f"{reg.address}/{repo}:form"
    lab_server.request(
        f"lab/api/settings/{WIDGETS_PLUGIN}",
        method="PUT",
        body={"raw": json.dumps({"saveState": True})},
    )
    page = open_notebook(
        "push.ipynb",
        [
            # The kernel's docker config holds the login; the notebook only its path.
            "%load_ext jupyter_dockerbuild\nimport os\n"
            f"os.environ['DOCKER_CONFIG'] = {str(config)!r}",
            f"%%dockerbuild --form -t {ref} --network none\n"
            f"FROM {base_image}\n"
            "RUN head -c 4000000 /dev/urandom > /blob && echo pushed-from-the-browser > /m\n",
        ],
    )
    page.set_viewport_size({"width": 1280, "height": 2400})
    try:
        run_all(page)
        form = page.locator(".jdb-form")
        expect(form).to_have_count(1, timeout=30_000)
        push = form.locator(".jdb-push-button")
        expect(push).to_be_disabled()
        expect(push).to_have_attribute(
            "title", "build first: Push sends the last build's tags to their registry"
        )
        form.locator(".jdb-build-button").click()
        status = form.locator(".jdb-status")
        expect(status).to_contain_text("built", timeout=60_000)
        expect(push).to_be_enabled()
        push.click()
        expect(status).to_contain_text("pushed", timeout=60_000)
        expect(form.locator(".jdb-push-title")).to_contain_text(f"Pushed {ref}")
        shown = form.locator(".jdb-push-digest").inner_text().strip()
        assert shown.startswith("sha256:") and shown in status.inner_text()
        # The registry itself has the manifest, under the digest the form shows.
        resp = requests.head(
            f"https://{reg.address}/v2/{repo}/manifests/form",
            auth=(reg.user, reg.password),
            verify=reg.ca,
            headers={"Accept": "application/vnd.docker.distribution.manifest.v2+json"},
            timeout=10,
        )
        assert resp.status_code == 200 and resp.headers["Docker-Content-Digest"] == shown
        image = docker.get_json(f"/images/{ref}/json")
        assert f"{reg.address}/{repo}@{shown}" in image["RepoDigests"]
        form.screenshot(path=str(SHOTS / "form-pushed.png"))

        # Saved with its widget state: the push shows, the password does not.
        page.locator(".jp-Notebook").first.click()
        page.keyboard.press("Control+s")
        path = lab_server.root_dir / "push.ipynb"
        deadline = time.monotonic() + 15
        saved = ""
        while time.monotonic() < deadline:
            saved = path.read_text()
            if "widget-state" in saved and f"Pushed {ref}" in saved:
                break
            time.sleep(0.3)
        assert f"Pushed {ref}" in saved and shown in saved
        for secret in (reg.password, auth):
            assert secret not in saved, "the password is in the saved notebook"
    finally:
        if docker.image_exists(ref):
            docker.delete(f"/images/{ref}", params={"force": "1"})
