"""A small Docker Engine API client: find the daemon, agree on a version, stream a build.

Speaks HTTP over the daemon's unix socket (``requests-unixsocket``) or over TCP, with
TLS, and finds the daemon the way the docker CLI does (:func:`resolve_endpoint`): an
explicit host, then ``DOCKER_HOST``, then the docker context named by
``DOCKER_CONTEXT`` or ``currentContext`` in ``config.json``, then the local socket.
TLS follows the CLI's conventions: ``DOCKER_TLS_VERIFY`` (any non-empty value) turns
TLS on and verifies the daemon, ``DOCKER_TLS`` turns TLS on without verification,
certificates come from ``DOCKER_CERT_PATH`` (default: the docker config directory);
a context brings its own TLS files. The API version is negotiated: v1.33 is our
documented baseline, but daemons differ (Docker 29 refuses anything below 1.44), so the
unversioned ``/version`` is asked first and the highest version both sides know is used.

Connection failures become :class:`~jupyter_dockerbuild.errors.DaemonUnavailable`
naming the socket or host; a TLS failure says which side is wrong (the daemon's
certificate, the client certificate, TLS against a plain port or the reverse) and which
file to check, by file name only. HTTP errors carry the daemon's own message.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import socket
import ssl
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlsplit

import requests

from ..errors import APIVersionError, DaemonError, DaemonUnavailable, HTTPError

DEFAULT_SOCKET = "/var/run/docker.sock"
#: Where the docker CLI goes when TLS is on and no host is given at all.
DEFAULT_TLS_HOST = "tcp://localhost:2376"
#: The port of a ``tcp://host`` written without one (the CLI's default, TLS or not).
DEFAULT_TCP_PORT = 2375
#: The documented baseline: every ``/build`` parameter we send exists from here on.
MIN_API_VERSION = "1.33"
#: The newest API we know; a newer daemon is asked to speak this one.
MAX_API_VERSION = "1.51"


def _vtuple(version: str) -> tuple[int, ...]:
    try:
        return tuple(int(p) for p in version.split("."))
    except ValueError:
        raise APIVersionError(f"the daemon reported a malformed API version {version!r}") from None


def negotiate_version(daemon_max: str, daemon_min: str | None) -> str:
    """Return the highest API version both this client and the daemon support.

    Raises :class:`APIVersionError` with both ranges when they do not overlap.
    """
    best = min(_vtuple(daemon_max), _vtuple(MAX_API_VERSION))
    low = max(_vtuple(daemon_min or "1.12"), _vtuple(MIN_API_VERSION))
    if best < low:
        raise APIVersionError(
            f"the Docker daemon speaks API {daemon_min or '?'}-{daemon_max} but this client "
            f"speaks {MIN_API_VERSION}-{MAX_API_VERSION}: no common version. "
            + (
                "Upgrade Docker on the daemon's host."
                if _vtuple(daemon_max) < _vtuple(MIN_API_VERSION)
                else "Upgrade jupyter-dockerbuild."
            )
        )
    return ".".join(str(p) for p in best)


# -- finding the daemon, like the docker CLI ------------------------------------------


@dataclass(frozen=True)
class TLSConfig:
    """TLS for a TCP endpoint: paths of the PEM files and whether to verify the daemon.

    ``origin`` says where the files came from (``DOCKER_CERT_PATH``, ``docker context
    'x'`` ...) so messages can point there without printing paths.
    """

    verify: bool
    ca: str | None = None
    cert: str | None = None
    key: str | None = None
    origin: str = "DOCKER_CERT_PATH"


@dataclass(frozen=True)
class Endpoint:
    """Where the daemon is: a normalised host, its TLS settings, and how it was chosen."""

    host: str
    tls: TLSConfig | None = None
    #: ``"explicit"``, ``"DOCKER_HOST"``, ``"docker context 'x' (DOCKER_CONTEXT)"``,
    #: ``"docker context 'x' (currentContext in config.json)"`` or ``"default"``.
    source: str = "default"


def _unsupported(host: str, source: str) -> DaemonUnavailable:
    if source.startswith("docker context"):
        return DaemonUnavailable(
            f"{source} points at {host!r}, which is not supported; use a context with a "
            "unix:// or tcp:// endpoint"
        )
    return DaemonUnavailable(
        f"DOCKER_HOST={host!r} is not supported; use unix:///path/to/docker.sock or tcp://host:port"
    )


def parse_host(host: str, source: str = "DOCKER_HOST") -> str:
    """Normalise a daemon address the way the docker CLI does (``opts.ParseHost``).

    ``tcp://h`` gets port 2375, ``tcp://:2376`` gets ``localhost``, a bare ``h:p`` is
    TCP and a bare ``/path`` a unix socket, ``unix://`` alone is the default socket.
    ``http://`` and ``https://`` are kept (older versions of this package took them).
    Anything else (``ssh://``, ``npipe://``) raises :class:`DaemonUnavailable`.
    """
    text = host.strip()
    proto, sep, rest = text.partition("://")
    if not sep:
        proto, rest = ("unix", text) if text.startswith(("/", "./")) else ("tcp", text)
    proto = proto.lower()
    if proto == "unix":
        return f"unix://{rest or DEFAULT_SOCKET}"
    if proto not in ("tcp", "http", "https"):
        raise _unsupported(host, source)
    if "://" in rest:
        raise _unsupported(host, source)
    try:
        parts = urlsplit(f"tcp://{rest}")
        port = parts.port
    except ValueError:
        raise DaemonUnavailable(
            f"{source}: {host!r} is not a valid address; use tcp://host:port"
        ) from None
    hostname = parts.hostname or "localhost"
    if ":" in hostname:  # IPv6 literal
        hostname = f"[{hostname}]"
    if proto != "tcp":
        return f"{proto}://{hostname}" + (f":{port}" if port else "")
    return f"tcp://{hostname}:{port or DEFAULT_TCP_PORT}"


def _env_tls(env: Mapping[str, str], config_dir: str) -> TLSConfig | None:
    """TLS of the default context: ``DOCKER_TLS_VERIFY``, ``DOCKER_TLS``, ``DOCKER_CERT_PATH``.

    Like the CLI, any non-empty ``DOCKER_TLS_VERIFY`` (even ``0``) verifies, and
    ``ca.pem`` must exist once TLS is on; ``cert.pem``/``key.pem`` are sent if both exist.
    """
    verify = env.get("DOCKER_TLS_VERIFY", "") != ""
    if not (verify or env.get("DOCKER_TLS", "") != ""):
        return None
    if env.get("DOCKER_CERT_PATH"):
        cert_path, origin = env["DOCKER_CERT_PATH"], "DOCKER_CERT_PATH"
    else:
        cert_path = config_dir
        origin = "DOCKER_CONFIG" if env.get("DOCKER_CONFIG") else "~/.docker"
    cert, key = os.path.join(cert_path, "cert.pem"), os.path.join(cert_path, "key.pem")
    both = os.path.exists(cert) and os.path.exists(key)
    return TLSConfig(
        verify=verify,
        ca=os.path.join(cert_path, "ca.pem"),
        cert=cert if both else None,
        key=key if both else None,
        origin=origin,
    )


def _context_endpoint(name: str, config_dir: str, why: str) -> Endpoint:
    """Read a docker context (``contexts/meta/<sha256>/meta.json`` + its TLS files)."""
    source = f"docker context {name!r} ({why})"
    digest = hashlib.sha256(name.encode("utf-8")).hexdigest()
    meta_path = os.path.join(config_dir, "contexts", "meta", digest, "meta.json")
    try:
        with open(meta_path, encoding="utf-8") as fh:
            meta = json.load(fh)
    except FileNotFoundError:
        raise DaemonUnavailable(
            f"{source} does not exist (`docker context ls` lists the contexts); "
            f"create it, or choose another one with DOCKER_CONTEXT or `docker context use`"
        ) from None
    except (OSError, ValueError) as exc:
        raise DaemonUnavailable(
            f"{source}: its meta.json cannot be read ({type(exc).__name__})"
        ) from None
    endpoints = meta.get("Endpoints") if isinstance(meta, dict) else None
    docker = endpoints.get("docker") if isinstance(endpoints, dict) else None
    if not isinstance(docker, dict):
        raise DaemonUnavailable(f"{source} has no docker endpoint")
    raw_host = str(docker.get("Host") or "")
    host = parse_host(raw_host, source) if raw_host else f"unix://{DEFAULT_SOCKET}"
    skip_verify = bool(docker.get("SkipTLSVerify"))
    tls_dir = os.path.join(config_dir, "contexts", "tls", digest, "docker")
    files = {f: os.path.join(tls_dir, f"{f}.pem") for f in ("ca", "cert", "key")}
    present = {f: p for f, p in files.items() if os.path.isfile(p)}
    tls = None
    # The CLI uses TLS for a context when it has TLS files or skips verification.
    if not host.startswith("unix://") and (present or skip_verify):
        both = "cert" in present and "key" in present
        tls = TLSConfig(
            verify=not skip_verify,
            ca=present.get("ca"),
            cert=present["cert"] if both else None,
            key=present["key"] if both else None,
            origin=f"docker context {name!r}",
        )
    return Endpoint(host, tls, source)


def resolve_endpoint(host: str | None = None, env: Mapping[str, str] | None = None) -> Endpoint:
    """Find the daemon like the docker CLI: explicit host > ``DOCKER_HOST`` > context.

    The context is ``DOCKER_CONTEXT``, else ``currentContext`` in
    ``$DOCKER_CONFIG/config.json`` (``default`` means none); without one, the local
    socket, or ``tcp://localhost:2376`` when TLS is on. An explicit host or
    ``DOCKER_HOST`` takes its TLS settings from the environment; a context brings its
    own and ignores ``DOCKER_TLS_VERIFY``. Reads files, opens no socket.
    """
    from .config import docker_config_dir, load_docker_config

    env = os.environ if env is None else env
    config_dir = docker_config_dir(env)
    if host and host.strip():
        source, raw = "explicit", host
    elif env.get("DOCKER_HOST"):
        source, raw = "DOCKER_HOST", env["DOCKER_HOST"]
    else:
        source, raw = "default", ""
        name, why = env.get("DOCKER_CONTEXT", ""), "DOCKER_CONTEXT"
        if not name:
            current = load_docker_config(env).get("currentContext")
            name = current if isinstance(current, str) else ""
            why = "currentContext in config.json"
        if name and name != "default":
            return _context_endpoint(name, config_dir, why)
    tls = _env_tls(env, config_dir)
    if not raw:
        raw = DEFAULT_TLS_HOST if tls is not None else f"unix://{DEFAULT_SOCKET}"
    normalised = parse_host(raw, "DOCKER_HOST" if source != "explicit" else "host")
    if normalised.startswith("unix://") or normalised.startswith("http://"):
        tls = None  # no TLS on a socket; http:// is plain by definition
    elif normalised.startswith("https://") and tls is None:
        tls = _https_default_tls(env, config_dir)
    return Endpoint(normalised, tls, source)


def _https_default_tls(env: Mapping[str, str], config_dir: str) -> TLSConfig:
    """``https://`` without ``DOCKER_TLS*``: TLS without verification (as before)."""
    cert_path = env.get("DOCKER_CERT_PATH") or config_dir
    cert, key = os.path.join(cert_path, "cert.pem"), os.path.join(cert_path, "key.pem")
    both = os.path.exists(cert) and os.path.exists(key)
    origin = "DOCKER_CERT_PATH" if env.get("DOCKER_CERT_PATH") else "the docker config dir"
    return TLSConfig(False, None, cert if both else None, key if both else None, origin)


def _check_tls_files(tls: TLSConfig, where: str) -> None:
    """Fail early, by file name only, when the TLS files are missing or unusable.

    Loading them here also keeps OpenSSL from ever prompting for a key passphrase
    inside a kernel (the docker CLI refuses encrypted keys too).
    """
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    if tls.ca is not None:
        if not os.path.isfile(tls.ca):
            # The CLI refuses this too ("open .../ca.pem: no such file or directory").
            raise DaemonUnavailable(
                f"TLS to {where} is on (DOCKER_TLS_VERIFY or DOCKER_TLS is set) but there "
                f"is no ca.pem in {tls.origin}: put the daemon's CA certificate there, "
                "with cert.pem and key.pem, or unset DOCKER_TLS_VERIFY and DOCKER_TLS"
            )
        if tls.verify:
            try:
                ctx.load_verify_locations(cafile=tls.ca)
            except (ssl.SSLError, OSError, ValueError):
                raise DaemonUnavailable(
                    f"ca.pem in {tls.origin} is not a readable PEM CA certificate"
                ) from None
    if tls.cert is not None and tls.key is not None:
        try:
            with open(tls.key, encoding="ascii", errors="replace") as fh:
                encrypted = "ENCRYPTED" in fh.read(4096)
        except OSError:
            raise DaemonUnavailable(f"key.pem in {tls.origin} cannot be read") from None
        if encrypted:
            raise DaemonUnavailable(
                f"key.pem in {tls.origin} is encrypted; like the docker CLI, use an "
                "unencrypted client key"
            )
        try:
            ctx.load_cert_chain(tls.cert, tls.key, password=lambda: b"")
        except (ssl.SSLError, OSError, ValueError):
            raise DaemonUnavailable(
                f"cert.pem and key.pem in {tls.origin} are not a matching PEM certificate "
                "and private key"
            ) from None


def tls_context(tls: TLSConfig, where: str) -> ssl.SSLContext:
    """The client side of TLS to the daemon, from the same files and rules as requests'.

    For the connections this module opens itself (the BuildKit session's upgrade),
    checked like every other request (:func:`_check_tls_files`): verify against
    ``ca.pem`` (or the system's CAs) unless verification is off, send ``cert.pem`` and
    ``key.pem`` when both exist.
    """
    _check_tls_files(tls, where)
    ctx = ssl.create_default_context(cafile=tls.ca if tls.verify else None)
    if not tls.verify:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    if tls.cert is not None and tls.key is not None:
        ctx.load_cert_chain(tls.cert, tls.key, password=lambda: b"")
    return ctx


def _ssl_root(exc: BaseException) -> ssl.SSLError | None:
    """The ssl.SSLError under requests' and urllib3's wrapping, if any."""
    found = _find_cause(exc, lambda e: isinstance(e, ssl.SSLError))
    return found if isinstance(found, ssl.SSLError) else None


#: OpenSSL reasons that mean "the other side does not speak TLS".
_NOT_TLS_REASONS = {
    "WRONG_VERSION_NUMBER",
    "HTTP_REQUEST",
    "UNKNOWN_PROTOCOL",
    "PACKET_LENGTH_TOO_LONG",
    "RECORD_LAYER_FAILURE",
}


def _tls_failure(exc: BaseException, host: str, tls: TLSConfig) -> DaemonUnavailable:
    """Say which side of a failed TLS handshake is wrong and which file to check."""
    root = _ssl_root(exc)
    reason = str(getattr(root, "reason", "") or "")
    head = f"TLS handshake with the Docker daemon at {host} failed"
    if isinstance(root, ssl.SSLCertVerificationError):
        detail = str(root.verify_message or reason or "certificate verify failed")
        lowered = detail.lower()
        if "mismatch" in lowered or "hostname" in lowered:
            return DaemonUnavailable(
                f"{head}: the daemon's certificate is not valid for this address "
                f"({detail}). Connect with a name or IP its certificate lists "
                "(subjectAltName), or give the daemon a certificate for this one"
            )
        if "expired" in lowered or "not yet valid" in lowered:
            return DaemonUnavailable(
                f"{head}: the daemon's certificate {detail}. Renew the daemon's "
                "certificate (dockerd --tlscert)"
            )
        ca = f"ca.pem in {tls.origin}" if tls.ca else "the system's CA certificates"
        return DaemonUnavailable(
            f"{head}: the daemon's certificate is not signed by the CA in {ca} "
            f"({detail}). Check that ca.pem is the CA that signed the daemon's "
            "certificate (dockerd --tlscacert)"
        )
    if reason in _NOT_TLS_REASONS or "wrong version number" in str(root or "").lower():
        return DaemonUnavailable(
            f"{head}: the daemon does not speak TLS on this port (it answered in plain "
            "HTTP). Use the daemon's TLS port (usually 2376), or for a plain-HTTP port "
            "unset DOCKER_TLS_VERIFY and DOCKER_TLS"
        )
    # Anything else during the handshake (an alert like "bad certificate", or the
    # daemon hanging up) is the daemon refusing us: dockerd --tlsverify wants a client
    # certificate signed by its CA.
    why = f" ({reason.lower().replace('_', ' ')})" if reason else ""
    if tls.cert is None:
        return DaemonUnavailable(
            f"{head}{why}: the daemon requires a client certificate (dockerd "
            f"--tlsverify) and none was sent: put cert.pem and key.pem, signed by the "
            f"daemon's CA, in {tls.origin}"
        )
    return DaemonUnavailable(
        f"{head}{why}: the daemon rejected the client certificate (cert.pem in "
        f"{tls.origin}). Check that cert.pem and key.pem are signed by the CA the "
        "daemon trusts (dockerd --tlscacert)"
    )


#: What a Go TLS server answers to a plain-HTTP request.
_PLAIN_TO_TLS = "Client sent an HTTP request to an HTTPS server"


def _root_oserror(exc: BaseException) -> OSError | None:
    """Find the OSError (with an errno) under requests' and urllib3's wrapping, if any."""
    found = _find_cause(exc, lambda e: isinstance(e, OSError) and e.errno is not None)
    return found if isinstance(found, OSError) else None


def _find_cause(exc: BaseException, wanted: Callable[[BaseException], bool]) -> Any:
    """Walk causes, contexts, args and ``reason`` attributes for the first ``wanted``.

    requests wraps urllib3 errors, which wrap socket and ssl errors, in different ways
    (as cause, as an argument, as ``.reason``); the root tells what really happened.
    """
    seen: set[int] = set()
    stack: list[Any] = [exc]
    while stack:
        cur = stack.pop()
        if cur is None or id(cur) in seen:
            continue
        seen.add(id(cur))
        if isinstance(cur, BaseException):
            if wanted(cur):
                return cur
            stack.extend([cur.__cause__, cur.__context__, *cur.args])
            stack.append(getattr(cur, "reason", None))
    return None


def _daemon_message(resp: requests.Response) -> str:
    """The daemon's error text: JSON ``message`` (most errors) or plain text (old APIs)."""
    try:
        body = resp.json()
        if isinstance(body, dict) and body.get("message"):
            return str(body["message"])
    except ValueError:
        pass
    text = resp.text.strip()
    return text or f"HTTP {resp.status_code} {resp.reason}"


class BuildResponse:
    """The streaming body of a ``/build`` response.

    Iterate :meth:`chunks` for raw bytes as they arrive. :meth:`cancel` may be called
    from another thread: it shuts the socket down, which wakes a blocked read and makes
    the daemon kill the running build container.
    """

    def __init__(
        self, response: requests.Response, *, on_cancel: Callable[[], object] | None = None
    ) -> None:
        self._response = response
        self._lock = threading.Lock()
        self._on_cancel = on_cancel
        self.cancelled = False

    @property
    def headers(self) -> Mapping[str, str]:
        """The response headers (``Api-Version``, ``Docker-Experimental`` ...)."""
        return self._response.headers

    def chunks(self) -> Iterator[bytes]:
        """Yield the body's bytes as the daemon sends them (no read timeout)."""
        try:
            yield from self._response.iter_content(chunk_size=None)
        except Exception as exc:
            if self.cancelled:
                # Closed by cancel() from another thread: urllib3 then fails in whatever
                # it was doing (a RequestException, or its file object gone: None).
                return
            if isinstance(exc, requests.exceptions.RequestException):
                raise DaemonError(
                    f"the connection to the daemon broke during the build: {exc}"
                ) from exc
            raise

    def cancel(self) -> None:
        """Stop the build: ask the daemon to cancel it (BuildKit), then close the connection.

        Closing alone makes the daemon cancel the build too; the explicit request (see
        :meth:`DockerClient.cancel_build`) lets BuildKit end it with "context canceled"
        rather than notice a dead connection.
        """
        if not self._mark_cancelled():
            return
        if self._on_cancel is not None:
            try:
                self._on_cancel()
            except Exception:
                pass
        self._hang_up()

    def _mark_cancelled(self) -> bool:
        """Set :attr:`cancelled`; False if it already was (cancel only once)."""
        with self._lock:
            if self.cancelled:
                return False
            self.cancelled = True
            return True

    def _hang_up(self) -> None:
        # shutdown() (not close()) is what wakes a recv() blocked in another thread.
        conn = getattr(self._response.raw, "connection", None)
        sock = getattr(conn, "sock", None)
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        self.close()

    def close(self) -> None:
        """Release the connection (closing it if the body was not fully read)."""
        try:
            self._response.close()
        except Exception:
            pass


class DockerClient:
    """Talk to one Docker daemon.

    ``host`` is like ``DOCKER_HOST`` or ``docker -H``: ``unix:///path`` or
    ``tcp://host:port``. Without it the daemon is found like the docker CLI finds it
    (:func:`resolve_endpoint`): ``DOCKER_HOST``, then the current docker context, then
    ``unix:///var/run/docker.sock``; TLS comes from ``DOCKER_TLS_VERIFY`` and
    ``DOCKER_CERT_PATH`` or from the context. Nothing is sent until a method needs it.
    """

    def __init__(
        self,
        host: str | None = None,
        *,
        version: str | None = None,
        env: Mapping[str, str] | None = None,
        session: requests.Session | None = None,
        timeout: float = 30.0,
    ) -> None:
        env = os.environ if env is None else env
        self.endpoint = resolve_endpoint(host, env)
        self.host = self.endpoint.host
        self.timeout = timeout
        self._version = version
        self._version_info: dict[str, Any] | None = None
        self._tls: dict[str, Any] = {}
        if self.host.startswith("unix://"):
            import requests_unixsocket

            path = self.host[len("unix://") :] or DEFAULT_SOCKET
            self.socket_path: str | None = path
            self.base_url = "http+unix://" + quote(path, safe="")
            self._session = session or requests_unixsocket.Session()
        else:
            self.socket_path = None
            hostport = self.host.split("://", 1)[1].rstrip("/")
            tls = self.endpoint.tls
            self.base_url = ("https://" if tls is not None else "http://") + hostport
            if tls is not None:
                _check_tls_files(tls, self.host)
                # verify: the CA file, or True for the system CAs, or False (skip).
                self._tls["verify"] = (tls.ca or True) if tls.verify else False
                if tls.cert is not None and tls.key is not None:
                    self._tls["cert"] = (tls.cert, tls.key)
            self._session = session or requests.Session()

    def __repr__(self) -> str:
        tls = self.endpoint.tls
        how = "" if tls is None else (" tls=verify" if tls.verify else " tls=no-verify")
        return f"<DockerClient {self.host}{how} ({self.endpoint.source})>"

    # -- low level -------------------------------------------------------------------

    def _url(self, path: str, versioned: bool = True) -> str:
        if versioned:
            return f"{self.base_url}/v{self.api_version}{path}"
        return f"{self.base_url}{path}"

    def _unavailable(self, exc: BaseException) -> DaemonUnavailable:
        root = _root_oserror(exc)
        where = self.socket_path or self.host
        if root is not None and root.errno in (errno.EACCES, errno.EPERM):
            return DaemonUnavailable(
                f"permission denied on the Docker socket {where}: run as a user in the "
                "'docker' group (or root), or point DOCKER_HOST at a daemon you may use"
            )
        if root is not None and root.errno == errno.ENOENT and self.socket_path:
            return DaemonUnavailable(
                f"no Docker daemon at unix://{where} (the socket does not exist). Start one "
                "with scripts/ensure-docker.sh, or set DOCKER_HOST"
            )
        tls = self.endpoint.tls
        if (
            tls is not None
            and root is not None
            and root.errno in (errno.ECONNRESET, errno.EPIPE, errno.ECONNABORTED)
        ):
            # A reset during the handshake: the daemon hung up on our certificate.
            return _tls_failure(exc, self.host, tls)
        if root is not None and root.errno == errno.ECONNREFUSED:
            return DaemonUnavailable(
                f"no Docker daemon answers at {self.host} (connection refused). Is dockerd "
                "running? scripts/ensure-docker.sh starts one"
            )
        return DaemonUnavailable(f"cannot reach the Docker daemon at {self.host}: {exc}")

    def request(
        self,
        method: str,
        path: str,
        *,
        versioned: bool = True,
        params: Any = None,
        data: Any = None,
        headers: Mapping[str, str] | None = None,
        stream: bool = False,
        timeout: Any = "default",
    ) -> requests.Response:
        """Send one request; raise :class:`HTTPError` on 4xx/5xx with the daemon's text."""
        try:
            resp = self._session.request(
                method,
                self._url(path, versioned),
                params=params,
                data=data,
                headers=dict(headers or {}),
                stream=stream,
                timeout=self.timeout if timeout == "default" else timeout,
                **self._tls,
            )
        except requests.exceptions.SSLError as exc:
            tls = self.endpoint.tls or TLSConfig(verify=False)
            raise _tls_failure(exc, self.host, tls) from exc
        except requests.exceptions.ConnectionError as exc:
            raise self._unavailable(exc) from exc
        except requests.exceptions.Timeout as exc:
            raise DaemonUnavailable(
                f"the Docker daemon at {self.host} did not answer within {self.timeout:g}s"
            ) from exc
        except requests.exceptions.RequestException:
            raise
        except OSError as exc:
            # requests raises a bare OSError naming the full path when a TLS file
            # vanished after we checked it: name the file only.
            origin = self.endpoint.tls.origin if self.endpoint.tls else "the TLS directory"
            raise DaemonUnavailable(
                f"cannot use the TLS files for {self.host} ({type(exc).__name__}); check "
                f"ca.pem, cert.pem and key.pem in {origin}"
            ) from None
        if resp.status_code >= 400:
            message = _daemon_message(resp)
            resp.close()
            if resp.status_code == 400 and _PLAIN_TO_TLS in message and not self.endpoint.tls:
                raise DaemonUnavailable(
                    f"the Docker daemon at {self.host} expects TLS but this client spoke "
                    f"plain HTTP to it (it answered {_PLAIN_TO_TLS!r}). Set "
                    "DOCKER_TLS_VERIFY=1 and DOCKER_CERT_PATH to the directory with its "
                    "ca.pem, cert.pem and key.pem, or use a docker context with TLS"
                )
            raise HTTPError(resp.status_code, message)
        return resp

    # -- endpoints -------------------------------------------------------------------

    def ping(self) -> bool:
        """Return True when the daemon answers ``/_ping``; raise if it cannot be reached."""
        return self.request("GET", "/_ping", versioned=False).text.strip() == "OK"

    def version_info(self) -> dict[str, Any]:
        """The daemon's unversioned ``/version`` (cached): ``ApiVersion``, ``MinAPIVersion``."""
        if self._version_info is None:
            resp = self.request("GET", "/version", versioned=False)
            try:
                self._version_info = dict(resp.json())
            except ValueError as exc:
                raise DaemonError(f"{self.host} answered /version with non-JSON") from exc
        return self._version_info

    @property
    def api_version(self) -> str:
        """The negotiated API version (asks the daemon the first time)."""
        if self._version is None:
            info = self.version_info()
            self._version = negotiate_version(
                str(info.get("ApiVersion", "")), info.get("MinAPIVersion")
            )
        return self._version

    def get_json(self, path: str, params: Any = None) -> Any:
        """GET a versioned endpoint and decode its JSON body."""
        return self.request("GET", path, params=params).json()

    def post_json(self, path: str, params: Any = None) -> Any:
        """POST (no body) to a versioned endpoint and decode its JSON body."""
        resp = self.request("POST", path, params=params)
        return resp.json() if resp.content else None

    def delete(self, path: str, params: Any = None) -> Any:
        """DELETE a versioned endpoint; return its JSON body if any."""
        resp = self.request("DELETE", path, params=params)
        return resp.json() if resp.content else None

    def build(
        self,
        query: list[tuple[str, str]],
        body: Iterable[bytes] | None,
        headers: Mapping[str, str],
        *,
        build_id: str | None = None,
    ) -> BuildResponse:
        """POST ``/build`` with a tar body; return the streaming response.

        The body is sent chunked as it is produced (a large context is never held in
        memory). There is no read timeout: a silent RUN step may take hours. With
        ``build_id`` (the ``buildid`` of a BuildKit build), cancelling the response also
        sends ``POST /build/cancel?id=``.
        """
        # The version is negotiated before the body generator starts being consumed.
        _ = self.api_version
        resp = self.request(
            "POST",
            "/build",
            params=query,
            data=body if body is not None else b"",
            headers=headers,
            stream=True,
            timeout=(self.timeout, None),
        )
        if build_id is None:
            return BuildResponse(resp)
        return BuildResponse(resp, on_cancel=lambda: self.cancel_build(build_id))

    def cancel_build(self, build_id: str, *, timeout: float = 1.0) -> None:
        """``POST /build/cancel?id=``: BuildKit stops the build with that ``buildid``.

        Bounded by ``timeout`` seconds: a cancel must not wait for a busy daemon. The
        daemon answers 200 also for an id it does not know (the build already ended).
        """
        resp = self.request(
            "POST", "/build/cancel", params={"id": build_id}, timeout=(timeout, timeout)
        )
        resp.close()

    def auth(self, auth_config: Mapping[str, str]) -> dict[str, Any]:
        """``POST /auth``: the daemon checks credentials against the registry.

        Returns ``{"Status": "Login Succeeded", "IdentityToken": ...}``; a refusal is an
        :class:`HTTPError` with the daemon's message (which never echoes the password).
        """
        resp = self.request(
            "POST",
            "/auth",
            data=json.dumps(dict(auth_config)),
            headers={"Content-Type": "application/json"},
            # The daemon may try HTTPS, then HTTP, each with its own timeouts.
            timeout=(self.timeout, 120.0),
        )
        body = resp.json() if resp.content else {}
        return dict(body) if isinstance(body, dict) else {}

    def push(self, name: str, tag: str, registry_auth: str) -> BuildResponse:
        """``POST /images/{name}/push?tag=``: stream the push's JSON messages.

        ``registry_auth`` is the ``X-Registry-Auth`` value (base64url JSON). No read
        timeout: a large layer may take long; :meth:`BuildResponse.cancel` stops it.
        """
        resp = self.request(
            "POST",
            f"/images/{quote(name, safe='/:')}/push",
            params={"tag": tag},
            headers={"X-Registry-Auth": registry_auth},
            stream=True,
            timeout=(self.timeout, None),
        )
        return BuildResponse(resp)

    def image_exists(self, name: str) -> bool:
        """True if ``name`` (a tag or id) is an image on the daemon."""
        try:
            self.request("GET", f"/images/{quote(name, safe='')}/json")
        except HTTPError as exc:
            if exc.status == 404:
                return False
            raise
        return True

    def containers(
        self, *, all: bool = True, filters: dict[str, list[str]] | None = None
    ) -> list[dict[str, Any]]:
        """List containers (``GET /containers/json``)."""
        params: dict[str, str] = {"all": "1" if all else "0"}
        if filters:
            params["filters"] = json.dumps(filters)
        return list(self.get_json("/containers/json", params=params))

    def connect(self, timeout: float | None = None) -> socket.socket:
        """A new raw connection to the daemon (TLS done), for a request that upgrades.

        The same endpoint and TLS settings as every other request; failures raise the
        same :class:`DaemonUnavailable` sentences. ``timeout`` bounds the connect and
        the handshake (default: the client's); the socket is returned blocking.
        """
        limit = self.timeout if timeout is None else timeout
        sock: socket.socket | None = None
        try:
            if self.socket_path is not None:
                sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                sock.settimeout(limit)
                sock.connect(self.socket_path)
            else:
                parts = urlsplit(self.base_url)
                hostname = parts.hostname or "localhost"
                port = parts.port or (443 if parts.scheme == "https" else 80)
                sock = socket.create_connection((hostname, port), timeout=limit)
                tls = self.endpoint.tls
                if tls is not None:
                    ctx = tls_context(tls, self.host)
                    try:
                        sock = ctx.wrap_socket(sock, server_hostname=hostname)
                    except (ssl.SSLError, ssl.CertificateError) as exc:
                        raise _tls_failure(exc, self.host, tls) from None
            sock.settimeout(None)
            return sock
        except DaemonUnavailable:
            if sock is not None:
                sock.close()
            raise
        except TimeoutError as exc:
            if sock is not None:
                sock.close()
            raise DaemonUnavailable(
                f"the Docker daemon at {self.host} did not answer within {limit:g}s"
            ) from exc
        except OSError as exc:
            if sock is not None:
                sock.close()
            raise self._unavailable(exc) from exc

    @property
    def http_host(self) -> str:
        """The ``Host`` header of a request to this daemon (``docker`` on a socket)."""
        if self.socket_path is not None:
            return "docker"
        return urlsplit(self.base_url).netloc

    def close(self) -> None:
        """Close pooled connections."""
        self._session.close()
