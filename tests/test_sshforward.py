"""``--ssh``: the forms buildx accepts, the early checks, and the session's SSH service.

No daemon: CheckAgent and ForwardAgent are called as the session calls them
(:mod:`sessionutil`) and relay to a real OpenSSH ``ssh-agent`` holding a generated key;
agents that misbehave (hang up, stall, announce 2 GiB), which a real one never does,
are small fake sockets. The build through a real daemon is in
``test_build_secrets_daemon.py``.
"""

from __future__ import annotations

import os
import socket
import struct
import threading
from collections.abc import Callable, Iterator

import pytest
from agentutil import (
    COMMENT,
    REQUEST_IDENTITIES,
    have_openssh,
    identities,
    parse_identities,
    start_agent,
    stop_agent,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sessionutil import CallStream, run_call

from jupyter_dockerbuild.builder import ssh
from jupyter_dockerbuild.builder.options import BuildOptions
from jupyter_dockerbuild.engine import grpc, protobuf
from jupyter_dockerbuild.errors import OptionsError


@pytest.fixture(scope="module")
def agent() -> Iterator[str]:
    if not have_openssh():
        pytest.skip("needs OpenSSH's ssh-agent")
    running = start_agent()
    yield running.socket
    stop_agent(running)


def chunks(*data: bytes) -> list[bytes]:
    """Each piece as one ``BytesMessage``."""
    return [protobuf.bytes_field(1, d) for d in data]


def forward(
    forwarder: ssh.AgentForwarder, requests: list[bytes], agent_id: str | None = "default"
) -> tuple[int, str, bytes]:
    """Run one ForwardAgent call; ``(code, message, the agent bytes answered)``."""
    metadata = {ssh.KEY_SSH_ID: [agent_id]} if agent_id is not None else {}
    stream = CallStream(ssh.FORWARD_AGENT, requests, metadata)
    code, message = run_call(ssh.ssh_services(forwarder)[ssh.FORWARD_AGENT], stream)
    answered = b""
    for sent in stream.sent:
        for number, _, value in protobuf.fields(sent):
            assert number == 1 and isinstance(value, memoryview)
            answered += bytes(value)
    return code, message, answered


def split_replies(data: bytes) -> list[bytes]:
    out = []
    while data:
        (length,) = struct.unpack_from(">I", data)
        out.append(data[: 4 + length])
        data = data[4 + length :]
    return out


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


# -- the forms -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("default", ssh.SSHSpec("default")),
        ("work", ssh.SSHSpec("work")),
        ("work=/run/a.sock", ssh.SSHSpec("work", ("/run/a.sock",))),
        ("=/run/a.sock", ssh.SSHSpec("default", ("/run/a.sock",))),
        ("work=/a,/b", ssh.SSHSpec("work", ("/a", "/b"))),
    ],
)
def test_the_forms_buildx_accepts(text, expected) -> None:
    assert ssh.parse_ssh(text) == expected


def test_what_cannot_be_forwarded_is_refused_before_any_request(tmp_path, agent) -> None:
    key = tmp_path / "id_ed25519"
    key.write_text("-----BEGIN OPENSSH PRIVATE KEY-----\n")
    cases = [
        ("default", {}, "$SSH_AUTH_SOCK is not set in the kernel"),
        ("default", {"SSH_AUTH_SOCK": str(tmp_path / "gone")}, "no agent socket at"),
        (f"work={key}", {}, "is not an agent socket; key files are not forwarded here"),
        (f"work={agent},{key}", {}, "give one agent socket per id"),
        ("work=", {}, "an empty path"),
        ("", {}, "expected default, ID or ID=SOCKET"),
    ]
    for text, env, words in cases:
        with pytest.raises(OptionsError) as info:
            BuildOptions.from_user(env=env, ssh=[text])
        assert str(info.value).startswith(f"--ssh {text}"), text
        assert words in str(info.value), text
        assert info.value.option == "ssh"
    with pytest.raises(OptionsError, match="the id 'default' is given twice"):
        BuildOptions.from_user(env={"SSH_AUTH_SOCK": agent}, ssh=["default", f"={agent}"])
    options = BuildOptions.from_user(env={"SSH_AUTH_SOCK": agent}, ssh=["default"])
    assert (
        options.ssh == ("default",) and options.to_cli(magic=True) == "%%dockerbuild --ssh default"
    )


