"""A real ``ssh-agent`` holding one generated key, and the agent protocol's two messages.

:func:`start_agent` runs OpenSSH's ``ssh-agent -D`` on a socket in a temporary directory
with a fresh ed25519 key (comment :data:`COMMENT`) and returns it; :func:`stop_agent`
ends that process (by its pid) and removes the directory. :func:`identities` asks any
agent socket for its keys, as ``ssh-add -l`` does.
"""

from __future__ import annotations

import os
import shutil
import socket
import struct
import subprocess
import tempfile
import time
from dataclasses import dataclass

#: The comment of the key the test agent holds: how a listing shows it came through.
COMMENT = "jdb-test-key"
REQUEST_IDENTITIES = struct.pack(">IB", 1, 11)


@dataclass
class Agent:
    socket: str
    directory: str
    process: subprocess.Popen[bytes]


def have_openssh() -> bool:
    return all(shutil.which(p) for p in ("ssh-agent", "ssh-add", "ssh-keygen"))


def start_agent() -> Agent:
    directory = tempfile.mkdtemp(prefix="jdb-agent-")
    path = os.path.join(directory, "agent.sock")
    process = subprocess.Popen(
        ["ssh-agent", "-D", "-a", path], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    agent = Agent(path, directory, process)
    try:
        deadline = time.monotonic() + 10
        while not os.path.exists(path):
            if time.monotonic() > deadline or process.poll() is not None:
                raise RuntimeError("ssh-agent did not start")
            time.sleep(0.02)
        key = os.path.join(directory, "id_ed25519")
        subprocess.run(
            ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", COMMENT, "-f", key], check=True
        )
        env = {**os.environ, "SSH_AUTH_SOCK": path}
        subprocess.run(["ssh-add", "-q", key], env=env, check=True, stderr=subprocess.DEVNULL)
    except BaseException:
        stop_agent(agent)
        raise
    return agent


def stop_agent(agent: Agent) -> None:
    agent.process.terminate()
    try:
        agent.process.wait(10)
    except subprocess.TimeoutExpired:
        agent.process.kill()
        agent.process.wait()
    shutil.rmtree(agent.directory, ignore_errors=True)


def parse_identities(reply: bytes) -> list[str]:
    """The key comments of an ``IDENTITIES_ANSWER`` (whole message, length included)."""
    (length, kind) = struct.unpack_from(">IB", reply)
    assert kind == 12, f"not an identities answer: type {kind}"
    assert len(reply) == 4 + length
    (count,) = struct.unpack_from(">I", reply, 5)
    pos, comments = 9, []
    for _ in range(count):
        (size,) = struct.unpack_from(">I", reply, pos)
        pos += 4 + size
        (size,) = struct.unpack_from(">I", reply, pos)
        comments.append(reply[pos + 4 : pos + 4 + size].decode())
        pos += 4 + size
    return comments


def identities(path: str) -> list[str]:
    """The comments of the keys the agent at ``path`` holds."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(5)
        sock.connect(path)
        sock.sendall(REQUEST_IDENTITIES)
        head = sock.recv(4, socket.MSG_WAITALL)
        (length,) = struct.unpack(">I", head)
        return parse_identities(head + sock.recv(length, socket.MSG_WAITALL))
