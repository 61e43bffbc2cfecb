"""The build form without a browser: fields set from Python, what would be sent, what is
shown, and that a secret build arg never reaches a widget's state; then real builds
(one, four at once, a cancel) on the daemon from background threads.
"""

from __future__ import annotations

import json
import threading
import time

import ipywidgets as widgets
import pytest
from IPython.core.interactiveshell import InteractiveShell
from ipywidgets.embed import dependency_state

from jupyter_dockerbuild.errors import OptionsError
from jupyter_dockerbuild.ui.form import (
    SECRET_SET,
    BuildForm,
    DeclaredArg,
    cpus_to_cfs,
    declared_args,
)

DOCKERFILE = (
    'FROM local/busybox:latest\nARG PYVER=3.12\nARG TOKEN\nARG A=1 B="two words"\nRUN echo $PYVER\n'
)
SECRET = "hunter2-s3cr3t-value"


class FakeInfo:
    """Stands in for DockerClient where only ``/info`` is asked."""

    def __init__(self, info=None, error=None):
        self.info, self.error, self.calls = info, error, 0

    def get_json(self, path):
        assert path == "/info"
        self.calls += 1
        if self.error:
            raise self.error
        return self.info

    def close(self):
        pass


def form(dockerfile=DOCKERFILE, **kw):
    kw.setdefault("env", {})
    return BuildForm(dockerfile, **kw)


def query(f):
    return dict(f.options.to_query())


def row(f, name):
    return next(r for r in f.arg_rows if r.name.value == name)


def all_states(f):
    """Every synced state of the form's widget tree, as the notebook would save it."""
    return json.dumps(dependency_state(f.widget, drop_defaults=False), default=str)


# -- pure helpers ------------------------------------------------------------------


def test_declared_args_in_order_with_defaults():
    args = declared_args(
        DOCKERFILE + "FROM local/busybox:latest AS two\nARG PYVER\nARG TOKEN=late\n"
    )
    assert args == [
        DeclaredArg("PYVER", "3.12", 2),
        DeclaredArg("TOKEN", "late", 3),  # first declared without, a later default fills it
        DeclaredArg("A", "1", 4),
        DeclaredArg("B", "two words", 4),
    ]
    assert declared_args("FROM x\nARG V=1 \\\n  W\nRUN true\n") == [
        DeclaredArg("V", "1", 2),
        DeclaredArg("W", None, 2),
    ]
    assert declared_args(None) == [] and declared_args("FROM x\n# ARG NOPE\n") == []


def test_cpus_to_period_and_quota():
    assert cpus_to_cfs("1.5") == (100_000, 150_000)
    assert cpus_to_cfs(0.25) == (100_000, 25_000)
    assert cpus_to_cfs("0.01") == (100_000, 1000)
    for bad in ("abc", "0", "-1", "0.001"):
        with pytest.raises(OptionsError, match="--cpus"):
            cpus_to_cfs(bad)


# -- pre-filling -------------------------------------------------------------------


def test_declared_args_offered_first_with_defaults_and_not_sent_when_empty():
    f = form(build_args={"EXTRA": "x", "PYVER": "3.11"})
    assert [r.name.value for r in f.arg_rows] == ["PYVER", "TOKEN", "A", "B", "EXTRA"]
    assert row(f, "PYVER").value.value == "3.11"
    assert row(f, "A").value.placeholder == "default: 1"
    assert row(f, "TOKEN").value.placeholder == "no default (empty)"
    assert row(f, "PYVER").name.disabled and not row(f, "EXTRA").name.disabled
    # Empty declared rows are not sent: the Dockerfile's default applies.
    assert json.loads(query(f)["buildargs"]) == {"PYVER": "3.11", "EXTRA": "x"}
    assert "· default" in row(f, "A").note.value
    assert "line 4" in row(f, "B").note.value


