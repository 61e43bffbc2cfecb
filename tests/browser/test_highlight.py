"""The JupyterLab extension highlights ``%%dockerbuild`` cells as Dockerfiles.

Checked in a real JupyterLab in headless Chromium: the rendered CodeMirror DOM of each
cell, not the extension's internals. No cell is executed, so no Docker daemon is needed.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

try:
    from playwright.sync_api import expect
except ImportError:  # the `browser` fixture skips, or fails where browsers are required
    expect = None

if TYPE_CHECKING:
    from playwright.sync_api import Locator, Page

    from tests.browser.conftest import LabServer

pytestmark = pytest.mark.browser

REPO = Path(__file__).resolve().parents[2]
SCREENSHOT = REPO / "docs" / "screenshots" / "highlight.png"
#: What `npm run build` in js/ (or pip install -e .) writes; the conftest serves it.
BUILT_EXTENSION = REPO / "jupyter_dockerbuild" / "labextension"

DOCKER_CELL = """\
%%dockerbuild -t demo:1 --build-arg BASE=debian:12 --no-cache
# A comment
ARG BASE
FROM $BASE AS build
RUN apt-get update && apt-get install -y curl
COPY . /src
CMD ["bash"]"""

PYTHON_CELL = """\
FROM = 1
RUN = FROM + 1
print(f"{FROM=} {RUN=}")"""

# The style of the text node holding `word` in the editor of cell `index`. The probe
# resolves the theme's keyword colour to the same rgb() form as computed colours.
TOKEN_STYLE_JS = """
([index, word]) => {
  const cell = document.querySelectorAll('.jp-Notebook .jp-Cell')[index];
  const content = cell.querySelector('.cm-content');
  const walker = document.createTreeWalker(content, NodeFilter.SHOW_TEXT);
  const probe = document.createElement('span');
  probe.style.color = 'var(--jp-mirror-editor-keyword-color)';
  document.body.appendChild(probe);
  const keywordColor = getComputedStyle(probe).color;
  probe.remove();
  const wordRe = new RegExp('(^|\\\\W)' + word + '(\\\\W|$)');
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    if (wordRe.test(node.data)) {
      const el = node.parentElement;
      const style = getComputedStyle(el);
      return {
        text: node.data,
        className: el.className,
        color: style.color,
        fontWeight: style.fontWeight,
        keywordColor,
        language: content.dataset.language ?? null,
      };
    }
  }
  return {text: null, language: content.dataset.language ?? null, keywordColor};
}
"""


def token_style(page: Page, cell: int, word: str) -> dict[str, Any]:
    """Computed style of ``word`` in the editor of notebook cell ``cell``."""
    return dict(page.evaluate(TOKEN_STYLE_JS, [cell, word]))


def is_keyword(style: dict[str, Any]) -> bool:
    """Whether a token carries the editor theme's keyword styling."""
    return style["color"] == style["keywordColor"] and int(style["fontWeight"]) >= 600


def cell_editor(page: Page, index: int) -> Locator:
    return page.locator(".jp-Notebook .jp-Cell").nth(index).locator(".cm-content")


def wait_for_token(page: Page, index: int, word: str, keyword: bool) -> None:
    """Wait until ``word`` in cell ``index`` is (or is not) styled as a keyword.

    Languages load asynchronously, so the styling settles a little after a change.
    """
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    check = f"""([i, w, k]) => {{
      const s = ({TOKEN_STYLE_JS})([i, w]);
      return s.text !== null
        && (s.color === s.keywordColor && Number(s.fontWeight) >= 600) === k;
    }}"""
    try:
        page.wait_for_function(check, arg=[index, word, keyword], timeout=15_000)
    except PlaywrightTimeout:
        style = token_style(page, index, word)
        kind = "a keyword" if keyword else "plain"
        raise AssertionError(f"{word} in cell {index} is not {kind}: {style}") from None


def assert_dockerfile_cell(page: Page, index: int) -> None:
    for word in ("FROM", "RUN"):
        wait_for_token(page, index, word, keyword=True)
    # Still so a moment later: no late language load switched it back.
    page.wait_for_timeout(300)
    for word in ("FROM", "RUN"):
        style = token_style(page, index, word)
        assert is_keyword(style), f"{word} in cell {index} is not a keyword: {style}"
    # The Dockerfile (legacy) mode sets no data-language; Python does.
    assert style["language"] is None, style


def assert_python_cell(page: Page, index: int) -> None:
    expect(cell_editor(page, index)).to_have_attribute("data-language", "python")
    wait_for_token(page, index, "FROM", keyword=False)


def restart_kernel(page: Page) -> None:
    page.locator(".lm-MenuBar-itemLabel", has_text="Kernel").click()
    page.locator(".lm-Menu-itemLabel", has_text="Restart Kernel…").first.click()
    page.locator(".jp-Dialog-button.jp-mod-accept").click()
    expect(page.locator(".jp-Dialog")).to_have_count(0)
    expect(page.locator("#jp-main-statusbar")).to_contain_text("| Idle", timeout=60_000)


