"""The Python API against the real daemon: every flag observed through its effect.

Limits are read from inside RUN steps (cgroup v1 files here, v2 accepted), tags and
labels from the daemon, build args from a file the build wrote.
"""

from __future__ import annotations

import pytest

import jupyter_dockerbuild as jd
from jupyter_dockerbuild.errors import BuildError, ContextError, OptionsError

pytestmark = [pytest.mark.daemon, pytest.mark.usefixtures("no_leftover_containers")]


def cgroup_probe(*paths: str) -> str:
    """A RUN line printing ``key=value`` for the first readable file of each group."""
    parts = []
    for spec in paths:
        key, _, files = spec.partition("=")
        alts = " ".join(files.split("|"))
        parts.append(
            f'v=none; for f in {alts}; do [ -r $f ] && v=$(cat $f) && break; done; echo "{key}=$v"'
        )
    return "RUN " + " && ".join(f"({p})" for p in parts)


def probe_values(log: str) -> dict[str, str]:
    out = {}
    for line in log.splitlines():
        key, sep, value = line.partition("=")
        if sep and key.isidentifier() and key.startswith("p_"):
            out[key] = value.strip()
    return out


def test_build_tags_labels_and_result(docker, base_image, tag_prefix):
    result = jd.build(
        f"FROM {base_image}\nLABEL from.dockerfile=yes\nRUN echo hello > /hello.txt\n",
        tags=[f"{tag_prefix}:1", f"{tag_prefix}:latest"],
        labels={"com.example.course": "docker-101"},
        network="none",
    )
    assert result.ok
    assert result.image_id.startswith("sha256:") and len(result.image_id) == 71
    assert result.tags == (f"{tag_prefix}:1", f"{tag_prefix}:latest")
    info = docker.get_json(f"/images/{tag_prefix}:1/json")
    assert info["Id"] == result.image_id
    assert set(info["RepoTags"]) == {f"{tag_prefix}:1", f"{tag_prefix}:latest"}
    labels = info["Config"]["Labels"]
    assert labels["com.example.course"] == "docker-101"
    assert labels["from.dockerfile"] == "yes"
    # The classic builder adds the API's labels as a last LABEL step of its own.
    assert [s.instruction.split()[0] for s in result.steps] == ["FROM", "LABEL", "RUN", "LABEL"]
    assert [s.line for s in result.steps] == [1, 2, 3, None]
    assert all(s.duration is not None for s in result.steps)
    assert "Step 3/4 : RUN echo hello > /hello.txt" in result.log
    assert result.elapsed > 0


def test_build_args_reach_run_and_unused_ones_are_reported(
    base_image, tag_prefix, image_file, monkeypatch
):
    monkeypatch.setenv("FROM_ENV", "env-value")
    result = jd.build(
        f"FROM {base_image}\nARG PYVER\nARG FROM_ENV\n"
        'RUN echo "py=$PYVER env=$FROM_ENV" > /args.txt\n',
        tags=[f"{tag_prefix}:args"],
        build_args=["PYVER=3.12", "FROM_ENV", "UNUSED=1"],
        network="none",
    )
    assert image_file(f"{tag_prefix}:args", "/args.txt") == b"py=3.12 env=env-value\n"
    assert result.unused_build_args == ("UNUSED",)
    assert any("UNUSED" in w for w in result.warnings)