def test_magic_line_prefills_the_form():
    shell = InteractiveShell.instance()
    shell.run_line_magic("load_ext", "jupyter_dockerbuild")
    res = shell.run_cell(
        "%%dockerbuild --form -t a:1 -t a:latest -m 512m --memory-swap -1 --build-arg X=1 "
        "--build-arg PYVER=3.13 --cpu-period 100000 --cpu-quota 50000 --no-cache "
        "--network none --label team=ml --add-host db:10.0.0.5 --rm=false\n" + DOCKERFILE
    )
    assert res.success, res.error_in_exec
    f = res.result
    assert isinstance(f, BuildForm)
    assert list(f.tags.value) == ["a:1", "a:latest"]
    assert f.memory.value == "512m" and f.memory_swap.value == "-1"
    assert f.cpus.value == "0.5"
    assert f.no_cache.value and not f.rm.value and not f.force_rm.value
    assert f.network.value == "none"
    assert f.line_offset == 1
    q = f.options.to_query()
    assert ("t", "a:1") in q and ("t", "a:latest") in q
    assert dict(q)["memory"] == str(512 * 2**20) and dict(q)["memswap"] == "-1"
    assert dict(q)["cpuperiod"] == "100000" and dict(q)["cpuquota"] == "50000"
    assert json.loads(dict(q)["buildargs"]) == {"PYVER": "3.13", "X": "1"}
    assert dict(q)["labels"] == '{"team": "ml"}' and dict(q)["extrahosts"] == "db:10.0.0.5"
    assert (dict(q)["rm"], dict(q)["forcerm"], dict(q)["nocache"]) == ("0", "0", "1")
    assert f.magic_line.startswith("%%dockerbuild -t a:1 -t a:latest --build-arg PYVER=3.13")
    assert "--rm=false" in f.magic_line and "--force-rm=false" in f.magic_line
    assert f.command.startswith("docker build -t a:1") and f.command.endswith(" -")
    # --form is listed by %%dockerbuild? with the other flags.
    assert "--form" in shell.find_cell_magic("dockerbuild").__doc__


def test_invalid_magic_values_prefill_flagged_instead_of_raising():
    shell = InteractiveShell.instance()
    shell.run_line_magic("load_ext", "jupyter_dockerbuild")
    res = shell.run_cell("%%dockerbuild --form -t Bad:1 -m 1k\n" + DOCKERFILE)
    assert res.success, res.error_in_exec
    f = res.result
    assert f.build_button.disabled
    assert f.invalid_reason.startswith("-t/--tag: 'Bad:1'")
    assert "lowercase" in f.tags_hint.value
    f.tags.value = ["good:1"]
    assert f.invalid_reason.startswith("-m/--memory: 1KiB is below the minimum")
    assert "jdb-invalid" in f.memory._dom_classes


def test_unknown_keyword_raises():
    with pytest.raises(OptionsError, match=r"unknown build option.*memroy"):
        form(memroy="1g")


# -- live validation ---------------------------------------------------------------


def test_tags_validated_and_each_invalid_one_flagged_with_the_reason():
    f = form(tags=["ok:1"])
    assert not f.build_button.disabled and f.invalid_reason is None
    f.tags.value = ["ok:1", "MyEnv:1", "x:bad tag"]
    assert f.build_button.disabled
    assert f.invalid_reason == (
        "-t/--tag: 'MyEnv:1' is not a valid image name (repository names must be "
        "lowercase); use lowercase letters, digits and separators . _ - /, like myenv:1 "
        "or localhost:5000/team/env:latest"
    )
    hint = f.tags_hint.value
    assert "MyEnv:1" in hint and "lowercase" in hint
    assert "x:bad tag" in hint and "invalid tag" in hint
    # Each bad tag (the 2nd and 3rd chip) is coloured; the good one is not.
    css = f._tag_css.value
    assert "nth-child(2)" in css and "nth-child(3)" in css and "nth-child(1)" not in css
    assert "✗" in f.status.value and "lowercase" in f.status.value
    assert "fix this first" in f.commands.value
    with pytest.raises(OptionsError, match="lowercase"):
        f.build()
    f.tags.value = ["ok:1", "myenv:1"]
    assert not f.build_button.disabled and f._tag_css.value == ""
    assert "-t ok:1 -t myenv:1" in f.commands.value


