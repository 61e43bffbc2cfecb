"""The build form's model and what it says, with ipywidgets blocked: no widget at all.

``ui.form_model`` (values, checks, commands, builds) and ``ui.form_hints`` (the text the
form shows) are imported afresh while ``import ipywidgets`` fails, so anything in them
that reached for a widget would fail here. One real build runs on the daemon through
the model alone.
"""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

from jupyter_dockerbuild.errors import BuildError, DockerBuildError, OptionsError

ROOT = Path(__file__).resolve().parents[1]
DOCKERFILE = 'FROM local/busybox:latest\nARG PYVER=3.12\nARG TOKEN\nARG A=1 B="two words"\n'
SECRET = "model-s3cr3t-value"


def _ui_modules():
    return [k for k in sys.modules if k.startswith(("ipywidgets", "jupyter_dockerbuild.ui"))]


@pytest.fixture(scope="module")
def ui():
    """``form_model`` and ``form_hints``, imported while ipywidgets cannot be."""
    saved = {k: sys.modules.pop(k) for k in _ui_modules()}
    sys.modules["ipywidgets"] = None  # `import ipywidgets` raises ImportError
    try:
        with pytest.raises(ImportError):
            import ipywidgets  # noqa: F401
        yield SimpleNamespace(
            model=importlib.import_module("jupyter_dockerbuild.ui.form_model"),
            hints=importlib.import_module("jupyter_dockerbuild.ui.form_hints"),
        )
    finally:
        for k in _ui_modules():
            del sys.modules[k]
        sys.modules.update(saved)


@pytest.fixture
def model(ui):
    def make(dockerfile=DOCKERFILE, **kw):
        kw.setdefault("env", {})
        return ui.model.FormModel(dockerfile, **kw)

    return make


def query(m):
    return dict(m.options.to_query())


def test_the_model_imports_without_ipywidgets_or_ipython():
    code = (
        "import sys; sys.modules['ipywidgets'] = None\n"
        "from jupyter_dockerbuild.ui.form_model import FormModel\n"
        "from jupyter_dockerbuild.ui import form_hints\n"
        "m = FormModel('FROM scratch\\n', tags=['a:1'], env={})\n"
        "print(m.magic_line())\n"
        "print(sorted(k for k in sys.modules if k.split('.')[0] in ('ipywidgets', 'IPython')))\n"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True
    ).stdout.splitlines()
    assert out == ["%%dockerbuild -t a:1", "['ipywidgets']"]  # only the blocked entry


# -- fields and their checks --------------------------------------------------------


def test_fields_come_from_the_option_table(ui):
    from jupyter_dockerbuild.builder.options import OPTIONS

    with_group = {o.name for o in OPTIONS if o.group}
    fields = {o.name for o in ui.model.TEXT_FIELDS + ui.model.LIST_FIELDS + ui.model.FLAG_FIELDS}
    assert fields == with_group - {"build_args"}  # build args are rows
    assert {o.name for o in ui.model.PASSTHROUGH} == {
        "dockerfile",
        "platform",
        "isolation",
        "remote",
        "push",  # the form has a Push button; --form --push makes each Build push too
    }


def test_each_field_is_checked_by_its_option(model, ui):
    m = model(memory="5m", memory_swap="lots", cpu_shares="1", cpus="two")
    assert m.field_error("memory").option == "memory"
    # Beside the field: the short form, without the flag the field already names.
    assert m.field_error("memory").detail == "5MiB is below Docker's minimum of 6MiB"
    assert str(m.field_error("memory")).startswith("-m/--memory: 5MiB is below the minimum")
    assert m.field_error("memory_swap").detail.startswith("'lots' is not a size")
    assert m.field_error("cpu_shares").option == "cpu_shares"
    assert m.field_error("cpus").option == "cpus"
    assert m.check().option == "cpus"  # the cpus field is read first
    for name in ("memory", "memory_swap", "cpu_shares", "cpus"):
        html, invalid = ui.hints.field_hint(m, name, m.check())
        assert invalid and "✗" in html, name
    html, invalid = ui.hints.field_hint(m, "shm_size", m.check())
    assert not invalid and html == '<span class="jdb-hint">default 64MiB</span>'


