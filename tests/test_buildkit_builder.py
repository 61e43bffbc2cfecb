"""The BuildKit builder without a daemon: choosing it, its refusals, its state and its words.

The state is driven by the real captures (``tests/data/buildkit-streams``); what a real
daemon cannot be made to show (another Docker version, a daemon without BuildKit, a
corrupt trace, a connection dropped mid-build) by the fake daemon. The real daemon's
builds are in ``test_buildkit_build.py``.
"""

from __future__ import annotations

import json
import random
import re
import threading
from urllib.parse import parse_qsl, urlsplit

import bkcapture as bk
import pytest
from fakedaemon import FakeDaemon, chunked_stream_then_drop

from jupyter_dockerbuild.builder.buildkit import BuildKitBuilder, buildkit_query, daemon_version
from jupyter_dockerbuild.builder.buildkit_progress import BuildKitBuildState, StepLines
from jupyter_dockerbuild.builder.buildkit_state import parse_label
from jupyter_dockerbuild.builder.choose import choose_builder, requested_builder
from jupyter_dockerbuild.builder.options import BuildOptions
from jupyter_dockerbuild.builder.pipeline import execute
from jupyter_dockerbuild.builder.result import render_summary
from jupyter_dockerbuild.engine.client import DockerClient
from jupyter_dockerbuild.engine.stream import JSONStreamDecoder
from jupyter_dockerbuild.errors import (
    BuildError,
    DaemonError,
    OptionsError,
    StreamError,
    UnsupportedSyntax,
)
from jupyter_dockerbuild.ui.html import render_html

IMAGE = "sha256:" + "cd" * 32


def fold(name: str, *, line_offset: int = 1) -> BuildKitBuildState:
    state = BuildKitBuildState(bk.meta(name)["dockerfile"], line_offset=line_offset)
    state.apply_many(bk.oracle_events(name))
    return state


def finished(name: str) -> BuildKitBuildState:
    state = fold(name)
    state.finish()
    return state


# -- which instruction a vertex runs -----------------------------------------------------


MULTI = (
    "ARG BASE=local/busybox:latest\n"  # 1
    "FROM $BASE AS Build\n"  # 2
    "ENV A=1\n"  # 3
    "WORKDIR /w\n"  # 4
    "RUN echo a \\\n"  # 5
    "  && echo b\n"  # 6
    "FROM scratch\n"  # 7
    "LABEL x=1\n"  # 8
    "COPY --from=build /w /w\n"  # 9
    "FROM build\n"  # 10
    "ADD f /f\n"  # 11
)


@pytest.mark.parametrize(
    ("name", "line"),
    [
        ("[build 1/3] FROM docker.io/local/busybox:latest", 2),
        ("[build 2/3] WORKDIR /w", 4),
        ("[build 3/3] RUN echo a   && echo b", 5),
        # FROM scratch makes no vertex: [1/1] is the COPY.
        ("[stage-1 1/1] COPY --from=build /w /w", 9),
        # FROM an earlier stage makes none either.
        ("[stage-2 1/1] ADD f /f", 11),
        # Not what our parse has there (another keyword, another count): no line.
        ("[build 2/3] RUN echo x", None),
        ("[build 2/9] WORKDIR /w", None),
        ("[stage-7 1/1] ADD f /f", None),
        ("[nosuch 1/1] ADD f /f", None),
        ("[internal] load metadata for docker.io/local/busybox:latest", None),
        ("exporting to image", None),
    ],
)
def test_a_vertex_label_maps_to_its_dockerfile_line(name: str, line: int | None) -> None:
    found = StepLines(MULTI).instruction(parse_label(name))
    assert (found.line if found is not None else None) == line


def test_a_single_stage_has_no_name_or_stage_0() -> None:
    lines = StepLines("FROM local/busybox:latest\nARG X\nRUN true\n")
    assert lines.instruction(parse_label("[2/2] RUN true")).line == 3
    # BuildKit 0.8 names it stage-0 when a RUN has --mount: both map.
    assert lines.instruction(parse_label("[stage-0 2/2] RUN true")).line == 3


def test_every_step_vertex_of_the_captures_maps_to_its_line() -> None:
    for name in bk.names():
        text = bk.meta(name)["dockerfile"]
        if not text:
            continue
        state = fold(name, line_offset=0)
        lines = text.splitlines()
        for vertex in state.kit:
            if vertex.label.step is None:
                continue
            ins = state.instruction_of(vertex)
            assert ins is not None, (name, vertex.name)
            # The vertex name is the instruction with its build args substituted.
            keyword = vertex.label.instruction.split()[0]
            assert lines[ins.line - 1].upper().startswith(keyword), (name, vertex.name)


