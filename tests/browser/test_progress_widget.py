"""The progress view as a person sees it: JupyterLab in headless Chromium, real daemon.

A ``%%dockerbuild`` cell is run from the Run menu; while it builds, the widget shows the
progress bar, the step rows and the live tail; at the end the static summary shows the
image id the daemon really tagged. A failing build shows the failed step, its cell line
and the open log. Screenshots go to ``docs/screenshots/`` for the README.
"""

from __future__ import annotations

import re
from pathlib import Path

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
    widget = page.locator(".jdb-widget")
    expect(widget).to_be_visible(timeout=30_000)
    # Live: the progress bar, one row per step, and the running step's tail.
    expect(widget.locator(".progress-bar")).to_be_attached()
    expect(widget.locator(".jdb-step")).to_have_count(4, timeout=10_000)
    expect(widget.locator(".jdb-title")).to_contain_text("Building")
    expect(widget.locator(".jdb-tail")).to_contain_text("line-", timeout=20_000)
    page.screenshot(path=str(SHOTS / "progress-running.png"))

    # Done: the static summary replaces the widget, with the image the daemon has.
    summary = page.locator(".jdb-build .jdb-title").filter(has_text="Built")
    expect(summary).to_be_visible(timeout=60_000)
    image_id = docker.get_json(f"/images/{tag}/json")["Id"]
    expect(summary).to_contain_text(image_id[:19])
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
    # The cell itself failed: JupyterLab shows the one-line error.
    expect(
        page.locator(".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']")
    ).to_contain_text(re.compile(r"BuildError.*non-zero code: 3"))
    page.screenshot(path=str(SHOTS / "progress-failed.png"))
