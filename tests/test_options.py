"""BuildOptions: parsing what users type, rejecting nonsense, and the exact query sent;
the option table every entry point is made from."""

from __future__ import annotations

import base64
import inspect
import json
import os
import shlex
import socket
import tempfile

import pytest

from jupyter_dockerbuild.builder.options import (
    BUILD_OPTIONS,
    OPTION,
    OPTIONS,
    BuildOptions,
    Kind,
    magic_flags,
    magic_values,
    parse_size,
    registry_config_from_docker_config,
    validate_tag,
)
from jupyter_dockerbuild.errors import OptionsError
from jupyter_dockerbuild.units import format_size


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("512m", 512 * 1024**2),
        ("2g", 2 * 1024**3),
        ("2G", 2 * 1024**3),
        ("1.5GiB", int(1.5 * 1024**3)),
        ("64mb", 64 * 1024**2),
        ("100", 100),
        ("1k", 1024),
        ("10 m", 10 * 1024**2),
        (67108864, 67108864),
    ],
)
def test_sizes_in_cli_units_become_bytes(text, expected):
    assert parse_size(text, "-m/--memory") == expected


@pytest.mark.parametrize("bad", ["12zz", "abc", "1.2.3g", "-5", "0", "m", "1e6"])
def test_bad_sizes_name_flag_and_value(bad):
    with pytest.raises(OptionsError) as err:
        BuildOptions.from_user(memory=bad)
    assert "-m/--memory" in str(err.value)
    assert repr(bad) in str(err.value) or bad in str(err.value)


def test_memory_swap_minus_one_is_unlimited():
    opts = BuildOptions.from_user(memory="64m", memory_swap="-1")
    assert ("memswap", "-1") in opts.to_query()


def test_memory_below_six_megabytes_rejected_before_any_request():
    with pytest.raises(OptionsError, match=r"-m/--memory: 5MiB is below the minimum of 6MiB"):
        BuildOptions.from_user(memory="5m")


def test_memory_swap_below_memory_rejected():
    with pytest.raises(OptionsError, match=r"--memory-swap \(32MiB\) must be at least"):
        BuildOptions.from_user(memory="64m", memory_swap="32m")


def test_memory_swap_without_memory_rejected():
    with pytest.raises(OptionsError, match="--memory-swap needs -m/--memory"):
        BuildOptions.from_user(memory_swap="1g")


def test_cpu_quota_needs_period_and_minimum():
    with pytest.raises(OptionsError, match="--cpu-quota needs --cpu-period"):
        BuildOptions.from_user(cpu_quota=50000)
    with pytest.raises(OptionsError, match="--cpu-quota: 10 is below the minimum of 1000"):
        BuildOptions.from_user(cpu_quota=10, cpu_period=100000)
    with pytest.raises(OptionsError, match="--cpu-period: 10 must be between"):
        BuildOptions.from_user(cpu_quota=5000, cpu_period=10)


@pytest.mark.parametrize("bad", ["abc", "1.5"])
def test_non_numeric_cpu_values_rejected(bad):
    # The daemon would read cpushares=abc as 0, i.e. silently no limit.
    with pytest.raises(OptionsError, match="--cpu-shares: expected a whole number"):
        BuildOptions.from_user(cpu_shares=bad)


@pytest.mark.parametrize("bad", ["a-b", "0,,1", "x", "0-"])
def test_cpuset_syntax(bad):
    with pytest.raises(OptionsError, match="--cpuset-cpus"):
        BuildOptions.from_user(cpuset_cpus=bad)


@pytest.mark.parametrize(
    "good",
    [
        "myenv",
        "myenv:1",
        "localhost:5000/team/env:latest",
        "a.b-c_d/e__f:v1.2-rc",
        "x:" + "a" * 128,
    ],
)
def test_valid_tags(good):
    assert validate_tag(good) == good


@pytest.mark.parametrize(
    ("bad", "needle"),
    [
        ("UPPER/Case", "must be lowercase"),
        ("probe-x:bad tag!", "invalid tag"),
        ("x@sha256:" + "a" * 64, "digest"),
        ("", "not a valid image name"),
        ("-leading", "not a valid image name"),
        ("x:.dot", "invalid tag"),
        ("x:" + "a" * 129, "invalid tag"),
    ],
)
def test_bad_tags_name_the_tag(bad, needle):
    with pytest.raises(OptionsError) as err:
        BuildOptions.from_user(tags=[bad])
    assert needle in str(err.value)
    assert "-t/--tag" in str(err.value)


