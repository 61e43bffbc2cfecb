r"""Progress bars redrawn with ``\r`` on the real daemon, through both builders.

pip, tqdm, curl and apt redraw one line with a carriage return; a terminal shows only
the last frame, and so must the live view (its tail, each redraw's size) and the log.
"""

from __future__ import annotations

import re
import time

import pytest

from jupyter_dockerbuild.builder.options import BuildOptions
from jupyter_dockerbuild.builder.pipeline import execute
from jupyter_dockerbuild.builder.state import BuildState
from jupyter_dockerbuild.ui.html import render_html

pytestmark = [pytest.mark.daemon, pytest.mark.usefixtures("no_leftover_containers")]

FRAMES = 2000
#: A frame as printed (the instruction itself says "Downloading %d").
FRAME_RE = re.compile(r"Downloading \d+/")


class RecordingView:
    """Renders the live HTML at every update, as the live view would (unthrottled)."""

    def __init__(self) -> None:
        self.renders: list[tuple[float, str]] = []
        self.final = ""

    def update(self, state: BuildState) -> None:
        self.renders.append((time.monotonic(), render_html(state)))

    def close(self, state: BuildState) -> None:
        self.final = render_html(state, final=True)


@pytest.mark.parametrize("builder", ["classic", "buildkit"])
def test_progress_bar_shows_its_last_frame(builder, base_image, tag_prefix):
    view = RecordingView()
    dockerfile = (
        f"FROM {base_image}\n"
        f"RUN i=0; while [ $i -lt {FRAMES} ]; do printf '\\rDownloading %d/{FRAMES}' $i;"
        " i=$((i+1)); done; sleep 2; echo\n"
    )
    options = BuildOptions.from_user(tags=[f"{tag_prefix}:bar"], no_cache=True, network="none")
    result = execute(dockerfile, options, view=view, builder=builder)
    assert result.ok and result.builder == builder
    last = f"Downloading {FRAMES - 1}/{FRAMES}"
    # The log has the bar once, as its last frame, like a terminal after the build.
    bar_lines = [line for line in result.log.splitlines() if FRAME_RE.search(line)]
    assert len(bar_lines) == 1 and bar_lines[0].endswith(last), bar_lines
    assert "\r" not in result.log
    # Every redraw stays a few KB (the 2000 frames are never resent), with one bar row.
    sizes = [len(html) for _, html in view.renders]
    assert max(sizes) < 6000, max(sizes)
    assert all(len(FRAME_RE.findall(html)) <= 1 for _, html in view.renders)
    # During the sleep the unfinished line shows its last frame in the tail.
    assert any(last in html and "jdb-tail" in html for _, html in view.renders)
    assert FRAME_RE.findall(view.final) == ["Downloading 1999/"]