def test_an_error_about_two_fields_flags_the_one_it_names(model, ui):
    m = model(memory="512m", memory_swap="256m")
    error = m.check()
    assert error.option == "memory_swap" and m.field_error("memory_swap") is None
    html, invalid = ui.hints.field_hint(m, "memory_swap", error)
    assert invalid and "must be at least -m/--memory" in html
    html, invalid = ui.hints.field_hint(m, "memory", error)
    assert not invalid and "536,870,912" in html
    m.set_text("memory_swap", "-1")
    assert m.check() is None and "unlimited swap" in ui.hints.field_hint(m, "memory_swap", None)[0]


def test_list_items_flag_the_list_by_option(model, ui):
    m = model()
    m.set_list("extra_hosts", ["db"])
    assert m.check().option == "extra_hosts"
    assert ui.hints.field_invalid(m, "extra_hosts", m.check())
    assert not ui.hints.field_invalid(m, "labels", m.check())
    m.set_list("extra_hosts", [])
    m.set_list("tags", ["ok:1", "Bad:1"])
    hint, css, chips_bad, typed_bad = ui.hints.tags_hint(m, "uid")
    assert "lowercase" in hint and "nth-child(2)" in css and chips_bad and not typed_bad


def test_cpus_and_period_quota_follow_each_other(model):
    m = model()
    m.set_text("cpus", "1.5")
    assert (m.text["cpu_period"], m.text["cpu_quota"]) == ("100000", "150000")
    m.set_text("cpu_quota", "50000")
    assert m.text["cpus"] == "0.5"
    m.set_text("cpus", "two")
    assert m.text["cpu_quota"] == "50000"  # the last good value stays
    m.set_text("cpus", "")
    assert m.text["cpu_period"] == m.text["cpu_quota"] == ""
    assert model(cpus=2).text["cpu_quota"] == "200000"
    assert model(cpu_period=100000, cpu_quota=25000).text["cpus"] == "0.25"


def test_initial_values_accept_the_same_keywords_as_everywhere(model):
    m = model(file="sub/Dockerfile", tag="x:1", cpus="1", rm="false")
    assert m.passthrough["dockerfile"] == "sub/Dockerfile" and m.lists["tags"] == ["x:1"]
    # --rm=false turns off force-rm (one rule, in the option table).
    assert m.flags["rm"] is False and m.flags["force_rm"] is False
    assert model(rm=False, force_rm=True).flags["force_rm"] is True
    assert model(rm="maybe").flags["rm"] is True  # invalid: the default, not an error
    with pytest.raises(OptionsError, match=r"unknown build option\(s\) memroy") as err:
        model(memroy="1g")
    assert err.value.option is None


def test_equivalent_commands_with_context_and_host(model, tmp_path):
    (tmp_path / "Dockerfile").write_text("FROM scratch\n")
    m = model("# from the context\n", tags=["a:1"], context_dir=str(tmp_path), host="tcp://h:1")
    assert m.dockerfile is None and "FROM scratch" in m.dockerfile_text()
    assert m.magic_line() == f"%%dockerbuild -t a:1 --context {tmp_path} -H tcp://h:1"
    assert m.command() == f"docker -H tcp://h:1 build -t a:1 --force-rm -f - {tmp_path}"


def test_pending_text_counts_and_enter_adds_it(model):
    m = model(tags=["ok:1"])
    m.set_pending("tags", "my:2")
    assert m.options.tags == ("ok:1", "my:2")
    m.commit("tags")
    assert m.lists["tags"] == ["ok:1", "my:2"] and m.pending["tags"] == ""


def test_keystrokes_that_arrive_after_enter_finish_the_added_item(model):
    # The browser sends Enter at once but holds back value updates while the kernel
    # is busy: "my-en", Enter, then "my-env" can arrive in that order.
    m = model(tags=["ok:1"])
    m.set_pending("tags", "my-en")
    m.commit("tags")
    m.set_pending("tags", "")  # the view clearing the box
    m.set_pending("tags", "my-env")
    m.set_pending("tags", "my-env:2")
    assert m.lists["tags"] == ["ok:1", "my-env:2"] and m.pending["tags"] == ""
    m.set_pending("tags", "n")  # a new item starts from the cleared box
    m.set_pending("tags", "new")
    assert m.lists["tags"] == ["ok:1", "my-env:2"] and m.pending["tags"] == "new"
    # An Enter on a duplicate added nothing: its late tail is a new item.
    m = model(tags=["ok:1"])
    m.set_pending("tags", "ok:1")
    m.commit("tags")
    m.set_pending("tags", "ok:10")
    assert m.lists["tags"] == ["ok:1", "ok:10"]