def test_build_args_from_pairs_env_and_mapping():
    opts = BuildOptions.from_user(
        build_args=["A=1", "B=x=y", "TOKEN", "MISSING"], env={"TOKEN": "s3cret"}
    )
    assert dict(opts.build_args) == {"A": "1", "B": "x=y", "TOKEN": "s3cret", "MISSING": None}
    # Values from the environment are treated as secrets in everything displayed.
    assert opts.masked_build_args()["TOKEN"] == "***"
    assert "s3cret" not in opts.to_cli()
    assert "s3cret" not in repr(opts)
    assert "'TOKEN': '***'" in repr(opts)
    query = dict(opts.to_query())
    assert json.loads(query["buildargs"]) == {
        "A": "1",
        "B": "x=y",
        "TOKEN": "s3cret",
        "MISSING": None,
    }
    assert BuildOptions.from_user(build_args={"K": "v"}).build_args == {"K": "v"}


def test_build_arg_bad_name():
    with pytest.raises(OptionsError, match="--build-arg: 'A-B' is not a valid build-arg name"):
        BuildOptions.from_user(build_args=["A-B=1"])


def test_add_host_needs_colon_and_ip():
    with pytest.raises(OptionsError, match="--add-host: 'nocolon' must be HOST:IP"):
        BuildOptions.from_user(extra_hosts=["nocolon"])
    with pytest.raises(OptionsError, match="is not an IP address"):
        BuildOptions.from_user(extra_hosts=["db:not-an-ip"])
    opts = BuildOptions.from_user(extra_hosts=["db:10.0.0.5", "v6:::1", "gw:host-gateway"])
    assert [v for k, v in opts.to_query() if k == "extrahosts"] == [
        "db:10.0.0.5",
        "v6:::1",
        "gw:host-gateway",
    ]


def test_unknown_option_lists_valid_ones():
    with pytest.raises(OptionsError, match=r"unknown build option\(s\) memroy"):
        BuildOptions.from_user(memroy="1g")


def test_dockerfile_path_must_stay_inside_context():
    for bad in ["../Dockerfile", "/etc/Dockerfile", "a/../../b"]:
        with pytest.raises(OptionsError, match="-f/--file"):
            BuildOptions.from_user(dockerfile=bad)


def test_full_query_every_parameter():
    opts = BuildOptions.from_user(
        dockerfile="sub/Dockerfile.dev",
        tags=["a:1", "a:latest"],
        extra_hosts=["h1:10.0.0.1", "h2:10.0.0.2"],
        quiet=True,
        no_cache=True,
        cache_from=["a:0", "b:0"],
        pull=True,
        rm=False,
        force_rm=False,
        memory="2g",
        memory_swap="3g",
        cpu_shares=512,
        cpuset_cpus="0",
        cpu_period="100000",
        cpu_quota="50000",
        build_args={"PYVER": "3.12"},
        shm_size="128m",
        squash=True,
        labels=["com.example.a=1", "flag"],
        network="none",
        target="final",
        platform="linux/amd64",
        isolation="default",
    )
    assert opts.to_query() == [
        ("dockerfile", "sub/Dockerfile.dev"),
        ("t", "a:1"),
        ("t", "a:latest"),
        ("extrahosts", "h1:10.0.0.1"),
        ("extrahosts", "h2:10.0.0.2"),
        ("q", "1"),
        ("nocache", "1"),
        ("pull", "1"),
        ("squash", "1"),
        ("rm", "0"),
        ("forcerm", "0"),
        ("cachefrom", '["a:0", "b:0"]'),
        ("memory", str(2 * 1024**3)),
        ("memswap", str(3 * 1024**3)),
        ("cpushares", "512"),
        ("cpuperiod", "100000"),
        ("cpuquota", "50000"),
        ("shmsize", str(128 * 1024**2)),
        ("cpusetcpus", "0"),
        ("buildargs", '{"PYVER": "3.12"}'),
        ("labels", '{"com.example.a": "1", "flag": ""}'),
        ("networkmode", "none"),
        ("target", "final"),
        ("platform", "linux/amd64"),
        ("isolation", "default"),
    ]