# -- choosing ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "env", "expected"),
    [
        (None, {}, "auto"),
        (None, {"DOCKER_BUILDKIT": "1"}, "buildkit"),
        (None, {"DOCKER_BUILDKIT": "true"}, "buildkit"),
        (None, {"DOCKER_BUILDKIT": "0"}, "classic"),
        (None, {"DOCKER_BUILDKIT": "False"}, "classic"),
        (None, {"DOCKER_BUILDKIT": ""}, "auto"),
        ("classic", {"DOCKER_BUILDKIT": "1"}, "classic"),  # what the caller says wins
        ("BuildKit", {}, "buildkit"),
    ],
)
def test_the_requested_builder(value, env, expected) -> None:
    assert requested_builder(value, env)[0] == expected


def test_a_bad_request_is_refused_naming_it() -> None:
    with pytest.raises(OptionsError, match="--builder: 'kaniko' is not a builder"):
        requested_builder("kaniko", {})
    with pytest.raises(OptionsError, match="DOCKER_BUILDKIT='yes please' is not a boolean"):
        requested_builder(None, {"DOCKER_BUILDKIT": "yes please"})


CACHE = "FROM local/busybox:latest\nRUN --mount=type=cache,target=/c true\n"


@pytest.mark.parametrize(
    ("dockerfile", "values", "name", "reason"),
    [
        (CACHE, {}, "buildkit", "auto: RUN --mount (cell line 3) needs BuildKit"),
        (
            "FROM local/busybox:latest\nCOPY --chmod=600 a /a\n",
            {},
            "buildkit",
            "auto: COPY --chmod (cell line 3) needs BuildKit",
        ),
        ("FROM x\nRUN <<EOF\necho\nEOF\n", {}, "buildkit", "a heredoc in RUN (cell line 3)"),
        ("FROM x\nRUN true\n", {"memory": "64m"}, "classic", "auto: -m/--memory needs"),
        ("FROM x\nRUN true\n", {"cpu_shares": 512}, "classic", "--cpu-shares"),
        ("FROM x\nRUN true\n", {"squash": True}, "classic", "--squash"),
        ("FROM x\nRUN true\n", {"network": "mynet"}, "classic", "--network mynet"),
        ("FROM x\nRUN true\n", {}, "classic", "auto: classic (nothing here needs BuildKit)"),
        # A foreign frontend is refused by both: no reason to pick one.
        ("# syntax=example.com/fe\nFROM x\n", {}, "classic", "nothing here needs BuildKit"),
    ],
)
def test_auto_picks_by_the_dockerfile_and_the_options(dockerfile, values, name, reason) -> None:
    choice = choose_builder(
        None, dockerfile, BuildOptions.from_user(**values), line_offset=1, env={}
    )
    assert choice.name == name and reason in choice.reason


def test_auto_explains_itself_in_one_line_when_both_are_asked() -> None:
    options = BuildOptions.from_user(memory="512m")
    with pytest.raises(OptionsError) as err:
        choose_builder(None, CACHE, options, line_offset=1, env={})
    message = str(err.value)
    assert "\n" not in message
    assert "RUN --mount (cell line 3) needs BuildKit" in message
    assert "-m/--memory is a per-build resource limit" in message and "classic" in message


def test_docker_buildkit_decides_when_nothing_else_does() -> None:
    options = BuildOptions()
    assert choose_builder(None, CACHE, options, env={"DOCKER_BUILDKIT": "0"}).name == "classic"
    plain = "FROM x\nRUN true\n"
    assert choose_builder(None, plain, options, env={"DOCKER_BUILDKIT": "1"}).name == "buildkit"
    assert choose_builder("classic", plain, options, env={"DOCKER_BUILDKIT": "1"}).reason == (
        "--builder classic"
    )


# -- refused before any request ----------------------------------------------------------


