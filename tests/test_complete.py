"""Tab completion in %%dockerbuild cells and the image magics, asked as IPython asks.

Every test calls ``ip.Completer.completions(text, cursor)``, the call ipykernel and
terminal IPython make, in the real shell with the extension loaded.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from IPython.core.completer import provisionalcompleter

from jupyter_dockerbuild.builder.options import magic_flags
from jupyter_dockerbuild.builder.result import BuildResult


@pytest.fixture
def ip(ipshell):
    return ipshell


def complete(ip, code, cursor=None):
    cursor = len(code) if cursor is None else cursor
    with provisionalcompleter():
        return [c.text for c in ip.Completer.completions(code, cursor)]


def applied(ip, code):
    """The text each completion would leave (checks what it replaces, not only its text)."""
    with provisionalcompleter():
        return [code[: c.start] + c.text for c in ip.Completer.completions(code, len(code))]


@pytest.fixture
def no_daemon(ip, monkeypatch, tmp_path):
    """Point %%dockerbuild at a socket nobody serves: the daemon adds nothing."""
    magics = ip.magics_manager.registry["DockerBuildMagics"]
    monkeypatch.setattr(magics, "host", f"unix://{tmp_path}/nobody.sock")


def test_flags_on_the_magic_line_come_from_the_parser(ip):
    assert complete(ip, "%%dockerbuild --mem") == ["--memory", "--memory-swap"]
    assert complete(ip, "%%dockerbuild -t x:1 --no-c") == ["--no-cache"]
    # One source of truth: every documented flag completes.
    assert {"--tag", "--build-arg", "--cpu-quota", "--form", "--context"} <= set(magic_flags())


def test_instructions_at_the_start_of_dockerfile_lines(ip):
    assert complete(ip, "%%dockerbuild\nFROM scratch\nRU") == ["RUN"]
    assert complete(ip, "%%dockerbuild\nFROM scratch\n  wo") == ["WORKDIR"]
    assert complete(ip, "%%dockerbuild\nFROM scratch\nEN") == ["ENTRYPOINT", "ENV"]


def test_no_instructions_inside_a_continuation_or_heredoc(ip):
    # Where the parser says a line continues an instruction, a keyword is not wanted.
    assert complete(ip, "%%dockerbuild\nFROM scratch\nRUN echo a \\\n  EN") == []
    # In a heredoc body (its terminator after the cursor) neither ...
    body = "%%dockerbuild\nFROM scratch\nRUN <<EOF\nEN"
    with provisionalcompleter():
        inside = [c.text for c in ip.Completer.completions(body + "\nEOF\n", len(body))]
    assert inside == []
    # ... but without a terminator it is no heredoc, and the line is an instruction.
    assert complete(ip, body) == ["ENTRYPOINT", "ENV"]
    # After an escaped escape the next line is an instruction again (the daemon's rule).
    assert complete(ip, "%%dockerbuild\nFROM scratch\nENV C=a\\\\\nEN") == ["ENTRYPOINT", "ENV"]


@pytest.mark.daemon
def test_from_offers_local_images(ip, base_image):
    assert base_image in complete(ip, "%%dockerbuild\nFROM loc")


def test_python_cells_are_left_alone(ip):
    assert "RUN" not in complete(ip, "x = 1\nRU")
    assert "--memory" not in complete(ip, "print('--mem")


# --- nothing rather than Python names ---------------------------------------------------------


@pytest.mark.parametrize(
    "code",
    [
        "%%dockerbuild\nFROM local/busybox\nCOPY --from=",  # no stage to offer
        "%%dockerbuild --target ",  # the cell has no named stage
        "%%dockerbuild -t ",
        "%%dockerbuild --tag=",
        "%%dockerbuild --var x.txt=",
        "%%dockerbuild ",
        "%%dockerbuild\nFROM local/busybox\nRUN ech",
        "%%dockerbuild\nFROM local/busybox\nENV A=",
        "%%dockerbuild\nFROM local/busybox\nWORKDIR /s",
        "%%dockerbuild\nFROM local/busybox\nRUN echo a \\\n  pri",
        "%%dockerbuild\nFROM local/busybox AS b\nFROM b AS c\nFROM c AS d ",
        "%dockerbuild_prune ",
        "%dockerbuild_prune --label ",
    ],
)
def test_nothing_is_offered_where_docker_has_nothing(ip, no_daemon, code):
    # Before: jedi's and IPython's names (334 after --from=, "and if in" after a flag).
    assert complete(ip, code) == []


def test_nothing_inside_a_heredoc_body(ip):
    body = "%%dockerbuild\nFROM local/busybox\nRUN <<EOF\npri"
    assert complete(ip, body + "\nEOF\n", len(body)) == []


def test_the_magic_names_themselves_still_complete(ip):
    assert complete(ip, "%%dockerb") == ["%%dockerbuild"]
    assert "%dockerbuild_history" in complete(ip, "%dockerbuild_h")


# --- stages, networks, choices ----------------------------------------------------------------

STAGES = "FROM local/busybox AS build\nFROM build AS Test\nFROM local/busybox\n"


def test_stage_names_after_copy_from(ip):
    cell = "%%dockerbuild\n" + STAGES
    assert complete(ip, cell + "COPY --from=") == ["build", "test"]  # lower-cased, as the daemon
    assert applied(ip, cell + "COPY --from=b") == [cell + "COPY --from=build"]
    # Inside a stage: the earlier ones, never the stage itself.
    assert complete(
        ip, "%%dockerbuild\n" + STAGES.split("FROM local/busybox\n")[0] + "COPY --from="
    ) == ["build"]
    assert complete(ip, cell + "ADD --from=") == ["build", "test"]


def test_stage_names_after_target_on_the_magic_line(ip):
    line = "%%dockerbuild -t x:1 --target "
    assert complete(ip, line + "\n" + STAGES, len(line)) == ["build", "test"]
    line = "%%dockerbuild --target=t"
    assert complete(ip, line + "\n" + STAGES, len(line)) == ["test"]


def test_declared_args_after_build_arg(ip):
    line = "%%dockerbuild --build-arg "
    cell = "\nARG BASE=local/busybox\nFROM $BASE\nARG PIP_INDEX\nARG BUILD_NO=1\n"
    # In the order the Dockerfile declares them.
    assert complete(ip, line + cell, len(line)) == ["BASE", "PIP_INDEX", "BUILD_NO"]
    assert complete(ip, line + "B" + cell, len(line) + 1) == ["BASE", "BUILD_NO"]
    assert complete(ip, line + "BASE=" + cell, len(line) + 5) == []  # the value is yours


def test_networks_after_network(ip, no_daemon):
    assert complete(ip, "%%dockerbuild --network ") == ["default", "host", "none"]
    assert applied(ip, "%%dockerbuild --network=h") == ["%%dockerbuild --network=host"]


def test_choices_and_flags_of_instructions(ip):
    assert complete(ip, "%%dockerbuild --builder ") == ["auto", "buildkit", "classic"]
    assert complete(ip, "%%dockerbuild\nFROM local/busybox\nCOPY --ch") == ["--chown=", "--chmod="]
    assert complete(ip, "%%dockerbuild\nFROM local/busybox\nRUN --m") == ["--mount="]
    assert complete(ip, "%%dockerbuild\nFROM local/busybox ") == ["AS"]


# --- files ------------------------------------------------------------------------------------


@pytest.fixture
def context(tmp_path):
    root = tmp_path / "ctx"
    (root / "src").mkdir(parents=True)
    (root / "src" / "app.py").write_text("")
    (root / "Dockerfile").write_text("FROM local/busybox\n")
    (root / "secret.env").write_text("S=1\n")
    (root / "data").mkdir()
    (root / "data" / "big.bin").write_text("")
    (root / "data" / "keep.txt").write_text("")
    (root / "node_modules").mkdir()
    (root / ".dockerignore").write_text("*.env\ndata\n!data/keep.txt\nnode_modules\n")
    return root


def test_context_files_after_copy_and_add(ip, context):
    cell = f"%%dockerbuild --context {context}\nFROM local/busybox\n"
    # What the .dockerignore leaves out is not in the context: not offered.
    assert complete(ip, cell + "COPY ") == ["Dockerfile", "data/", "src/"]
    assert complete(ip, cell + "ADD src/") == ["src/app.py"]
    # An excluded directory holding a re-included file is offered, with that file only.
    assert complete(ip, cell + "COPY data/") == ["data/keep.txt"]
    assert complete(ip, cell + "COPY src/app.py ") == ["Dockerfile", "data/", "src/"]
    assert complete(ip, cell + "COPY .d") == [".dockerignore"]


def test_context_files_after_f(ip, context):
    assert complete(ip, f"%%dockerbuild --context {context} -f ") == ["Dockerfile", "data/", "src/"]
    assert complete(ip, f"%%dockerbuild --context={context} --file=s") == ["src/"]


def test_files_of_the_working_directory_without_context(ip, context, monkeypatch):
    monkeypatch.chdir(context)
    assert complete(ip, "%%dockerbuild -f D") == ["Dockerfile"]
    # No --context (yet): the working directory, what "--context ." would send.
    assert complete(ip, "%%dockerbuild\nFROM local/busybox\nCOPY s") == ["src/"]
    monkeypatch.chdir(context.parent)
    assert complete(ip, "%%dockerbuild --context ") == ["ctx/"]
    assert complete(ip, "%%dockerbuild --context ct") == ["ctx/"]


# --- the image magics -------------------------------------------------------------------------


def test_image_magics_offer_result_variables_and_their_flags(ip, no_daemon, monkeypatch):
    built = BuildResult("succeeded", "sha256:" + "a" * 64, (), (), (), (), "", 0.0)
    monkeypatch.setitem(ip.user_ns, "built_app", built)
    assert complete(ip, "%dockerbuild_history built_") == ["built_app"]
    assert complete(ip, "h = %dockerbuild_history built_") == ["built_app"]
    assert complete(ip, "%dockerbuild_compare built_app built_") == ["built_app"]
    assert complete(ip, "%dockerbuild_history --") == ["--show-build-args"]
    assert "--dry-run" in complete(ip, "%dockerbuild_prune --")


# --- the daemon: short timeout, never an error ------------------------------------------------


def test_a_daemon_that_never_answers_costs_only_the_timeout(ip, monkeypatch, tmp_path):
    path = str(tmp_path / "silent.sock")
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(path)
    server.listen(8)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:  # accepts and never says a word
        server.settimeout(0.1)
        while not stop.is_set():
            try:
                held.append(server.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        monkeypatch.setattr(
            ip.magics_manager.registry["DockerBuildMagics"], "host", f"unix://{path}"
        )
        for code, expected in [
            ("%%dockerbuild --network ", ["default", "host", "none"]),
            ("%%dockerbuild\nFROM loc", []),
            ("%dockerbuild_history loc", []),
        ]:
            start = time.monotonic()
            assert complete(ip, code) == expected
            assert time.monotonic() - start < 2.0, code
    finally:
        stop.set()
        thread.join(5)
        for conn in held:
            conn.close()
        server.close()


def test_a_slow_look_up_is_not_waited_for_and_serves_the_next_tab(ip, monkeypatch, tmp_path):
    # Slow before any request (the first import of the HTTP stack took 0.5-3 s on a busy
    # machine; the client's timeout does not cover it): Tab answers at once without the
    # daemon's names, and the look-up finishing in the background serves the next Tab.
    import jupyter_dockerbuild.engine.client as client_module

    class SlowClient:
        def __init__(self, host, timeout):
            time.sleep(1.0)

        def get_json(self, path, params=None):
            return [{"Name": "slow-net"}]

        def close(self):
            pass

    monkeypatch.setattr(client_module, "DockerClient", SlowClient)
    magics = ip.magics_manager.registry["DockerBuildMagics"]
    monkeypatch.setattr(magics, "host", f"unix://{tmp_path}/slow.sock")
    start = time.monotonic()
    assert complete(ip, "%%dockerbuild --network ") == ["default", "host", "none"]
    assert time.monotonic() - start < 0.9
    time.sleep(1.0)
    assert complete(ip, "%%dockerbuild --network ") == ["default", "host", "none", "slow-net"]


def test_the_dockerfile_parser_is_not_imported_with_the_extension():
    # It made %load_ext three times slower (9.5 -> 28 ms); the matcher imports it.
    code = (
        "import sys\n"
        "from IPython.core.interactiveshell import InteractiveShell\n"
        "InteractiveShell.instance().run_line_magic('load_ext', 'jupyter_dockerbuild')\n"
        "print('jupyter_dockerbuild.builder.dockerfile' in sys.modules)\n"
    )
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True
    )
    assert out.stdout.strip().splitlines()[-1] == "False", out.stdout + out.stderr


@pytest.mark.daemon
def test_images_and_networks_come_from_the_daemon(ip, docker, base_image):
    names = {n["Name"] for n in docker.get_json("/networks")}
    assert complete(ip, "%%dockerbuild --network ") == sorted(names | {"default", "host", "none"})
    assert base_image in complete(ip, "%dockerbuild_history loc")
    assert base_image in complete(ip, "%dockerbuild_prune --tag loc")
    assert base_image in complete(ip, "%%dockerbuild --cache-from loc")
    assert applied(ip, "%%dockerbuild\nFROM local/busybox:l") == [
        "%%dockerbuild\nFROM " + base_image
    ]