def test_defaults_send_rm_and_forcerm_on():
    # forcerm on by default: a failed step must not leave a container behind.
    assert BuildOptions().to_query() == [("rm", "1"), ("forcerm", "1")]


def test_booleans_parse_like_people_write_them():
    assert BuildOptions.from_user(rm="false").rm is False
    assert BuildOptions.from_user(rm="0").rm is False
    assert BuildOptions.from_user(no_cache="yes").no_cache is True
    with pytest.raises(OptionsError, match="--rm: expected true or false"):
        BuildOptions.from_user(rm="maybe")


def test_cli_equivalent():
    opts = BuildOptions.from_user(
        tags=["x:1"],
        build_args=["A=1 2", "SECRET"],
        memory="512m",
        no_cache=True,
        env={"SECRET": "hunter2"},
    )
    cli = opts.to_cli()
    assert cli.startswith("docker build -t x:1 --build-arg 'A=1 2' --build-arg SECRET")
    assert "--memory 512m" in cli and "--no-cache" in cli and cli.endswith(" -")
    odd = BuildOptions.from_user(memory="1.5g", memory_swap="-1", shm_size=100_000_000)
    assert "--memory 1536m --memory-swap -1 --shm-size 100000000" in odd.to_cli()
    assert "hunter2" not in cli
    assert opts.to_cli(magic=True).startswith("%%dockerbuild -t x:1")


def test_registry_config_from_docker_config(tmp_path):
    auth = base64.b64encode(b"alice:pw:with:colons").decode()
    (tmp_path / "config.json").write_text(
        json.dumps({"auths": {"https://index.docker.io/v1/": {"auth": auth}, "empty": {}}})
    )
    value = registry_config_from_docker_config({"DOCKER_CONFIG": str(tmp_path)})
    decoded = json.loads(base64.urlsafe_b64decode(value))
    assert decoded == {
        "https://index.docker.io/v1/": {
            "serveraddress": "https://index.docker.io/v1/",
            "username": "alice",
            "password": "pw:with:colons",
        }
    }
    opts = BuildOptions().replace(registry_config=value)
    assert opts.headers()["X-Registry-Config"] == value
    assert value not in repr(opts)
    assert registry_config_from_docker_config({"DOCKER_CONFIG": str(tmp_path / "none")}) is None


def test_format_size():
    assert format_size(64 * 1024**2) == "64MiB"
    assert format_size(int(1.5 * 1024**3)) == "1.5GiB"
    assert format_size(-1) == "unlimited"


def test_config_proxies_left_out_of_the_cli_equivalent():
    opts = BuildOptions.from_user(build_args=["A=1"]).replace(
        build_args={"A": "1", "HTTP_PROXY": "http://u:pw@proxy:3128"},
        secret_args=frozenset({"HTTP_PROXY"}),
        implicit_args=frozenset({"HTTP_PROXY"}),
    )
    assert opts.to_cli() == "docker build --build-arg A=1 --force-rm -"
    assert "pw@proxy" not in repr(opts)


# -- the option table ------------------------------------------------------------------

#: The query parameters of POST /build in Engine API v1.33 (moby api/docs/v1.33.yaml).
V1_33_QUERY = {
    "dockerfile", "t", "extrahosts", "remote", "q", "nocache", "cachefrom", "pull", "rm",
    "forcerm", "memory", "memswap", "cpushares", "cpusetcpus", "cpuperiod", "cpuquota",
    "buildargs", "shmsize", "squash", "labels", "networkmode",
}  # fmt: skip
#: Read by the daemon beyond that spec: platform (documented from v1.34, read from 1.32),
#: target (documented from v1.37) and isolation (read by build_routes.go, never documented).
LATER_QUERY = {"platform", "target", "isolation"}

#: A unix socket the ``--ssh`` sample names (``--ssh`` checks that it is one).
AGENT_SOCKET = os.path.join(tempfile.gettempdir(), f"jdb-test-options-{os.getpid()}.sock")


@pytest.fixture(scope="module", autouse=True)
def _agent_socket():
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.bind(AGENT_SOCKET)
    yield
    sock.close()
    os.unlink(AGENT_SOCKET)


