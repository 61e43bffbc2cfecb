"""The widget's HTML rendering, headless: escaping, colours, downloads, final form."""

from __future__ import annotations

from capture import load_capture

from jupyter_dockerbuild.builder.state import BuildState
from jupyter_dockerbuild.engine.stream import iter_events
from jupyter_dockerbuild.ui.html import ansi_to_html, render_html


def fold(name: str, dockerfile: str, upto: int | None = None) -> BuildState:
    state = BuildState(dockerfile, tags=("demo:1",))
    events = list(iter_events([load_capture(name).body]))
    state.apply_many(events[:upto])
    return state


def test_daemon_text_is_escaped_and_stderr_is_red():
    state = BuildState("FROM x\nRUN evil\n")
    state.apply({"stream": "Step 1/2 : FROM x"})
    state.apply({"stream": "\n"})
    state.apply({"stream": "Step 2/2 : RUN evil"})
    state.apply({"stream": "\n"})
    state.apply({"stream": "<script>alert(1)</script> & more\n"})
    state.apply({"stream": "\x1b[91m<b>oops</b>\n\x1b[0m"})
    html = render_html(state)
    assert "<script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt; &amp; more" in html
    assert '<span style="color:#d32f2f">&lt;b&gt;oops&lt;/b&gt;</span>' in html
    assert "\x1b" not in html


def test_ansi_colours_become_spans_and_unknown_codes_vanish():
    assert ansi_to_html("\x1b[32mok\x1b[0m \x1b[2Kx") == '<span style="color:#2e7d32;">ok</span> x'
    assert ansi_to_html("a<b") == "a&lt;b"


def test_download_progress_has_an_aggregate_bar():
    state = fold("s14_add_url_progress_status", "FROM x\nADD http://x/b /b\nRUN ls\n", upto=6)
    html = render_html(state)
    assert 'class="jdb-downloads"' in html and "221KiB / 19.1MiB" in html


def test_final_form_collapses_the_log_on_success_and_opens_it_on_failure():
    ok = fold("s01_success_multistep", "FROM scratch\n")
    ok.finish()
    html = render_html(ok, final=True)
    assert "Built sha256:de593cde475b" in html and '<details class="jdb-log" ' in html
    assert "mathjax_ignore" in html  # JupyterLab must not typeset "$VAR ... $" as LaTeX
    failed = fold("s02_run_exit3", "FROM x\nRUN a\nRUN b\nRUN c\n")
    failed.finish()
    html = render_html(failed, final=True)
    assert '<details class="jdb-log" open' in html
    assert "Failed after" in html and "exit code 3" in html and "cell line" not in html