@pytest.mark.parametrize(
    ("values", "flag"),
    [
        ({"memory": "64m"}, "-m/--memory"),
        ({"memory": "64m", "memory_swap": "128m"}, "-m/--memory"),
        ({"cpu_shares": 512}, "--cpu-shares"),
        ({"cpuset_cpus": "0"}, "--cpuset-cpus"),
        ({"cpu_period": 100000}, "--cpu-period"),
        ({"cpu_period": 100000, "cpu_quota": 50000}, "--cpu-period"),
        ({"rm": False}, "--rm"),
        ({"force_rm": False}, "--force-rm"),
        ({"squash": True}, "--squash"),
        ({"isolation": "hyperv"}, "--isolation"),
        ({"network": "bridge"}, "--network bridge"),
        ({"network": "mynet"}, "--network mynet"),
    ],
)
def test_options_buildkit_ignores_fail_before_any_request(values, flag) -> None:
    with FakeDaemon(build=lambda req: None) as fake:
        with pytest.raises(OptionsError) as err:
            execute(
                "FROM scratch\n",
                BuildOptions.from_user(**values),
                host=fake.host,
                builder="buildkit",
                docker_config=False,
            )
    message = str(err.value)
    assert message.startswith(flag) and "classic builder" in message, message
    assert fake.requests == []


def test_the_query_has_version_2_network_none_a_build_id_and_no_rm() -> None:
    options = BuildOptions.from_user(
        tags=["a:1", "b:2"],
        build_args={"X": "1"},
        labels={"l": "v"},
        target="t",
        dockerfile="sub/Df",
        cache_from=["c:1"],
        no_cache=True,
        pull=True,
        extra_hosts=["db:10.0.0.5"],
        platform="linux/amd64",
        quiet=True,
    )
    query = buildkit_query(options, "bid-1")
    keys = [k for k, _ in query]
    assert query[:2] == [("version", "2"), ("networkmode", "none")]
    assert ("buildid", "bid-1") in query
    assert "rm" not in keys and "forcerm" not in keys
    assert [v for k, v in query if k == "t"] == ["a:1", "b:2"]
    for key in ("buildargs", "labels", "target", "dockerfile", "cachefrom", "nocache", "pull"):
        assert key in keys, key
    for key in ("extrahosts", "platform", "q"):
        assert key in keys, key
    for network in ("host", "none", "default"):
        query = buildkit_query(BuildOptions(network=network), None)
        assert ("networkmode", network) in query and "buildid" not in dict(query)


def test_what_needs_a_registry_is_refused() -> None:
    with pytest.raises(UnsupportedSyntax) as err:
        BuildKitBuilder().preflight(
            "# syntax=docker/dockerfile:1\nFROM x\n", BuildOptions(), line_offset=1
        )
    assert "pull the frontend image docker/dockerfile:1" in str(err.value)
    assert str(err.value).startswith("cell line 2")


@pytest.mark.parametrize(
    "dockerfile",
    [
        "FROM x\nRUN --mount=type=secret,id=t cat /run/secrets/t\n",
        "FROM x\nRUN --mount=type=ssh ssh-add -l\n",
    ],
)
def test_secret_and_ssh_mounts_go_to_the_session(dockerfile) -> None:
    # The session serves them (--secret, --ssh); an optional mount of an id not given is
    # skipped by BuildKit, a required one fails there naming the id.
    BuildKitBuilder().preflight(dockerfile, BuildOptions(), line_offset=1)


# -- what the daemon's frontend can parse ------------------------------------------------


class _Daemon:
    """Just what check_daemon asks: /version, /info (a graph driver) and /networks/bridge."""

    host = "unix:///fake"

    def __init__(self, version: str, api: str = "1.41", bridge: bool = False) -> None:
        self.info = {"Version": version, "ApiVersion": api}
        self.api_version = api
        self.bridge = bridge

    def version_info(self):
        return self.info

    def get_json(self, path):
        from jupyter_dockerbuild.errors import HTTPError

        if path == "/info":
            return {"Driver": "overlay2", "DriverStatus": [["Backing Filesystem", "extfs"]]}
        if not self.bridge:
            raise HTTPError(404, "network bridge not found")
        return {"Name": "bridge"}


HEREDOC = "FROM x\nRUN <<EOF\necho hi\nEOF\n"
LINK = "FROM x\nCOPY --link a /a\n"


