"""DockerClient: version negotiation and failures a real daemon can't produce on demand."""

from __future__ import annotations

import os
import socket

import pytest
from fakedaemon import FakeDaemon, chunked_stream_then_drop

import jupyter_dockerbuild as jd
from jupyter_dockerbuild.engine.client import DockerClient, negotiate_version
from jupyter_dockerbuild.errors import APIVersionError, BuildError, DaemonUnavailable


def test_negotiation_picks_highest_common_version():
    assert negotiate_version("1.41", "1.12") == "1.41"
    assert negotiate_version("1.52", "1.44") == "1.51"  # newer daemon: our newest
    assert negotiate_version("1.33", "1.12") == "1.33"


def test_no_common_version_says_which_side_to_upgrade():
    with pytest.raises(APIVersionError, match=r"speaks API 1.12-1.30 .* Upgrade Docker"):
        negotiate_version("1.30", "1.12")
    with pytest.raises(APIVersionError, match="Upgrade jupyter-dockerbuild"):
        negotiate_version("1.70", "1.60")


def test_docker29_like_daemon_gets_a_version_it_accepts():
    # Docker 29 refuses anything below 1.44: a client pinned to 1.33 would fail there.
    with FakeDaemon(api_version="1.52", min_version="1.44") as fake:
        client = DockerClient(fake.host)
        assert client.ping()
        assert client.api_version == "1.51"
        with pytest.raises(Exception, match="page not found"):
            client.get_json("/system/df")
        assert ("GET", "/v1.51/system/df") in fake.requests


def test_too_old_daemon_fails_the_build_with_clear_message():
    with FakeDaemon(api_version="1.30", min_version="1.12") as fake:
        with pytest.raises(APIVersionError, match="no common version"):
            jd.build("FROM scratch\n", host=fake.host)
        # Nothing was POSTed: the version check comes first.
        assert not [r for r in fake.requests if r[0] == "POST"]


def test_connection_dropped_mid_message_fails_the_build_with_log():
    messages = [
        b'{"stream":"Step 1/2 : FROM scratch"}\r\n',
        b'{"stream":"\\n"}\r\n',
        b'{"stream":"Step 2/2 : COPY a /a"}\r\n{"stream":"\\n"}\r\n{"stream":"half',
    ]
    with FakeDaemon(build=chunked_stream_then_drop(messages)) as fake:
        with pytest.raises(BuildError) as err:
            jd.build("FROM scratch\nCOPY a /a\n", files={"a": "x"}, host=fake.host)
    result = err.value.result
    assert result is not None and not result.ok
    assert "Step 2/2 : COPY a /a" in result.log
    assert result.failed_step is not None and result.failed_step.number == 2


def test_missing_socket_names_the_socket(tmp_path):
    path = tmp_path / "nope.sock"
    with pytest.raises(DaemonUnavailable, match=f"no Docker daemon at unix://{path}"):
        DockerClient(f"unix://{path}").ping()


def test_refused_tcp_names_the_host():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(DaemonUnavailable, match=f"tcp://127.0.0.1:{port} \\(connection refused"):
        DockerClient(f"tcp://127.0.0.1:{port}").ping()


def test_unsupported_host_scheme():
    with pytest.raises(DaemonUnavailable, match="DOCKER_HOST='ssh://x' is not supported"):
        DockerClient("ssh://x")


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to drop to another user")
def test_permission_denied_on_socket(tmp_path):
    # A socket only root may use; a child process that dropped to 'nobody' connects.
    path = tmp_path / "root-only.sock"
    server = socket.socket(socket.AF_UNIX)
    server.bind(str(path))
    server.listen(1)
    os.chmod(path, 0o600)
    os.chmod(tmp_path, 0o755)
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:  # child
        os.close(read_fd)
        try:
            os.setgid(65534)
            os.setuid(65534)
            DockerClient(f"unix://{path}").ping()
            msg = "no error"
        except Exception as exc:
            msg = f"{type(exc).__name__}: {exc}"
        os.write(write_fd, msg.encode())
        os._exit(0)
    os.close(write_fd)
    os.waitpid(pid, 0)
    with os.fdopen(read_fd) as fh:
        message = fh.read()
    server.close()
    assert message.startswith("DaemonUnavailable: permission denied on the Docker socket")
    assert str(path) in message
