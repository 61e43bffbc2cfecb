"""SSH agent forwarding: ``--ssh default|ID=SOCKET`` and the session's ``SSH`` service.

A ``RUN --mount=type=ssh`` step gets a unix socket inside its container; each connection
to it becomes one ``moby.sshforward.v1.SSH/ForwardAgent`` call from the daemon to the
client session, a stream of ``BytesMessage{bytes data = 1}`` both ways carrying the ssh
agent protocol, with the agent's id in the call's metadata key ``buildkit.ssh.id``
(buildkit ``session/sshforward/ssh.go``). Before mounting, the daemon calls
``CheckAgent{ID}``; an error there fails a required mount and skips an optional one
(``solver/llbsolver/mounts/mount.go``). :class:`AgentForwarder` answers both, and relays
each call to the local agent's socket.

Like buildkit's ``sshprovider`` it relays a read-only agent: listing keys
(``REQUEST_IDENTITIES``) and signing (``SIGN_REQUEST``) go to the agent; adding,
removing, locking and extensions are answered ``SSH_AGENT_FAILURE`` without reaching it,
so a build step can use the keys but never change the user's agent. The relay is
sequential, one request then its reply, which is how agent clients talk and keeps the
replies in order; it needs no thread of its own, and the socket is closed when the call
ends, however it ends.

The accepted forms are docker buildx's (``util/buildflags/ssh.go``): ``ID`` alone (its
agent is ``$SSH_AUTH_SOCK``; ``default`` is the id a mount without ``id=`` asks for) or
``ID=PATH``. BuildKit also takes private key files as PATHs and serves them from an
agent of its own; this package forwards agent sockets only (a key file is refused with
a sentence saying to ``ssh-add`` it), so the key never passes through the kernel.
"""

from __future__ import annotations

import os
import re
import socket
import stat
import struct
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from ..engine import grpc, protobuf
from ..errors import GrpcError, OptionsError, StreamError

__all__ = [
    "CHECK_AGENT",
    "DEFAULT_ID",
    "FORWARD_AGENT",
    "KEY_SSH_ID",
    "AgentForwarder",
    "SSHSpec",
    "check_ssh",
    "parse_ssh",
    "ssh_agents",
    "ssh_services",
]

CHECK_AGENT = "/moby.sshforward.v1.SSH/CheckAgent"
FORWARD_AGENT = "/moby.sshforward.v1.SSH/ForwardAgent"
#: The metadata key naming the agent of a ForwardAgent call (``sshforward.KeySSHID``).
KEY_SSH_ID = "buildkit.ssh.id"
#: The id of a ``--mount=type=ssh`` without ``id=``.
DEFAULT_ID = "default"

#: OpenSSH's agent refuses messages above 256 KiB (``AGENT_MAX_LEN``); so do we.
MAX_AGENT_MESSAGE = 256 * 1024
#: Agent message types relayed (``draft-miller-ssh-agent``): list keys, sign.
_REQUEST_IDENTITIES, _SIGN_REQUEST = 11, 13
_RELAYED = frozenset({_REQUEST_IDENTITIES, _SIGN_REQUEST})
#: ``SSH_AGENT_FAILURE``, as a whole message: what a refused request gets.
_FAILURE = struct.pack(">IB", 1, 5)
#: Seconds to connect to the agent, and to wait for one reply (an agent may ask the
#: user to confirm a signature: ``ssh-add -c``).
CONNECT_TIMEOUT = 2.0
REPLY_TIMEOUT = 60.0

_FLAG = "--ssh"
_OPTION = "ssh"
_LENGTH = struct.Struct(">I")


def _error(spec: str, detail: str) -> OptionsError:
    return OptionsError(f"{_FLAG} {spec}: {detail}", option=_OPTION, detail=detail)


@dataclass(frozen=True)
class SSHSpec:
    """One ``--ssh``: an agent id and its socket (None: ``$SSH_AUTH_SOCK``)."""

    id: str
    paths: tuple[str, ...] = ()


def parse_ssh(text: str) -> SSHSpec:
    """Parse one ``--ssh`` value (``ID`` or ``ID=PATH[,PATH]``); syntax only, no IO."""
    if not isinstance(text, str) or not text.strip():
        raise _error(repr(text), "expected default, ID or ID=SOCKET")
    text = text.strip()
    name, sep, rest = text.partition("=")
    paths = tuple(p for p in rest.split(",")) if sep else ()
    if any(not p for p in paths):
        raise _error(text, "an empty path; give ID=SOCKET, e.g. default=$SSH_AUTH_SOCK")
    return SSHSpec(name.strip() or DEFAULT_ID, paths)