@pytest.mark.parametrize(
    ("dockerfile", "version", "refused"),
    [
        (HEREDOC, "20.10.24+dfsg1", "a heredoc in RUN needs Docker 23 or later"),
        (LINK, "20.10.24+dfsg1", "COPY --link needs Docker 23 or later"),
        ("FROM x\nRUN --network=none true\n", "20.10.7", "RUN --network needs Docker 23"),
        ("FROM x\nADD --checksum=sha256:00 u /u\n", "23.0.1", "ADD --checksum needs Docker 24"),
        ("FROM x\nCOPY --parents a /b/\n", "29.0.0", "exists only in the labs"),
        ("FROM x\nRUN --security=insecure true\n", "27.1.0", "labs"),
        (HEREDOC, "23.0.1", None),
        (LINK, "24.0.7", None),
        (HEREDOC, "master-dockerproject-2026", None),  # API 1.51: a new daemon
        (CACHE, "20.10.24", None),
        ("FROM x\nCOPY --chmod=600 a /a\n", "20.10.24", None),
    ],
)
def test_preflight_knows_what_the_daemons_frontend_parses(dockerfile, version, refused) -> None:
    api = "1.51" if version.startswith("master") else "1.41"
    daemon = _Daemon(version, api=api)
    check = BuildKitBuilder().check_daemon
    if refused is None:
        check(daemon, dockerfile, BuildOptions(), line_offset=1)  # type: ignore[arg-type]
        return
    with pytest.raises(UnsupportedSyntax) as err:
        check(daemon, dockerfile, BuildOptions(), line_offset=1)  # type: ignore[arg-type]
    assert refused in str(err.value) and "cell line 3" in str(err.value)
    if "needs Docker" in refused:
        assert f"(Docker {version})" in str(err.value)


def test_shm_size_network_default_and_host_gateway_by_daemon() -> None:
    check = BuildKitBuilder().check_daemon
    shm = BuildOptions.from_user(shm_size="128m")
    with pytest.raises(OptionsError, match=r"--shm-size: BuildKit ignores it on Docker 20\.10"):
        check(_Daemon("20.10.24"), "FROM x\n", shm, line_offset=0)  # type: ignore[arg-type]
    check(_Daemon("23.0.0", api="1.42"), "FROM x\n", shm, line_offset=0)  # type: ignore[arg-type]
    default = BuildOptions(network="default")
    with pytest.raises(OptionsError, match="--network default: the daemon has no default bridge"):
        check(_Daemon("20.10.24"), "FROM x\n", default, line_offset=0)  # type: ignore[arg-type]
    check(_Daemon("20.10.24", bridge=True), "FROM x\n", default, line_offset=0)  # type: ignore[arg-type]
    gateway = BuildOptions.from_user(extra_hosts=["gw:host-gateway"])
    with pytest.raises(OptionsError, match="--add-host gw:host-gateway: the daemon has no host"):
        check(_Daemon("20.10.24"), "FROM x\n", gateway, line_offset=0)  # type: ignore[arg-type]


def test_the_daemon_version_from_its_api_when_the_string_is_odd() -> None:
    assert daemon_version(_Daemon("20.10.24+dfsg1"))[0] == (20, 10)  # type: ignore[arg-type]
    assert daemon_version(_Daemon("dev", api="1.43"))[0] == (24, 0)  # type: ignore[arg-type]
    old = _Daemon("18.06.1", api="1.38")
    with pytest.raises(DaemonError, match=r"API 1\.38, which has no BuildKit"):
        BuildKitBuilder().check_daemon(old, "FROM x\n", BuildOptions(), line_offset=0)  # type: ignore[arg-type]


# -- the state the views draw ------------------------------------------------------------


def test_parallel_stages_each_run_with_their_own_timer_and_tail() -> None:
    name = "b06_parallel_stages"
    state = BuildKitBuildState(bk.meta(name)["dockerfile"], line_offset=1)
    seen = None
    for event in bk.oracle_events(name):
        state.apply(event)
        snap = state.snapshot()
        running = [s for s in snap.steps if s.status == "running"]
        if len(running) == 2 and snap.tails and len(snap.tails) == 2:
            seen = snap
            break
    assert seen is not None, "the two stages never ran at once"
    rows = {s.number: s for s in seen.steps}
    tails = {rows[n].instruction.split()[0]: lines for n, lines in seen.tails.items()}
    assert tails == {"[a": (("a-start", False),), "[b": (("b-start", False),)}
    assert all(s.duration is not None for s in seen.steps if s.status == "running")
    html = render_html(seen)
    assert html.count('class="jdb-tail"') == 2
    assert re.search(r'class="jdb-title">Building [\d.]+s \(4/9\)', html), html[:400]
    assert 'data-builder="buildkit"' in html


