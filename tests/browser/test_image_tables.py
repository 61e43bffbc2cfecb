"""The history, compare and prune tables as a person sees them: JupyterLab, real daemon.

A real build whose RUN step is full of shell ``$`` is shown by ``%dockerbuild_history``,
``%dockerbuild_compare`` and ``%dockerbuild_prune --dry-run``. JupyterLab typesets
``$...$`` in HTML outputs with MathJax; a control output proves it does in this page, and
none of the package's tables may contain a typeset formula. At 1280 px with the file
browser open, the history table must fit the notebook (no column cut).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from jupyter_dockerbuild.engine.client import DockerClient, HTTPError

try:
    from playwright.sync_api import expect
except ImportError:  # the browser fixture skips or fails with the reason
    expect = None

pytestmark = [pytest.mark.browser, pytest.mark.daemon]

SHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
SHELL_RUN = 'RUN for i in $(seq 1 40); do b="$b#"; done; echo "$b" > /bar'
#: What a maths renderer leaves behind: MathJax 3, MathJax 2, KaTeX.
MATH = "mjx-container, .MathJax, .MathJax_Preview, .katex, math"


def run_all(page):
    page.locator(".jp-Notebook .jp-Cell").first.click()
    page.get_by_text("Run", exact=True).first.click()
    page.get_by_text("Run All Cells", exact=True).click()


@pytest.fixture
def scope(docker: DockerClient) -> Iterator[str]:
    """A label unique to the test; containers and images carrying it are removed after."""
    label = f"org.jupyter-dockerbuild.test-scope={uuid.uuid4().hex[:12]}"
    yield label
    filters = json.dumps({"label": [label]})
    for c in docker.get_json("/containers/json", params={"all": "1", "filters": filters}):
        try:
            docker.delete(f"/containers/{c['Id']}", params={"force": "1"})
        except HTTPError:
            pass


def test_tables_are_never_typeset_as_maths(open_notebook, base_image, tag_prefix, scope):
    key, _, value = scope.partition("=")
    tag = f"{tag_prefix}:shell"
    page = open_notebook(
        "tables.ipynb",
        [
            "%load_ext jupyter_dockerbuild",
            # The control: the same page does typeset maths in an HTML output.
            "from IPython.display import HTML\nHTML('<p class=\"control\">$x^2 + 1$</p>')",
            # rm=false leaves the step containers, so prune lists the shell command too.
            f"%%dockerbuild -t {tag} --no-cache --network none --rm=false\n"
            f"FROM {base_image}\n"
            f'LABEL {key}="{value}"\n'
            f"{SHELL_RUN}\n",
            f"%dockerbuild_history {tag}",
            f"%dockerbuild_compare {base_image} {tag}",
            f"%dockerbuild_prune --dry-run --no-build-cache --no-dangling --label {scope}",
        ],
    )
    run_all(page)
    control = page.locator(".jp-OutputArea-output .control")
    expect(control.locator("mjx-container")).to_have_count(1, timeout=60_000)

    tables = {
        "history": page.locator(".jupyter-dockerbuild-history"),
        "compare": page.locator(".jupyter-dockerbuild-compare"),
        "prune": page.locator(".jupyter-dockerbuild-prune"),
    }
    for name, table in tables.items():
        expect(table, f"the {name} table").to_be_visible(timeout=60_000)
    history, compare, prune = tables.values()
    expect(history).to_contain_text(SHELL_RUN)
    expect(compare).to_contain_text(SHELL_RUN)
    expect(prune).to_contain_text("for i in $(seq 1 40)")
    # MathJax typesets once an output is attached; give it the time it took the control.
    page.wait_for_timeout(1500)
    for name, table in tables.items():
        found = table.locator(MATH)
        assert found.count() == 0, f"the {name} table was typeset: {found.first.inner_html()}"


# For each table: how far its widest part reaches past what the output area shows.
OVERFLOW_JS = """
(root) => {
  const output = root.closest('.jp-OutputArea-output');
  const limit = Math.min(output.getBoundingClientRect().right, window.innerWidth);
  const cells = [...root.querySelectorAll('th, td')];
  const right = Math.max(...cells.map(c => c.getBoundingClientRect().right));
  return {overflow: right - limit, scroll: output.scrollWidth - output.clientWidth};
}
"""


def test_tables_fit_1280px_with_the_file_browser_open(open_notebook, base_image, tag_prefix, scope):
    key, _, value = scope.partition("=")
    tag = f"{tag_prefix}:wide"
    long_run = "RUN " + " && ".join(f"echo step-{i}-of-a-long-command > /f{i}" for i in range(8))
    page = open_notebook(
        "wide.ipynb",
        [
            "%load_ext jupyter_dockerbuild",
            f"%%dockerbuild -t {tag} --no-cache --network none --rm=false\n"
            f"FROM {base_image}\n"
            f'LABEL {key}="{value}"\n'
            # One long unbroken word (like the base image's ENV PATH=...).
            f"ENV TOOLS=/opt/{'/'.join(f'tool-{i}' for i in range(12))}\n"
            f"{long_run}\n",
            f"%dockerbuild_history {tag}",
            f"%dockerbuild_compare {base_image} {tag}",
            f"%dockerbuild_prune --dry-run --no-build-cache --no-dangling --label {scope}",
        ],
    )
    assert page.viewport_size == {"width": 1280, "height": 900}
    # JupyterLab opens with the file browser shown in the left sidebar.
    expect(page.locator(".jp-FileBrowser")).to_be_visible()
    run_all(page)
    tables = {
        "history": page.locator(".jupyter-dockerbuild-history"),
        "compare": page.locator(".jupyter-dockerbuild-compare"),
        "prune": page.locator(".jupyter-dockerbuild-prune"),
    }
    for name, table in tables.items():
        expect(table, f"the {name} table").to_be_visible(timeout=60_000)
    expect(tables["history"].locator("th").last).to_have_text("created (UTC)")
    for name, table in tables.items():
        fit = table.evaluate(OVERFLOW_JS)
        assert fit["overflow"] <= 0 and fit["scroll"] <= 0, f"the {name} table is cut: {fit}"
    history = tables["history"]
    history.scroll_into_view_if_needed()
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / "history-1280.png"))