def _socket_path(spec: SSHSpec, text: str, env: Mapping[str, str]) -> str:
    """The agent socket of ``spec``, checked to be one; OptionsError naming ``--ssh``."""
    if len(spec.paths) > 1:
        raise _error(text, "give one agent socket per id (key files are not forwarded here)")
    if spec.paths:
        path = os.path.expanduser(spec.paths[0])  # no shell expands it in a cell
    else:
        path = env.get("SSH_AUTH_SOCK", "")
        if not path:
            raise _error(
                text,
                "$SSH_AUTH_SOCK is not set in the kernel, so there is no agent to forward; "
                "start one (eval $(ssh-agent) and ssh-add) or give ID=/path/to/agent.sock",
            )
    try:
        mode = os.stat(path).st_mode
    except OSError as exc:
        raise _error(text, f"no agent socket at {path!r} ({exc.strerror})") from None
    if not stat.S_ISSOCK(mode):
        raise _error(
            text,
            f"{path!r} is not an agent socket; key files are not forwarded here: add the "
            "key to an agent (ssh-add) and give its socket, or default",
        )
    return path


def check_ssh(items: Iterable[str], env: Mapping[str, str] | None = None) -> tuple[str, ...]:
    """Check every ``--ssh`` (syntax, one socket each, ids unique); return them stripped."""
    env = os.environ if env is None else env
    seen: set[str] = set()
    out = []
    for item in items:
        spec = parse_ssh(item)
        if spec.id in seen:
            raise _error(item.strip(), f"the id {spec.id!r} is given twice")
        seen.add(spec.id)
        _socket_path(spec, item.strip(), env)
        out.append(item.strip())
    return tuple(out)


def _read_exact(sock: socket.socket, size: int) -> bytes:
    """``size`` bytes from the agent; GrpcError if it hangs up or stalls first."""
    buf = bytearray()
    while len(buf) < size:
        try:
            chunk = sock.recv(size - len(buf))
        except TimeoutError:
            raise GrpcError(
                grpc.UNAVAILABLE, f"the ssh agent did not answer in {REPLY_TIMEOUT:.0f} s"
            ) from None
        except OSError as exc:
            raise GrpcError(grpc.UNAVAILABLE, f"the ssh agent failed: {exc}") from None
        if not chunk:
            raise GrpcError(grpc.UNAVAILABLE, "the ssh agent closed the connection")
        buf += chunk
    return bytes(buf)


def _bytes_message(message: bytes) -> bytes:
    """The ``data`` of a ``BytesMessage`` (INVALID_ARGUMENT for anything else)."""
    data = b""
    try:
        for number, wire, value in protobuf.fields(message):
            if number == 1:
                if wire != protobuf.LENGTH or not isinstance(value, memoryview):
                    raise GrpcError(grpc.INVALID_ARGUMENT, "BytesMessage.data is not bytes")
                data = bytes(value)
    except StreamError as exc:
        raise GrpcError(grpc.INVALID_ARGUMENT, f"malformed BytesMessage: {exc}") from None
    return data


def _check_request_id(message: bytes) -> str:
    """The ``ID`` of a ``CheckAgentRequest`` (empty: the default agent)."""
    try:
        for number, wire, value in protobuf.fields(message):
            if number == 1:
                if wire != protobuf.LENGTH or not isinstance(value, memoryview):
                    raise GrpcError(grpc.INVALID_ARGUMENT, "CheckAgentRequest.ID is not a string")
                return bytes(value).decode("utf-8") or DEFAULT_ID
    except StreamError as exc:
        raise GrpcError(grpc.INVALID_ARGUMENT, f"malformed CheckAgentRequest: {exc}") from None
    except UnicodeDecodeError:
        raise GrpcError(grpc.INVALID_ARGUMENT, "CheckAgentRequest.ID is not UTF-8") from None
    return DEFAULT_ID