def test_a_failing_vertex_names_its_cell_line_exit_code_and_last_lines() -> None:
    state = finished("b08_fail_exit3_stage2")
    result = state.result()
    assert result.status == "failed" and result.builder == "buildkit"
    assert result.failed_step is not None
    assert result.failed_step.instruction.startswith("[two 2/2] RUN echo about-to-fail")
    assert result.failed_step.line == 5  # Dockerfile line 4, after the magic's line
    assert result.exit_code == 3
    message = BuildKitBuilder().explain(
        state.error.message, state.error.code, BuildOptions(), state
    )
    first, *rest = message.splitlines()
    assert first == (
        "cell line 5: [two 2/2] RUN echo about-to-fail && echo on-stderr >&2 && exit 3: exit code 3"
    )
    assert rest == ["  │ about-to-fail", "  │ on-stderr"]
    # The log reads like buildx: the block, then the failure summary between rules.
    assert "#5 ERROR: executor failed running" in result.log
    assert "------\n > [two 2/2] RUN" in result.log and "\nERROR: executor failed" in result.log
    # The failed row shows its own output in the widget.
    html = render_html(state.snapshot(log=True), final=True)
    assert "on-stderr" in html and "cell line 5" in html


def test_parse_errors_point_at_the_cell_line() -> None:
    state = finished("b14_parse_error")
    message = BuildKitBuilder().explain(state.error.message, None, BuildOptions(), state)
    assert message == "cell line 4: dockerfile parse error line 3: unknown instruction: FOOBAR"


def test_a_refused_pull_names_the_image_and_its_from_line() -> None:
    state = finished("b18_pull_refused")
    message = BuildKitBuilder().explain(state.error.message, None, BuildOptions(), state)
    assert message.startswith("cell line 2: base image '127.0.0.1:5999/nope:1'"), message
    assert "127.0.0.1:5999" in message


def test_buildkit_clipping_a_flood_is_shown_under_its_step() -> None:
    state = finished("b09_flood_instant")
    snap = state.snapshot(log=True)
    assert len(snap.notes) == 1
    note = next(iter(snap.notes.values()))
    assert "BuildKit clipped this step's output (log limit 200KiB/s reached)" in note
    html = render_html(snap, final=True)
    assert "✂ BuildKit clipped" in html


def test_a_quiet_build_still_has_its_image() -> None:
    state = finished("b19_quiet_two_tags")
    result = state.result()
    assert result.ok and result.image_id and result.image_id.startswith("sha256:")
    assert result.builder == "buildkit"
    # The daemon sent no vertex, only the id: the steps are not shown as never run, and
    # the log is what it sent (as `docker build -q` prints it).
    assert result.steps and {s.status for s in result.steps} == {"unreported"}
    assert result.log.strip() == result.image_id
    html = render_html(state.snapshot(log=True), final=True)
    assert "full log (1 line) · " in html and "not reported by the daemon" in html


def test_a_build_cut_off_shows_its_running_steps_cancelled() -> None:
    state = fold("b15_cancel")
    assert any(s.status == "running" for s in state.snapshot().steps)
    state.fail("the connection to the daemon broke during the build")
    statuses = {s.status for s in state.result().steps}
    assert "running" not in statuses and "cancelled" in statuses


def test_the_summary_and_repr_say_buildkit() -> None:
    result = finished("b01_success_multistep").result()
    assert result.ok
    assert repr(result).endswith("with BuildKit>")
    assert render_summary(result).splitlines()[0].startswith("Built sha256:")
    assert " with BuildKit" in render_summary(result).splitlines()[0]
    cached = finished("b02_cached_rebuild").result()
    steps = [s for s in cached.steps if re.match(r"\[[2-5]/5\] ", s.instruction)]
    assert len(steps) == 4 and all(s.cached and s.status == "cached" for s in steps), steps


def _pieces(body: bytes, seed: int) -> list[list[bytes]]:
    """Ways to cut ``body``: byte by byte (small ones), fixed sizes, random cuts."""
    rng = random.Random(seed)
    sizes = (7, 333, 4096) if len(body) <= 256 * 1024 else (333, 4096)
    ways = [[body[i : i + n] for i in range(0, len(body), n)] for n in sizes]
    if len(body) <= 64 * 1024:
        ways.append([body[i : i + 1] for i in range(len(body))])
    for _ in range(20):
        cuts = sorted(rng.sample(range(1, len(body)), k=min(3, len(body) - 1)))
        ways.append([body[a:b] for a, b in zip([0, *cuts], [*cuts, len(body)], strict=True)])
    return ways


