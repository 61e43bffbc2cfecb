"""The test registry (``scripts/registry.sh``), a byte proxy in front of it, a credential helper.

* :func:`registry_env` reads what ``scripts/registry.sh env`` prints; tests fail (never
  skip) when the registry does not answer, with the command that starts it.
* :class:`ByteProxy` forwards TCP bytes to the real registry on a loopback port of its
  own. It can be stopped (a registry that is down) or made to cut every connection once
  the client has sent a number of bytes (a registry dropping the connection in the middle
  of a layer upload), which the real registry cannot be made to do, or pace the bytes
  (a link slower than the loopback, so a layer's progress can be seen part-way).
* :func:`write_helper` puts a working ``docker-credential-<name>`` (store, get, erase,
  list, kept in a directory) on PATH, like a keychain helper.
"""

from __future__ import annotations

import os
import shlex
import socket
import stat
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "registry.sh"


@dataclass(frozen=True)
class RegistryEnv:
    """What ``scripts/registry.sh env`` prints."""

    address: str
    user: str
    password: str
    ca: str
    cert: str
    key: str
    log: str
    untrusted: str

    def printed_log(self) -> str:
        """The registries' own logs as ``scripts/registry.sh log`` prints them."""
        return subprocess.run(
            ["bash", str(SCRIPT), "log"], capture_output=True, text=True, check=True
        ).stdout


def registry_env() -> RegistryEnv:
    """The running test registry, or a failure saying how to start it."""
    status = subprocess.run(["bash", str(SCRIPT), "status"], capture_output=True, text=True)
    if status.returncode != 0:
        pytest.fail(
            "the test registry is not running ("
            + " ".join(status.stdout.split())
            + "); start it with scripts/registry.sh start (scripts/test.sh does)"
        )
    out = subprocess.run(["bash", str(SCRIPT), "env"], capture_output=True, text=True, check=True)
    values = dict(line.split("=", 1) for line in out.stdout.splitlines() if "=" in line)
    untrusted = values["JDB_UNTRUSTED_REGISTRY"]
    # The untrusted name must come from /etc/hosts (::1): never let a daemon ask DNS.
    host = untrusted.rsplit(":", 1)[0]
    addresses = {a[4][0] for a in socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)}
    assert addresses == {"::1"}, f"{host} must resolve to ::1 only (scripts/registry.sh start)"
    return RegistryEnv(
        address=values["JDB_REGISTRY"],
        user=values["JDB_REGISTRY_USER"],
        password=values["JDB_REGISTRY_PASSWORD"],
        ca=values["JDB_REGISTRY_CA"],
        cert=values["JDB_REGISTRY_CERT"],
        key=values["JDB_REGISTRY_KEY"],
        log=values["JDB_REGISTRY_LOG"],
        untrusted=untrusted,
    )


class ByteProxy:
    """A loopback TCP proxy to ``upstream`` (host, port), bounded to this test.

    ``drop_after``: once a connection has carried that many bytes from the client, both
    sides are reset (SO_LINGER 0), as a registry or load balancer dying mid-upload would.
    ``rate``: at most that many bytes per second each way on each connection.
    """

    def __init__(
        self, upstream: tuple[str, int], drop_after: int | None = None, rate: int | None = None
    ) -> None:
        self.upstream = upstream
        self.drop_after = drop_after
        self.rate = rate
        self.dropped = 0
        self.connections = 0
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._socks: list[socket.socket] = []
        self._lock = threading.Lock()
        self._stopped = False
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def _accept(self) -> None:
        while not self._stopped:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            try:
                server = socket.create_connection(self.upstream, timeout=10)
            except OSError:
                client.close()
                continue
            server.settimeout(None)
            with self._lock:
                self.connections += 1
                self._socks += [client, server]
            counter = [0]
            for src, dst, count in ((client, server, True), (server, client, False)):
                threading.Thread(
                    target=self._pump, args=(src, dst, counter if count else None), daemon=True
                ).start()

    def _pump(self, src: socket.socket, dst: socket.socket, counter: list[int] | None) -> None:
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                if counter is not None and self.drop_after is not None:
                    counter[0] += len(data)
                    if counter[0] > self.drop_after:
                        with self._lock:
                            self.dropped += 1
                        self._reset(src, dst)
                        return
                dst.sendall(data)
                if self.rate:
                    time.sleep(len(data) / self.rate)
        except OSError:
            pass
        for s in (src, dst):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    @staticmethod
    def _reset(*socks: socket.socket) -> None:
        for s in socks:
            try:
                s.setsockopt(
                    socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00"
                )
                s.close()
            except OSError:
                pass

    def stop(self) -> None:
        """Close the listener and every connection: the registry is now down here."""
        self._stopped = True
        # close() alone leaves the port listening while the accept thread is blocked in
        # accept(): the next client (a daemon's first pull request) would still be let
        # through to the registry. shutdown() wakes that accept() up, so the port closes.
        try:
            self._listener.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self._listener.close()
        with self._lock:
            socks, self._socks = self._socks, []
        for s in socks:
            try:
                s.close()
            except OSError:
                pass
        self._thread.join(timeout=5)


HELPER = '''\
#!{python}
"""docker-credential-{name}: a keychain in a directory (the helpers' protocol)."""
import hashlib, json, os, sys

store = {store!r}
action = sys.argv[1] if len(sys.argv) > 1 else ""
data = sys.stdin.read()
with open(os.path.join(store, "calls.log"), "a") as log:
    # The action and server only: a real helper never logs the secret either.
    server = json.loads(data)["ServerURL"] if action == "store" else data.strip()
    log.write(action + " " + server + "\\n")
if {fail_store!r} and action == "store":
    print("store failed for " + data)  # a careless helper echoing the secret
    sys.exit(1)
def path(server):
    return os.path.join(store, hashlib.sha256(server.encode()).hexdigest() + ".json")
if action == "store":
    creds = json.loads(data)
    with open(path(creds["ServerURL"]), "w") as fh:
        json.dump(creds, fh)
elif action in ("get", "erase"):
    p = path(data.strip())
    if not os.path.exists(p):
        print("credentials not found in native keychain")
        sys.exit(1)
    if action == "get":
        sys.stdout.write(open(p).read())
    else:
        os.remove(p)
elif action == "list":
    out = {{}}
    for f in os.listdir(store):
        if f.endswith(".json"):
            creds = json.load(open(os.path.join(store, f)))
            out[creds["ServerURL"]] = creds["Username"]
    json.dump(out, sys.stdout)
else:
    sys.exit(2)
'''


def write_helper(bindir: Path, name: str, store: Path, *, fail_store: bool = False) -> Path:
    """Install ``docker-credential-<name>`` in ``bindir``, keeping secrets in ``store``."""
    bindir.mkdir(exist_ok=True)
    store.mkdir(exist_ok=True)
    script = bindir / f"docker-credential-{name}"
    script.write_text(
        HELPER.format(python=sys.executable, name=name, store=str(store), fail_store=fail_store)
    )
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return script


def helper_secrets(store: Path) -> dict[str, dict]:
    """What the directory keychain holds, server -> {Username, Secret}."""
    import json

    out = {}
    for f in store.glob("*.json"):
        creds = json.loads(f.read_text())
        out[creds["ServerURL"]] = creds
    return out


def path_with(bindir: Path) -> str:
    return f"{bindir}{os.pathsep}{os.environ['PATH']}"


__all__ = ["ByteProxy", "RegistryEnv", "helper_secrets", "path_with", "registry_env", "shlex"]