#: One value per build option as the Python API takes it, and the query item it must send.
SAMPLES = {
    "tags": ("x:1", ("t", "x:1")),
    "dockerfile": ("sub/Dockerfile", ("dockerfile", "sub/Dockerfile")),
    "build_args": (["A=1"], ("buildargs", '{"A": "1"}')),
    "extra_hosts": (["db:10.0.0.5"], ("extrahosts", "db:10.0.0.5")),
    "labels": (["k=v"], ("labels", '{"k": "v"}')),
    "cache_from": (["img:1"], ("cachefrom", '["img:1"]')),
    "memory": ("64m", ("memory", str(64 * 2**20))),
    "memory_swap": ("-1", ("memswap", "-1")),
    "shm_size": ("128m", ("shmsize", str(128 * 2**20))),
    "cpu_period": ("100000", ("cpuperiod", "100000")),
    "cpu_quota": ("50000", ("cpuquota", "50000")),
    "cpu_shares": ("512", ("cpushares", "512")),
    "cpuset_cpus": ("0", ("cpusetcpus", "0")),
    "network": ("none", ("networkmode", "none")),
    "target": ("final", ("target", "final")),
    "platform": ("linux/amd64", ("platform", "linux/amd64")),
    "isolation": ("default", ("isolation", "default")),
    "remote": ("https://127.0.0.1:9/x.git", ("remote", "https://127.0.0.1:9/x.git")),
    "no_cache": (True, ("nocache", "1")),
    "pull": (True, ("pull", "1")),
    "rm": (False, ("rm", "0")),
    "force_rm": (False, ("forcerm", "0")),
    "quiet": (True, ("q", "1")),
    "squash": (True, ("squash", "1")),
    # Ours, never sent: the pipeline reads it (see _sent).
    "builder": ("buildkit", ("builder", "buildkit")),
    # Given through BuildKit's session: references to a file and an agent socket.
    "secrets": (f"id=t,src={__file__}", ("secrets", (f"id=t,src={__file__}",))),
    "ssh": (f"agent={AGENT_SOCKET}", ("ssh", (f"agent={AGENT_SOCKET}",))),
}
#: What some samples need beside them to be valid.
NEEDS = {"cpu_quota": {"cpu_period": "100000"}}


def test_every_v1_33_query_parameter_is_declared_exactly_once():
    keys = [o.query for o in OPTIONS if o.query is not None]
    assert len(keys) == len(set(keys)), sorted(k for k in keys if keys.count(k) > 1)
    assert set(keys) == V1_33_QUERY | LATER_QUERY
    # Each declares what the docs and completion need; names and flags are unique.
    names = [o.name for o in OPTIONS]
    flags = [f for o in OPTIONS for f in o.flags]
    assert len(names) == len(set(names)) and len(flags) == len(set(flags))
    for opt in OPTIONS:
        assert opt.help, opt.name
        assert opt.builders <= {"classic", "buildkit"}, opt.name
        # Builder options (sent, or acted on by the pipeline like --push) say which
        # builders honour them; our own flags (--context, -H, --builder ...) are no builder's.
        assert bool(opt.builders) == (
            opt.query is not None or opt.after_build or opt.via_session or opt.kind is Kind.CPUS
        ), opt.name
        assert opt.is_build == (
            opt.query is not None or opt.via_session or opt.name in {"push", "builder"}
        ), opt.name
        # What goes through BuildKit's session only BuildKit honours.
        assert not opt.via_session or opt.builders == {"buildkit"}, opt.name


def test_builders_column_says_what_buildkit_ignores():
    # moby's builder-next reads none of these from the build options.
    sent = [o for o in BUILD_OPTIONS if o.query is not None]
    ignored = {o.query for o in sent if "buildkit" not in o.builders}
    assert ignored == {
        "memory", "memswap", "cpushares", "cpusetcpus", "cpuperiod", "cpuquota", "rm",
        "forcerm", "squash", "isolation",
    }  # fmt: skip
    assert all("classic" in o.builders for o in sent)
    # --builder is ours: a field of BuildOptions that no builder reads, never sent.
    assert OPTION["builder"].is_build and not OPTION["builder"].builders
    assert "builder" not in dict(BuildOptions.from_user(builder="buildkit").to_query())


