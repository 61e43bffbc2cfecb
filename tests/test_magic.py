"""``%%dockerbuild`` in a real IPython shell against the real daemon."""

from __future__ import annotations

import pytest

from jupyter_dockerbuild.errors import BuildError, OptionsError

pytestmark = [pytest.mark.daemon, pytest.mark.usefixtures("no_leftover_containers")]


@pytest.fixture
def ip(ipshell):
    return ipshell


def run(ip, source):
    result = ip.run_cell(source)
    return result


def test_magic_builds_and_tags(ip, docker, base_image, tag_prefix, capsys):
    ip.user_ns["reqs"] = "numpy==2.1\n"
    res = run(
        ip,
        f"%%dockerbuild -t {tag_prefix}:1 -t {tag_prefix}:latest --build-arg PYVER=3.12 --no-cache "
        f"-m 64m --cpu-period 100000 --cpu-quota 50000 --network none --var req.txt=reqs "
        f"--label course=intro --out built\n"
        f"FROM {base_image}\nARG PYVER\nCOPY req.txt /req.txt\n"
        f'RUN echo "py=$PYVER" && cat /req.txt '
        f"&& cat /sys/fs/cgroup/memory/memory.limit_in_bytes\n",
    )
    out = capsys.readouterr().out
    assert res.success, res.error_in_exec
    built = ip.user_ns["built"]
    assert built.ok and built.tags == (f"{tag_prefix}:1", f"{tag_prefix}:latest")
    assert "py=3.12" in built.log and "numpy==2.1" in built.log
    assert str(64 * 1024**2) in built.log
    info = docker.get_json(f"/images/{tag_prefix}:latest/json")
    assert info["Id"] == built.image_id
    assert info["Config"]["Labels"]["course"] == "intro"
    # Text progress like the docker CLI, and the final summary.
    assert "Step 4/5 : RUN" in out  # step 5 is the LABEL the daemon adds for --label
    assert built.image_id[7:19] in out


def test_failing_run_fails_the_cell_and_names_cell_line(ip, base_image, capsys):
    res = run(
        ip,
        f"%%dockerbuild --no-cache --network none --out failed\n"
        f"FROM {base_image}\n# a comment\nRUN echo boom && exit 3\n",
    )
    assert not res.success
    assert isinstance(res.error_in_exec, BuildError)
    msg = str(res.error_in_exec)
    assert "step 2/2 (cell line 4)" in msg and "non-zero code: 3" in msg
    # The result is kept even though the cell failed.
    assert ip.user_ns["failed"].exit_code == 3
    # One short line instead of a traceback through our package.
    err = capsys.readouterr()
    assert "builder.py" not in err.out + err.err
    # The command is said once by the step header, once by the daemon's error in the
    # log, once by the summary; the cell's error line points at the summary.
    assert (err.out + err.err).count("echo boom && exit 3") == 3, err
    assert "BuildError\x1b[0m: see the build's summary above" in err.out + err.err


def test_parse_error_maps_to_cell_line(ip, base_image):
    res = run(ip, f"%%dockerbuild\nFROM {base_image}\nFOOBAR x\n")
    assert not res.success
    assert "unknown instruction: FOOBAR" in str(res.error_in_exec)
    assert "(cell line 3)" in str(res.error_in_exec)


def test_bad_flag_value_fails_before_request(ip):
    res = run(ip, "%%dockerbuild --memory 12zz\nFROM scratch\n")
    assert isinstance(res.error_in_exec, OptionsError)
    assert "-m/--memory: '12zz' is not a size" in str(res.error_in_exec)


def test_unknown_flag_is_a_short_error(ip):
    res = run(ip, "%%dockerbuild --memroy 1g\nFROM scratch\n")
    assert isinstance(res.error_in_exec, OptionsError)
    assert "--memroy" in str(res.error_in_exec)


def test_missing_variable_named(ip):
    res = run(ip, "%%dockerbuild --var x.txt=nope_not_here\nFROM scratch\n")
    assert "no variable named 'nope_not_here'" in str(res.error_in_exec)


