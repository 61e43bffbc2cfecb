"""Build secrets and ssh agents through the BuildKit session of a real daemon.

A ``RUN --mount=type=secret`` step proves it got the value by comparing its checksum
(never printing it); then the value is looked for, and must be absent, everywhere a
person or a file could see it: ``docker save`` of the image (every layer, decompressed),
its history and inspect, the build log, the result's text and HTML, the view, and a
notebook executed in a real kernel and saved. Each scan is shown to be a real one: it
finds a marker that the build did put there.

The ssh agent is OpenSSH's ``ssh-agent`` with a generated key; a ``RUN --mount=type=ssh``
step lists the agent's keys with a small static program (busybox has no ssh client)
and the key's comment must come back. Nothing may be left afterwards: no thread, no
socket, no open file of the build.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import shutil
import subprocess
import tarfile
import threading
import time
import uuid
from pathlib import Path

import pytest
from agentutil import COMMENT, have_openssh, identities, start_agent, stop_agent
from viewutil import RecordingView

import jupyter_dockerbuild as jd
from jupyter_dockerbuild.builder.options import BuildOptions
from jupyter_dockerbuild.builder.pipeline import execute
from jupyter_dockerbuild.builder.result import render_summary
from jupyter_dockerbuild.errors import BuildError

pytestmark = pytest.mark.daemon

AGENTQ = Path(__file__).parent / "data" / "agentq" / "agentq.c"


@pytest.fixture
def secret(tmp_path, monkeypatch):
    """A value unlike anything else, in a file and in an environment variable."""
    value = f"jdb-secret-{uuid.uuid4().hex}"
    path = tmp_path / "token.txt"
    path.write_text(value)
    monkeypatch.setenv("JDB_TEST_SECRET", value + "-env")
    return value, path


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _saved_bytes(docker, image: str) -> bytes:
    """``docker save`` of ``image``, each member decompressed: what any layer holds."""
    resp = docker.request("GET", f"/images/{image}/get", stream=True, timeout=120)
    out = io.BytesIO()
    with tarfile.open(fileobj=io.BytesIO(resp.content)) as tar:
        for member in tar.getmembers():
            fh = tar.extractfile(member)
            if fh is None:
                continue
            data = fh.read()
            if data[:2] == b"\x1f\x8b":  # gzip layers (the containerd image store)
                data = gzip.decompress(data)
            out.write(data)
    return out.getvalue()


def _fds() -> set[str]:
    return set(os.listdir("/proc/self/fd"))


def _settle(before_threads: int, before_fds: set[str]) -> tuple[int, set[str]]:
    """Threads and new fds after the build, giving closing threads a moment to end."""
    deadline = time.monotonic() + 5
    while True:
        extra = _fds() - before_fds
        if (threading.active_count() <= before_threads and not extra) or (
            time.monotonic() > deadline
        ):
            return threading.active_count(), extra
        time.sleep(0.05)


def test_a_secret_reaches_its_step_and_nowhere_else(docker, base_image, tag_prefix, secret):
    value, path = secret
    env_value = value + "-env"
    marker = f"jdb-marker-{uuid.uuid4().hex}"
    dockerfile = (
        f"FROM {base_image}\n"
        f"RUN echo {marker} > /marker\n"
        "RUN --mount=type=secret,id=tok test \"$(sha256sum < /run/secrets/tok | cut -d' ' -f1)\""
        f" = {_sha(value)} && echo file-secret-ok\n"
        "RUN --mount=type=secret,id=envtok,required=true "
        "test \"$(sha256sum < /run/secrets/envtok | cut -d' ' -f1)\""
        f" = {_sha(env_value)} && echo env-secret-ok\n"
        # An optional mount of an id that was not given: skipped (NOT_FOUND), no file.
        "RUN --mount=type=secret,id=absent test ! -e /run/secrets/absent && echo absent-ok\n"
        "RUN test ! -e /run/secrets/tok && echo gone-after-the-step\n"
    )
    tag = f"{tag_prefix}:secret"
    threads, fds = threading.active_count(), _fds()
    view = RecordingView()
    options = BuildOptions.from_user(
        tags=[tag],
        no_cache=True,
        secrets=[f"id=tok,src={path}", "id=envtok,env=JDB_TEST_SECRET"],
    )
    result = execute(dockerfile, options, builder="buildkit", view=view)
    for word in ("file-secret-ok", "env-secret-ok", "absent-ok", "gone-after-the-step"):
        assert word in result.log, word
    after_threads, extra = _settle(threads, fds)
    assert after_threads <= threads and not extra, (threading.enumerate(), extra)

    def absent(where: str, text: str | bytes) -> None:
        for v in (value, env_value):
            needle = v.encode() if isinstance(text, bytes) else v
            assert needle not in text, f"the secret is in {where}"

    saved = _saved_bytes(docker, tag)
    assert marker.encode() in saved  # the scan reads the layers' files
    absent("docker save of the image", saved)
    history = json.dumps(docker.get_json(f"/images/{tag}/history"))
    assert _sha(value) in history  # the RUN lines are there, with the checksum only
    absent("the image's history", history)
    absent("docker inspect", json.dumps(docker.get_json(f"/images/{tag}/json")))
    absent("the build log", result.log)
    absent("the options", repr(options) + options.to_cli() + options.to_cli(magic=True))
    absent("the result", repr(result) + render_summary(result))
    assert "env-secret-ok" in view.text.getvalue() and view.html
    absent("the text view", view.text.getvalue())
    absent("the widget's HTML", "".join(view.html))


def test_a_required_secret_not_given_fails_naming_it(base_image, tag_prefix, secret):
    _, path = secret
    dockerfile = (
        f"FROM {base_image}\n"
        "RUN --mount=type=secret,id=missing,required=true cat /run/secrets/missing\n"
    )
    with pytest.raises(BuildError) as info:
        jd.build(
            dockerfile, tags=[f"{tag_prefix}:x"], builder="buildkit", secrets=[f"id=tok,src={path}"]
        )
    # The step's name differs by engine ("[2/2]", "[stage-0 2/2]"); the words do not.
    assert str(info.value).startswith("line 2: [")
    assert str(info.value).endswith(
        "2/2] RUN --mount=type=secret,id=missing,required=true cat /run/secrets/missing: the "
        "step needs the secret 'missing', which the build was not given; add --secret "
        "id=missing,src=PATH (a file) or --secret id=missing,env=VARIABLE"
    )


@pytest.mark.kernel
def test_a_notebook_built_with_a_secret_keeps_only_the_reference(
    base_image, tag_prefix, secret, tmp_path
):
    import nbformat
    from nbclient import NotebookClient

    value, path = secret
    nb = nbformat.v4.new_notebook()
    magic = (
        f"%%dockerbuild -t {tag_prefix}:nb --builder buildkit --no-cache "
        f"--secret id=tok,src={path} --out res\n"
    )
    nb.cells = [
        nbformat.v4.new_code_cell("%load_ext jupyter_dockerbuild"),
        nbformat.v4.new_code_cell(
            magic
            + f"FROM {base_image}\n"
            + "RUN --mount=type=secret,id=tok,required=true "
            + "test \"$(sha256sum < /run/secrets/tok | cut -d' ' -f1)\""
            + f" = {_sha(value)} && echo notebook-secret-ok\n"
        ),
        nbformat.v4.new_code_cell("res"),
        nbformat.v4.new_code_cell("print(res.log)"),
        nbformat.v4.new_code_cell(
            "import jupyter_dockerbuild as jd\n"
            f"form = jd.BuildForm('FROM {base_image}\\n', secrets=['id=tok,src={path}'])\nform"
        ),
    ]
    NotebookClient(nb, timeout=300, kernel_name="python3", store_widget_state=True).execute()
    saved = tmp_path / "built.ipynb"
    nbformat.write(nb, saved)
    text = saved.read_text()
    assert "notebook-secret-ok" in text and f"id=tok,src={path}" in text
    assert value not in text


# -- ssh ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def agent():
    if not have_openssh():
        pytest.skip("needs OpenSSH's ssh-agent")
    running = start_agent()
    yield running.socket
    stop_agent(running)


@pytest.fixture(scope="module")
def agentq(tmp_path_factory) -> Path:
    """``agentq`` built static, in a context directory of its own."""
    if shutil.which("gcc") is None:
        pytest.skip("needs gcc to build the agent client run inside the image")
    directory = tmp_path_factory.mktemp("agentq")
    subprocess.run(
        ["gcc", "-static", "-O2", "-o", str(directory / "agentq"), str(AGENTQ)],
        check=True,
        capture_output=True,
    )
    return directory


def test_the_agent_forwards_into_a_run_step_and_nothing_is_left(
    base_image, tag_prefix, agent, agentq, monkeypatch
):
    monkeypatch.setenv("SSH_AUTH_SOCK", agent)
    dockerfile = (
        f"FROM {base_image}\n"
        "COPY agentq /agentq\n"
        'RUN --mount=type=ssh,required=true keys="$(/agentq)" && echo "$keys" '
        f"&& echo \"$keys\" | grep -qx 'comment {COMMENT}'\n"
        "RUN --mount=type=ssh,id=work,required=true /agentq | grep -qx 'keys 1' && echo work-ok\n"
    )
    threads, fds = threading.active_count(), _fds()
    result = jd.build(
        dockerfile,
        context=agentq,
        tags=[f"{tag_prefix}:ssh"],
        builder="buildkit",
        no_cache=True,
        ssh=["default", f"work={agent}"],
    )
    assert f"comment {COMMENT}" in result.log and "keys 1" in result.log
    assert "work-ok" in result.log
    after_threads, extra = _settle(threads, fds)
    assert after_threads <= threads and not extra, (threading.enumerate(), extra)
    assert identities(agent) == [COMMENT]  # the agent is as it was


def test_an_ssh_mount_whose_id_was_not_forwarded_fails_naming_it(
    base_image, tag_prefix, agent, monkeypatch
):
    monkeypatch.setenv("SSH_AUTH_SOCK", agent)
    dockerfile = f"FROM {base_image}\nRUN --mount=type=ssh,id=other,required=true true\n"
    with pytest.raises(BuildError) as info:
        jd.build(dockerfile, tags=[f"{tag_prefix}:x"], builder="buildkit", ssh=["default"])
    assert str(info.value).startswith("line 2: [")
    assert str(info.value).endswith(
        "2/2] RUN --mount=type=ssh,id=other,required=true true: the step needs the ssh agent "
        "'other', which the build was not given (it has: default); add --ssh other=SOCKET"
    )
    # Without any --ssh, the daemon's own words ("no SSH key forwarded") name the flag too.
    dockerfile = f"FROM {base_image}\nRUN --mount=type=ssh,required=true true\n"
    with pytest.raises(BuildError) as info:
        jd.build(dockerfile, tags=[f"{tag_prefix}:y"], builder="buildkit")
    assert str(info.value).endswith(
        "the step needs the ssh agent 'default', which the build was not given; add "
        "--ssh default (forwards $SSH_AUTH_SOCK) or --ssh default=SOCKET"
    )


def test_a_build_cancelled_while_a_step_holds_the_agent_leaves_nothing(
    base_image, tag_prefix, agent, agentq, monkeypatch
):
    # (BuildKit runs its steps outside the containers API: no_leftover_containers would
    # see only other builds on the shared daemon.)
    monkeypatch.setenv("SSH_AUTH_SOCK", agent)
    dockerfile = (
        f"FROM {base_image}\nCOPY agentq /agentq\nRUN --mount=type=ssh,required=true /agentq hold\n"
    )
    cancel = threading.Event()
    responses = []

    class CancelWhenListed(RecordingView):
        def update(self, state) -> None:
            super().update(state)
            if "keys 1" in self.text.getvalue() and not cancel.is_set():
                # The step is connected to the agent, and stays so: cancel as the form's
                # Cancel button does (the event, and the response closed).
                cancel.set()
                responses[0].cancel()

    threads, fds = threading.active_count(), _fds()
    view = CancelWhenListed()
    started = time.monotonic()
    with pytest.raises(BuildError) as info:
        execute(
            dockerfile,
            BuildOptions.from_user(tags=[f"{tag_prefix}:hold"], no_cache=True, ssh=["default"]),
            context_dir=agentq,
            builder="buildkit",
            view=view,
            cancel_event=cancel,
            on_response=responses.append,
        )
    assert type(info.value).__name__ == "BuildCancelled" and cancel.is_set()
    assert time.monotonic() - started < 45  # not the step's minute
    after_threads, extra = _settle(threads, fds)
    assert after_threads <= threads and not extra, (threading.enumerate(), extra)
    assert identities(agent) == [COMMENT]