def test_listeners_hear_every_change(model):
    m = model()
    heard = []
    m.on_change(lambda: heard.append(1))
    m.set_text("memory", "1g")
    m.set_text("memory", "1g")  # no change, no call
    m.set_flag("pull", True)
    m.add_build_arg("X", "1")
    assert len(heard) >= 3 and m.options.pull and m.options.memory == 2**30


# -- build args and secrets -----------------------------------------------------------


def test_declared_args_first_with_defaults(model, ui):
    m = model(build_args={"EXTRA": "x", "PYVER": "3.11"})
    assert [r.name for r in m.rows] == ["PYVER", "TOKEN", "A", "B", "EXTRA"]
    assert m.rows[2].default_hint == "default: 1" and m.rows[1].default_hint == "no default (empty)"
    assert json.loads(query(m)["buildargs"]) == {"PYVER": "3.11", "EXTRA": "x"}
    assert ui.hints.row_note(m, m.rows[3]) == (
        '<span class="jdb-hint">ARG on line 4 · default</span>',
        False,
    )
    assert "not declared" in ui.hints.row_note(m, m.rows[4])[0]


def test_row_errors_are_per_row(model, ui):
    m = model()
    extra = m.add_build_arg("EXTRA", "1")
    extra.set_name("PYVER")
    assert m.check() is None  # the declared PYVER row is empty: not sent
    m.rows[0].set_plain("3.10")
    error = m.check()
    assert str(error) == "--build-arg: PYVER is set in two rows" and error.option == "build_args"
    assert ui.hints.row_note(m, extra)[1] and ui.hints.row_note(m, m.rows[0])[1]
    assert not ui.hints.row_note(m, m.rows[1])[1]  # TOKEN is fine
    m.rows[0].set_plain("")
    extra.set_name("bad-name")
    assert m.row_error(extra).detail.startswith("'bad-name' is not a valid build-arg name")
    extra.set_name("")
    assert str(m.check()) == "--build-arg: a row has a value but no name"
    m.remove_row(extra)
    assert extra not in m.rows and m.check() is None


def test_secrets_stay_in_the_model_and_out_of_what_is_shown(model, ui):
    m = model(build_args=["TOKEN"], env={"TOKEN": SECRET})
    token = m.rows[1]
    assert token.secret and token.get() == ("TOKEN", SECRET) and token.plain == ""
    assert "environment" in token.secret_placeholder
    assert json.loads(query(m)["buildargs"]) == {"TOKEN": SECRET}
    shown = m.magic_line() + m.command() + ui.hints.commands(m, None) + repr(m.options)
    assert "--build-arg TOKEN" in m.magic_line() and SECRET not in shown
    assert "1 secret value held" in ui.hints.args_hint(m)
    plain = m.add_build_arg("API_KEY", "typed")
    plain.set_secret(True)  # the plain value moves into hiding
    assert plain.plain == "" and plain.get() == ("API_KEY", "typed")
    plain.set_secret(False)  # unmarking forgets it rather than reveal it
    assert plain.get() == ("API_KEY", None)


# -- the daemon and builds --------------------------------------------------------------


class FakeInfo:
    def __init__(self, info=None, error=None):
        self.info, self.error, self.calls = info, error, 0

    def get_json(self, path):
        assert path == "/info"
        self.calls += 1
        if self.error:
            raise self.error
        return self.info


def test_daemon_facts_once_and_squash(model, ui):
    client = FakeInfo({"ExperimentalBuild": False, "NCPU": 4})
    m = model(client=client, squash=True)
    assert ui.hints.daemon_label(m) == '<span class="jdb-hint">daemon: not asked yet</span>'
    m.daemon.fetch()
    m.daemon.fetch()
    assert client.calls == 1
    error = m.check()
    assert error.option == "squash" and "--experimental" in str(error)
    assert ui.hints.squash_state(m) == (
        False,
        '<span class="jdb-hint">needs an <code>--experimental</code> daemon; this one is not'
        "</span>",
    )
    assert "the host has 4" in ui.hints.field_hint(m, "cpus", None)[0]
    down = model(client=FakeInfo(error=OSError("refused")))
    assert down.daemon.fetch() is None and "refused" in ui.hints.daemon_label(down)