def test_a_variable_of_the_wrong_type_is_named_with_its_article(ip):
    ip.user_ns["count"], ip.user_ns["items"] = 3, [1]
    res = run(ip, "%%dockerbuild --var n.txt=count\nFROM scratch\n")
    assert "--var n.txt=count: 'count' is an int; only str or bytes" in str(res.error_in_exec)
    res = run(ip, "%%dockerbuild --var l.txt=items\nFROM scratch\n")
    assert "'items' is a list;" in str(res.error_in_exec)


def test_help_lists_every_flag(ip):
    from jupyter_dockerbuild.ipython.magics import DockerBuildMagics

    doc = DockerBuildMagics.dockerbuild.__doc__
    # A cell magic: the usage says %%dockerbuild, as it is typed.
    assert doc.startswith("::\n\n  %%dockerbuild [-t NAME[:TAG]]"), doc[:60]
    for flag in [
        "--tag",
        "--file",
        "--build-arg",
        "--label",
        "--memory",
        "--memory-swap",
        "--cpu-shares",
        "--cpuset-cpus",
        "--cpu-period",
        "--cpu-quota",
        "--shm-size",
        "--network",
        "--add-host",
        "--cache-from",
        "--no-cache",
        "--pull",
        "--rm",
        "--force-rm",
        "--squash",
        "--quiet",
        "--target",
        "--platform",
        "--isolation",
        "--remote",
        "--context",
        "--var",
        "--out",
        "--host",
    ]:
        assert flag in doc, flag


def test_buildkit_only_syntax_is_explained_before_sending(ip, base_image):
    cell = f"FROM {base_image}\nRUN --mount=type=cache,target=/root/.cache true\n"
    res = run(ip, f"%%dockerbuild --builder classic\n{cell}")
    err = res.error_in_exec
    assert type(err).__name__ == "UnsupportedSyntax"
    assert "BuildKit" in str(err) and "line 3" in str(err)
    # Without --builder, auto picks BuildKit for it: the cell builds.
    res = run(ip, f"%%dockerbuild --out kit\n{cell}")
    assert res.success, res.error_in_exec
    assert ip.user_ns["kit"].builder == "buildkit"


def test_context_dockerfile_is_read_for_steps_and_preflight(ip, base_image, tmp_path):
    # BuildKit syntax (auto picks BuildKit), and a line BuildKit's preflight refuses.
    (tmp_path / "Dockerfile").write_text(
        f"# syntax=docker/dockerfile:1\nFROM {base_image}\nRUN --mount=type=cache,target=/c true\n"
    )
    res = run(ip, f"%%dockerbuild --context {tmp_path}\n# the Dockerfile is in the context\n")
    assert type(res.error_in_exec).__name__ == "UnsupportedSyntax"


def test_image_magics_are_registered(ip):
    for name in ("dockerbuild_prune", "dockerbuild_history", "dockerbuild_compare"):
        assert ip.find_line_magic(name) is not None, name


def test_comment_only_cell_builds_the_context_dockerfile(ip, base_image, tmp_path, tag_prefix):
    (tmp_path / "Dockerfile").write_text(f"FROM {base_image}\nCOPY hello.txt /\n")
    (tmp_path / "hello.txt").write_text("from the context\n")
    res = run(ip, f"%%dockerbuild --context {tmp_path} -t {tag_prefix}:ctx --out ctx\n# from DIR\n")
    assert res.success, res.error_in_exec
    assert [s.instruction for s in ip.user_ns["ctx"].steps][1] == "COPY hello.txt /"


def test_file_flag_with_a_cell_dockerfile_and_context_is_refused(ip, base_image, tmp_path):
    # -f names a file of the context; with the cell's own Dockerfile it would name nothing.
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "Df").write_text(f"FROM {base_image}\n")
    res = run(ip, f"%%dockerbuild --context {tmp_path} -f sub/Df\nFROM {base_image}\n")
    err = res.error_in_exec
    assert type(err).__name__ == "ContextError", err
    assert "-f/--file 'sub/Df'" in str(err) and "leave only a comment" in str(err)


def test_form_with_out_keeps_the_form(ip, base_image):
    res = run(ip, f"%%dockerbuild --form -t formout:1 --out myform\nFROM {base_image}\n")
    assert res.success, res.error_in_exec
    form = ip.user_ns["myform"]
    assert type(form).__name__ == "BuildForm" and form.options.tags == ("formout:1",)
