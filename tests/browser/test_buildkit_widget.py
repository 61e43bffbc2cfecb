"""The live progress view during a BuildKit build, as a person sees it in JupyterLab.

Two stages run at once: both rows show as running, each with its own timer and its own
tail, under a ``Building 12.3s (5/8)`` header that names BuildKit; at the end the
static summary shows the image the daemon tagged, and a failing step its cell line.
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


def test_buildkit_widget_shows_parallel_steps_then_the_summary(
    open_notebook, docker, base_image, tag_prefix
):
    tag = f"{tag_prefix}:bk"
    page = open_notebook(
        "buildkit-progress.ipynb",
        [
            "%load_ext jupyter_dockerbuild",
            f"%%dockerbuild --builder buildkit -t {tag} --no-cache\n"
            f"FROM {base_image} AS left\n"
            "RUN for i in $(seq 1 60); do echo left-$i; sleep 0.1; done\n"
            f"FROM {base_image} AS right\n"
            "RUN for i in $(seq 1 60); do echo right-$i; sleep 0.1; done\n"
            f"FROM {base_image}\n"
            "COPY --from=left /bin/busybox /l\n"
            "COPY --from=right /bin/busybox /r\n",
        ],
    )
    run_all(page)
    live = page.locator(".jp-OutputArea-output .jdb-build")
    expect(live).to_be_visible(timeout=30_000)
    expect(live.locator(".jdb-builder")).to_have_text("BuildKit")
    expect(live.locator(".jdb-title")).to_have_text(
        re.compile(r"Building \d+\.\ds \(\d+/\d+\)"), timeout=20_000
    )
    # Both stages run: two running rows, each followed by its own tail.
    running = live.locator(".jdb-step.jdb-running")
    expect(running).to_have_count(2, timeout=20_000)
    tails = live.locator(".jdb-step.jdb-running + .jdb-tail")
    expect(tails).to_have_count(2, timeout=10_000)
    expect(tails.filter(has_text=re.compile(r"left-\d+"))).to_have_count(1)
    expect(tails.filter(has_text=re.compile(r"right-\d+"))).to_have_count(1)
    # Each running row has its own timer, and it moves.
    first = running.first.locator("span").last.inner_text()
    page.wait_for_timeout(1200)
    if running.count() == 2:
        assert running.first.locator("span").last.inner_text() != first
    page.screenshot(path=str(SHOTS / "progress-buildkit-running.png"))

    summary = page.locator(".jdb-build .jdb-title").filter(has_text="Built")
    expect(summary).to_be_visible(timeout=60_000)
    image_id = docker.get_json(f"/images/{tag}/json")["Id"]
    expect(summary).to_contain_text(image_id[:19])
    build = page.locator(".jdb-build").last
    expect(build.locator(".jdb-builder")).to_have_text("BuildKit")
    expect(build.locator(".jdb-step.jdb-running")).to_have_count(0)
    page.screenshot(path=str(SHOTS / "progress-buildkit-done.png"))


def test_buildkit_failure_points_at_the_cell_line(open_notebook, base_image):
    page = open_notebook(
        "buildkit-failing.ipynb",
        [
            "%load_ext jupyter_dockerbuild",
            "%%dockerbuild --builder buildkit --no-cache\n"
            f"FROM {base_image} AS deps\n"
            "RUN echo 'cannot find numpy==9.9' >&2 && exit 3\n"
            f"FROM {base_image}\n"
            "COPY --from=deps /bin/busybox /b\n",
        ],
    )
    run_all(page)
    title = page.locator(".jdb-build .jdb-title").filter(has_text="Failed")
    expect(title).to_be_visible(timeout=60_000)
    build = page.locator(".jdb-build").last
    failed = build.locator(".jdb-step.jdb-failed")
    expect(failed).to_contain_text("[deps 2/2] RUN")
    expect(failed).to_contain_text("cell line 3")
    expect(build.locator(".jdb-tail")).to_contain_text("cannot find numpy==9.9")
    # The summary says why, once; the cell's error line points at it.
    expect(build).to_contain_text(re.compile(r"cell line 3.*exit code 3"))
    expect(
        page.locator(".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']")
    ).to_contain_text(re.compile(r"BuildError.*see the build's summary above"))