def test_resource_limits_seen_from_inside_run(base_image):
    dockerfile = (
        f"FROM {base_image}\n"
        + cgroup_probe(
            "p_mem=/sys/fs/cgroup/memory/memory.limit_in_bytes|/sys/fs/cgroup/memory.max",
            "p_swap=/sys/fs/cgroup/memory/memory.memsw.limit_in_bytes|/sys/fs/cgroup/memory.swap.max",
            "p_quota=/sys/fs/cgroup/cpu/cpu.cfs_quota_us|/sys/fs/cgroup/cpu.max",
            "p_period=/sys/fs/cgroup/cpu/cpu.cfs_period_us|/sys/fs/cgroup/cpu.max",
            "p_shares=/sys/fs/cgroup/cpu/cpu.shares|/sys/fs/cgroup/cpu.weight",
            "p_cpuset=/sys/fs/cgroup/cpuset/cpuset.cpus|/sys/fs/cgroup/cpuset.cpus.effective",
        )
        + "\nRUN echo p_shm=$(df -k /dev/shm | tail -n 1 | awk '{print $2}')"
        + " && echo p_nproc=$(nproc)\n"
    )
    result = jd.build(
        dockerfile,
        memory="96m",
        memory_swap="192m",
        cpu_period=100000,
        cpu_quota=50000,
        cpu_shares=512,
        cpuset_cpus="0",
        shm_size="32m",
        no_cache=True,
        network="none",
    )
    v = probe_values(result.log)
    v2 = v["p_quota"].startswith(("50000 ", "max "))  # cgroup v2 'cpu.max' is "quota period"
    if v2:
        assert v["p_mem"] == str(96 * 1024**2)
        assert v["p_quota"] == "50000 100000"
        assert v["p_swap"] == str(96 * 1024**2)  # memory.swap.max is swap only
    else:
        assert v["p_mem"] == str(96 * 1024**2)
        assert v["p_swap"] in (str(192 * 1024**2), "none")  # "none": no swap accounting
        assert v["p_quota"] == "50000"
        assert v["p_period"] == "100000"
        assert v["p_shares"] == "512"
    assert v["p_cpuset"] == "0"
    assert v["p_nproc"] == "1"
    assert v["p_shm"] == str(32 * 1024)


def test_add_host_and_network(base_image):
    result = jd.build(
        f"FROM {base_image}\nRUN grep probehost /etc/hosts\n",
        extra_hosts=["probehost:10.1.2.3"],
        network="none",
        no_cache=True,
    )
    assert "10.1.2.3\tprobehost" in result.log


def test_file_flag_and_files_from_memory(base_image, tag_prefix, image_file):
    result = jd.build(
        f"FROM {base_image}\nCOPY requirements.txt /req.txt\n",
        file="build/Dockerfile.dev",
        files={"requirements.txt": "numpy==2.1\n"},
        tags=[f"{tag_prefix}:f"],
    )
    assert result.ok
    assert image_file(f"{tag_prefix}:f", "/req.txt") == b"numpy==2.1\n"


def test_context_dir_honours_dockerignore(base_image, tag_prefix, tmp_path, image_file):
    (tmp_path / "app.py").write_text("print('hi')\n")
    (tmp_path / "secret.env").write_text("TOKEN=1\n")
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "big.bin").write_bytes(b"x" * 1000)
    (tmp_path / "data" / "keep.txt").write_text("kept\n")
    (tmp_path / ".dockerignore").write_text("*.env\ndata\n!data/keep.txt\n")
    # The directory's own Dockerfile (no cell text): what COPY . sees is exactly the
    # directory as filtered, whichever builder runs.
    (tmp_path / "Dockerfile").write_text(
        f"FROM {base_image}\nCOPY . /ctx\nRUN find /ctx -type f | sort\n"
    )
    result = jd.build(
        None,
        context=tmp_path,
        tags=[f"{tag_prefix}:ctx"],
        no_cache=True,
        network="none",
    )
    listed = [ln for ln in result.log.splitlines() if ln.startswith("/ctx/")]
    assert listed == ["/ctx/.dockerignore", "/ctx/Dockerfile", "/ctx/app.py", "/ctx/data/keep.txt"]


_OWN_DOCKERFILE = "FROM dir-own\n# the directory's Dockerfile, not the cell's\n"
# BuildKit reads a tar body as a remote context and applies no .dockerignore (moby's
# builder-next hands it to dockerui as an HTTP context; dockerui filters local contexts
# only), so the hidden Dockerfile stays visible to COPY . until the context goes through
# a BuildKit session (FileSync, the default: the cell's Dockerfile goes in its own
# tree). Seen on 20.10, 26.1 and 28.5.
_BUILDKIT_TAR_SHOWS_HIDDEN = pytest.mark.xfail(
    strict=True,
    reason="BuildKit applies no .dockerignore to a tar context: the hidden Dockerfile is "
    "copied by COPY . (needs the BuildKit session's filesync)",
)


def _copy_all(base_image: str, tmp_path, tag: str, builder: str) -> None:
    result = jd.build(
        f"FROM {base_image}\nCOPY . /app\nRUN ls -A /app > /listing\n",
        context=tmp_path,
        builder=builder,
        tags=[tag],
        no_cache=True,
    )
    assert result.ok


