"""BuildKit builds on the real daemon: each point of the feature seen through its effect.

Files and modes are read from the images, values from inside RUN steps, tags and labels
from the daemon, parallelism from the daemon's own timestamps, and a cancelled step from
the host's process table (BuildKit's step containers are not in ``docker ps``). Every
``FROM`` is the local busybox or a registry served on 127.0.0.1 by the test itself; the
BuildKit path always sends ``networkmode=none`` (or ``host``) and no ``# syntax=`` line.
"""

from __future__ import annotations

import io
import json
import os
import random
import re
import socket
import tarfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

import jupyter_dockerbuild as jd
from jupyter_dockerbuild.builder.buildkit_progress import BuildKitBuildState
from jupyter_dockerbuild.builder.options import BuildOptions
from jupyter_dockerbuild.builder.pipeline import execute
from jupyter_dockerbuild.engine.client import DockerClient
from jupyter_dockerbuild.errors import (
    BuildCancelled,
    BuildError,
    OptionsError,
    UnsupportedSyntax,
)

pytestmark = [pytest.mark.daemon, pytest.mark.usefixtures("no_leftover_containers")]
#: conftest.TEST_LABEL (a test module cannot import the conftest by name reliably).
_TEST_LABEL = "org.jupyter-dockerbuild.test"


def bk(dockerfile: str, **options: Any) -> jd.BuildResult:
    return jd.build(dockerfile, builder="buildkit", **options)


class Keep:
    """A view that keeps the state it was shown (to read BuildKit's vertex times)."""

    def __init__(self, on_update=None) -> None:
        self.state: Any = None
        self.on_update = on_update

    def update(self, state) -> None:
        self.state = state
        if self.on_update is not None:
            self.on_update(state)

    def close(self, state) -> None:
        self.state = state