@pytest.mark.parametrize("name", bk.names())
def test_the_result_does_not_depend_on_how_bytes_arrive(name: str) -> None:
    body = bk.load(name).body
    whole = finished(name).result()
    for k, pieces in enumerate(_pieces(body, seed=len(body))):
        decoder = JSONStreamDecoder()
        state = BuildKitBuildState(bk.meta(name)["dockerfile"], line_offset=1)
        for piece in pieces:
            state.apply_many(decoder.feed(piece))
        state.apply_many(decoder.close())
        state.finish()
        got = state.result()
        assert [(s.instruction, s.line, s.status, s.cached) for s in got.steps] == [
            (s.instruction, s.line, s.status, s.cached) for s in whole.steps
        ], k
        assert (got.log, got.image_id, got.error, got.exit_code) == (
            whole.log,
            whole.image_id,
            whole.error,
            whole.exit_code,
        ), k


def test_a_corrupt_trace_leaves_the_state_as_it_was() -> None:
    state = fold("b01_success_multistep")
    before = state.snapshot(log=True)
    with pytest.raises(StreamError, match="BuildKit trace payload is"):
        state.apply({"id": "moby.buildkit.trace", "aux": "bm90IHByb3RvYnVm!!"})
    assert state.snapshot(log=True).log == before.log


# -- faults, with a fake daemon ----------------------------------------------------------


def _trace_lines(name: str, count: int) -> list[bytes]:
    return [json.dumps(e).encode() + b"\r\n" for e in bk.oracle_events(name)[:count]]


def _stream(messages: list[bytes], *, end: bool = True):
    def handler(req) -> None:
        req.send_response(200)
        req.send_header("Content-Type", "application/json")
        req.send_header("Transfer-Encoding", "chunked")
        req.end_headers()
        for msg in messages:
            req.wfile.write(b"%x\r\n%s\r\n" % (len(msg), msg))
        if end:
            req.wfile.write(b"0\r\n\r\n")
        req.wfile.flush()

    return handler


def _build_queries(fake: FakeDaemon) -> list[dict[str, str]]:
    return [
        dict(parse_qsl(urlsplit(path).query))
        for method, path in fake.requests
        if method == "POST" and "/build?" in path
    ]


def test_a_corrupt_trace_mid_build_fails_short_keeps_the_log_and_cancels() -> None:
    good = _trace_lines("b01_success_multistep", 6)
    # A StatusResponse whose first vertex claims 5 bytes and has 2: cut short.
    bad = b'{"id":"moby.buildkit.trace","aux":"CgUKAA=="}\r\n'
    with FakeDaemon(build=_stream([*good, bad], end=False), version="20.10.24") as fake:
        with pytest.raises(BuildError) as err:
            execute(
                "FROM local/busybox:latest\nRUN true\n",
                BuildOptions(),
                host=fake.host,
                builder="buildkit",
                docker_config=False,
            )
    message = str(err.value)
    assert message.startswith("BuildKit trace payload is corrupt") and len(message) < 200
    assert "#1 [internal] load remote build context" in err.value.result.log
    # Nothing is left running: the build was cancelled by its id, then hung up on.
    build_id = _build_queries(fake)[0]["buildid"]
    assert ("POST", f"/v1.41/build/cancel?id={build_id}") in fake.requests


def test_the_connection_dropped_mid_build_is_a_short_error_with_the_log_so_far() -> None:
    handler = chunked_stream_then_drop(_trace_lines("b01_success_multistep", 8))
    with FakeDaemon(build=handler, version="20.10.24") as fake:
        with pytest.raises(BuildError) as err:
            execute(
                "FROM local/busybox:latest\nRUN true\n",
                BuildOptions(),
                host=fake.host,
                builder="buildkit",
                docker_config=False,
            )
    assert "the connection to the daemon broke during the build" in str(err.value)
    result = err.value.result
    assert result.status == "failed" and result.builder == "buildkit"
    assert "#1 [internal] load remote build context" in result.log
    assert "running" not in {s.status for s in result.steps}