def press_enter(text):
    """What the browser sends when Enter is pressed in a Text widget."""
    text._handle_custom_msg({"event": "submit"}, [])


def test_tag_checked_as_typed_and_added_on_enter():
    f = form(tags=["ok:1"])
    f.tag_input.value = "My"
    assert "✗" in f.tags_hint.value and "lowercase" in f.tags_hint.value
    assert "jdb-invalid" in f.tag_input._dom_classes and f.build_button.disabled
    f.tag_input.value = "my-env:2"
    assert "✓" in f.tags_hint.value and "Enter adds it" in f.tags_hint.value
    # What is typed counts before Enter: the commands and the query show it.
    assert "-t ok:1 -t my-env:2" in f.magic_line and not f.build_button.disabled
    press_enter(f.tag_input)
    assert list(f.tags.value) == ["ok:1", "my-env:2"] and f.tag_input.value == ""
    press_enter(f.tag_input)  # nothing typed: nothing added
    f.tag_input.value = "ok:1"
    press_enter(f.tag_input)  # a duplicate is not added twice
    assert list(f.tags.value) == ["ok:1", "my-env:2"]
    f.labels_input.value = "team=ml"
    press_enter(f.labels_input)
    f.extra_hosts_input.value = "db:not-an-ip"
    assert f.invalid_reason.startswith("--add-host: 'db:not-an-ip'")
    assert "jdb-invalid" in f.extra_hosts_input._dom_classes
    press_enter(f.extra_hosts_input)
    assert list(f.extra_hosts.value) == ["db:not-an-ip"]
    assert "jdb-invalid" in f.extra_hosts._dom_classes
    f.extra_hosts.value = []
    assert f.invalid_reason is None and query(f)["labels"] == '{"team": "ml"}'


def test_sizes_show_bytes_and_check_memory_swap_and_minimum():
    f = form()
    f.memory.value = "512m"
    assert "536,870,912</code> B (512MiB)" in f._field_hints["memory"].value
    assert query(f)["memory"] == "536870912"
    f.shm_size.value = "1.5g"
    assert "1,610,612,736" in f._field_hints["shm_size"].value
    f.memory_swap.value = "256m"
    assert f.build_button.disabled
    assert f.invalid_reason.startswith("--memory-swap (256MiB) must be at least -m/--memory")
    assert "jdb-invalid" in f.memory_swap._dom_classes
    assert "jdb-invalid" not in f.memory._dom_classes
    f.memory_swap.value = "-1"
    assert f.invalid_reason is None and query(f)["memswap"] == "-1"
    assert "unlimited" in f._field_hints["memory_swap"].value
    f.memory_swap.value = "1g"
    assert query(f)["memswap"] == str(2**30)
    f.memory.value = "5m"
    assert f.invalid_reason.startswith("-m/--memory: 5MiB is below the minimum of 6MiB")
    assert "below Docker's minimum" in f._field_hints["memory"].value
    f.memory.value = "6m"
    assert f.invalid_reason is None
    f.memory.value = "lots"
    assert "is not a size" in f._field_hints["memory"].value and f.build_button.disabled
    f.memory.value = ""
    assert f.invalid_reason.startswith("--memory-swap needs -m/--memory")


