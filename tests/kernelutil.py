"""Drive a real kernel with jupyter_client: execute a cell, collect what it sent."""

from __future__ import annotations

import time
from queue import Empty
from typing import Any


def execute(kc: Any, code: str, *, timeout: float = 120) -> tuple[dict, list[tuple[float, dict]]]:
    """Execute ``code``; return (reply content, [(seconds since start, iopub msg)])."""
    msg_id = kc.execute(code)
    t0 = time.monotonic()
    messages: list[tuple[float, dict]] = []
    while True:
        try:
            msg = kc.get_iopub_msg(timeout=timeout)
        except Empty:
            raise AssertionError(f"kernel silent for {timeout}s ({len(messages)} msgs)") from None
        if msg["parent_header"].get("msg_id") != msg_id:
            continue
        messages.append((time.monotonic() - t0, msg))
        if msg["msg_type"] == "status" and msg["content"]["execution_state"] == "idle":
            break
    while True:
        reply = kc.get_shell_msg(timeout=timeout)
        if reply["parent_header"].get("msg_id") == msg_id:
            return reply["content"], messages
