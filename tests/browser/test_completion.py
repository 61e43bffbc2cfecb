"""Tab completion in a %%dockerbuild cell, as a person gets it in JupyterLab."""

from __future__ import annotations

from pathlib import Path

import pytest

try:
    from playwright.sync_api import expect
except ImportError:  # the browser fixture skips or fails with the reason
    expect = None

pytestmark = pytest.mark.browser

SHOT = Path(__file__).resolve().parents[2] / "docs" / "screenshots" / "completion.png"


def test_tab_completes_flags_and_instructions(open_notebook):
    page = open_notebook("complete.ipynb", ["%load_ext jupyter_dockerbuild", ""])
    page.get_by_text("Run", exact=True).first.click()
    page.get_by_text("Run All Cells", exact=True).click()
    expect(page.locator(".jp-Notebook .jp-Cell").first).to_contain_text("[1]:")
    editor = page.locator(".jp-Notebook .jp-Cell").nth(1).locator(".cm-content")
    # The visible completer only: a closed one stays in the DOM, hidden, with old items.
    completer = page.locator(".jp-Completer:not(.lm-mod-hidden)")

    editor.click()
    page.keyboard.type("%%dockerbuild --mem")
    page.keyboard.press("Tab")
    expect(completer).to_be_visible(timeout=10_000)
    expect(completer.locator(".jp-Completer-item")).to_have_count(2)
    expect(completer).to_contain_text("--memory-swap")
    expect(completer).to_contain_text("flag")
    page.screenshot(path=str(SHOT))
    page.keyboard.press("ArrowDown")
    page.keyboard.press("Enter")  # accept --memory-swap
    expect(completer).to_be_hidden()
    expect(editor).to_contain_text("%%dockerbuild --memory-swap")

    page.keyboard.type(" -1")
    page.keyboard.press("Enter")
    page.keyboard.type("FROM scratch")
    page.keyboard.press("Enter")
    page.keyboard.type("WORK")
    page.keyboard.press("Tab")
    expect(completer).to_be_visible(timeout=10_000)
    expect(completer).to_contain_text("WORKDIR")
    expect(completer).to_contain_text("instruction")
    page.keyboard.press("Enter")
    expect(editor).to_contain_text("FROM scratchWORKDIR")