def test_cpus_fill_period_and_quota_both_ways():
    f = form()
    f.cpus.value = "1.5"
    assert (f.cpu_period.value, f.cpu_quota.value) == ("100000", "150000")
    assert "<code>150000</code> µs per <code>100000</code> µs" in f._field_hints["cpus"].value
    q = query(f)
    assert (q["cpuperiod"], q["cpuquota"]) == ("100000", "150000")
    f.cpu_quota.value = "50000"
    assert f.cpus.value == "0.5"
    f.cpus.value = "two"
    assert f.invalid_reason.startswith("--cpus: 'two' is not a number")
    assert "jdb-invalid" in f.cpus._dom_classes and f.build_button.disabled
    f.cpus.value = ""
    assert f.cpu_period.value == f.cpu_quota.value == ""
    assert "cpuperiod" not in query(f)
    f.cpu_shares.value = "1"
    assert f.invalid_reason.startswith("--cpu-shares: 1 is out of range")
    f.cpu_shares.value = "512"
    f.cpuset_cpus.value = "0-1"
    assert (query(f)["cpushares"], query(f)["cpusetcpus"]) == ("512", "0-1")


def test_options_map_to_the_query():
    f = form()
    f.no_cache.value = f.pull.value = f.quiet.value = True
    f.rm.value = False
    f.network.value = "none"
    f.target.value = "build"
    f.extra_hosts.value = ["db:10.0.0.5"]
    f.labels.value = ["team=ml", "course=intro"]
    f.cache_from.value = ["local/busybox:latest"]
    q = f.options.to_query()
    d = dict(q)
    assert (d["nocache"], d["pull"], d["q"], d["rm"], d["forcerm"]) == ("1", "1", "1", "0", "1")
    assert d["networkmode"] == "none" and d["target"] == "build"
    assert d["extrahosts"] == "db:10.0.0.5"
    assert json.loads(d["labels"]) == {"team": "ml", "course": "intro"}
    assert json.loads(d["cachefrom"]) == ["local/busybox:latest"]
    f.network.value = "default"
    assert "networkmode" not in dict(f.options.to_query())
    f.extra_hosts.value = ["db"]
    assert f.invalid_reason.startswith("--add-host: 'db' must be HOST:IP")
    assert "jdb-invalid" in f.extra_hosts._dom_classes


def test_build_arg_rows_add_remove_and_errors():
    f = form()
    r = f.add_build_arg("EXTRA", "1")
    assert json.loads(query(f)["buildargs"]) == {"EXTRA": "1"}
    assert "not declared" in r.note.value
    r.name.value = "bad-name"
    assert "not a valid build-arg name" in f.invalid_reason and f.build_button.disabled
    r.name.value = "PYVER"  # the declared row is empty: this row's value is sent
    assert json.loads(query(f)["buildargs"]) == {"PYVER": "1"}
    row(f, "PYVER").value.value = "3.10"
    assert f.invalid_reason == "--build-arg: PYVER is set in two rows"
    assert "jdb-invalid" in r.name._dom_classes
    row(f, "PYVER").value.value = ""
    r.name.value = ""
    assert f.invalid_reason == "--build-arg: a row has a value but no name"
    r.remove.click()
    assert r not in f.arg_rows and f.invalid_reason is None
    # A declared ARG fills its own row; its eraser clears it back to the default.
    py = f.add_build_arg("PYVER", "3.9")
    assert py is row(f, "PYVER") and json.loads(query(f)["buildargs"]) == {"PYVER": "3.9"}
    py.remove.click()
    assert py in f.arg_rows and "buildargs" not in query(f)
    f.add_arg_button.click()
    assert f.arg_rows[-1].name.value == "" and len(f._rows_box.children) == len(f.arg_rows)


def test_missing_dockerfile_disables_build():
    f = form("# nothing yet\n")
    assert f.invalid_reason.startswith("there is no Dockerfile")
    assert f.build_button.disabled


# -- secrets -------------------------------------------------------------------------


