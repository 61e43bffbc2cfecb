"""BuildOptions: parsing what users type, rejecting nonsense, and the exact query sent."""

from __future__ import annotations

import base64
import json

import pytest

from jupyter_dockerbuild.builder.options import (
    BuildOptions,
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
