"""The one build pipeline, ``execute``: what every entry point gets from it.

The docker config is applied for the daemon the build really runs on (the fake daemon
records what arrives), the view is painted before the HTTP stack is imported and closed
whatever fails, ``ensure_base_image`` runs no credential helper, and a second builder
plugs in behind the same ``execute``. The real daemon's builds are in
``test_build_daemon.py``; the fake only shows what a request carried.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from fakedaemon import FakeDaemon

import jupyter_dockerbuild
from jupyter_dockerbuild.builder.options import BuildOptions
from jupyter_dockerbuild.builder.pipeline import execute
from jupyter_dockerbuild.builder.state import BuildState
from jupyter_dockerbuild.engine.client import DockerClient
from jupyter_dockerbuild.errors import BuildError, DaemonUnavailable, HTTPError

REPO = Path(__file__).resolve().parents[1]
IMAGE = "sha256:" + "ab" * 32


def _ok_build(captured: list):
    def handler(req) -> None:
        captured.append((req.path, dict(req.headers)))
        body = (
            b'{"stream":"Step 1/1 : FROM scratch"}\r\n{"stream":"\\n"}\r\n'
            b'{"aux":{"ID":"%s"}}\r\n{"stream":"Successfully built abababababab\\n"}\r\n'
            % IMAGE.encode()
        )
        req.send_response(200)
        req.send_header("Content-Type", "application/json")
        req.send_header("Content-Length", str(len(body)))
        req.end_headers()
        req.wfile.write(body)

    return handler


@pytest.fixture
def docker_config(tmp_path, monkeypatch):
    """A docker config with credentials from a helper that logs each call, and proxies."""
    cfg = tmp_path / "dockercfg"
    cfg.mkdir()
    for name in ("DOCKER_HOST", "DOCKER_CONTEXT", "DOCKER_AUTH_CONFIG", "DOCKER_TLS_VERIFY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("DOCKER_CONFIG", str(cfg))
    bindir = tmp_path / "bin"
    bindir.mkdir()
    calls = tmp_path / "helper-calls.log"
    helper = bindir / "docker-credential-spy"
    helper.write_text(
        "#!/bin/sh\n"
        f'echo "$1" >> "{calls}"\n'
        'case "$1" in\n'
        "list) printf '%s' '{\"registry.example.com\": \"ci\"}' ;;\n"
        'get) printf \'%s\' \'{"ServerURL": "registry.example.com", "Username": "ci", '
        '"Secret": "spy-secret"}\' ;;\n'
        "esac\n"
    )
    helper.chmod(helper.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("PATH", f"{bindir}{os.pathsep}{os.environ['PATH']}")

    def write(host: str) -> Path:
        config = {
            "credsStore": "spy",
            "proxies": {
                "default": {"httpProxy": "http://default-proxy:3128"},
                host: {"httpProxy": "http://this-daemons-proxy:3128"},
            },
        }
        (cfg / "config.json").write_text(json.dumps(config))
        return calls

    return write


def _sent(captured: list) -> tuple[dict, str | None]:
    [(path, headers)] = captured
    build_args = json.loads(parse_qs(urlsplit(path).query).get("buildargs", ["{}"])[0])
    return build_args, headers.get("X-Registry-Config")


@pytest.mark.parametrize("entry", ["python-api", "execute-with-a-client"])
def test_docker_config_is_applied_for_the_daemon_the_build_runs_on(docker_config, entry):
    captured: list = []
    with FakeDaemon(build=_ok_build(captured)) as fake:
        calls = docker_config(fake.host)
        if entry == "python-api":
            result = jupyter_dockerbuild.build("FROM scratch\n", host=fake.host)
        else:
            # No host given: the proxies entry still comes from the client's daemon.
            client = DockerClient(fake.host)
            result = execute("FROM scratch\n", BuildOptions(), client=client)
            client.close()
    assert result.ok and result.image_id == IMAGE
    build_args, registry = _sent(captured)
    assert build_args == {
        "HTTP_PROXY": "http://this-daemons-proxy:3128",
        "http_proxy": "http://this-daemons-proxy:3128",
    }
    assert registry and "spy-secret" not in result.log
    assert "list" in calls.read_text()  # the credential store was asked


def test_ensure_base_image_runs_no_credential_helper(docker_config):
    captured: list = []
    with FakeDaemon(build=_ok_build(captured)) as fake:
        calls = docker_config(fake.host)
        client = DockerClient(fake.host)
        try:
            assert jupyter_dockerbuild.ensure_base_image(client=client, rebuild=True)
        finally:
            client.close()
    build_args, registry = _sent(captured)
    # FROM scratch pulls nothing and the RUN step has no network: nothing to send.
    assert registry is None and build_args == {}
    assert not calls.exists()


class RecordingView:
    """Keeps (status, steps) of every update and the state it was closed with."""

    def __init__(self) -> None:
        self.updates: list[tuple[str, int]] = []
        self.closed: BuildState | None = None

    def update(self, state: BuildState) -> None:
        self.updates.append((state.status, len(state.steps)))

    def close(self, state: BuildState) -> None:
        self.closed = state


@pytest.mark.parametrize(
    "host", ["ssh://nowhere", "unix:///nonexistent/docker.sock", "tcp://127.0.0.1:9"]
)
def test_the_view_is_painted_first_and_closed_when_the_daemon_is_unreachable(host):
    view = RecordingView()
    with pytest.raises(DaemonUnavailable) as err:
        execute("FROM scratch\nRUN true\n", BuildOptions(), host=host, view=view)
    # The steps were shown, waiting, before the client existed ...
    assert view.updates[0] == ("pending", 2)
    # ... and the view was closed with the failure, not left "Building".
    assert view.closed is not None and view.closed.status == "failed"
    assert view.closed.error is not None and view.closed.error.message == str(err.value)


def test_the_first_paint_comes_before_the_http_stack_is_imported():
    # A fresh interpreter, as a fresh kernel: what is imported when the view is drawn.
    code = (
        "import sys\n"
        "from jupyter_dockerbuild.builder.options import BuildOptions\n"
        "from jupyter_dockerbuild.builder.pipeline import execute\n"
        "seen = []\n"
        "class View:\n"
        "    def update(self, state):\n"
        "        seen.append('requests' in sys.modules)\n"
        "    def close(self, state):\n"
        "        pass\n"
        "try:\n"
        "    execute('FROM scratch\\n', BuildOptions(), host='ssh://nowhere', view=View())\n"
        "except Exception as exc:\n"
        "    print(type(exc).__name__)\n"
        "print(seen[0], 'requests' in sys.modules)\n"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    assert out.stdout.split() == ["DaemonUnavailable", "False", "True"], out.stderr


class _Response:
    cancelled = False

    def __init__(self, lines: list[bytes]) -> None:
        self.lines = lines

    def chunks(self):
        yield from self.lines

    def cancel(self) -> None:
        self.cancelled = True

    def close(self) -> None:
        pass


class _OtherBuilder:
    """A builder that speaks another protocol: ``vertex`` messages, its own errors."""

    name = "other"

    def __init__(self, lines: list[bytes] | None = None, refuse: str | None = None) -> None:
        self.lines = lines or []
        self.refuse = refuse
        self.preflighted: list[str] = []

    def preflight(self, dockerfile, options, *, line_offset):
        self.preflighted.append(dockerfile)

    def start(self, client, options, body):
        if self.refuse:
            raise HTTPError(400, self.refuse)
        return _Response(self.lines)

    def fold(self, state, events):
        for event in events:
            if "vertex" in event:
                n, text = event["vertex"]
                state.apply({"stream": f"Step {n}/2 : {text}"})
            elif "done" in event:
                state.apply({"aux": {"ID": event["done"]}})

    def explain(self, message, code, options, state):
        return f"the other builder says: {message}"


class _Client:
    host = "unix:///fake.sock"

    def close(self) -> None:
        pass


def test_a_second_builder_plugs_in_behind_the_same_execute():
    lines = [
        b'{"vertex": [1, "FROM scratch"]}\n',
        b'{"vertex": [2, "RUN --mount=type=cache,target=/c true"]}\n',
        b'{"done": "%s"}\n' % IMAGE.encode(),
    ]
    builder = _OtherBuilder(lines)
    dockerfile = "FROM scratch\nRUN --mount=type=cache,target=/c true\n"
    view = RecordingView()
    result = execute(
        dockerfile,
        BuildOptions(),
        client=_Client(),  # type: ignore[arg-type]
        view=view,
        builder=builder,
        docker_config=False,
    )
    # Its preflight, not the classic one (which refuses --mount), judged the Dockerfile.
    assert builder.preflighted == [dockerfile]
    assert result.ok and result.image_id == IMAGE
    assert [s.instruction for s in result.steps] == [
        "FROM scratch",
        "RUN --mount=type=cache,target=/c true",
    ]
    assert view.closed is not None and view.closed.status == "succeeded"

    refusing = _OtherBuilder(refuse="no such frontend")
    with pytest.raises(BuildError, match="the other builder says: no such frontend"):
        execute(
            "FROM scratch\n",
            BuildOptions(),
            client=_Client(),  # type: ignore[arg-type]
            builder=refusing,
            docker_config=False,
        )


class _InterruptedResponse(_Response):
    """Streams ``lines``, then the user interrupts (Ctrl-C arrives while reading)."""

    def chunks(self):
        yield from self.lines
        raise KeyboardInterrupt


class _InterruptedBuilder(_OtherBuilder):
    def start(self, client, options, body):
        self.response = _InterruptedResponse(self.lines)
        return self.response


def test_an_interrupted_build_raises_an_interrupt_that_carries_the_cancelled_result():
    lines = [
        b'{"vertex": [1, "FROM scratch"]}\n',
        b'{"vertex": [2, "RUN sleep 120"]}\n',
        b'{"stream": "start-sleep\\n"}\n',
    ]

    class Builder(_InterruptedBuilder):
        def fold(self, state, events):
            super().fold(state, [e for e in events if "stream" not in e])
            state.apply_many([e for e in events if "stream" in e])

    builder = Builder(lines)
    view = RecordingView()
    with pytest.raises(KeyboardInterrupt) as err:
        execute(
            "FROM scratch\nRUN sleep 120\n",
            BuildOptions(),
            client=_Client(),  # type: ignore[arg-type]
            view=view,
            builder=builder,
            docker_config=False,
        )
    # Still an interrupt (a loop's `except Exception` must not swallow it) ...
    assert isinstance(err.value, jupyter_dockerbuild.BuildInterrupted)
    assert not isinstance(err.value, Exception)
    # ... that carries what the build did so far: the steps, the log, "cancelled".
    result = err.value.result
    assert result is not None and result.status == "cancelled"
    assert [s.status for s in result.steps] == ["done", "cancelled"]
    assert "start-sleep" in result.log
    assert "interrupted" in str(err.value)
    # The daemon was told (the connection closed) and the view shows the cancel.
    assert builder.response.cancelled
    assert view.closed is not None and view.closed.status == "cancelled"


def test_a_failure_the_view_showed_is_said_once() -> None:
    import io

    from jupyter_dockerbuild.errors import OptionsError
    from jupyter_dockerbuild.ui.text import TextView

    out = io.StringIO()
    with pytest.raises(OptionsError) as info:
        execute("FROM scratch\n", BuildOptions(), view=TextView(out), builder="nope")
    message = str(info.value)
    assert "'nope'" in message
    # The view's summary says why; the cell's error line points there, not repeats it.
    assert out.getvalue().count(message) == 1
    assert info.value.shown_above
    (line,) = info.value._render_traceback_()
    assert line.endswith("OptionsError\x1b[0m: see the build's summary above")
    # Without a view nothing showed it: the error line is the whole message.
    with pytest.raises(OptionsError) as bare:
        execute("FROM scratch\n", BuildOptions(), builder="nope")
    assert not bare.value.shown_above
    assert bare.value._render_traceback_()[0].endswith(f": {message}")