def _sent(options):
    """What a build with ``options`` tells: the query, and our own fields (``builder``)."""
    own = [
        (o.name, getattr(options, o.name)) for o in BUILD_OPTIONS if o.field_only or o.via_session
    ]
    return [*options.to_query(), *((k, v) for k, v in own if v not in (None, ()))]


def _magic_words(name, value):
    opt = OPTION[name]
    if opt.kind is Kind.BOOL:
        return [opt.long_flag if value else f"{opt.long_flag}=false"]
    items = [value] if isinstance(value, str) else value
    return [w for item in items for w in (opt.long_flag, shlex.quote(item))]


def _magic_options(line):
    from jupyter_dockerbuild.ipython.magics import DockerBuildMagics

    args = DockerBuildMagics.dockerbuild.parser.parse_argstring(line)
    return BuildOptions.from_user(env={}, **magic_values(args))


#: The options sent to /build (push, a field too, is done by the pipeline: tested below).
# Every build option but --push, which acts after the build (its own test below).
SENT = [o.name for o in BUILD_OPTIONS if not o.after_build]


@pytest.mark.parametrize("name", SENT)
def test_each_build_option_is_reachable_from_the_magic_python_and_form(name):
    assert set(SAMPLES) == set(SENT)  # a new option needs a sample
    value, item = SAMPLES[name]
    needs = NEEDS.get(name, {})
    # Python API keywords.
    assert item in _sent(BuildOptions.from_user(env={}, **{name: value}, **needs))
    # The magic line, with the option's long flag (and the short one, if any).
    words = _magic_words(name, value)
    for extra, extra_value in needs.items():
        words += _magic_words(extra, extra_value)
    assert item in _sent(_magic_options(" ".join(words)))
    opt = OPTION[name]
    if len(opt.flags) > 1 and opt.kind is not Kind.BOOL:
        short = " ".join(w if w != opt.long_flag else opt.flags[0] for w in words)
        assert item in _sent(_magic_options(short))
    # The equivalent commands name the flag, and reading them back gives the same.
    options = BuildOptions.from_user(env={}, **{name: value}, **needs)
    line = options.to_cli(magic=True)
    assert _sent(_magic_options(line.removeprefix("%%dockerbuild"))) == _sent(options)
    # The form: typed into its field (or given as a keyword, for options without one).
    assert item in _sent(_form_options(name, value, needs))


def _form_options(name, value, needs):
    from jupyter_dockerbuild.ui.form import BuildForm

    opt = OPTION[name]
    if opt.group is None:
        # BuildForm's first parameter is the Dockerfile's text: the path is file=.
        key = opt.aliases[0] if name in inspect.signature(BuildForm).parameters else name
        return BuildForm("FROM scratch\n", env={}, **{key: value}, **needs).options
    form = BuildForm("FROM scratch\n", env={}, **needs)
    if opt.group == "build_args":
        for item in value:
            form.add_build_arg(*item.split("=", 1))
    elif opt.kind in (Kind.LIST, Kind.PAIRS):
        getattr(form, name).value = [value] if isinstance(value, str) else value
    else:  # a text box or a checkbox
        getattr(form, name).value = value
    return form.options


def test_push_is_a_client_side_option_of_every_entry_point():
    tags = ["127.0.0.1:5443/team/app:1", "127.0.0.1:5443/team/app:latest"]
    options = BuildOptions.from_user(tags=tags, push=True)
    assert options.push is True and BuildOptions.from_user(tags=tags).push is False
    # Never sent to /build: the daemon would not know it (the pipeline pushes).
    assert options.to_query() == BuildOptions.from_user(tags=tags).to_query()
    assert _magic_options(f"-t {tags[0]} -t {tags[1]} --push") == options
    assert options.to_cli(magic=True) == f"%%dockerbuild -t {tags[0]} -t {tags[1]} --push"
    # The classic docker build has no --push: the CLI pushes each tag after the build.
    assert options.to_cli(host="tcp://127.0.0.1:2375") == (
        f"docker -H tcp://127.0.0.1:2375 build -t {tags[0]} -t {tags[1]} --force-rm - "
        f"&& docker -H tcp://127.0.0.1:2375 push {tags[0]} "
        f"&& docker -H tcp://127.0.0.1:2375 push {tags[1]}"
    )
    assert "push" not in BuildOptions.from_user(tags=tags).to_cli()
    assert "push=True" in repr(options)
    # The form passes it through to its builds (there is a Push button instead of a box).
    from jupyter_dockerbuild.ui.form import BuildForm

    form = BuildForm("FROM scratch\n", env={}, tags=tags, push=True)
    assert form.options == options and form.magic_line.endswith(" --push")
    with pytest.raises(OptionsError, match="--push: expected true or false"):
        BuildOptions.from_user(push="maybe")


