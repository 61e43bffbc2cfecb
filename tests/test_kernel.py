"""``%%dockerbuild`` in a real kernel (jupyter_client): the live view's display updates,
the message budget under a flood of output, interrupt cancelling the build on the daemon
(and ``--out`` keeping the cancelled result), and no widget left behind by builds.
"""

from __future__ import annotations

import json
import re
import threading
import time

import pytest
from jupyter_client.manager import start_new_kernel
from kernelutil import execute

pytestmark = [pytest.mark.kernel, pytest.mark.daemon]


@pytest.fixture(scope="module")
def kernel(base_image):
    km, kc = start_new_kernel(kernel_name="python3")
    try:
        run(kc, "%load_ext jupyter_dockerbuild")
        yield km, kc
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)


def run(kc, code, *, timeout=120):
    """Execute ``code``; return (reply content, [(t, iopub msg)]) with arrival times."""
    return execute(kc, code, timeout=timeout)


WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"


def display_updates(messages):
    """(t, msg) of the live view's output: its first display and every update in place."""
    return [
        (t, m)
        for t, m in messages
        if m["msg_type"] in ("display_data", "update_display_data")
        and "jdb-build" in m["content"]["data"].get("text/html", "")
    ]


def final_html(messages):
    updates = [m for _, m in messages if m["msg_type"] == "update_display_data"]
    assert updates, "the live view was not turned into a static summary"
    return updates[-1]["content"]["data"]["text/html"]


def test_widget_updates_arrive_while_building(kernel, base_image):
    _km, kc = kernel
    reply, messages = run(
        kc,
        "%%dockerbuild --no-cache --network none\n"
        f"FROM {base_image}\n"
        "RUN for i in $(seq 1 20); do echo tick-$i; sleep 0.1; done\n",
    )
    assert reply["status"] == "ok"
    end = messages[-1][0]
    updates = display_updates(messages)
    # Updates came during the build (not all at the end) and showed the live tail.
    early = [t for t, _ in updates if t < end - 1.0]
    assert len(early) >= 5, [round(t, 2) for t, _ in updates]
    live = [m["content"]["data"] for _, m in updates]
    assert any("tick-" in d["text/html"] and "Building" in d["text/html"] for d in live)
    # One output, updated in place (one display id), with the running step's tail.
    ids = {m["content"]["transient"]["display_id"] for _, m in updates}
    assert len(ids) == 1, ids
    assert updates[0][1]["msg_type"] == "display_data"
    assert all(m["msg_type"] == "update_display_data" for _, m in updates[1:])
    # Saved at any moment, the output is readable without a kernel: HTML and a text
    # twin, never a widget view (whose model is gone once the kernel is).
    assert not any(WIDGET_VIEW in d for d in live)
    assert not any(m["msg_type"] == "comm_open" for _, m in messages)
    running = [d["text/plain"] for d in live[:-1]]
    assert running and all(t.startswith("Building") for t in running), running[:2]
    assert any(" ▶  2 RUN for i in" in t and "tick-" in t for t in running)
    assert "VBox" not in json.dumps(live)
    html = final_html(messages)
    assert "Built sha256:" in html and "jdb-step" in html
    # The static summary has a text form for saved notebooks and nbconvert.
    last = [m for _, m in messages if m["msg_type"] == "update_display_data"][-1]
    assert last["content"]["data"]["text/plain"].startswith("Built sha256:")


def test_output_flood_stays_within_message_budget(kernel, base_image):
    _km, kc = kernel
    reply, messages = run(
        kc,
        f"%%dockerbuild --no-cache --network none\nFROM {base_image}\nRUN seq 1 1000000\n",
        timeout=300,
    )
    assert reply["status"] == "ok"
    updates = display_updates(messages)
    duration = max(messages[-1][0], 1.0)
    rate = len(updates) / duration
    sent = sum(len(json.dumps(m["content"])) for _, m in messages)
    assert rate <= 30, f"{len(updates)} display updates in {duration:.1f}s"
    # The tail is sent, never the whole log: 1M lines (6.9 MB) must not be resent.
    assert sent < 3_000_000, f"{sent} bytes sent to the frontend"
    assert "1000000" in final_html(messages)  # the last line is in the summary's log