def test_secret_typed_in_the_browser_stays_kernel_side(monkeypatch):
    sent = []
    monkeypatch.setattr(
        widgets.Widget, "_send", lambda self, msg, buffers=None: sent.append(json.dumps(msg))
    )
    f = form(tags=["t:1"])
    token = row(f, "TOKEN")
    token.secret.value = True
    assert token.box.children[1] is token.secret_input
    # What the frontend sends when the person presses Enter in the password field.
    token.secret_input.set_state({"value": SECRET})
    assert token.secret_input.value == "" and token.secret_input.placeholder == SECRET_SET
    assert token.get() == ("TOKEN", SECRET)
    # Sent to the daemon ...
    assert json.loads(query(f)["buildargs"]) == {"TOKEN": SECRET}
    # ... but never in a widget's state (what a saved notebook keeps), never echoed back
    # to the browser, never in the commands, the repr or any HTML of the form.
    assert SECRET not in all_states(f)
    for w in list(widgets.widget._instances.values()):
        assert SECRET not in json.dumps(w.get_state(), default=str)
    assert sent and not [m for m in sent if SECRET in m]
    assert "--build-arg TOKEN " in f.magic_line + " " and SECRET not in f.magic_line
    assert SECRET not in f.command and SECRET not in f.commands.value
    assert SECRET not in repr(f) and "'TOKEN': '***'" in repr(f)
    assert "1 secret value held in the kernel" in f.args_hint.value


def test_plain_value_made_secret_moves_out_and_unmarking_forgets_it():
    f = form()
    r = f.add_build_arg("API_KEY", SECRET)
    assert SECRET in all_states(f)  # plain text is plain text
    r.secret.value = True
    assert r.value.value == "" and r.get() == ("API_KEY", SECRET)
    assert SECRET not in all_states(f)
    assert "--build-arg API_KEY" in f.magic_line and SECRET not in f.magic_line
    r.secret.value = False  # unmarking forgets the hidden value rather than reveal it
    assert r.get() == ("API_KEY", None) and SECRET not in all_states(f)
    r.set_secret(SECRET)
    assert r.is_secret and r.get()[1] == SECRET and SECRET not in all_states(f)


def test_bare_build_arg_from_the_environment_is_secret():
    f = form(build_args=["TOKEN", "PLAIN=1"], env={"TOKEN": SECRET})
    token = row(f, "TOKEN")
    assert token.is_secret and token.get()[1] == SECRET
    assert "environment" in token.secret_input.placeholder
    assert SECRET not in all_states(f) and SECRET not in f.magic_line
    assert json.loads(query(f)["buildargs"]) == {"TOKEN": SECRET, "PLAIN": "1"}
    assert "docker history" in all_states(f)  # the warning is shown


# -- the daemon's /info ----------------------------------------------------------------


def test_squash_disabled_with_a_reason_on_a_non_experimental_daemon():
    client = FakeInfo({"ExperimentalBuild": False, "NCPU": 2, "ServerVersion": "20.10.24"})
    f = form(client=client)
    assert client.calls == 0  # lazily: nothing is asked before the form is shown
    f._repr_mimebundle_()
    for _ in range(100):
        if client.calls and "Docker 20.10.24" in f.daemon_label.value:
            break
        time.sleep(0.02)
    assert client.calls == 1
    assert f.squash.disabled and "--experimental" in f.squash_hint.value
    assert "2 CPUs" in f.daemon_label.value
    f.refresh_daemon_info()
    assert client.calls == 1  # once
    # Pre-ticked squash stays clickable (to untick) and blocks the build with the reason.
    g = form(client=FakeInfo({"ExperimentalBuild": False}), squash=True)
    g.refresh_daemon_info()
    assert not g.squash.disabled and g.build_button.disabled
    assert "--squash needs a daemon started with --experimental" in g.invalid_reason
    g.squash.value = False
    assert g.squash.disabled and not g.build_button.disabled


def test_experimental_daemon_allows_squash():
    f = form(client=FakeInfo({"ExperimentalBuild": True}))
    f.refresh_daemon_info()
    f.squash.value = True
    assert not f.squash.disabled and query(f)["squash"] == "1"