def test_the_classic_builder_refuses_it(agent) -> None:
    with pytest.raises(OptionsError) as info:
        BuildOptions.from_user(env={}, ssh=[f"default={agent}"], builder="classic")
    assert str(info.value) == (
        "--ssh: the classic builder ignores this option; use BuildKit (--builder buildkit), "
        "which honours it"
    )


# -- CheckAgent --------------------------------------------------------------------------


def test_check_agent_says_which_ids_were_given(agent) -> None:
    forwarder = ssh.AgentForwarder([f"work={agent}"])
    check = ssh.ssh_services(forwarder)[ssh.CHECK_AGENT]

    def call(message: bytes) -> tuple[int, str, list[bytes]]:
        stream = CallStream(ssh.CHECK_AGENT, [message])
        return (*run_call(check, stream), stream.sent)

    assert call(protobuf.bytes_field(1, "work")) == (grpc.OK, "", [b""])
    code, message, sent = call(b"")  # no ID: the default agent, which was not given
    assert (code, sent) == (grpc.NOT_FOUND, [])
    assert message == (
        "the step needs the ssh agent 'default', which the build was not given (it has: "
        "work); add --ssh default=SOCKET"
    )
    assert call(b"\x0a\x05ab")[0] == grpc.INVALID_ARGUMENT
    assert call(protobuf.uint_field(1, 3))[0] == grpc.INVALID_ARGUMENT


# -- ForwardAgent with a real agent ------------------------------------------------------


def test_the_agent_lists_its_key_through_the_relay(agent) -> None:
    forwarder = ssh.AgentForwarder(["default"], env={"SSH_AUTH_SOCK": agent})
    code, _, answered = forward(forwarder, chunks(REQUEST_IDENTITIES))
    assert code == grpc.OK
    assert parse_identities(answered) == [COMMENT]


def test_requests_cut_anywhere_and_packed_together_are_answered_in_order(agent) -> None:
    forwarder = ssh.AgentForwarder([f"default={agent}"])
    two = REQUEST_IDENTITIES * 2
    for cut in range(1, len(two)):
        code, _, answered = forward(forwarder, chunks(two[:cut], two[cut:]))
        assert code == grpc.OK
        assert [parse_identities(r) for r in split_replies(answered)] == [[COMMENT]] * 2
    # One byte per message, and empty messages between: the same.
    code, _, answered = forward(forwarder, chunks(*(bytes([b]) for b in two), b""))
    assert [parse_identities(r) for r in split_replies(answered)] == [[COMMENT]] * 2


@pytest.mark.parametrize(
    ("name", "kind"),
    [("add", 17), ("remove", 18), ("remove all", 19), ("lock", 22), ("extension", 27)],
)
def test_a_build_step_cannot_change_the_agent(agent, name, kind) -> None:
    forwarder = ssh.AgentForwarder([f"default={agent}"])
    body = bytes([kind]) + struct.pack(">I", 3) + b"pwd"
    request = struct.pack(">I", len(body)) + body
    code, _, answered = forward(forwarder, chunks(request + REQUEST_IDENTITIES))
    assert code == grpc.OK
    failure, listing = split_replies(answered)
    assert failure == struct.pack(">IB", 1, 5), name  # SSH_AGENT_FAILURE, not relayed
    assert parse_identities(listing) == [COMMENT]
    assert identities(agent) == [COMMENT]  # still there, still unlocked


def test_the_id_in_the_metadata_picks_the_agent(agent) -> None:
    forwarder = ssh.AgentForwarder([f"work={agent}"])
    assert parse_identities(forward(forwarder, chunks(REQUEST_IDENTITIES), "work")[2]) == [COMMENT]
    code, message, answered = forward(forwarder, chunks(REQUEST_IDENTITIES), None)
    assert (code, answered) == (grpc.NOT_FOUND, b"")
    assert "the step needs the ssh agent 'default'" in message


