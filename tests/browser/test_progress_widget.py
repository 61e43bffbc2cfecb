"""The progress view as a person sees it: JupyterLab in headless Chromium, real daemon.

A ``%%dockerbuild`` cell is run from the Run menu; while it builds, the live HTML output
shows the progress bar, the step rows and the live tail; at the end the same output is
the static summary with the image id the daemon really tagged. A failing build shows the
failed step, its cell line and the open log. A notebook saved in the middle of a build
and reopened later (no kernel) shows a readable static state, never "Error displaying
widget". Screenshots go to ``docs/screenshots/`` for the README.
"""

from __future__ import annotations

import re
import time
from pathlib import Path

import nbformat
import pytest

try:
    from playwright.sync_api import expect
except ImportError:  # the browser fixture skips or fails with the reason
    expect = None

pytestmark = [pytest.mark.browser, pytest.mark.daemon]

SHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"


def run_all(page):
    page.locator(".jp-Notebook .jp-Cell").first.click()
    page.get_by_text("Run", exact=True).first.click()
    page.get_by_text("Run All Cells", exact=True).click()


def test_progress_widget_live_then_summary(open_notebook, docker, base_image, tag_prefix):
    tag = f"{tag_prefix}:1"
    page = open_notebook(
        "progress.ipynb",
        [
            "%load_ext jupyter_dockerbuild",
            f"%%dockerbuild -t {tag} --no-cache --network none\n"
            f"FROM {base_image}\n"
            "ENV GREETING=hello\n"
            "RUN for i in $(seq 1 40); do echo line-$i; sleep 0.1; done\n"
            "RUN echo done >&2\n",
        ],
    )
    run_all(page)
    live = page.locator(".jp-OutputArea-output .jdb-build")
    expect(live).to_be_visible(timeout=30_000)
    # Live: the progress bar, one row per step, and the running step's tail, in plain
    # HTML output (no widget: nothing that a saved notebook could not show).
    expect(live.locator(".jdb-bar")).to_be_attached()
    expect(live.locator(".jdb-step")).to_have_count(4, timeout=10_000)
    expect(live.locator(".jdb-title")).to_contain_text("Building")
    expect(live.locator(".jdb-tail")).to_contain_text("line-", timeout=20_000)
    expect(live).to_contain_text("interrupt the kernel to cancel")
    assert page.locator(".jupyter-widgets").count() == 0
    page.screenshot(path=str(SHOTS / "progress-running.png"))

    # Done: the same output became the static summary, with the image the daemon has.
    summary = page.locator(".jdb-build .jdb-title").filter(has_text="Built")
    expect(summary).to_be_visible(timeout=60_000)
    image_id = docker.get_json(f"/images/{tag}/json")["Id"]
    expect(summary).to_contain_text(image_id[:19])
    expect(page.locator(".jp-OutputArea-output .jdb-build")).to_have_count(1)
    build = page.locator(".jdb-build").last
    expect(build).to_contain_text(tag)
    expect(build.locator(".jdb-step.jdb-done")).to_have_count(4)
    # Shell text stays literal (JupyterLab would typeset "$...$" as LaTeX otherwise).
    expect(build).to_contain_text("RUN for i in $(seq 1 40); do echo line-$i; sleep 0.1; done")
    log = build.locator("details.jdb-log")
    assert log.get_attribute("open") is None  # collapsed on success
    page.screenshot(path=str(SHOTS / "progress-done.png"))


def test_failed_build_points_at_cell_line(open_notebook, base_image):
    page = open_notebook(
        "failing.ipynb",
        [
            "%load_ext jupyter_dockerbuild",
            "%%dockerbuild --no-cache --network none\n"
            f"FROM {base_image}\n"
            "RUN echo preparing\n"
            "RUN echo 'cannot find numpy==9.9' >&2 && exit 3\n",
        ],
    )
    run_all(page)
    title = page.locator(".jdb-build .jdb-title").filter(has_text="Failed")
    expect(title).to_be_visible(timeout=60_000)
    expect(title).to_contain_text("at step 3/3")
    build = page.locator(".jdb-build").last
    failed = build.locator(".jdb-step.jdb-failed")
    expect(failed).to_contain_text("cell line 4")
    expect(build.locator(".jdb-tail")).to_contain_text("cannot find numpy==9.9")
    assert build.locator("details.jdb-log").get_attribute("open") is not None
    # The cell itself failed: the summary says why, and JupyterLab shows the one-line
    # error pointing at it.
    expect(build).to_contain_text("non-zero code: 3")
    expect(
        page.locator(".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']")
    ).to_contain_text(re.compile(r"BuildError.*see the build's summary above"))
    page.screenshot(path=str(SHOTS / "progress-failed.png"))


