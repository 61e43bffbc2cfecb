"""No credential ever shows: not in the log, the widget, the result, the options, a notebook.

Secrets are planted where a user keeps them: a registry password in the docker config
(``auths``), a password inside a proxy URL there (``proxies``), and a token passed as
``--build-arg TOKEN`` from the kernel's environment. A real build then runs on the main
daemon (``FROM local/busybox``) through the magic in an IPython shell, through
``execute`` with the widget's renderer, and through a real kernel whose outputs are
saved as a notebook; every text that reaches the user is scanned for the secrets.
"""

from __future__ import annotations

import base64
import json
import uuid
from pathlib import Path

import nbformat
import pytest
from IPython.core.interactiveshell import InteractiveShell
from kernelutil import execute
from viewutil import RecordingView

from jupyter_dockerbuild.builder import pipeline
from jupyter_dockerbuild.builder.docker_config import apply_docker_config
from jupyter_dockerbuild.builder.options import BuildOptions
from jupyter_dockerbuild.builder.result import render_summary
from jupyter_dockerbuild.engine.auth import registry_config_from_docker_config
from jupyter_dockerbuild.errors import BuildError

# Not no_leftover_containers: on a daemon shared with other test runs, their build
# containers would be counted as ours (the builds here use the default --force-rm).
pytestmark = pytest.mark.daemon


class Secrets:
    """The planted secrets and every encoding of them that could leak."""

    def __init__(self, config_dir: Path) -> None:
        tag = uuid.uuid4().hex[:12]
        self.registry_password = f"registry-pw-{tag}"
        self.token = f"build-token-{tag}"
        self.proxy_password = f"proxy-pw-{tag}"
        self.auth = base64.b64encode(f"ci-user:{self.registry_password}".encode()).decode()
        config = {
            "auths": {"registry.example.invalid": {"auth": self.auth}},
            # Loopback and unused (RUN steps have --network none); only its password matters.
            "proxies": {"default": {"httpProxy": f"http://pu:{self.proxy_password}@127.0.0.1:9"}},
        }
        (config_dir / "config.json").write_text(json.dumps(config))
        self.header: str | None = None

    def values(self) -> list[str]:
        found = [self.registry_password, self.token, self.proxy_password, self.auth]
        return found + ([self.header] if self.header else [])

    def assert_absent(self, where: str, text: str) -> None:
        for secret in self.values():
            assert secret not in text, f"a secret leaked into {where}"