def test_interrupt_cancels_build_on_daemon(kernel, docker, base_image):
    km, kc = kernel
    before = {c["Id"] for c in docker.containers(all=True)}
    # Interrupt (the ■ button) from a timer thread while the cell is running.
    timer = threading.Timer(4.0, km.interrupt_kernel)
    timer.start()
    reply, messages = run(
        kc,
        "%%dockerbuild --no-cache --network none --out interrupted\n"
        f"FROM {base_image}\nRUN echo start-sleep && sleep 120\n",
    )
    timer.join()
    end = messages[-1][0]
    # The cell fails (Run All stops) with one short line, not a traceback.
    assert reply["status"] == "error" and reply["ename"] == "BuildCancelled"
    assert len(reply["traceback"]) == 1 and "interrupted" in reply["traceback"][0]
    assert end < 4.0 + 2.5, f"cell took {end:.1f}s to end after the interrupt"
    assert "Cancelled after" in final_html(messages)
    # The daemon killed and removed the build container: nothing new is left.
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        new = [c for c in docker.containers(all=True) if c["Id"] not in before]
        if not new:
            break
        time.sleep(0.2)
    assert not new, [(c["Id"][:12], c["Status"]) for c in new]
    # --out kept the cancelled build's result: its steps and the log so far.
    kept = kernel_json(
        kc,
        "{'status': interrupted.status, 'steps': [s.status for s in interrupted.steps], "
        "'log': interrupted.log, 'image': interrupted.image_id}",
    )
    assert kept["status"] == "cancelled" and kept["image"] is None, kept
    assert kept["steps"] == ["done", "cancelled"], kept
    assert "start-sleep" in kept["log"], kept
    # The kernel is still usable.
    reply, messages = run(kc, "print(6 * 7)")
    assert reply["status"] == "ok"
    assert any(m["msg_type"] == "stream" and "42" in m["content"]["text"] for _, m in messages)


def test_an_interrupted_python_build_carries_its_result(kernel, docker, base_image):
    km, kc = kernel
    before = {c["Id"] for c in docker.containers(all=True)}
    timer = threading.Timer(4.0, km.interrupt_kernel)
    timer.start()
    reply, _messages = run(
        kc,
        "import jupyter_dockerbuild as jd\n"
        "caught = None\n"
        "try:\n"
        f"    jd.build('FROM {base_image}\\nRUN echo py-sleep && sleep 120\\n',\n"
        "             no_cache=True, network='none')\n"
        "except KeyboardInterrupt as exc:\n"
        "    caught = exc\n",
    )
    timer.join()
    assert reply["status"] == "ok", reply
    kept = kernel_json(
        kc,
        "{'type': type(caught).__name__, 'status': caught.result.status, "
        "'steps': [s.status for s in caught.result.steps], 'log': caught.result.log}",
    )
    assert kept["type"] == "BuildInterrupted" and kept["status"] == "cancelled", kept
    assert kept["steps"] == ["done", "cancelled"] and "py-sleep" in kept["log"], kept
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        new = [c for c in docker.containers(all=True) if c["Id"] not in before]
        if not new:
            break
        time.sleep(0.2)
    assert not new, [(c["Id"][:12], c["Status"]) for c in new]


def kernel_json(kc, expression):
    """Evaluate ``expression`` in the kernel and return it through JSON."""
    reply, messages = run(kc, f"import json as _json; print(_json.dumps({expression}))")
    assert reply["status"] == "ok", reply
    text = "".join(m["content"]["text"] for _, m in messages if m["msg_type"] == "stream")
    return json.loads(text)


def test_tab_completion_through_the_kernel(kernel):
    _km, kc = kernel
    for code, expected in [
        ("%%dockerbuild --cpu-q", "--cpu-quota"),
        ("%%dockerbuild -t a:1\nFROM scratch\nWORK", "WORKDIR"),
    ]:
        msg_id = kc.complete(code, len(code))
        while True:
            reply = kc.get_shell_msg(timeout=30)
            if reply["parent_header"].get("msg_id") == msg_id:
                break
        assert expected in reply["content"]["matches"], reply["content"]


def complete_in_kernel(kc, code):
    msg_id = kc.complete(code, len(code))
    while True:
        reply = kc.get_shell_msg(timeout=30)
        if reply["parent_header"].get("msg_id") == msg_id:
            return reply["content"]