def test_unreachable_daemon_is_tolerated():
    f = form(host="tcp://127.0.0.1:9")
    assert f.refresh_daemon_info() is None
    assert "not reachable" in f.daemon_label.value
    assert not f.squash.disabled and "could not ask" in f.squash_hint.value
    assert f.invalid_reason is None  # the fields are still usable


# -- real builds ---------------------------------------------------------------------


def _containers_of(docker, token):
    """Containers whose command carries ``token`` (only this test's, whatever else runs)."""
    return [c for c in docker.containers(all=True) if token in c.get("Command", "")]


@pytest.mark.daemon
@pytest.mark.usefixtures("no_leftover_containers")
def test_form_builds_and_rebuilds_on_the_daemon(docker, base_image, tag_prefix, image_file):
    f = BuildForm(
        f"FROM {base_image}\nARG GREETING=hi\nARG TOKEN\n"
        'RUN echo "$GREETING" > /greeting && echo -n "$TOKEN" > /token\n',
        tags=[f"{tag_prefix}:1", f"{tag_prefix}:latest"],
        build_args={"GREETING": "hello"},
        network="none",
    )
    row(f, "TOKEN").set_secret(SECRET)
    f.build()
    assert f.running and f.build_button.disabled and not f.cancel_button.disabled
    result = f.wait(60)
    assert result is not None and result.ok, f.error
    assert result.tags == (f"{tag_prefix}:1", f"{tag_prefix}:latest")
    info = docker.get_json(f"/images/{tag_prefix}:1/json")
    assert info["Id"] == result.image_id
    assert docker.get_json(f"/images/{tag_prefix}:latest/json")["Id"] == result.image_id
    assert image_file(result.image_id, "/greeting") == b"hello\n"
    assert image_file(result.image_id, "/token") == SECRET.encode()
    assert SECRET not in result.log and SECRET not in f.progress.value
    assert "Built" in f.progress.value and result.image_id[:19] in f.progress.value
    assert "interrupt the kernel" not in f.progress.value
    assert "✓ built" in f.status.value and not f.build_button.disabled
    assert f.cancel_button.disabled
    # Change values and build again, as often as wanted.
    f.tags.value = [f"{tag_prefix}:2"]
    row(f, "GREETING").value.value = "again"
    f.memory.value = "64m"
    f.labels.value = ["round=2"]
    f.build()
    second = f.wait(60)
    assert second.ok and second.image_id != result.image_id and f.result is second
    assert image_file(second.image_id, "/greeting") == b"again\n"
    info = docker.get_json(f"/images/{tag_prefix}:2/json")
    assert info["Config"]["Labels"]["round"] == "2"
    assert f.builds == 2


@pytest.mark.daemon
@pytest.mark.usefixtures("no_leftover_containers")
def test_four_forms_build_concurrently(docker, base_image, tag_prefix):
    forms = [
        BuildForm(
            f"FROM {base_image}\nARG N\nRUN sleep 1 && echo form-$N\n",
            tags=[f"{tag_prefix}:form{i}"],
            build_args={"N": str(i)},
            no_cache=True,
            network="none",
        )
        for i in range(4)
    ]
    started = time.monotonic()
    for f in forms:
        f.build()
    assert all(f.running for f in forms)
    results = [f.wait(90) for f in forms]
    elapsed = time.monotonic() - started
    assert all(r is not None and r.ok for r in results), [f.error for f in forms]
    ids = {r.image_id for r in results}
    assert len(ids) == 4
    for i, r in enumerate(results):
        assert docker.get_json(f"/images/{tag_prefix}:form{i}/json")["Id"] == r.image_id
        assert f"form-{i}" in r.log and all(f"form-{j}" not in r.log for j in range(4) if j != i)
    # Concurrent, not one after another (each has a 1 s RUN step).
    assert elapsed < 4 * 1.0 + 6, elapsed


