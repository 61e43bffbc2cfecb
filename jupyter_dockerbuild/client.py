"""A small Docker Engine API client: find the daemon, agree on a version, stream a build.

Speaks HTTP over the daemon's unix socket (``requests-unixsocket``) or over TCP, with
TLS when ``DOCKER_TLS_VERIFY`` says so, following the docker CLI's environment
conventions. The API version is negotiated: v1.33 is our documented baseline, but
daemons differ (Docker 29 refuses anything below 1.44), so the unversioned
``/version`` is asked first and the highest version both sides know is used.

Connection failures become :class:`~jupyter_dockerbuild.errors.DaemonUnavailable`
naming the socket or host; HTTP errors carry the daemon's own message.
"""

from __future__ import annotations

import errno
import json
import os
import socket
import threading
from collections.abc import Iterable, Iterator, Mapping
from typing import Any
from urllib.parse import quote

import requests

from .errors import APIVersionError, DaemonError, DaemonUnavailable

DEFAULT_SOCKET = "/var/run/docker.sock"
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


def _root_oserror(exc: BaseException) -> OSError | None:
    """Find the OSError at the bottom of requests' and urllib3's wrapping, if any."""
    seen: set[int] = set()
    stack: list[Any] = [exc]
    while stack:
        cur = stack.pop()
        if cur is None or id(cur) in seen:
            continue
        seen.add(id(cur))
        if isinstance(cur, OSError) and cur.errno is not None:
            return cur
        if isinstance(cur, BaseException):
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


class HTTPError(DaemonError):
    """The daemon answered a request with an HTTP error status."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class BuildResponse:
    """The streaming body of a ``/build`` response.

    Iterate :meth:`chunks` for raw bytes as they arrive. :meth:`cancel` may be called
    from another thread: it shuts the socket down, which wakes a blocked read and makes
    the daemon kill the running build container.
    """

    def __init__(self, response: requests.Response) -> None:
        self._response = response
        self._lock = threading.Lock()
        self.cancelled = False

    @property
    def headers(self) -> Mapping[str, str]:
        """The response headers (``Api-Version``, ``Docker-Experimental`` ...)."""
        return self._response.headers

    def chunks(self) -> Iterator[bytes]:
        """Yield the body's bytes as the daemon sends them (no read timeout)."""
        try:
            yield from self._response.iter_content(chunk_size=None)
        except requests.exceptions.RequestException as exc:
            if self.cancelled:
                return
            raise DaemonError(
                f"the connection to the daemon broke during the build: {exc}"
            ) from exc

    def cancel(self) -> None:
        """Stop the build: close the connection so the daemon cancels it."""
        with self._lock:
            if self.cancelled:
                return
            self.cancelled = True
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

    ``host`` is like ``DOCKER_HOST``: ``unix:///path`` or ``tcp://host:port``; default
    is the ``DOCKER_HOST`` environment variable, then ``unix:///var/run/docker.sock``.
    Nothing is sent until a method needs it.
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
        self.host = host or env.get("DOCKER_HOST") or f"unix://{DEFAULT_SOCKET}"
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
        elif self.host.startswith(("tcp://", "http://", "https://")):
            self.socket_path = None
            hostport = self.host.split("://", 1)[1].rstrip("/")
            tls_verify = env.get("DOCKER_TLS_VERIFY", "") not in ("", "0")
            cert_path = env.get("DOCKER_CERT_PATH") or os.path.join(
                os.path.expanduser("~"), ".docker"
            )
            use_tls = tls_verify or self.host.startswith("https://")
            self.base_url = ("https://" if use_tls else "http://") + hostport
            if use_tls:
                ca = os.path.join(cert_path, "ca.pem")
                cert = os.path.join(cert_path, "cert.pem")
                key = os.path.join(cert_path, "key.pem")
                self._tls["verify"] = ca if tls_verify else False
                if os.path.exists(cert) and os.path.exists(key):
                    self._tls["cert"] = (cert, key)
            self._session = session or requests.Session()
        else:
            raise DaemonUnavailable(
                f"DOCKER_HOST={self.host!r} is not supported; use unix:///path/to/docker.sock "
                "or tcp://host:port"
            )

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
            raise DaemonUnavailable(f"TLS handshake with {self.host} failed: {exc}") from exc
        except requests.exceptions.ConnectionError as exc:
            raise self._unavailable(exc) from exc
        except requests.exceptions.Timeout as exc:
            raise DaemonUnavailable(
                f"the Docker daemon at {self.host} did not answer within {self.timeout:g}s"
            ) from exc
        if resp.status_code >= 400:
            message = _daemon_message(resp)
            resp.close()
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
    ) -> BuildResponse:
        """POST ``/build`` with a tar body; return the streaming response.

        The body is sent chunked as it is produced (a large context is never held in
        memory). There is no read timeout: a silent RUN step may take hours.
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

    def close(self) -> None:
        """Close pooled connections."""
        self._session.close()