def test_tab_completion_in_a_cell_offers_docker_names_only(kernel, base_image):
    _km, kc = kernel
    cell = f"%%dockerbuild\nFROM {base_image} AS deps\nFROM {base_image}\n"
    reply = complete_in_kernel(kc, cell + "COPY --from=")
    # Was 334 Python names; the replaced range is what follows "=".
    assert reply["matches"] == ["deps"], reply
    assert reply["cursor_start"] == len(cell + "COPY --from=")
    # Nothing at all where Docker has nothing to offer (was "and", "if", "in" ...).
    assert complete_in_kernel(kc, cell + "RUN ech")["matches"] == []
    assert complete_in_kernel(kc, "%%dockerbuild -t ")["matches"] == []
    networks = complete_in_kernel(kc, "%%dockerbuild --network ")["matches"]
    assert {"default", "host", "none"} <= set(networks) and "and" not in networks
    assert base_image in complete_in_kernel(kc, "%dockerbuild_history loc")["matches"]


@pytest.mark.parametrize(
    ("cell", "ename"),
    [
        (
            "%%dockerbuild --builder classic\n"
            "FROM scratch\nRUN --mount=type=cache,target=/c true\n",
            "UnsupportedSyntax",
        ),
        # With BuildKit: syntax its built-in frontend cannot parse, before the build.
        pytest.param(
            "%%dockerbuild --builder buildkit\nFROM scratch\nCOPY --link a /a\n",
            "UnsupportedSyntax",
            marks=pytest.mark.engine(
                max_api="1.41", reason="Docker 20.10's BuildKit frontend has no COPY --link"
            ),
        ),
        ("%%dockerbuild -H ssh://nowhere\nFROM scratch\n", "DaemonUnavailable"),
        ("%%dockerbuild -H unix:///nonexistent/docker.sock\nFROM scratch\n", "DaemonUnavailable"),
    ],
)
def test_early_failures_leave_no_live_widget(kernel, cell, ename):
    _km, kc = kernel
    reply, messages = run(kc, cell)
    assert reply["status"] == "error" and reply["ename"] == ename, reply.get("evalue")
    # The widget painted at once was replaced by the failure, not left "Building...".
    assert "Failed after" in final_html(messages)


def test_builds_leave_no_widget_alive(kernel, base_image):
    """Each build used to leave ~7 widget models in the kernel (and the frontend)."""
    _km, kc = kernel
    count = (
        "len(__import__('ipywidgets').widgets.widget._instances)"
        " if hasattr(__import__('ipywidgets').widgets.widget, '_instances')"
        " else len(__import__('ipywidgets').Widget.widgets)"
    )
    counts = [kernel_json(kc, count)]
    comms = []
    for i in range(5):
        reply, messages = run(
            kc, f"%%dockerbuild --network none\nFROM {base_image}\nRUN echo leak-{i}\n"
        )
        assert reply["status"] == "ok", reply
        comms += [m["msg_type"] for _, m in messages if m["msg_type"].startswith("comm_")]
        counts.append(kernel_json(kc, count))
    assert counts == [counts[0]] * 6, counts
    # Nothing for the frontend to keep either: no widget model was opened.
    assert not comms, comms


def test_the_timer_moves_during_a_silent_step(kernel, base_image):
    """The heartbeat redraws from its own thread, into the cell that runs the build."""
    _km, kc = kernel
    reply, messages = run(
        kc,
        "%%dockerbuild --no-cache --network none\n"
        f"FROM {base_image}\nRUN echo quiet-now && sleep 3\n",
    )
    assert reply["status"] == "ok", reply
    # (execute() keeps only messages whose parent is this cell's request.)
    timers = [
        m["content"]["data"]["text/plain"].splitlines()[0]
        for _, m in display_updates(messages)
        if "quiet-now" in m["content"]["data"]["text/plain"]
    ]
    # While the step is silent for 3 s, about two redraws a second, each a new time.
    assert len(timers) >= 4 and len(set(timers)) == len(timers), timers


def test_a_displayed_result_is_the_html_summary(kernel, base_image):
    _km, kc = kernel
    reply, _ = run(
        kc,
        f"%%dockerbuild --no-cache --network none --out shown\nFROM {base_image}\nRUN echo shown\n",
    )
    assert reply["status"] == "ok", reply
    reply, messages = run(kc, "shown")
    assert reply["status"] == "ok", reply
    data = next(m["content"]["data"] for _, m in messages if m["msg_type"] == "execute_result")
    html = data["text/html"]
    assert re.search(r'class="jdb-title">Built sha256:[0-9a-f]{12} in ', html), html[:400]
    assert html.count('class="jdb-step jdb-done"') == 2 and "mathjax_ignore" in html
    assert data["text/plain"].startswith("Built sha256:")