def test_python_aliases_are_accepted_by_every_keyword_entry_point():
    opts = BuildOptions.from_user(file="sub/Dockerfile", tag="x:1", cpus="1.5")
    assert (opts.dockerfile, opts.tags) == ("sub/Dockerfile", ("x:1",))
    assert (opts.cpu_period, opts.cpu_quota) == (100_000, 150_000)
    assert BuildOptions.from_user(tag=["a:1", "a:2"]).tags == ("a:1", "a:2")
    with pytest.raises(OptionsError, match="tag and tags are the same option"):
        BuildOptions.from_user(tags=["a:1"], tag="a:2")
    with pytest.raises(OptionsError, match="give either cpus or those two"):
        BuildOptions.from_user(cpus=1, cpu_period=100000)
    with pytest.raises(OptionsError, match="--cpus: 'lots' is not a number of CPUs"):
        BuildOptions.from_user(cpus="lots")
    # The unknown-keyword message lists the aliases as valid too.
    with pytest.raises(OptionsError, match=r"valid options are .*\bcpus\b.*\bfile\b.*\btag\b"):
        BuildOptions.from_user(memroy="1g")


def test_rm_false_turns_off_force_rm_unless_given():
    assert _magic_options("--rm=false").force_rm is False
    assert _magic_options("--rm=false --force-rm").force_rm is True
    assert _magic_options("--rm").force_rm is True
    assert BuildOptions.from_user(rm=False).force_rm is False
    assert BuildOptions.from_user(rm=False, force_rm=True).force_rm is True
    assert dict(BuildOptions.from_user(rm="false").to_query())["forcerm"] == "0"


def test_magic_help_lists_every_flag_with_its_help():
    from jupyter_dockerbuild.ipython.magics import DockerBuildMagics

    doc = " ".join(DockerBuildMagics.dockerbuild.__doc__.split())
    assert "%%dockerbuild -t myenv:1" in doc  # the docstring's example is kept
    for opt in OPTIONS:
        for flag in opt.flags:
            assert flag in doc, flag
        if opt.flags:
            words = " ".join(opt.help.replace("%%", "%").split())
            assert words[:40] in doc, opt.name
    assert magic_flags() == sorted(
        {f for o in OPTIONS for f in o.flags}, key=lambda f: (not f.startswith("--"), f)
    )


def test_bad_magic_flag_values_name_the_flag():
    with pytest.raises(OptionsError, match="--rm: expected true or false, got 'maybe'"):
        _magic_options("--rm=maybe")
    with pytest.raises(OptionsError, match="--cpu-shares: expected a whole number"):
        _magic_options("-c lots")


# -- structured errors -------------------------------------------------------------------