def test_extension_is_served(lab_server: LabServer) -> None:
    assert "jupyter-dockerbuild" in lab_server.federated_extensions(), (
        "the jupyter-dockerbuild labextension is not installed in this environment: "
        "pip install -e . (builds js/ with npm)"
    )
    # And it is this checkout's build, not another tree's the environment points at.
    built = BUILT_EXTENSION / "package.json"
    if built.exists():
        served = next(
            e
            for e in lab_server.page_config()["federated_extensions"]
            if e["name"] == "jupyter-dockerbuild"
        )
        assert served["load"] == json.loads(built.read_text())["jupyterlab"]["_build"]["load"]


def test_dockerbuild_cells_highlight_as_dockerfile(
    open_notebook: Callable[..., Page],
) -> None:
    page = open_notebook("highlight.ipynb", [DOCKER_CELL, PYTHON_CELL])

    # Opened from disk, after the kernel's language_info reset every cell's mimetype.
    assert_dockerfile_cell(page, 0)
    assert_python_cell(page, 1)

    # The magic line stays readable: magic name and flags are told apart.
    magic = cell_editor(page, 0).locator(".cm-dockerbuild-magic")
    expect(magic).to_have_text("%%dockerbuild")
    flags = cell_editor(page, 0).locator(".cm-dockerbuild-flag")
    expect(flags).to_have_text(["-t", "--build-arg", "--no-cache"])

    # Typed live into a fresh cell.
    cell_editor(page, 1).click()
    page.keyboard.press("Escape")
    page.keyboard.press("b")
    page.keyboard.press("Enter")
    page.keyboard.type('%%dockerbuild -t typed:1 --build-arg=A=1 --label "a b" {tag}')
    page.keyboard.press("Enter")
    page.keyboard.type("FROM scratch\nRUN true")
    assert_dockerfile_cell(page, 2)
    typed = cell_editor(page, 2)
    expect(typed.locator(".cm-dockerbuild-flag")).to_have_text(["-t", "--build-arg", "--label"])
    expect(typed.locator(".cm-dockerbuild-value")).to_have_text(["typed:1", "A=1"])
    expect(typed.locator(".cm-dockerbuild-string")).to_have_text(['"a b"'])
    expect(typed.locator(".cm-dockerbuild-variable")).to_have_text(["{tag}"])

    # Removing the magic turns it back into Python.
    page.keyboard.press("Control+Home")
    page.keyboard.press("Shift+End")
    page.keyboard.type("FROM = 2")
    assert_python_cell(page, 2)

    # And back again.
    page.keyboard.press("Control+Home")
    page.keyboard.press("Shift+End")
    page.keyboard.type("%%dockerbuild")
    assert_dockerfile_cell(page, 2)

    # A kernel restart leaves every cell as it was.
    restart_kernel(page)
    assert_dockerfile_cell(page, 0)
    assert_python_cell(page, 1)
    assert_dockerfile_cell(page, 2)

    cell_editor(page, 0).click()
    page.keyboard.press("Escape")
    SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    panel = page.locator(".jp-NotebookPanel").first.bounding_box()
    last = page.locator(".jp-Notebook .jp-Cell").last.bounding_box()
    assert panel and last
    clip = {**panel, "height": last["y"] + last["height"] + 12 - panel["y"]}
    page.screenshot(path=str(SCREENSHOT), clip=clip)


def test_notebook_saved_by_jupyterlab_reopened(
    lab_server: LabServer, open_notebook: Callable[..., Page]
) -> None:
    # Saved by JupyterLab itself, its metadata holds the kernel's language_info
    # (codemirror_mode ipython, the kernel's own version): on reopening, the notebook
    # sets the ipython mimetype only once, and nothing from the kernel changes it again.
    page = open_notebook("saved.ipynb", [DOCKER_CELL, PYTHON_CELL])
    assert_dockerfile_cell(page, 0)
    cell_editor(page, 1).click()
    page.keyboard.press("Escape")
    page.keyboard.press("Control+s")
    path = lab_server.root_dir / "saved.ipynb"
    deadline = time.monotonic() + 15
    while "language_info" not in json.loads(path.read_text())["metadata"]:
        assert time.monotonic() < deadline, "JupyterLab did not save the notebook"
        time.sleep(0.2)
    info = json.loads(path.read_text())["metadata"]["language_info"]
    assert info["codemirror_mode"]["name"] == "ipython", info

    # Reopened with its kernel still running (the usual case), then with a new kernel.
    for attempt in range(5):
        if attempt == 4:
            for session in lab_server.request("api/sessions"):
                lab_server.request(f"api/sessions/{session['id']}", method="DELETE")
        page.goto(lab_server.notebook_url("saved.ipynb"))
        page.locator(".jp-Notebook").first.wait_for(timeout=30_000)
        expect(page.locator("#jp-main-statusbar")).to_contain_text("| Idle", timeout=60_000)
        try:
            assert_dockerfile_cell(page, 0)
            assert_python_cell(page, 1)
        except AssertionError as exc:
            raise AssertionError(f"reopen {attempt + 1}: {exc}") from None

    # A cell added later, typed into and pasted into.
    cell_editor(page, 1).click()
    page.keyboard.press("Escape")
    page.keyboard.press("b")
    page.keyboard.press("Enter")
    page.keyboard.type("%%dockerbuild -t later:1\nFROM scratch\nRUN true")
    assert_dockerfile_cell(page, 2)
    page.keyboard.press("Escape")
    page.keyboard.press("b")
    page.keyboard.press("Enter")
    page.keyboard.type("FROM = 3")
    assert_python_cell(page, 3)