class AgentForwarder:
    """The build's agents by id, served as the session's ``SSH`` service."""

    def __init__(self, items: Iterable[str], env: Mapping[str, str] | None = None) -> None:
        env = os.environ if env is None else env
        #: id -> socket path, resolved when the build starts (``$SSH_AUTH_SOCK`` then).
        self.agents: dict[str, str] = {}
        for item in items:
            spec = parse_ssh(item)
            self.agents[spec.id] = _socket_path(spec, item.strip(), env)

    def __repr__(self) -> str:
        return f"AgentForwarder({', '.join(self.agents) or 'none'})"

    def _path(self, agent_id: str) -> str:
        path = self.agents.get(agent_id)
        if path is None:
            given = ", ".join(self.agents) or "none"
            raise GrpcError(
                grpc.NOT_FOUND,
                f"the step needs the ssh agent {agent_id!r}, which the build was not given "
                f"(it has: {given}); add --ssh {agent_id}=SOCKET",
            )
        return path

    def check_agent(self, request: bytes, _metadata: Mapping[str, list[str]]) -> bytes:
        """``CheckAgent``: an empty ``CheckAgentResponse`` if the id was given."""
        self._path(_check_request_id(request))
        return b""

    def forward_agent(self, stream: grpc.Stream) -> None:
        """``ForwardAgent``: relay one agent connection, request by request."""
        ids = stream.metadata.get(KEY_SSH_ID) or []
        agent_id = ids[0] if ids and ids[0] else DEFAULT_ID
        path = self._path(agent_id)
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.settimeout(CONNECT_TIMEOUT)
            try:
                sock.connect(path)
            except OSError as exc:
                raise GrpcError(
                    grpc.UNAVAILABLE, f"cannot connect to the ssh agent {agent_id!r}: {exc}"
                ) from None
            sock.settimeout(REPLY_TIMEOUT)
            self._relay(stream, sock)
        finally:
            sock.close()

    @staticmethod
    def _relay(stream: grpc.Stream, sock: socket.socket) -> None:
        pending = bytearray()
        while True:
            message = stream.recv()
            if message is None:
                return  # the daemon hung up: the step's ssh client is done
            pending += _bytes_message(message)
            while len(pending) >= _LENGTH.size:
                (length,) = _LENGTH.unpack_from(pending)
                if length == 0 or length > MAX_AGENT_MESSAGE:
                    raise GrpcError(
                        grpc.INVALID_ARGUMENT, f"an ssh agent request of {length} bytes"
                    )
                if len(pending) < _LENGTH.size + length:
                    break
                request = bytes(pending[: _LENGTH.size + length])
                del pending[: _LENGTH.size + length]
                if request[_LENGTH.size] not in _RELAYED:
                    stream.send(protobuf.bytes_field(1, _FAILURE))
                    continue
                try:
                    sock.sendall(request)
                except OSError as exc:
                    raise GrpcError(grpc.UNAVAILABLE, f"the ssh agent failed: {exc}") from None
                head = _read_exact(sock, _LENGTH.size)
                (size,) = _LENGTH.unpack(head)
                if size == 0 or size > MAX_AGENT_MESSAGE:
                    raise GrpcError(grpc.UNAVAILABLE, f"the ssh agent sent {size} bytes")
                stream.send(protobuf.bytes_field(1, head + _read_exact(sock, size)))


def ssh_services(forwarder: AgentForwarder) -> dict[str, grpc.Handler]:
    """The session's SSH service relaying to ``forwarder``'s agents."""
    return {
        CHECK_AGENT: grpc.unary(forwarder.check_agent),
        FORWARD_AGENT: forwarder.forward_agent,
    }


class _Plan(Protocol):
    """What a session provider reads and fills (:class:`.session.SessionPlan`)."""

    options: Any
    env: Mapping[str, str]
    services: dict[str, grpc.Handler]


def ssh_agents(plan: _Plan) -> None:
    """Session provider: forward the build's ``--ssh`` agents (nothing when there are none).

    The sockets are resolved now, at the start of the build: ``default`` is the
    ``$SSH_AUTH_SOCK`` of that moment.
    """
    if plan.options.ssh:
        plan.services.update(ssh_services(AgentForwarder(plan.options.ssh, env=plan.env)))


# BuildKit's words when a required ssh mount's agent is not served at all (no --ssh:
# CheckAgent is UNIMPLEMENTED), and ours when another id was given (NOT_FOUND).
_NO_KEY_RE = re.compile(r'no SSH key "([^"]*)" forwarded from the client')
_NO_AGENT_RE = re.compile(
    r"(?:rpc error: code = NotFound desc = )?(the step needs the ssh agent .*)"
)


def explain_missing_agent(message: str) -> str | None:
    """A sentence naming ``--ssh`` for an ssh mount without its agent (None: not that)."""
    match = _NO_KEY_RE.search(message)
    if match is not None:
        name = match.group(1) or DEFAULT_ID
        return (
            f"the step needs the ssh agent {name!r}, which the build was not given; add "
            f"--ssh {name} (forwards $SSH_AUTH_SOCK) or --ssh {name}=SOCKET"
        )
    match = _NO_AGENT_RE.search(message)
    return match.group(1) if match is not None else None
