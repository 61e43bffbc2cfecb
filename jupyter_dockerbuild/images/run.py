"""Run a built image once and collect its output: the "does it work?" step of a tutorial.

Like ``docker run --rm --network none IMAGE CMD``, over the same API client: create a
container, start it, wait, read stdout and stderr, remove it. Only for short commands;
the container is removed even when the wait is interrupted.
"""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from ..engine.client import DockerClient, HTTPError
from ..errors import DockerBuildError


@dataclass(frozen=True)
class RunResult:
    """What one run printed and how it ended."""

    exit_code: int
    stdout: str
    stderr: str

    @property
    def ok(self) -> bool:
        """True if the command exited with 0."""
        return self.exit_code == 0

    def __repr__(self) -> str:
        out = self.stdout if len(self.stdout) < 200 else self.stdout[:200] + "…"
        return f"<RunResult exit {self.exit_code}: {out!r}>"

    def _repr_pretty_(self, p: Any, cycle: bool) -> None:
        text = self.stdout + (f"[stderr]\n{self.stderr}" if self.stderr else "")
        if self.exit_code:
            text += f"[exit code {self.exit_code}]"
        p.text(text.rstrip("\n") if not cycle else repr(self))


def _demux(raw: bytes) -> tuple[bytes, bytes]:
    """Split the daemon's multiplexed log stream (8-byte frame headers) by stream."""
    out, err = bytearray(), bytearray()
    pos = 0
    while pos + 8 <= len(raw):
        kind, size = struct.unpack(">BxxxL", raw[pos : pos + 8])
        chunk = raw[pos + 8 : pos + 8 + size]
        (err if kind == 2 else out).extend(chunk)
        pos += 8 + size
    return bytes(out), bytes(err)


def run_image(
    image: Any,
    *cmd: str,
    client: DockerClient | None = None,
    network: str = "none",
    env: dict[str, str] | None = None,
    timeout: float = 120.0,
) -> RunResult:
    """Run ``cmd`` (or the image's CMD) in a new container from ``image``; remove it after.

    ``image`` is a tag, an id, or a ``BuildResult``. The network defaults to ``none``:
    nothing here needs one, and no registry is reachable from notebooks anyway.
    """
    ref = getattr(image, "image_id", None) or str(image)
    owns = client is None
    client = client or DockerClient()
    config: dict[str, Any] = {
        "Image": ref,
        "HostConfig": {"NetworkMode": network},
        "Env": [f"{k}={v}" for k, v in (env or {}).items()],
    }
    if cmd:
        config["Cmd"] = list(cmd)
    try:
        try:
            resp = client.request(
                "POST",
                "/containers/create",
                data=json.dumps(config),
                headers={"Content-Type": "application/json"},
            )
        except HTTPError as exc:
            raise DockerBuildError(f"cannot run {ref}: {exc.message}") from None
        cid = resp.json()["Id"]
        try:
            client.request("POST", f"/containers/{cid}/start")
            waited = client.request(
                "POST", f"/containers/{cid}/wait", timeout=(client.timeout, timeout)
            ).json()
            logs = client.request(
                "GET", f"/containers/{cid}/logs", params={"stdout": "1", "stderr": "1"}
            ).content
        except HTTPError as exc:
            raise DockerBuildError(f"running {ref} failed: {exc.message}") from None
        finally:
            try:
                client.delete(f"/containers/{quote(cid)}", params={"force": "1"})
            except HTTPError:
                pass
        stdout, stderr = _demux(logs)
        return RunResult(
            exit_code=int(waited.get("StatusCode", -1)),
            stdout=stdout.decode("utf-8", "replace"),
            stderr=stderr.decode("utf-8", "replace"),
        )
    finally:
        if owns:
            client.close()