@pytest.mark.parametrize("builder", ["classic", "buildkit"])
def test_cell_dockerfile_leaves_the_context_dockerfile_alone(
    builder, base_image, tag_prefix, tmp_path, image_file
):
    own, bare = tmp_path / "own", tmp_path / "bare"
    for folder in (own, bare):
        folder.mkdir()
        (folder / "file.txt").write_text("hi\n")
    (own / "Dockerfile").write_text(_OWN_DOCKERFILE)
    _copy_all(base_image, own, f"{tag_prefix}:own", builder)
    assert image_file(f"{tag_prefix}:own", "/app/Dockerfile") == _OWN_DOCKERFILE.encode()
    # A directory without a Dockerfile gains none.
    _copy_all(base_image, bare, f"{tag_prefix}:bare", builder)
    assert "Dockerfile" not in image_file(f"{tag_prefix}:bare", "/listing").decode().split()


@pytest.mark.parametrize(
    ("builder", "transport"),
    [
        ("classic", "tar"),
        ("buildkit", "filesync"),
        pytest.param("buildkit", "tar", marks=_BUILDKIT_TAR_SHOWS_HIDDEN),
    ],
)
def test_copy_all_sees_exactly_the_context_directory(
    builder, transport, base_image, tag_prefix, tmp_path, image_file, monkeypatch
):
    monkeypatch.setenv("JUPYTER_DOCKERBUILD_CONTEXT", transport)
    # No .dockerfile.* and no .dockerignore added: the directory, file for file.
    (tmp_path / "Dockerfile").write_text(_OWN_DOCKERFILE)
    (tmp_path / "file.txt").write_text("hi\n")
    _copy_all(base_image, tmp_path, f"{tag_prefix}:exact", builder)
    listing = image_file(f"{tag_prefix}:exact", "/listing").decode().split()
    assert listing == ["Dockerfile", "file.txt"]


def test_quiet_build_returns_image_id(base_image, tag_prefix):
    result = jd.build(f"FROM {base_image}\nENV A=1\n", quiet=True, tags=[f"{tag_prefix}:q"])
    assert result.ok and result.image_id.startswith("sha256:")


def test_cache_hit_and_no_cache(base_image):
    df = f"FROM {base_image}\nRUN echo cache-me > /c\n"
    jd.build(df, network="none")
    cached = jd.build(df, network="none")
    assert [s.cached for s in cached.steps][1:] == [True]
    fresh = jd.build(df, network="none", no_cache=True)
    assert not any(s.cached for s in fresh.steps[1:])


def test_cache_from_is_sent_as_json_array(base_image, tag_prefix):
    seed = jd.build(f"FROM {base_image}\nRUN echo seed\n", tags=[f"{tag_prefix}:seed"])
    again = jd.build(f"FROM {base_image}\nRUN echo seed\n", cache_from=[f"{tag_prefix}:seed"])
    assert again.image_id == seed.image_id and again.steps[1].cached


def test_rm_false_keeps_intermediate_containers(docker, base_image):
    before = {c["Id"] for c in docker.containers(all=True)}
    jd.build(f"FROM {base_image}\nRUN echo keep\n", rm=False, no_cache=True, network="none")
    kept = [c for c in docker.containers(all=True) if c["Id"] not in before]
    assert len(kept) == 1  # the RUN step's container, kept as asked
    for c in kept:
        docker.delete(f"/containers/{c['Id']}", params={"force": "1"})


def test_pull_of_local_base_fails_without_registry_and_says_so(base_image):
    # --pull on an image that exists only locally: the daemon tries the registry.
    with pytest.raises(BuildError, match="base image") as err:
        jd.build("FROM 127.0.0.1:5999/nope:1\nRUN true\n", pull=True)
    assert "127.0.0.1:5999/nope:1" in str(err.value)


def test_squash_needs_experimental_daemon(docker, base_image):
    experimental = docker.get_json("/info").get("ExperimentalBuild")
    if experimental:
        assert jd.build(f"FROM {base_image}\nENV A=1\n", squash=True).ok
    else:
        with pytest.raises(BuildError, match="--squash needs a daemon started with --experimental"):
            jd.build(f"FROM {base_image}\nENV A=1\n", squash=True)


# -- bad input: a short clear error naming the culprit, nothing left behind ----------


def test_empty_dockerfile():
    with pytest.raises(BuildError, match=r"the Dockerfile is empty: write at least a FROM line"):
        jd.build("")


