"""Running a built image once: output, exit code, stderr, and no container left."""

from __future__ import annotations

import pytest

import jupyter_dockerbuild as jd

pytestmark = [pytest.mark.daemon, pytest.mark.usefixtures("no_leftover_containers")]


def test_result_run_collects_stdout_stderr_and_exit_code(base_image, tag_prefix):
    result = jd.build(
        f'FROM {base_image}\nRUN echo hello > /hello.txt\nCMD ["cat", "/hello.txt"]\n',
        tags=[f"{tag_prefix}:run"],
    )
    assert result.run().stdout == "hello\n"
    out = result.run("sh", "-c", "echo out; echo err >&2; exit 4")
    assert (out.exit_code, out.stdout, out.stderr) == (4, "out\n", "err\n")
    assert not out.ok
    assert jd.run_image(f"{tag_prefix}:run", "cat", "/hello.txt").stdout == "hello\n"


def test_running_a_missing_image_says_so():
    with pytest.raises(jd.DockerBuildError, match="cannot run no-such-image:0"):
        jd.run_image("no-such-image:0", "true")