def test_runner_states_without_a_daemon(ui):
    heard = []
    runner = ui.model.BuildRunner(lambda: heard.append(runner.running))
    gate = threading.Event()
    result = SimpleNamespace(ok=True)

    def run(cancel, on_response):
        gate.wait(5)
        if cancel.is_set():
            raise BuildError("cancelled", result=SimpleNamespace(ok=False, status="cancelled"))
        return result

    runner.start(run)
    assert runner.running and runner.count == 1
    with pytest.raises(RuntimeError, match="already building"):
        runner.start(run)
    with pytest.raises(TimeoutError):
        runner.wait(0.05)
    gate.set()
    assert runner.wait(5) is result and not runner.running and runner.error is None
    assert heard[0] is True and heard[-1] is False  # told at the start and at the end
    gate.clear()
    runner.start(run)
    runner.cancel()
    assert runner.cancelling
    gate.set()
    assert runner.wait(5).status == "cancelled"
    with pytest.raises(BuildError, match="cancelled"):
        runner.wait(1, check=True)
    runner.start(lambda cancel, on_response: 1 / 0)
    runner.wait(5)
    assert runner.error_unexpected and isinstance(runner.error, DockerBuildError)
    assert "ZeroDivisionError" in str(runner.error)


def test_status_says_how_the_last_build_went(model, ui):
    m = model()
    assert "ready" in ui.hints.status(m, None)
    m.runner.result = SimpleNamespace(
        ok=True, tags=("a:1",), short_id="abc123", elapsed=1.25, pushed=(), push_error=None
    )
    assert "✓ built <code>abc123</code> in 1.2s, 1 tag" in ui.hints.status(m, None)
    m.runner.result = SimpleNamespace(ok=False, status="cancelled")
    assert ui.hints.status(m, None) == (
        '<span class="jdb-status" style="color:#b26a00">■ cancelled: the daemon stopped the '
        "build</span>"
    )
    m.runner.result = None
    m.runner.error = DockerBuildError("no daemon at tcp://127.0.0.1:9")
    assert "tcp://127.0.0.1:9" in ui.hints.status(m, None) and "127.0.0.1:9" in ui.hints.failure(m)
    state = ui.hints.buttons(m, OptionsError("x: wrong", option="x"))
    assert state == {
        "build_disabled": True,
        "cancel_disabled": True,
        "tooltip": "Fix this first: x: wrong",
    }


class Recorder:
    """A progress view that keeps what it was shown."""

    def __init__(self):
        self.updates, self.closed = 0, None

    def update(self, state):
        self.updates += 1

    def close(self, state):
        self.closed = state


@pytest.mark.daemon
@pytest.mark.usefixtures("no_leftover_containers")
def test_the_model_builds_on_the_daemon(model, docker, base_image, tag_prefix, image_file):
    m = model(
        f"FROM {base_image}\nARG GREETING=hi\nARG TOKEN\n"
        'RUN echo "$GREETING" > /greeting && echo -n "$TOKEN" > /token\n',
        tags=[f"{tag_prefix}:model"],
        build_args={"GREETING": "from-the-model"},
        network="none",
    )
    m.rows[1].set_secret_value(SECRET)
    view = Recorder()
    m.build(lambda: view)
    result = m.runner.wait(60)
    assert result is not None and result.ok, m.runner.error
    assert docker.get_json(f"/images/{tag_prefix}:model/json")["Id"] == result.image_id
    assert image_file(result.image_id, "/greeting") == b"from-the-model\n"
    assert image_file(result.image_id, "/token") == SECRET.encode()
    assert view.closed is not None and view.updates > 0 and SECRET not in result.log
    assert m.runner.count == 1 and not m.runner.running
    start = time.monotonic()
    m.set_pending("tags", "Bad:1")  # invalid now: a build is refused before anything runs
    with pytest.raises(OptionsError, match="lowercase"):
        m.build(Recorder)
    assert m.runner.count == 1 and time.monotonic() - start < 1


def test_the_form_flags_the_field_an_error_names_not_the_one_its_text_names(model, ui):
    # The field comes from .option alone: a message starting with another flag (or with
    # none) flags the field it is about.
    m = model(memory="512m", cpu_period="100000", cpu_quota="50000")
    error = OptionsError("-m/--memory: looks like memory, is about the quota", option="cpu_quota")
    assert ui.hints.field_hint(m, "cpu_quota", error)[1]
    assert not ui.hints.field_hint(m, "memory", error)[1]
    assert ui.hints.field_invalid(m, "target", OptionsError("no flag here", option="target"))
    assert not ui.hints.field_invalid(m, "network", OptionsError("--network: x", option=None))