@pytest.mark.daemon
@pytest.mark.usefixtures("no_leftover_containers")
def test_cancel_stops_the_build_on_the_daemon(docker, base_image, tag_prefix):
    f = BuildForm(
        # The marker is printed by the RUN step, not part of its instruction text.
        f"FROM {base_image}\nRUN x=run; echo ${{x}}ning-marker {tag_prefix} && sleep 120\n",
        tags=[f"{tag_prefix}:cancelled"],
        no_cache=True,
        network="none",
    )
    f.build()
    deadline = time.monotonic() + 30
    while "running-marker" not in f.progress.value and time.monotonic() < deadline:
        time.sleep(0.1)
    assert "running-marker" in f.progress.value, f.progress.value
    assert _containers_of(docker, tag_prefix), "the RUN container should be running"
    t0 = time.monotonic()
    f.cancel_button.click()
    result = f.wait(10)
    assert time.monotonic() - t0 < 5
    assert result is not None and result.status == "cancelled"
    assert "Cancelled" in f.progress.value and "cancelled" in f.status.value
    assert not f.build_button.disabled and f.cancel_button.disabled
    # The daemon killed and removed the RUN container.
    deadline = time.monotonic() + 5
    while _containers_of(docker, tag_prefix) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not _containers_of(docker, tag_prefix)
    with pytest.raises(Exception, match=r"No such image|404|not found"):
        docker.get_json(f"/images/{tag_prefix}:cancelled/json")
    with pytest.raises(Exception, match="cancelled"):
        f.wait(1, check=True)


@pytest.mark.daemon
def test_cancel_before_the_daemon_answers_is_honoured(base_image, tag_prefix):
    f = BuildForm(f"FROM {base_image}\nRUN sleep 120\n", no_cache=True, network="none")
    f.build()
    f.cancel()  # at once: before or right after the request
    result = f.wait(15)
    assert result is not None and result.status == "cancelled"


def test_build_errors_without_a_daemon_are_shown_not_lost():
    f = form(host="tcp://127.0.0.1:9")
    f.build()
    assert f.wait(30) is None
    assert f.error is not None and "127.0.0.1:9" in str(f.error)
    assert "127.0.0.1:9" in f.progress.value or "127.0.0.1:9" in f.status.value
    assert not f.build_button.disabled


def test_second_build_while_running_is_refused():
    gate = threading.Event()
    f = form()
    f.model.runner._thread = threading.Thread(target=gate.wait)
    f.model.runner._thread.start()
    try:
        with pytest.raises(RuntimeError, match="already building"):
            f.build()
    finally:
        gate.set()
        f.model.runner._thread.join()


def _widget_count() -> int:
    return len(widgets.widget._instances)


def test_removed_build_arg_rows_close_their_widgets():
    f = form()
    before = _widget_count()
    for i in range(3):
        r = f.add_build_arg(f"EXTRA{i}", "v")
        parts = [r.box, r.name, r.value, r.secret_input, r.secret, r.remove, r.note]
        assert _widget_count() > before
        r.remove.click()
        assert "EXTRA" not in f.magic_line
        # Gone from the kernel (and so from every frontend), layouts and styles too.
        assert _widget_count() == before, f"row {i} left {_widget_count() - before} widgets"
        assert all(w.comm is None for w in parts)
    assert [r.name.value for r in f.arg_rows] == ["PYVER", "TOKEN", "A", "B"]


@pytest.mark.daemon
def test_form_builds_leave_no_widgets_behind(base_image):
    f = BuildForm(f"FROM {base_image}\nRUN echo form-leak\n", network="none", env={})
    counts = []
    for _ in range(4):
        f.build()
        result = f.wait(60)
        assert result is not None and result.ok, f.error
        counts.append(_widget_count())
    assert counts == [counts[0]] * 4, counts
    assert "Built" in f.progress.value