def test_a_daemon_without_buildkit_is_said_so() -> None:
    # Too old an API: refused before /build.
    with FakeDaemon(api_version="1.38", build=_stream([])) as fake:
        with pytest.raises(DaemonError, match="has no BuildKit"):
            execute("FROM x\n", BuildOptions(), host=fake.host, builder="buildkit")
    assert not _build_queries(fake)

    # It refuses version=2 (a daemon built without BuildKit).
    def refuse(req) -> None:
        data = json.dumps({"message": 'invalid version "2"'}).encode()
        req.send_response(400)
        req.send_header("Content-Type", "application/json")
        req.send_header("Content-Length", str(len(data)))
        req.end_headers()
        req.wfile.write(data)

    with FakeDaemon(build=refuse, version="20.10.0") as fake:
        with pytest.raises(BuildError, match=r"does not run BuildKit builds .*--builder classic"):
            execute("FROM x\n", BuildOptions(), host=fake.host, builder="buildkit")

    # It ignores version=2 and runs the classic builder.
    classic = [
        b'{"stream":"Step 1/1 : FROM x"}\r\n',
        b'{"aux":{"ID":"%s"}}\r\n' % IMAGE.encode(),
    ]
    with FakeDaemon(build=_stream(classic), version="20.10.0") as fake:
        with pytest.raises(BuildError, match=r"classic builder's output .* does not run BuildKit"):
            execute("FROM x\n", BuildOptions(), host=fake.host, builder="buildkit")


def test_auto_keeps_the_classic_builder_when_nothing_needs_buildkit() -> None:
    """Even on a daemon whose default is BuildKit (Docker 23+): what a build prints stays."""
    body = (
        b'{"stream":"Step 1/1 : FROM x"}\r\n{"stream":"\\n"}\r\n'
        b'{"aux":{"ID":"%s"}}\r\n{"stream":"Successfully built cdcdcdcdcdcd\\n"}\r\n'
        % IMAGE.encode()
    )
    with FakeDaemon(build=_stream([body]), version="26.1.5", api_version="1.45") as fake:
        result = execute("FROM x\n", BuildOptions(), host=fake.host, env={}, docker_config=False)
    assert result.ok and result.builder == "classic"
    assert result.builder_note == "auto: classic (nothing here needs BuildKit)"
    assert "version" not in _build_queries(fake)[0]
    assert ("GET", "/_ping") not in fake.requests  # nothing asked to decide


def test_cancel_from_another_thread_sends_build_cancel_and_ends_cancelled() -> None:
    release = threading.Event()

    def slow(req) -> None:
        req.send_response(200)
        req.send_header("Content-Type", "application/json")
        req.send_header("Transfer-Encoding", "chunked")
        req.end_headers()
        for msg in _trace_lines("b15_cancel", 8):
            req.wfile.write(b"%x\r\n%s\r\n" % (len(msg), msg))
        req.wfile.flush()
        release.wait(10)

    responses = []
    cancel = threading.Event()
    with FakeDaemon(build=slow, version="20.10.24") as fake:

        def on_response(response) -> None:
            responses.append(response)
            threading.Timer(0.3, lambda: (cancel.set(), response.cancel())).start()

        from jupyter_dockerbuild.errors import BuildCancelled

        try:
            with pytest.raises(BuildCancelled) as err:
                execute(
                    "FROM local/busybox:latest\nRUN sleep 1234567\n",
                    BuildOptions(),
                    host=fake.host,
                    builder="buildkit",
                    docker_config=False,
                    cancel_event=cancel,
                    on_response=on_response,
                )
        finally:
            release.set()
    build_id = _build_queries(fake)[0]["buildid"]
    assert ("POST", f"/v1.41/build/cancel?id={build_id}") in fake.requests
    assert err.value.result.status == "cancelled" and err.value.result.builder == "buildkit"


def test_choosing_buildkit_imports_no_http_stack_before_the_first_paint() -> None:
    import os
    import subprocess
    import sys
    from pathlib import Path

    code = (
        "import sys\n"
        "from jupyter_dockerbuild.builder.options import BuildOptions\n"
        "from jupyter_dockerbuild.builder.pipeline import execute\n"
        "seen = []\n"
        "class View:\n"
        "    def update(self, state):\n"
        "        seen.append((state.builder, 'requests' in sys.modules))\n"
        "    def close(self, state):\n"
        "        pass\n"
        "try:\n"
        "    execute('FROM x\\nRUN --mount=type=cache,target=/c true\\n', BuildOptions(),\n"
        "            host='ssh://nowhere', view=View())\n"
        "except Exception as exc:\n"
        "    print(type(exc).__name__)\n"
        "print(*seen[0])\n"
    )
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    env.pop("DOCKER_BUILDKIT", None)
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    assert out.stdout.split() == ["DaemonUnavailable", "buildkit", "False"], out.stderr


