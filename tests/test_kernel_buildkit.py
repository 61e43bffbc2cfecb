"""``%%dockerbuild --builder buildkit`` in a real kernel (jupyter_client).

The live view shows every running vertex with its own timer and tail and the
``Building 12.3s (5/8)`` header; a flood of output stays inside the frontend message
budget of the classic build (BuildKit clips it, and the view says so); an interrupt
ends the build within about a second and the step's process is gone from the host.
"""

from __future__ import annotations

import json
import random
import re
import threading
import time
import uuid
from pathlib import Path

import pytest
from jupyter_client.manager import start_new_kernel
from kernelutil import execute

pytestmark = [pytest.mark.kernel, pytest.mark.daemon]


@pytest.fixture(scope="module")
def kernel(base_image):
    km, kc = start_new_kernel(kernel_name="python3")
    try:
        execute(kc, "%load_ext jupyter_dockerbuild")
        yield km, kc
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)


def display_updates(messages) -> list[tuple[float, dict]]:
    """(time, msg) of the live view's output: its first display and each update in place."""
    return [
        (t, m)
        for t, m in messages
        if m["msg_type"] in ("display_data", "update_display_data")
        and "jdb-build" in m["content"]["data"].get("text/html", "")
    ]


def live_values(messages) -> list[tuple[float, str]]:
    """(time, HTML) of every redraw of the live view (each one changed the HTML)."""
    return [(t, m["content"]["data"]["text/html"]) for t, m in display_updates(messages)]


def final_html(messages) -> str:
    updates = [m for _, m in messages if m["msg_type"] == "update_display_data"]
    assert updates, "the live view was not turned into a static summary"
    return updates[-1]["content"]["data"]["text/html"]


def host_processes(needle: str) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ")
            except OSError:
                continue
            if needle.encode() in cmdline:
                found.append(int(entry.name))
    return found


def test_every_running_vertex_has_its_own_timer_and_tail(kernel, base_image):
    _km, kc = kernel
    nonce = uuid.uuid4().hex[:6]
    reply, messages = execute(
        kc,
        "%%dockerbuild --builder buildkit --no-cache\n"
        f"FROM {base_image} AS left\n"
        f"RUN for i in $(seq 1 25); do echo left-{nonce}-$i; sleep 0.1; done\n"
        f"FROM {base_image} AS right\n"
        f"RUN for i in $(seq 1 25); do echo right-{nonce}-$i; sleep 0.1; done\n"
        f"FROM {base_image}\n"
        "COPY --from=left /bin/busybox /l\n"
        "COPY --from=right /bin/busybox /r\n",
    )
    assert reply["status"] == "ok", reply
    running_row = r'class="jdb-step jdb-running".*?</div>(<pre class="jdb-tail".*?</pre>)'
    both = [
        html
        for _, html in live_values(messages)
        if len(re.findall(running_row, html, re.DOTALL)) == 2
        and re.search(rf"left-{nonce}-\d", html)
        and re.search(rf"right-{nonce}-\d", html)
    ]
    assert both, "no redraw showed both stages running, each with its output"
    html = both[-1]
    # Two running rows, each followed by its own tail with its own lines.
    rows = re.findall(running_row, html, re.DOTALL)
    assert sum(bool(re.search(rf"left-{nonce}-\d", r)) for r in rows) == 1
    assert sum(bool(re.search(rf"right-{nonce}-\d", r)) for r in rows) == 1
    timers = re.findall(
        r'class="jdb-step jdb-running".*?white-space:nowrap">([\d.]+)s</span>', html
    )
    assert len(timers) == 2, html
    assert re.search(r'class="jdb-title">Building [\d.]+s \(\d+/\d+\)', html)
    assert 'data-builder="buildkit"' in html and ">BuildKit<" in html
    final = final_html(messages)
    assert "Built sha256:" in final and 'data-builder="buildkit"' in final


def test_a_flood_stays_within_the_message_budget_and_the_clip_is_shown(kernel, base_image):
    _km, kc = kernel
    reply, messages = execute(
        kc,
        f"%%dockerbuild --builder buildkit --no-cache\nFROM {base_image}\nRUN seq 1 1000000\n",
        timeout=300,
    )
    assert reply["status"] == "ok", reply
    updates = display_updates(messages)
    duration = max(messages[-1][0], 1.0)
    sent = sum(len(json.dumps(m["content"])) for _, m in messages)
    # The same budget as the classic builder's flood (tests/test_kernel.py).
    assert len(updates) / duration <= 30, f"{len(updates)} display updates in {duration:.1f}s"
    assert sent < 3_000_000, f"{sent} bytes sent to the frontend"
    final = final_html(messages)
    assert "BuildKit clipped this step&#x27;s output (log limit 200KiB/s reached)" in final


def test_interrupt_ends_the_build_and_the_steps_process(kernel, base_image):
    km, kc = kernel
    sleep = f"sleep {1234567 + random.randrange(100000)}"
    seen: list[float] = []

    def interrupt_when_running() -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if host_processes(sleep):
                seen.append(time.monotonic())
                km.interrupt_kernel()
                return
            time.sleep(0.05)

    thread = threading.Thread(target=interrupt_when_running)
    thread.start()
    reply, messages = execute(
        kc,
        f"%%dockerbuild --builder buildkit --no-cache\nFROM {base_image}\nRUN echo go && {sleep}\n",
    )
    ended = time.monotonic()
    thread.join()
    assert seen, "the step never started"
    assert reply["status"] == "error" and reply["ename"] == "BuildCancelled", reply
    assert ended - seen[0] < 2.5, f"the cell took {ended - seen[0]:.1f}s after the interrupt"
    deadline = time.monotonic() + 5
    while host_processes(sleep) and time.monotonic() < deadline:
        time.sleep(0.05)
    gone_after = time.monotonic() - seen[0]
    assert not host_processes(sleep), f"{sleep} still runs"
    assert gone_after < 2.0, f"the step's process lived {gone_after:.1f}s after the interrupt"
    assert "Cancelled after" in final_html(messages)
    reply, _ = execute(kc, "print(6 * 7)")
    assert reply["status"] == "ok"