def test_notebook_saved_mid_build_reopens_readable(
    open_notebook, lab_server, browser, base_image, tag_prefix
):
    tag = f"{tag_prefix}:mid"
    page = open_notebook(
        "midbuild.ipynb",
        [
            "%load_ext jupyter_dockerbuild",
            f"%%dockerbuild -t {tag} --no-cache --network none --out res\n"
            f"FROM {base_image}\n"
            # The markers are the step's output, not its text (the cell holds that).
            "RUN x=slow; echo begin-$x && sleep 8 && echo end-$x\n"
            "RUN echo after-slow\n",
            "res",
        ],
    )
    run_all(page)
    live = page.locator(".jp-OutputArea-output .jdb-build")
    expect(live.locator(".jdb-tail")).to_contain_text("begin-slow", timeout=30_000)

    # Save while the slow step runs, and keep that file as it is (autosave would later
    # write the finished state over it).
    page.locator(".jp-Notebook").first.click()
    page.keyboard.press("Control+s")
    path = lab_server.root_dir / "midbuild.ipynb"
    deadline = time.monotonic() + 15
    saved = ""
    while time.monotonic() < deadline:
        saved = path.read_text()
        if "begin-slow" in saved:
            break
        time.sleep(0.2)
    assert "begin-slow" in saved and "end-slow" not in saved, "not saved mid-build"
    (lab_server.root_dir / "midbuild-saved.ipynb").write_text(saved)
    outputs = nbformat.reads(saved, as_version=4).cells[1].outputs
    assert len(outputs) == 1 and outputs[0].output_type == "display_data"
    data = outputs[0].data
    # A static state: HTML and its text twin, no widget view.
    assert "application/vnd.jupyter.widget-view+json" not in data
    assert data["text/plain"].startswith("Building")
    assert "RUN x=slow; echo begin-$x" in data["text/plain"] and "begin-slow" in data["text/plain"]
    assert "jdb-step" in data["text/html"]

    # The build ends; the result, displayed, is the same HTML summary.
    summary = page.locator(".jdb-build .jdb-title").filter(has_text="Built")
    expect(summary).to_have_count(2, timeout=60_000)
    result = page.locator(".jp-Cell").nth(2).locator(".jp-OutputArea-output .jdb-build")
    expect(result.locator(".jdb-title")).to_contain_text("Built sha256:")
    expect(result.locator(".jdb-step.jdb-done")).to_have_count(3)
    expect(result.locator(".jdb-builder")).to_be_attached()
    expect(result.locator("details.jdb-log")).to_be_attached()
    # Not the plain-text repr in monospace with the 64-hex id.
    expect(page.locator(".jp-Cell").nth(2).locator("pre")).not_to_contain_text("Built sha256")

    # Reopened later, in a fresh page and kernel: the state it was saved in, readable.
    fresh = browser.new_context(viewport={"width": 1280, "height": 900})
    try:
        again = fresh.new_page()
        again.goto(lab_server.notebook_url("midbuild-saved.ipynb"))
        again.locator(".jp-Notebook").first.wait_for(timeout=30_000)
        # Its kernel is a new one: it has none of the old kernel's widget models.
        expect(again.locator("#jp-main-statusbar")).to_contain_text("| Idle", timeout=60_000)
        again.wait_for_timeout(2000)  # the widget manager settles on the new kernel
        build = again.locator(".jp-OutputArea-output .jdb-build")
        expect(build).to_have_count(1)
        expect(build.locator(".jdb-title")).to_contain_text("Building")
        steps = build.locator(".jdb-step")
        expect(steps).to_have_count(3)
        expect(steps.nth(1)).to_contain_text("RUN x=slow; echo begin-$x && sleep 8 && echo end-$x")
        expect(build.locator(".jdb-tail")).to_contain_text("begin-slow")
        body = again.locator(".jp-Notebook").first
        expect(body).not_to_contain_text("Error displaying widget")
        expect(body).not_to_contain_text("model not found")
        expect(body).not_to_contain_text("VBox(")
        again.screenshot(path=str(SHOTS / "progress-saved-mid-build.png"))
    finally:
        fresh.close()