def processes(needle: str) -> list[int]:
    """Host pids whose command line contains ``needle`` (step containers included)."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            cmdline = Path(f"/proc/{entry}/cmdline").read_bytes().replace(b"\0", b" ")
        except OSError:
            continue
        if needle.encode() in cmdline:
            found.append(int(entry))
    return found


def wait_until(predicate, timeout: float) -> float | None:
    """Seconds until ``predicate()`` held (None: it did not within ``timeout``)."""
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if predicate():
            return time.monotonic() - start
        time.sleep(0.02)
    return None


def file_mode(docker: DockerClient, image: str, path: str) -> int:
    """The permission bits of ``path`` in ``image`` (create, archive, remove)."""
    resp = docker.request(
        "POST",
        "/containers/create",
        data=json.dumps({"Image": image, "Cmd": ["true"], "Labels": {_TEST_LABEL: "1"}}),
        headers={"Content-Type": "application/json"},
    )
    cid = resp.json()["Id"]
    try:
        archive = docker.request("GET", f"/containers/{cid}/archive", params={"path": path})
        with tarfile.open(fileobj=io.BytesIO(archive.content)) as tar:
            return tar.getmembers()[0].mode & 0o7777
    finally:
        docker.delete(f"/containers/{cid}", params={"force": "1"})


# -- what BuildKit adds ------------------------------------------------------------------


def test_a_cache_mount_persists_between_two_builds(base_image, tag_prefix, image_file):
    cache = uuid.uuid4().hex[:12]
    dockerfile = (
        f"FROM {base_image}\n"
        "ARG RUNNO\n"
        # The id also in the command: no step is CACHED from an earlier run of this test
        # (newer BuildKits leave a cache mount's id out of the step's cache key).
        f"RUN --mount=type=cache,id={cache},target=/cache : {cache}; "
        'n=$(cat /cache/n 2>/dev/null || echo 0); n=$((n+1)); echo "$n" > /cache/n; '
        'echo "count=$n ($RUNNO)"; cp /cache/n /count\n'
    )
    first = jd.build(dockerfile, build_args={"RUNNO": "1"}, tags=[f"{tag_prefix}:1"])
    second = jd.build(dockerfile, build_args={"RUNNO": "2"}, tags=[f"{tag_prefix}:2"])
    # auto chose BuildKit for the --mount, and says why.
    assert first.builder == second.builder == "buildkit"
    assert "RUN --mount (line 3) needs BuildKit" in first.builder_note
    assert image_file(f"{tag_prefix}:1", "/count") == b"1\n"
    assert image_file(f"{tag_prefix}:2", "/count") == b"2\n"
    assert "count=2 (2)" in second.log  # the RUN saw the first build's file


def test_copy_chmod_sets_the_mode_in_the_image(docker, base_image, tag_prefix):
    tag = f"{tag_prefix}:chmod"
    result = bk(
        f"FROM {base_image}\nCOPY --chmod=751 tool.sh /usr/local/bin/tool\n",
        files={"tool.sh": "#!/bin/sh\necho tool\n"},
        tags=[tag],
    )
    assert result.ok
    assert file_mode(docker, tag, "/usr/local/bin/tool") == 0o751


def test_two_independent_stages_run_at_the_same_time(base_image, tag_prefix, image_file):
    tag = f"{tag_prefix}:par"
    nonce = uuid.uuid4().hex[:8]
    view = Keep()
    result = execute(
        f"FROM {base_image} AS left\nRUN sleep 2 && echo {nonce}-l > /l\n"
        f"FROM {base_image} AS right\nRUN sleep 2 && echo {nonce}-r > /r\n"
        f"FROM {base_image}\nCOPY --from=left /l /l\nCOPY --from=right /r /r\n",
        BuildOptions.from_user(tags=[tag]),
        builder="buildkit",
        view=view,
    )
    assert result.ok
    state: BuildKitBuildState = view.state
    runs = [v for v in state.kit if v.label.instruction.startswith("RUN sleep 2")]
    assert sorted(v.label.stage for v in runs) == ["left", "right"]
    left, right = runs
    # The daemon's own timestamps: each started before the other completed.
    assert left.started < right.completed and right.started < left.completed
    assert image_file(tag, "/l") == f"{nonce}-l\n".encode()
    assert image_file(tag, "/r") == f"{nonce}-r\n".encode()


def test_an_unused_failing_stage_is_skipped(base_image):
    result = bk(
        f"FROM {base_image} AS broken\nRUN echo never && exit 9\n"
        f"FROM {base_image}\nRUN echo fine-{uuid.uuid4().hex[:6]}\n",
        no_cache=True,
    )
    assert result.ok
    assert not any("exit 9" in s.instruction for s in result.steps)
    assert "never" not in result.log


def test_a_failing_step_fails_at_its_cell_line_with_its_output_and_exit_code(
    ipshell, base_image, monkeypatch
):
    monkeypatch.setenv("DOCKER_BUILDKIT", "1")
    cell = (
        f"FROM {base_image} AS one\n"
        "RUN echo stage-one > /one\n"
        f"FROM {base_image} AS two\n"
        "RUN echo about-to-fail && echo on-stderr >&2 && exit 3\n"
        f"FROM {base_image}\n"
        "COPY --from=one /one /one\n"
        "COPY --from=two /two /two\n"
    )
    with pytest.raises(BuildError) as err:
        ipshell.run_cell_magic("dockerbuild", "--no-cache", cell)
    first, *lines = str(err.value).splitlines()
    assert first == (
        "cell line 5: [two 2/2] RUN echo about-to-fail && echo on-stderr >&2 && exit 3: exit code 3"
    )
    # Two streams: which line comes first is the daemon's business.
    assert sorted(lines) == ["  │ about-to-fail", "  │ on-stderr"]
    result = err.value.result
    assert result.builder == "buildkit" and result.exit_code == 3
    assert result.failed_step.line == 5


def test_history_and_compare_work_on_a_buildkit_result(base_image, tag_prefix):
    first = bk(f"FROM {base_image}\nENV X=1\nRUN echo one > /one\n", tags=[f"{tag_prefix}:a"])
    second = bk(
        f"FROM {base_image}\nENV X=1\nRUN echo one > /one\nRUN echo two > /two\n",
        tags=[f"{tag_prefix}:b"],
    )
    hist = first.history()
    assert hist.base == base_image
    assert [(r.step, r.instruction) for r in hist.steps] == [
        (2, "ENV X=1"),
        (3, "RUN echo one > /one"),
    ]
    diff = second.compare(first)
    assert diff.shared_layers == len(hist.layers)
    assert [r.instruction for r in diff.only_in(diff.newer)] == ["RUN echo two > /two"]


# -- the options BuildKit honours --------------------------------------------------------


def test_several_tags_build_args_labels_and_quiet(docker, base_image, tag_prefix, image_file):
    tags = [f"{tag_prefix}:1", f"{tag_prefix}:two"]
    result = bk(
        f"FROM {base_image}\nARG GREETING=default\nLABEL in.file=yes\n"
        'RUN echo "$GREETING" > /greeting\n',
        tags=tags,
        build_args={"GREETING": "from-api"},
        labels={"com.example.course": "docker-101"},
        quiet=True,
    )
    assert result.ok and result.builder == "buildkit"
    info = docker.get_json(f"/images/{tags[1]}/json")
    assert info["Id"] == result.image_id
    assert set(info["RepoTags"]) == set(tags)
    labels = info["Config"]["Labels"]
    assert labels["com.example.course"] == "docker-101" and labels["in.file"] == "yes"
    assert image_file(tags[0], "/greeting") == b"from-api\n"
    # -q: the daemon sends no progress at all.
    assert not any(s.instruction.startswith("[") for s in result.steps)


def test_target_dockerfile_path_and_add_host(base_image, tag_prefix, image_file):
    tag = f"{tag_prefix}:t"
    result = bk(
        f"FROM {base_image} AS first\nRUN grep probehost /etc/hosts > /hosts\n"
        "FROM first AS middle\nRUN echo middle > /m\n"
        "FROM middle\nRUN echo last > /last\n",
        file="sub/Build.df",
        target="middle",
        extra_hosts=["probehost:10.1.2.3"],
        tags=[tag],
        no_cache=True,
    )
    assert result.ok
    assert image_file(tag, "/m") == b"middle\n"
    assert image_file(tag, "/hosts") == b"10.1.2.3\tprobehost\n"
    assert not any("echo last" in s.instruction for s in result.steps)


def test_no_cache_reruns_every_step(base_image):
    dockerfile = f"FROM {base_image}\nRUN echo cache-me-{uuid.uuid4().hex[:6]} > /c\n"
    bk(dockerfile)
    cached = bk(dockerfile)
    fresh = bk(dockerfile, no_cache=True)
    run = [s for s in cached.steps if "RUN echo cache-me" in s.instruction]
    assert run and run[0].cached and run[0].status == "cached"
    run = [s for s in fresh.steps if "RUN echo cache-me" in s.instruction]
    assert run and not run[0].cached and run[0].status == "done"


def test_cache_from_reuses_an_images_inline_cache(docker, base_image, tag_prefix):
    nonce = uuid.uuid4().hex[:10]
    dockerfile = f"FROM {base_image}\nRUN echo {nonce} > /n\n"
    source = f"{tag_prefix}:cache-src"
    bk(dockerfile, build_args={"BUILDKIT_INLINE_CACHE": "1"}, tags=[source])

    def forget_local_cache() -> None:
        # Only this test's record: the build cache is shared with everyone on the daemon.
        for record in docker.get_json("/system/df").get("BuildCache") or []:
            if nonce in (record.get("Description") or ""):
                docker.request(
                    "POST",
                    "/build/prune",
                    params={"all": "1", "filters": json.dumps({"id": [record["ID"]]})},
                )

    def run_step(result) -> Any:
        return next(s for s in result.steps if f"RUN echo {nonce}" in s.instruction)

    forget_local_cache()
    assert run_step(bk(dockerfile, cache_from=[source])).cached
    forget_local_cache()
    assert not run_step(bk(dockerfile)).cached


def test_platform_reaches_the_build(docker, base_image, tag_prefix, image_file):
    info = docker.get_json(f"/images/{base_image}/json")
    # Only the base image's own platform: for any other one BuildKit looks the base image
    # up in its registry (Docker Hub for local/busybox), which these tests never do.
    native = f"{info['Os']}/{info['Architecture']}"
    tag = f"{tag_prefix}:p"
    result = bk(
        f"FROM {base_image}\nARG TARGETPLATFORM\nRUN echo $TARGETPLATFORM > /platform\n",
        platform=native,
        tags=[tag],
    )
    assert image_file(tag, "/platform") == f"{native}\n".encode()
    assert docker.get_json(f"/images/{tag}/json")["Architecture"] == info["Architecture"]
    assert result.ok


def test_network_host_runs_and_default_is_refused_here(base_image, tag_prefix, image_file):
    probe = f"FROM {base_image}\nRUN ip -o link | grep -vc ' lo:' > /links || true\n"
    bk(probe, network="host", no_cache=True, tags=[f"{tag_prefix}:host"])
    bk(probe, no_cache=True, tags=[f"{tag_prefix}:none"])
    # The host's interfaces besides lo; with the default (none) there are none.
    assert int(image_file(f"{tag_prefix}:host", "/links")) >= 1
    assert int(image_file(f"{tag_prefix}:none", "/links")) == 0
    # This daemon runs with --bridge=none: say so instead of failing every RUN.
    with pytest.raises(OptionsError, match="--network default: the daemon has no default bridge"):
        bk(f"FROM {base_image}\nRUN true\n", network="default")
    with pytest.raises(OptionsError, match="--network mynet: BuildKit runs RUN steps only on"):
        bk(f"FROM {base_image}\nRUN true\n", network="mynet")


class _PullRegistry:
    """A registry on 127.0.0.1 serving one image, replaceable (tests/record_buildkit.py)."""

    def __init__(self) -> None:
        import http.server

        from record_buildkit import _image_for_registry, _Registry

        self._make = _image_for_registry
        _Registry.SLOW = 0.0
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Registry)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.address = f"127.0.0.1:{self.server.server_address[1]}"

    def publish(self, tag: str) -> None:
        """Serve a new image (its /nonce holds ``tag``) under the tag ``tag``."""
        self._make(tag)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.mark.engine(
    max_api="1.41",
    reason="Docker 23+'s BuildKit asks a loopback registry over HTTPS only; this one is HTTP",
)
def test_pull_fetches_the_base_image_again(docker, base_image, image_file, tag_prefix):
    registry = _PullRegistry()
    # The name is on the daemon (the local busybox, tagged so) and in the registry (an
    # image with a /nonce): without --pull BuildKit prefers the local one.
    ref = f"{registry.address}/bk-rec-pull:latest"
    repo, _, tag = ref.rpartition(":")
    docker.request("POST", f"/images/{base_image}/tag", params={"repo": repo, "tag": tag})
    nonce = f"n{uuid.uuid4().hex[:8]}"
    try:
        from record_buildkit import _Registry

        registry.publish(nonce)
        _Registry.manifests["latest"] = _Registry.manifests[nonce]
        dockerfile = f"FROM {ref}\nRUN (busybox cat /nonce || echo local) > /seen\n"
        bk(dockerfile, tags=[f"{tag_prefix}:local"], no_cache=True)
        assert image_file(f"{tag_prefix}:local", "/seen") == b"local\n"
        bk(dockerfile, tags=[f"{tag_prefix}:pulled"], pull=True, no_cache=True)
        assert image_file(f"{tag_prefix}:pulled", "/seen") == f"{nonce}\n".encode()
    finally:
        registry.close()
        for image in docker.get_json("/images/json"):
            for name in image.get("RepoTags") or []:
                if name.startswith(registry.address):
                    docker.delete(f"/images/{name}")


# -- refused before the build, on this daemon --------------------------------------------


def test_what_needs_a_registry_is_refused_before_the_build(base_image):
    with pytest.raises(UnsupportedSyntax) as err:
        bk(f"# syntax=docker/dockerfile:1\nFROM {base_image}\n")
    assert "pull the frontend image" in str(err.value)


@pytest.mark.engine(max_api="1.41", reason="Docker 20.10's built-in Dockerfile frontend")
@pytest.mark.parametrize(
    ("dockerfile", "words"),
    [
        ("FROM {base}\nRUN <<EOF\necho hi\nEOF\n", "a heredoc in RUN needs Docker 23 or later"),
        ("FROM {base}\nCOPY --link a /a\n", "COPY --link needs Docker 23 or later"),
        ("FROM {base}\nRUN --network=none true\n", "RUN --network needs Docker 23 or later"),
    ],
)
def test_syntax_this_daemon_cannot_build_is_refused_before_the_build(
    docker, base_image, dockerfile, words
):
    version = docker.version_info()["Version"]
    with pytest.raises(UnsupportedSyntax) as err:
        bk(dockerfile.format(base=base_image), files={"a": "a"})
    assert words in str(err.value)
    assert f"(Docker {version})" in str(err.value)


@pytest.mark.engine(min_api="1.42", reason="Docker 23+'s built-in Dockerfile frontend")
def test_a_newer_daemon_builds_heredocs_link_and_shm_size(base_image, tag_prefix, image_file):
    tag = f"{tag_prefix}:modern"
    result = bk(
        f"FROM {base_image}\n"
        "RUN <<EOF\necho from-heredoc > /heredoc\nEOF\n"
        "COPY --link a /linked\n"
        "RUN --network=none df -m /dev/shm | tail -1 > /shm\n",
        files={"a": "a-file\n"},
        shm_size="128m",
        tags=[tag],
        no_cache=True,
    )
    assert result.ok
    assert image_file(tag, "/heredoc") == b"from-heredoc\n"
    assert image_file(tag, "/linked") == b"a-file\n"
    assert image_file(tag, "/shm").split()[1] == b"128"  # BuildKit read --shm-size


def test_auto_with_buildkit_syntax_and_a_memory_limit_says_both_in_one_line(base_image):
    with pytest.raises(OptionsError) as err:
        jd.build(f"FROM {base_image}\nRUN --mount=type=cache,target=/c true\n", memory="64m")
    assert "\n" not in str(err.value)
    assert "RUN --mount (line 2) needs BuildKit" in str(err.value)
    assert "-m/--memory is a per-build resource limit" in str(err.value)


def test_docker_buildkit_0_keeps_the_classic_builder(base_image, monkeypatch):
    monkeypatch.setenv("DOCKER_BUILDKIT", "0")
    result = jd.build(f"FROM {base_image}\nRUN echo classic\n", no_cache=True, network="none")
    assert result.builder == "classic" and "Step 2/2 : RUN echo classic" in result.log
    with pytest.raises(UnsupportedSyntax, match="needs BuildKit"):
        jd.build(f"FROM {base_image}\nRUN --mount=type=cache,target=/c true\n")
    monkeypatch.setenv("DOCKER_BUILDKIT", "1")
    result = jd.build(f"FROM {base_image}\nRUN echo kit\n", no_cache=True)
    assert result.builder == "buildkit" and result.builder_note == "DOCKER_BUILDKIT=1"
    assert "#" in result.log and " DONE " in result.log


# -- cancel and a dropped connection: nothing left running --------------------------------


def _sleeper() -> tuple[str, str]:
    """A unique ``sleep`` for a step, and the marker its shell carries."""
    return f"sleep {1234567 + random.randrange(100000)}", uuid.uuid4().hex[:10]


def test_cancel_from_another_thread_ends_the_step_process_within_a_second(base_image):
    sleep, marker = _sleeper()
    cancel = threading.Event()
    responses: list[Any] = []
    cancelled_at: list[float] = []

    def canceller() -> None:
        # What the form's Cancel does: set the event, cancel the response, from its thread.
        if wait_until(lambda: bool(responses and processes(sleep)), timeout=60) is None:
            return
        cancelled_at.append(time.monotonic())
        cancel.set()
        responses[0].cancel()

    thread = threading.Thread(target=canceller)
    thread.start()
    try:
        with pytest.raises(BuildCancelled) as err:
            execute(
                f"FROM {base_image}\nRUN echo {marker} && {sleep}\n",
                BuildOptions(no_cache=True),
                builder="buildkit",
                cancel_event=cancel,
                on_response=responses.append,
            )
    finally:
        thread.join()
    assert cancelled_at, "the step never started"
    gone = wait_until(lambda: not processes(sleep), timeout=5.0)
    assert gone is not None, f"{sleep} still runs: {processes(sleep)}"
    assert time.monotonic() - cancelled_at[0] < 1.5, "the step outlived the cancel by over 1 s"
    assert err.value.result.status == "cancelled"
    assert err.value.result.builder == "buildkit"


class _UnixProxy:
    """TCP on 127.0.0.1 to the daemon's unix socket; ``cut()`` drops every connection."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.host = f"tcp://127.0.0.1:{self.listener.getsockname()[1]}"
        self.socks: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            upstream = socket.socket(socket.AF_UNIX)
            upstream.connect(self.path)
            self.socks += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    @staticmethod
    def _pump(src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        for s in (src, dst):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def cut(self) -> None:
        for s in self.socks:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def close(self) -> None:
        self.cut()
        self.listener.close()


def test_a_connection_dropped_mid_build_is_short_keeps_the_log_and_leaves_nothing(
    docker, base_image
):
    sleep, marker = _sleeper()
    proxy = _UnixProxy(docker.socket_path or "/var/run/docker.sock")

    view = Keep()

    def drop_when_running() -> None:
        def running() -> bool:
            state = view.state
            return state is not None and "tick-" in state.log_text() and bool(processes(sleep))

        wait_until(running, timeout=60)
        proxy.cut()

    thread = threading.Thread(target=drop_when_running)
    thread.start()
    try:
        with pytest.raises(BuildError) as err:
            execute(
                f"FROM {base_image}\nRUN echo tick-{marker} && {sleep}\n",
                BuildOptions(no_cache=True),
                host=proxy.host,
                builder="buildkit",
                view=view,
                docker_config=False,
            )
    finally:
        thread.join()
        proxy.close()
    message = str(err.value)
    assert "connection to the daemon broke" in message and len(message) < 300, message
    assert f"tick-{marker}" in err.value.result.log
    assert wait_until(lambda: not processes(sleep), timeout=5.0) is not None, processes(sleep)


def test_the_magic_chooses_by_flag_then_config_then_docker_buildkit(
    ipshell, base_image, monkeypatch
):
    monkeypatch.delenv("DOCKER_BUILDKIT", raising=False)
    cell = f"FROM {base_image}\nRUN echo chosen\n"
    ns = ipshell.user_ns
    try:
        ipshell.run_cell_magic("dockerbuild", "--builder buildkit --out r1", cell)
        assert ns["r1"].builder == "buildkit" and ns["r1"].builder_note == "--builder buildkit"
        ipshell.run_line_magic("config", 'DockerBuildMagics.builder = "buildkit"')
        ipshell.run_cell_magic("dockerbuild", "--out r2", cell)
        assert ns["r2"].builder == "buildkit"
        # The flag beats the session default.
        ipshell.run_cell_magic("dockerbuild", "--builder classic --network none --out r3", cell)
        assert ns["r3"].builder == "classic" and "Step 2/2 : RUN echo chosen" in ns["r3"].log
        ipshell.run_line_magic("config", "DockerBuildMagics.builder = None")
        monkeypatch.setenv("DOCKER_BUILDKIT", "1")
        ipshell.run_cell_magic("dockerbuild", "--out r4", cell)
        assert ns["r4"].builder == "buildkit" and ns["r4"].builder_note == "DOCKER_BUILDKIT=1"
        # A resource limit with BuildKit: refused before anything is sent.
        with pytest.raises(OptionsError, match=r"^-m/--memory: BuildKit ignores this option"):
            ipshell.run_cell_magic("dockerbuild", "--builder buildkit -m 64m", cell)
    finally:
        ipshell.run_line_magic("config", "DockerBuildMagics.builder = None")


def test_the_forms_cancel_ends_a_buildkit_build_and_its_step_process(base_image):
    from jupyter_dockerbuild.ui.form import BuildForm

    sleep, marker = _sleeper()
    form = BuildForm(
        f"FROM {base_image}\nRUN echo {marker} && {sleep}\n", builder="buildkit", no_cache=True
    )
    form.build()
    assert wait_until(lambda: bool(processes(sleep)), timeout=60) is not None, form.progress.value
    assert 'data-builder="buildkit"' in form.progress.value
    t0 = time.monotonic()
    form.cancel_button.click()
    gone = wait_until(lambda: not processes(sleep), timeout=5.0)
    assert gone is not None, f"{sleep} still runs 5 s after the form's Cancel"
    took = time.monotonic() - t0
    assert took < 1.5, f"the step outlived the Cancel by {took:.2f} s"
    result = form.wait(10)
    assert result is not None and result.status == "cancelled" and result.builder == "buildkit"
    assert "Cancelled" in form.progress.value


@pytest.mark.engine(min_api="1.46", reason="the Dockerfile checks of Docker 27+'s frontend")
def test_a_newer_daemons_warnings_reach_the_result_with_cell_lines(ipshell, base_image):
    ipshell.run_cell_magic(
        "dockerbuild", "--builder buildkit --out warned", f"FROM {base_image}\nCMD echo x\n"
    )
    warnings = ipshell.user_ns["warned"].warnings
    assert any(w.startswith("JSONArgsRecommended") and "(cell line 3)" in w for w in warnings)


def test_text_mode_prints_like_buildx_progress_plain(base_image, capsys):
    result = jd.build(
        f"FROM {base_image}\nRUN echo printed-line && echo to-stderr >&2\n",
        builder="buildkit",
        no_cache=True,
        progress=True,
    )
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert result.ok
    assert any(
        re.fullmatch(r"#\d+ \[1/2\] FROM docker\.io/local/busybox:latest", ln) for ln in lines
    )
    assert any(re.fullmatch(r"#\d+ \d+\.\d{3} printed-line", ln) for ln in lines)
    assert any(re.fullmatch(r"#\d+ \d+\.\d{3} to-stderr", ln) for ln in lines)
    assert any(re.fullmatch(r"#\d+ DONE \d+\.\ds", ln) for ln in lines)
    assert lines[-1].startswith(f"Built {result.image_id} in ") and "with BuildKit" in lines[-1]