def test_unknown_instruction_names_instruction_and_line(base_image):
    with pytest.raises(BuildError) as err:
        jd.build(f"FROM {base_image}\nFOOBAR baz\n")
    assert "unknown instruction: FOOBAR" in str(err.value)
    assert "line 2" in str(err.value)


def test_no_from(base_image):
    with pytest.raises(BuildError, match=r"the Dockerfile must start with FROM \(only ARG"):
        jd.build("RUN echo hi\n")


def test_run_exiting_nonzero_shows_output_and_exit_code(base_image):
    with pytest.raises(BuildError) as err:
        jd.build(
            f"FROM {base_image}\nRUN echo about-to-fail && echo err-msg >&2 && exit 3\n",
            no_cache=True,
            network="none",
        )
    res = err.value.result
    assert res.exit_code == 3
    assert res.failed_step.number == 2 and res.failed_step.instruction.startswith("RUN echo")
    assert "step 2/2" in str(err.value) and "returned a non-zero code: 3" in str(err.value)
    assert "about-to-fail" in res.log and "err-msg" in res.log


def test_oom_kill_blames_the_memory_limit(base_image):
    with pytest.raises(BuildError) as err:
        jd.build(
            f"FROM {base_image}\nRUN head -c 300000000 /dev/zero | tail > /dev/null\n",
            memory="16m",
            memory_swap="16m",
            no_cache=True,
            network="none",
        )
    assert err.value.result.exit_code == 137
    assert "ran out of memory under the memory limit -m 16MiB" in str(err.value)


def test_bad_tag_rejected_before_request():
    with pytest.raises(OptionsError, match="must be lowercase"):
        jd.build("FROM scratch\n", tags=["UPPER/Case"])


@pytest.mark.parametrize(
    ("options", "needle"),
    [
        ({"memory": "12zz"}, "-m/--memory: '12zz' is not a size"),
        ({"memory": "1m"}, "below the minimum of 6MiB"),
        ({"memory": "64m", "memory_swap": "32m"}, "--memory-swap (32MiB) must be at least"),
        ({"cpu_quota": 50000}, "--cpu-quota needs --cpu-period"),
        ({"cpu_quota": 10, "cpu_period": 100000}, "below the minimum of 1000"),
        ({"extra_hosts": ["nocolon"]}, "--add-host: 'nocolon' must be HOST:IP"),
        ({"shm_size": "-1"}, "--shm-size"),
    ],
)
def test_bad_values_rejected_before_any_request(options, needle):
    with pytest.raises(OptionsError) as err:
        jd.build("FROM scratch\n", **options)
    assert needle in str(err.value)


def test_cpuset_not_available(base_image):
    with pytest.raises(BuildError, match="--cpuset-cpus '999'"):
        jd.build(f"FROM {base_image}\nRUN true\n", cpuset_cpus="999", no_cache=True, network="none")


def test_file_not_in_context(tmp_path):
    (tmp_path / "x").write_text("x")
    with pytest.raises(ContextError, match=r"no Dockerfile 'sub/Dockerfile\.nope' in context"):
        jd.build(None, context=tmp_path, file="sub/Dockerfile.nope")


def test_unknown_network(base_image):
    with pytest.raises(BuildError, match="--network 'bogusnet': no such network"):
        jd.build(f"FROM {base_image}\nRUN true\n", network="bogusnet", no_cache=True)


def test_base_image_not_local():
    with pytest.raises(BuildError) as err:
        jd.build("FROM 127.0.0.1:5999/nope:1\nRUN true\n")
    msg = str(err.value)
    assert "step 1/2 (line 1): base image '127.0.0.1:5999/nope:1' is not on the daemon" in msg
    assert err.value.result.failed_step.number == 1


def test_unreachable_daemon_names_socket(tmp_path):
    from jupyter_dockerbuild.errors import DaemonUnavailable

    with pytest.raises(DaemonUnavailable, match=str(tmp_path / "gone.sock")):
        jd.build("FROM scratch\n", host=f"unix://{tmp_path / 'gone.sock'}")


def test_labels_and_buildargs_json_round_trip(docker, base_image, tag_prefix):
    # Values with quotes and unicode survive the JSON query encoding.
    jd.build(
        f"FROM {base_image}\n",
        tags=[f"{tag_prefix}:json"],
        labels={"q": 'say "hi" — ok'},
    )
    labels = docker.get_json(f"/images/{tag_prefix}:json/json")["Config"]["Labels"]
    assert labels["q"] == 'say "hi" — ok'
