"""A build result, displayed in a notebook: the same HTML summary its live view ended with.

IPython's HTML formatter gets a printer for ``BuildResult`` when the extension is loaded
and when the package is imported inside IPython (the result's own layer may not reach
the UI layer); the HTML is the final summary, escaped and never typeset as maths.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from capture import FakeClock, events, reconstruct_dockerfile

from jupyter_dockerbuild.builder.result import BuildResult, StepResult
from jupyter_dockerbuild.builder.state import BuildState
from jupyter_dockerbuild.ui.html import render_html, render_result

REPO = Path(__file__).resolve().parents[1]
S01_ID = "sha256:de593cde475b2459f19b925e821b8e41d463baec11f33a53fe851f68853863fb"


def fold(name: str, *, tags: tuple[str, ...] = ()) -> BuildState:
    clock = FakeClock()
    dockerfile, _ = reconstruct_dockerfile(name, ())
    state = BuildState(dockerfile, clock=clock, line_offset=1, tags=tags)
    for i, event in enumerate(events(name)):
        clock.t = 101.0 + i
        state.apply(event)
    clock.t += 1
    state.finish()
    return state


def _title(html: str) -> str:
    found = re.search(r'class="jdb-title">(.*?)</span>', html)
    assert found, html[:300]
    return found.group(1)


def test_a_displayed_result_is_the_html_summary(ipshell):
    state = fold("s01_success_multistep", tags=("probe-base:latest", "probe-base:1"))
    result = state.result()
    data, _meta = ipshell.display_formatter.format(result)
    html = data["text/html"]
    # The live view's final summary, exactly (same snapshot of the same instant).
    assert html == render_html(state, final=True, cancel_hint=None)
    # The 19-character id, not the 64-hex one; the tags set apart, not wrapped text.
    assert _title(html) == "Built sha256:de593cde475b in 37.0s"
    assert '<code style="padding:0 .3em">probe-base:1</code>' in html
    assert html.count('class="jdb-step ') == 7 and '<details class="jdb-log"' in html
    assert "mathjax_ignore" in html and "tex2jax_ignore" in html  # "$VAR" stays literal
    # The text form stays the plain summary (nbconvert to text, terminals).
    assert data["text/plain"].startswith(f"Built {S01_ID}")


def test_a_failed_result_shows_the_failed_steps_output():
    state = fold("s02_run_exit3")
    result = state.result()
    html = render_result(result)
    assert _title(html).startswith("Failed after") and "exit code 3" in html
    # The failed step's last lines, which the result keeps from its final state.
    tail = re.search(r'<pre class="jdb-tail".*?</pre>', html, re.DOTALL)
    assert tail and "err msg" in tail.group(0)
    assert '<details class="jdb-log" open' in html


def test_a_result_made_by_hand_displays_from_its_fields():
    result = BuildResult(
        status="cancelled",
        image_id=None,
        tags=("x:1",),
        steps=(
            StepResult(1, "FROM scratch", 1, "done", False, 0.1),
            StepResult(2, "RUN echo $HOME", 2, "cancelled", False, 2.0),
        ),
        warnings=(),
        unused_build_args=(),
        log="Step 1/2 : FROM scratch\n",
        elapsed=2.5,
    )
    html = render_result(result)
    assert _title(html) == "Cancelled after 2.5s"
    assert "RUN echo $HOME" in html and "mathjax_ignore" in html
    assert 'class="jdb-step jdb-cancelled"' in html


def test_importing_the_package_inside_ipython_registers_the_display():
    # A fresh IPython, no %load_ext: jd.build()'s results display as HTML too. A plain
    # Python import does not load IPython for it.
    code = (
        "import sys\n"
        "import jupyter_dockerbuild\n"
        "print('IPython' in sys.modules)\n"
        "from IPython.core.interactiveshell import InteractiveShell\n"
        "shell = InteractiveShell.instance()\n"
        "import importlib; importlib.reload(jupyter_dockerbuild)\n"
        "from jupyter_dockerbuild.builder.state import BuildState\n"
        "s = BuildState('FROM scratch\\n'); s.cancel()\n"
        "data, _ = shell.display_formatter.format(s.result())\n"
        "print('jdb-build' in data.get('text/html', ''))\n"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    assert out.stdout.split() == ["False", "True"], out.stderr