@pytest.fixture
def secrets(tmp_path, monkeypatch) -> Secrets:
    config_dir = tmp_path / "dockercfg"
    config_dir.mkdir()
    # DOCKER_HOST (if any) still points at the main daemon; only the config is ours.
    for name in ("DOCKER_CONTEXT", "DOCKER_AUTH_CONFIG"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("DOCKER_CONFIG", str(config_dir))
    planted = Secrets(config_dir)
    monkeypatch.setenv("TOKEN", planted.token)
    planted.header = registry_config_from_docker_config()
    assert (
        planted.header
        and planted.registry_password in base64.urlsafe_b64decode(planted.header).decode()
    )
    return planted


def dockerfile(base_image: str, fail: bool = False) -> str:
    # The token is used (so the daemon really gets it) but never printed.
    run = 'RUN test -n "$TOKEN" && test -n "$http_proxy" && echo token-and-proxy-are-set'
    return f"FROM {base_image}\nARG TOKEN\n{run}{' && exit 7' if fail else ''}\n"


def test_magic_in_an_ipython_shell(secrets, base_image, tag_prefix, capsys):
    ip = InteractiveShell.instance()
    ip.run_line_magic("load_ext", "jupyter_dockerbuild")
    line = f"%%dockerbuild -t {tag_prefix}:ok --build-arg TOKEN --network none --out ok\n"
    res = ip.run_cell(line + dockerfile(base_image))
    assert res.success, res.error_in_exec
    ok = ip.user_ns["ok"]
    assert "token-and-proxy-are-set" in ok.log  # the build really had both
    line = "%%dockerbuild --build-arg TOKEN --network none --no-cache --out failed\n"
    res = ip.run_cell(line + dockerfile(base_image, fail=True))
    assert isinstance(res.error_in_exec, BuildError)
    failed = ip.user_ns["failed"]
    out = capsys.readouterr()
    secrets.assert_absent("the cell's printed output", out.out + out.err)
    secrets.assert_absent("the error message", str(res.error_in_exec))
    for result in (ok, failed):
        secrets.assert_absent("the result's repr", repr(result))
        secrets.assert_absent("the result's summary", render_summary(result))
        secrets.assert_absent("the result's log", result.log)
        secrets.assert_absent("the result's fields", str(vars(result)))
    # The image records TOKEN's value; its history, asked by tag, must not show it.
    for line in (f"%dockerbuild_history {tag_prefix}:ok", "%dockerbuild_history ok"):
        hist = ip.run_line_magic(*line[1:].split(" ", 1))
        data, _ = ip.display_formatter.format(hist)
        shown = "\n".join([str(hist), repr(hist), repr(hist.rows), *map(str, data.values())])
        secrets.assert_absent(f"the output of {line}", shown)
        assert "TOKEN=***" in data["text/plain"] and "TOKEN=***" in data["text/html"], line


def test_options_and_every_renderer(secrets, docker, base_image):
    given = BuildOptions.from_user(build_args=["TOKEN"], network="none", no_cache=True)
    options = apply_docker_config(given)
    assert options.registry_config == secrets.header
    for shown in (repr(options), options.to_cli(), options.to_cli(magic=True), str(options)):
        secrets.assert_absent("the options' repr / command line", shown)
    secrets.assert_absent("masked build args", str(options.masked_build_args()))
    view = RecordingView()
    # execute() applies the docker config itself, like the magic and the form rely on.
    result = pipeline.execute(dockerfile(base_image), given, client=docker, view=view)
    assert result.ok and len(view.html) > 1
    assert "token-and-proxy-are-set" in result.log  # the build really had both
    secrets.assert_absent("the widget's HTML", "\n".join(view.html))
    secrets.assert_absent("the text view", view.text.getvalue())
    secrets.assert_absent("the result", repr(result) + render_summary(result) + result.log)


# -- a real kernel, and the notebook saved from its outputs --------------------------------


def _execute(kc, code: str, timeout: float = 120) -> tuple[dict, list[dict]]:
    reply, timed = execute(kc, code, timeout=timeout)
    return reply, [msg for _, msg in timed]


def _outputs(messages: list[dict]) -> list:
    """The outputs a frontend keeps (update_display_data replaces by display id)."""
    outputs: list = []
    by_id: dict[str, int] = {}
    for msg in messages:
        kind = msg["msg_type"]
        if kind in ("stream", "display_data", "execute_result", "error"):
            outputs.append(nbformat.v4.output_from_msg(msg))
            display_id = msg["content"].get("transient", {}).get("display_id")
            if display_id:
                by_id[display_id] = len(outputs) - 1
        elif kind == "update_display_data":
            display_id = msg["content"]["transient"]["display_id"]
            if display_id in by_id:
                out = nbformat.v4.new_output(
                    "display_data", data=msg["content"]["data"], metadata=msg["content"]["metadata"]
                )
                outputs[by_id[display_id]] = out
    return outputs


@pytest.mark.kernel
def test_real_kernel_and_saved_notebook(secrets, base_image, tag_prefix, tmp_path):
    from jupyter_client.manager import start_new_kernel

    # The kernel inherits the environment: DOCKER_CONFIG and TOKEN are set above.
    km, kc = start_new_kernel(kernel_name="python3")
    try:
        cells = [
            "%load_ext jupyter_dockerbuild",
            f"%%dockerbuild -t {tag_prefix}:k --build-arg TOKEN --network none --out res\n"
            + dockerfile(base_image),
            "res",
            "print(repr(res)); print(res.log)",
            # The image records TOKEN's value in its history: every way to show that.
            f"%dockerbuild_history {tag_prefix}:k",
            "%dockerbuild_history res",
            "import jupyter_dockerbuild",
            f"jupyter_dockerbuild.history({tag_prefix + ':k'!r})",
            f"h = jupyter_dockerbuild.history({tag_prefix + ':k'!r}); print(h); print(repr(h))",
            "print(h.rows); h.rows",
            f"jupyter_dockerbuild.compare({tag_prefix + ':k'!r}, res)",
            "%%dockerbuild --build-arg TOKEN --network none --no-cache --out bad\n"
            + dockerfile(base_image, fail=True),
            "bad",
        ]
        nb = nbformat.v4.new_notebook()
        widget_state: dict[str, dict] = {}
        everything: list[dict] = []
        for source in cells:
            reply, messages = _execute(kc, source)
            everything += messages
            cell = nbformat.v4.new_code_cell(source)
            cell.outputs = _outputs(messages)
            nb.cells.append(cell)
            for msg in messages:  # what "save widget state" would put in the notebook
                if msg["msg_type"] in ("comm_open", "comm_msg"):
                    comm = msg["content"]["comm_id"]
                    state = msg["content"].get("data", {}).get("state", {})
                    widget_state.setdefault(comm, {}).update(state)
        assert any("token-and-proxy-are-set" in json.dumps(m["content"]) for m in everything)
        assert reply["status"] == "ok"
        nb.metadata["widgets"] = {
            "application/vnd.jupyter.widget-state+json": {"state": widget_state}
        }
        path = tmp_path / "saved.ipynb"
        nbformat.write(nb, path)
        secrets.assert_absent(
            "the kernel's messages", json.dumps([m["content"] for m in everything])
        )
        saved = path.read_text()
        # The scan is not vacuous: the notebook holds the summary, the log, the histories.
        assert "Built sha256:" in saved and "token-and-proxy-are-set" in saved
        assert saved.count("TOKEN=***") >= 6, "the histories were not displayed"
        secrets.assert_absent("the saved notebook", saved)
        # The live view is display updates now (no widget): they were scanned above.
        live = [
            m
            for m in everything
            if m["msg_type"] == "update_display_data" and "Building" in json.dumps(m["content"])
        ]
        assert live, "the live view sent no update"
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)
