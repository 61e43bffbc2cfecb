r"""A ``\r`` progress bar in a real kernel: every message to the frontend stays small.

The live view redraws the running step's tail; a bar redrawn 2000 times must reach the
frontend as its last frame, not as every frame at every redraw, and the final summary's
log has it once.
"""

from __future__ import annotations

import json
import re

import pytest
from jupyter_client.manager import start_new_kernel
from kernelutil import execute

pytestmark = [pytest.mark.kernel, pytest.mark.daemon]

FRAMES = 2000
FRAME_RE = re.compile(r"Downloading \d+/")


@pytest.fixture(scope="module")
def kernel(base_image):
    km, kc = start_new_kernel(kernel_name="python3")
    try:
        execute(kc, "%load_ext jupyter_dockerbuild")
        yield kc
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)


def _html_strings(value):
    """Every HTML string anywhere in a message's content (widget state or display data)."""
    if isinstance(value, dict):
        for key, item in value.items():
            if isinstance(item, str) and (key in ("text/html", "value") or "<div" in item):
                yield item
            else:
                yield from _html_strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _html_strings(item)


@pytest.mark.parametrize("builder", ["classic", "buildkit"])
def test_a_progress_bar_reaches_the_frontend_as_its_last_frame(
    kernel, base_image, tag_prefix, builder
):
    reply, messages = execute(
        kernel,
        # Tagged, so the fixture removes the image: nothing is left on a shared daemon.
        f"%%dockerbuild -t {tag_prefix}:bar --builder {builder} --no-cache --network none\n"
        f"FROM {base_image}\n"
        f"RUN i=0; while [ $i -lt {FRAMES} ]; do printf '\\rDownloading %d/{FRAMES}' $i;"
        " i=$((i+1)); done; sleep 2; echo\n",
        timeout=180,
    )
    assert reply["status"] == "ok", reply
    sizes = [len(json.dumps(m["content"])) for _, m in messages]
    # Before the fix one redraw of the classic build carried all 2000 frames (~45 KB).
    assert max(sizes) < 12_000, max(sizes)
    htmls = [h for _, m in messages for h in _html_strings(m["content"])]
    assert all(len(FRAME_RE.findall(h)) <= 1 for h in htmls)
    final = [h for h in htmls if "jdb-log" in h]
    assert final, "no final summary with its log"
    assert FRAME_RE.findall(final[-1]) == [f"Downloading {FRAMES - 1}/"]