def test_a_buildkit_state_is_what_the_buildkit_builder_makes() -> None:
    state = BuildKitBuilder().new_state("FROM x\nRUN true\n", BuildOptions(), line_offset=1)
    assert isinstance(state, BuildKitBuildState)
    # Before any vertex, the Dockerfile's instructions wait, as the classic first paint.
    snap = state.snapshot()
    assert [s.instruction for s in snap.steps] == ["FROM x", "RUN true"]
    assert snap.builder == "buildkit" and snap.tails is None


def test_docker_client_cancel_build_is_bounded(monkeypatch) -> None:
    with FakeDaemon(version="20.10.24") as fake:
        client = DockerClient(fake.host)
        client.cancel_build("abc")
        client.close()
    assert ("POST", "/v1.41/build/cancel?id=abc") in fake.requests


# -- the table, the magic's flag and the form's field ------------------------------------


def test_builder_is_a_checked_option_never_sent() -> None:
    options = BuildOptions.from_user(builder="buildkit", tags=["a:1"])
    assert options.builder == "buildkit"
    assert "builder" not in dict(options.to_query())
    assert options.to_cli(magic=True) == "%%dockerbuild -t a:1 --builder buildkit"
    assert options.to_cli().startswith("DOCKER_BUILDKIT=1 docker build -t a:1")
    with pytest.raises(OptionsError) as err:
        BuildOptions.from_user(builder="kaniko")
    assert err.value.option == "builder" and "buildkit, classic or auto" in str(err.value)


def test_choosing_buildkit_with_an_option_it_ignores_is_refused_at_once() -> None:
    with pytest.raises(OptionsError) as err:
        BuildOptions.from_user(builder="buildkit", memory="64m", cpu_shares=512)
    # The table's builders column names the culprit, and the form flags that field.
    assert err.value.option == "memory"
    assert str(err.value) == (
        "-m/--memory: BuildKit ignores this option (also --cpu-shares); use the classic "
        "builder (--builder classic), which honours it"
    )
    assert BuildOptions.from_user(builder="classic", memory="64m").memory == 64 * 2**20


def test_the_form_has_a_builder_field_checked_with_the_rest() -> None:
    from jupyter_dockerbuild.ui.form import BuildForm

    form = BuildForm("FROM scratch\n", env={})
    assert form.options.builder is None  # empty: DOCKER_BUILDKIT, else auto
    form.builder.value = "buildkit"
    assert form.options.builder == "buildkit"
    form.memory.value = "64m"
    with pytest.raises(OptionsError) as err:
        _ = form.options
    assert err.value.option == "memory" and "BuildKit ignores" in str(err.value)
    assert (
        "--builder buildkit"
        in BuildForm("FROM scratch\n", env={}, builder="buildkit").model.magic_line()
    )


def test_warnings_of_newer_daemons_name_the_cell_line() -> None:
    warning = bk.vertex_warning(
        "sha256:v",
        b"JSONArgsRecommended: JSON arguments recommended for CMD (line 3)",
        url="https://docs.docker.com/go/dockerfile/rule/json-args-recommended/",
    )
    vertex = bk.vertex("sha256:v", "[internal] load build definition from Dockerfile")
    state = BuildKitBuildState("FROM x\nRUN true\nCMD echo x\n", line_offset=1)
    state.apply(bk.trace(bk.status_response(vertexes=(vertex,), warnings=(warning,))))
    assert state.warnings == [
        "JSONArgsRecommended: JSON arguments recommended for CMD (cell line 4) "
        "(https://docs.docker.com/go/dockerfile/rule/json-args-recommended/)"
    ]
    assert "⚠ JSONArgsRecommended" in render_html(state)


def test_a_pulls_transfers_show_as_bars_with_current_and_total() -> None:
    name = "b25_pull_loopback_registry"
    state = BuildKitBuildState(bk.meta(name)["dockerfile"], line_offset=1)
    seen = []
    for event in bk.oracle_events(name):
        state.apply(event)
        seen.extend(state.snapshot().downloads)
    # The 1 MB layer, while it downloads (20.10 reports current only once it is done).
    assert ("1bdbe182acb5", "downloading", 0, 1027956) in seen, seen
    assert all(total > 0 for *_, total in seen)  # sizeless jobs (the exporter's) are no bars
    html = render_html(state.snapshot())
    assert "downloads" not in html  # the pull is over: no bar is left