@pytest.mark.parametrize(
    ("data", "words"),
    [
        (b"\x00\x00\x00\x00", "an ssh agent request of 0 bytes"),
        (struct.pack(">I", ssh.MAX_AGENT_MESSAGE + 1), "of 262145 bytes"),
    ],
)
def test_bad_agent_requests_end_the_call(agent, data, words) -> None:
    forwarder = ssh.AgentForwarder([f"default={agent}"])
    code, message, _ = forward(forwarder, chunks(data))
    assert code == grpc.INVALID_ARGUMENT and words in message


def test_a_malformed_bytes_message_ends_the_call(agent) -> None:
    forwarder = ssh.AgentForwarder([f"default={agent}"])
    for bad in (b"\x0a\x09ab", protobuf.uint_field(1, 5)):
        code, message, _ = forward(forwarder, [bad])
        assert code == grpc.INVALID_ARGUMENT and "BytesMessage" in message


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.binary(max_size=40), max_size=4))
def test_fuzzed_streams_end_with_a_status_and_close_the_agent_connection(agent, pieces) -> None:
    forwarder = ssh.AgentForwarder([f"default={agent}"])
    before = open_fds()
    for requests in (pieces, chunks(*pieces), chunks(REQUEST_IDENTITIES[:3], *pieces)):
        code, _, _ = forward(forwarder, requests)
        assert code in (grpc.OK, grpc.INVALID_ARGUMENT, grpc.UNAVAILABLE)
    assert open_fds() == before
    assert identities(agent) == [COMMENT]


# -- agents that misbehave ---------------------------------------------------------------


def fake_agent(tmp_path, behave: Callable[[socket.socket], None]) -> tuple[str, threading.Thread]:
    """A socket whose one connection gets ``behave(conn)``; returns its path and thread."""
    path = str(tmp_path / "fake.sock")
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(path)
    server.listen(1)

    def serve() -> None:
        with server:
            conn, _ = server.accept()
            with conn:
                behave(conn)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    return path, thread


def _hang_up(conn: socket.socket) -> None:
    conn.recv(5)


def _huge(conn: socket.socket) -> None:
    conn.recv(5)
    conn.sendall(struct.pack(">I", 1 << 31))


def _stall(conn: socket.socket) -> None:
    conn.recv(5)
    conn.recv(1)  # until the relay gives up and closes


@pytest.mark.parametrize(
    ("behave", "words"),
    [
        (_hang_up, "the ssh agent closed the connection"),
        (_huge, "the ssh agent sent 2147483648 bytes"),
        (_stall, "the ssh agent did not answer in"),
    ],
)
def test_an_agent_that_misbehaves_ends_the_call_and_its_connection(
    tmp_path, monkeypatch, behave, words
) -> None:
    monkeypatch.setattr(ssh, "REPLY_TIMEOUT", 0.3)
    path, thread = fake_agent(tmp_path, behave)
    forwarder = ssh.AgentForwarder([f"default={path}"])
    code, message, _ = forward(forwarder, chunks(REQUEST_IDENTITIES))
    assert code == grpc.UNAVAILABLE and words in message
    thread.join(5)
    assert not thread.is_alive()  # the fake saw its connection closed


def test_an_agent_gone_since_the_check_is_unavailable(tmp_path) -> None:
    path, thread = fake_agent(tmp_path, _hang_up)
    forwarder = ssh.AgentForwarder([f"default={path}"])
    with socket.socket(socket.AF_UNIX) as client:
        client.connect(path)  # lets the fake end
        client.sendall(b"12345")
    thread.join(5)
    code, message, _ = forward(forwarder, chunks(REQUEST_IDENTITIES))
    assert code == grpc.UNAVAILABLE
    assert message.startswith("cannot connect to the ssh agent 'default': ")