#: (keywords, the option the error must name). The memory minimum's detail is a short
#: form of its message (for beside the field), so it is not part of the message.
ERRORS = [
    ({"memory": "12zz"}, "memory"),
    ({"memory": "5m"}, "memory"),
    ({"memory": True}, "memory"),
    ({"memory_swap": "1g"}, "memory_swap"),
    ({"memory": "64m", "memory_swap": "32m"}, "memory_swap"),
    ({"memory_swap": "x"}, "memory_swap"),
    ({"shm_size": "0"}, "shm_size"),
    ({"cpu_shares": "abc"}, "cpu_shares"),
    ({"cpu_shares": 1}, "cpu_shares"),
    ({"cpu_shares": False}, "cpu_shares"),
    ({"cpu_period": 10, "cpu_quota": 5000}, "cpu_period"),
    ({"cpu_quota": 10, "cpu_period": 100000}, "cpu_quota"),
    ({"cpu_quota": 50000}, "cpu_quota"),
    ({"cpuset_cpus": "x"}, "cpuset_cpus"),
    ({"cpus": "lots"}, "cpus"),
    ({"cpus": "0"}, "cpus"),
    ({"cpus": 1, "cpu_quota": 1000}, "cpus"),
    ({"tags": ["UPPER"]}, "tags"),
    ({"tags": ["x@sha256:1"]}, "tags"),
    ({"tags": [1]}, "tags"),
    ({"tags": 5}, "tags"),
    ({"tag": "a", "tags": ["b"]}, "tags"),
    ({"extra_hosts": ["x"]}, "extra_hosts"),
    ({"extra_hosts": ["db:nope"]}, "extra_hosts"),
    ({"cache_from": [" x"]}, "cache_from"),
    ({"dockerfile": "../x"}, "dockerfile"),
    ({"file": "/x"}, "dockerfile"),
    ({"build_args": ["A-B=1"]}, "build_args"),
    ({"build_args": "A=1"}, "build_args"),
    ({"build_args": [1]}, "build_args"),
    ({"build_args": ["=1"]}, "build_args"),
    ({"labels": ["=x"]}, "labels"),
    ({"labels": "k=v"}, "labels"),
    ({"rm": "maybe"}, "rm"),
    ({"no_cache": "perhaps"}, "no_cache"),
    ({"network": 5}, "network"),
    ({"target": ["x"]}, "target"),
    ({"memroy": "1g"}, None),  # about no option: a keyword that is none
]


@pytest.mark.parametrize(("values", "option"), ERRORS)
def test_every_error_names_its_option(values, option):
    with pytest.raises(OptionsError) as err:
        BuildOptions.from_user(env={}, **values)
    assert err.value.option == option
    assert err.value.detail
    if values == {"memory": "5m"}:
        assert err.value.detail == "5MiB is below Docker's minimum of 6MiB"
        return
    assert err.value.detail in str(err.value)
    if option is not None and str(err.value).startswith(OPTION[option].label + ": "):
        assert str(err.value) == f"{OPTION[option].label}: {err.value.detail}"


def test_every_raise_in_options_py_names_an_option():
    import ast

    import jupyter_dockerbuild.builder.options as module

    tree = ast.parse(open(module.__file__, encoding="utf-8").read())
    anonymous = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Raise) or not isinstance(node.exc, ast.Call):
            continue
        func = node.exc.func
        name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
        if name == "OptionsError" and not any(k.arg == "option" for k in node.exc.keywords):
            anonymous.append(node.lineno)
        else:  # _error(option, ...), bad(...) for tags, Option.error(...)
            assert name in {"_error", "bad", "error", "OptionsError"}, (node.lineno, name)
    assert len(anonymous) == 1  # the unknown keyword, about no option


def test_magic_line_errors_name_the_option(ipshell):
    for line, option in [
        ("-m", "memory"),
        ("--memory-swap", "memory_swap"),
        ("-t", "tags"),
        ("--out", "out"),
        ("--memroy 1g", None),
        ("--rm=maybe", "rm"),
        ("-m 1k", "memory"),
    ]:
        err = ipshell.run_cell(f"%%dockerbuild {line}\nFROM scratch\n").error_in_exec
        assert isinstance(err, OptionsError), line
        assert err.option == option, (line, err)
    assert str(ipshell.run_cell("%%dockerbuild -m\nFROM scratch\n").error_in_exec) == (
        "%%dockerbuild: argument -m/--memory: expected one argument"
    )


def test_the_python_api_takes_the_aliases_through_from_user(monkeypatch):
    import jupyter_dockerbuild
    import jupyter_dockerbuild.builder.pipeline as pipeline

    sent = []
    monkeypatch.setattr(pipeline, "execute", lambda dockerfile, options, **kw: sent.append(options))
    jupyter_dockerbuild.build("FROM scratch\n", file="sub/Dockerfile", tag="x:1", cpus=0.5)
    assert (sent[0].dockerfile, sent[0].tags) == ("sub/Dockerfile", ("x:1",))
    assert (sent[0].cpu_period, sent[0].cpu_quota) == (100_000, 50_000)
    with pytest.raises(OptionsError, match="tag and tags are the same option"):
        jupyter_dockerbuild.build("FROM scratch\n", tag="x:1", tags=["y:1"])
