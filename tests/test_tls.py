"""Remote daemons like the docker CLI finds them: DOCKER_HOST, TLS, docker contexts.

A second, real ``dockerd`` is started for this module on ``127.0.0.1:<free port>`` with
``--tlsverify`` and certificates made here (a CA, a server certificate for 127.0.0.1,
a client certificate; and a second, wrong CA). It has its own data root, exec root,
pidfile and managed containerd, no bridge and no iptables, and is stopped and removed
at the end. It has no images: builds are ``FROM scratch`` + ``COPY``. In the engine
matrix (``JUPYTER_DOCKERBUILD_ENGINE_ROOT`` set by ``scripts/modern-engine.sh env``) it is
that engine's ``dockerd``, run in the engine's chroot, so TLS is tested on each engine.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from fakedaemon import FakeDaemon
from IPython.core.interactiveshell import InteractiveShell

import jupyter_dockerbuild as jd
from jupyter_dockerbuild.engine.client import (
    DEFAULT_SOCKET,
    DockerClient,
    parse_host,
    resolve_endpoint,
)
from jupyter_dockerbuild.errors import DaemonUnavailable

DOCKER_ENV = (
    "DOCKER_HOST",
    "DOCKER_TLS_VERIFY",
    "DOCKER_TLS",
    "DOCKER_CERT_PATH",
    "DOCKER_CONTEXT",
    "DOCKER_AUTH_CONFIG",
)


@pytest.fixture(autouse=True)
def clean_docker_env(monkeypatch, tmp_path) -> Path:
    """No DOCKER_* from the outside; an empty docker config dir of our own."""
    for name in DOCKER_ENV:
        monkeypatch.delenv(name, raising=False)
    config_dir = tmp_path / "dockercfg"
    config_dir.mkdir()
    monkeypatch.setenv("DOCKER_CONFIG", str(config_dir))
    return config_dir


# -- certificates -----------------------------------------------------------------------


def _openssl(cwd: Path, *args: str) -> None:
    proc = subprocess.run(["openssl", *args], cwd=cwd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"openssl {args[0]} failed: {proc.stderr}")


def _make_ca(cwd: Path, name: str) -> None:
    _openssl(
        cwd,
        "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
        "-nodes", "-keyout", f"{name}-key.pem", "-out", f"{name}.pem", "-days", "2",
        "-subj", f"/CN=jupyter-dockerbuild test {name}",
    )  # fmt: skip


def _make_cert(cwd: Path, ca: str, out: str, cn: str, ext: str) -> None:
    (cwd / f"{out}.ext").write_text(
        ext + "\nauthorityKeyIdentifier=keyid,issuer\nsubjectKeyIdentifier=hash\n"
    )
    _openssl(
        cwd,
        "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
        "-keyout", f"{out}-key.pem", "-out", f"{out}.csr", "-subj", f"/CN={cn}",
    )  # fmt: skip
    _openssl(
        cwd,
        "x509", "-req", "-in", f"{out}.csr", "-CA", f"{ca}.pem", "-CAkey", f"{ca}-key.pem",
        "-CAcreateserial", "-out", f"{out}-cert.pem", "-days", "2", "-extfile", f"{out}.ext",
    )  # fmt: skip


@dataclass
class Certs:
    root: Path
    server: Path  # ca.pem, server-cert.pem, server-key.pem for dockerd
    good: Path  # DOCKER_CERT_PATH that works: ca.pem, cert.pem, key.pem
    wrong_ca: Path  # a CA that did not sign the daemon's certificate (+ good client)
    no_client: Path  # only ca.pem
    bad_client: Path  # right CA, client certificate signed by the wrong CA


def make_certs(root: Path) -> Certs:
    work = root / "pki"
    work.mkdir()
    _make_ca(work, "ca")
    _make_ca(work, "other-ca")
    _make_cert(
        work, "ca", "server", "127.0.0.1",
        "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth",
    )  # fmt: skip
    _make_cert(work, "ca", "client", "client", "extendedKeyUsage=clientAuth")
    _make_cert(work, "other-ca", "stranger", "client", "extendedKeyUsage=clientAuth")

    def bundle(name: str, ca: str | None, cert: str | None) -> Path:
        d = root / name
        d.mkdir()
        if ca:
            shutil.copy(work / f"{ca}.pem", d / "ca.pem")
        if cert:
            shutil.copy(work / f"{cert}-cert.pem", d / "cert.pem")
            shutil.copy(work / f"{cert}-key.pem", d / "key.pem")
        return d

    server = root / "server"
    server.mkdir()
    for f in ("ca.pem", "server-cert.pem", "server-key.pem"):
        shutil.copy(work / f, server / f)
    return Certs(
        root=root,
        server=server,
        good=bundle("good", "ca", "client"),
        wrong_ca=bundle("wrong-ca", "other-ca", "client"),
        no_client=bundle("no-client", "ca", None),
        bad_client=bundle("bad-client", "ca", "stranger"),
    )


# -- the second daemon ------------------------------------------------------------------


@dataclass
class TLSDaemon:
    host: str
    port: int
    socket: Path
    certs: Certs


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _unix_ping(path: Path) -> bool:
    try:
        with socket.socket(socket.AF_UNIX) as s:
            s.settimeout(1)
            s.connect(str(path))
            s.sendall(b"GET /_ping HTTP/1.0\r\n\r\n")
            return s.recv(4096).rstrip().endswith(b"OK")
    except OSError:
        return False


def _kill_pidfile(path: Path) -> None:
    """Stop a process we started (by the id in its pidfile), if it is still there."""
    try:
        pid = int(path.read_text().strip())
        os.kill(pid, signal.SIGTERM)
    except (OSError, ValueError):
        pass


def _unmount_under(root: Path) -> None:
    with open("/proc/self/mounts") as fh:
        mounts = [line.split()[1] for line in fh]
    for mount in sorted((m for m in mounts if m.startswith(str(root))), reverse=True):
        subprocess.run(["umount", "-l", mount], check=False, capture_output=True)


@pytest.fixture(scope="session")
def tls_daemon() -> Iterator[TLSDaemon]:
    """A dockerd with --tlsverify on 127.0.0.1:<free port>; stopped and removed after."""
    # The engine under test: the host's dockerd, or the one in the matrix engine's chroot.
    chroot = os.environ.get("JUPYTER_DOCKERBUILD_ENGINE_ROOT") or None
    dockerd = f"{chroot}/usr/sbin/dockerd" if chroot else shutil.which("dockerd")
    if dockerd is None or os.geteuid() != 0 or shutil.which("openssl") is None:
        pytest.skip("needs root, dockerd and openssl to start a TLS daemon")
    # Short path: containerd's socket lives under the exec root (108-byte limit). In a
    # chroot, the directory is inside it, and dockerd is given the paths it sees there.
    root = Path(tempfile.mkdtemp(prefix="jdbtls-", dir=f"{chroot}/tmp" if chroot else "/tmp"))

    def seen(path: Path) -> str:
        return "/" + str(path.relative_to(chroot)) if chroot else str(path)

    proc: subprocess.Popen[bytes] | None = None
    try:
        certs = make_certs(root)
        (root / "daemon.json").write_text("{}")  # not /etc/docker/daemon.json
        env = {k: v for k, v in os.environ.items() if not k.startswith("DOCKER_")}
        # A closed loopback proxy: whatever it is asked, this daemon reaches no registry.
        for var in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy"):
            env[var] = "http://127.0.0.1:9"
        env["NO_PROXY"] = env["no_proxy"] = "localhost,127.0.0.1,::1"
        sock = root / "d.sock"
        for _attempt in range(3):  # the free port may be taken before dockerd binds it
            port = _free_port()
            cmd = [
                *(["chroot", chroot, "/usr/sbin/dockerd"] if chroot else [dockerd]),
                "--config-file", seen(root / "daemon.json"),
                "--tlsverify",
                "--tlscacert", seen(certs.server / "ca.pem"),
                "--tlscert", seen(certs.server / "server-cert.pem"),
                "--tlskey", seen(certs.server / "server-key.pem"),
                "-H", f"tcp://127.0.0.1:{port}",
                "-H", f"unix://{seen(sock)}",
                "--data-root", seen(root / "data"),
                "--exec-root", seen(root / "exec"),
                "--pidfile", seen(root / "dockerd.pid"),
                "--bridge=none", "--iptables=false", "--ip-forward=false", "--ip-masq=false",
            ]  # fmt: skip
            log = open(root / "dockerd.log", "wb")
            proc = subprocess.Popen(
                cmd, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True
            )
            log.close()
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline and proc.poll() is None:
                if _unix_ping(sock):
                    break
                time.sleep(0.05)
            if proc.poll() is None and _unix_ping(sock):
                break
            proc.terminate()
            proc.wait(20)
            proc = None
        if proc is None:
            tail = (root / "dockerd.log").read_text(errors="replace")[-2000:]
            pytest.fail(f"the TLS test daemon did not start:\n{tail}")
        yield TLSDaemon(f"tcp://127.0.0.1:{port}", port, sock, certs)
    finally:
        if proc is not None:
            proc.terminate()  # dockerd stops its containerd on the way out
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
                _kill_pidfile(root / "exec" / "containerd" / "containerd.pid")
        _unmount_under(root)
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def tls_env(monkeypatch, tls_daemon):
    """``tls_env(dir)``: DOCKER_TLS_VERIFY=1 and DOCKER_CERT_PATH=dir, like the CLI's env."""

    def use(cert_dir: Path) -> None:
        monkeypatch.setenv("DOCKER_TLS_VERIFY", "1")
        monkeypatch.setenv("DOCKER_CERT_PATH", str(cert_dir))

    return use


def write_context(
    config_dir: Path,
    name: str,
    host: str,
    tls_from: Path | None = None,
    skip_verify: bool = False,
    files: tuple[str, ...] = ("ca", "cert", "key"),
) -> None:
    """A docker context laid out like ``docker context create`` does."""
    digest = hashlib.sha256(name.encode()).hexdigest()
    meta = config_dir / "contexts" / "meta" / digest
    meta.mkdir(parents=True)
    (meta / "meta.json").write_text(
        json.dumps(
            {
                "Name": name,
                "Metadata": {},
                "Endpoints": {"docker": {"Host": host, "SkipTLSVerify": skip_verify}},
            }
        )
    )
    if tls_from is not None:
        tls = config_dir / "contexts" / "tls" / digest / "docker"
        tls.mkdir(parents=True)
        for f in files:
            if (tls_from / f"{f}.pem").exists():
                shutil.copy(tls_from / f"{f}.pem", tls / f"{f}.pem")


def set_current_context(config_dir: Path, name: str) -> None:
    (config_dir / "config.json").write_text(json.dumps({"auths": {}, "currentContext": name}))


def assert_no_paths(message: str, *paths: Path) -> None:
    for p in paths:
        assert str(p) not in message, f"a path leaked into the message: {message}"


# -- discovery, no daemon needed --------------------------------------------------------


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("tcp://10.0.0.5:2376", "tcp://10.0.0.5:2376"),
        ("tcp://10.0.0.5", "tcp://10.0.0.5:2375"),  # the CLI's default port, TLS or not
        ("tcp://:2376", "tcp://localhost:2376"),
        ("tcp://", "tcp://localhost:2375"),
        ("10.0.0.5:2376", "tcp://10.0.0.5:2376"),  # bare host:port is TCP
        ("/run/user/1000/docker.sock", "unix:///run/user/1000/docker.sock"),
        ("unix://", f"unix://{DEFAULT_SOCKET}"),
        ("tcp://[::1]:2376", "tcp://[::1]:2376"),
        ("  tcp://h:1  ", "tcp://h:1"),
    ],
)
def test_hosts_are_normalised_like_the_cli(given, expected):
    assert parse_host(given) == expected


@pytest.mark.parametrize("host", ["ssh://user@box", "npipe:////./pipe/docker_engine"])
def test_unsupported_schemes_are_named(host):
    with pytest.raises(DaemonUnavailable, match="is not supported"):
        parse_host(host)


def test_precedence_explicit_env_context_config_default(clean_docker_env):
    cfg = clean_docker_env
    write_context(cfg, "from-config", "tcp://10.0.0.1:2376")
    write_context(cfg, "from-env", "tcp://10.0.0.2:2376")
    set_current_context(cfg, "from-config")
    env = {"DOCKER_CONFIG": str(cfg)}
    ep = resolve_endpoint(None, env)
    assert (ep.host, ep.source) == (
        "tcp://10.0.0.1:2376",
        "docker context 'from-config' (currentContext in config.json)",
    )
    env["DOCKER_CONTEXT"] = "from-env"
    ep = resolve_endpoint(None, env)
    assert ep.host == "tcp://10.0.0.2:2376" and "DOCKER_CONTEXT" in ep.source
    env["DOCKER_HOST"] = "tcp://10.0.0.3:2375"
    assert resolve_endpoint(None, env).host == "tcp://10.0.0.3:2375"
    assert resolve_endpoint("tcp://10.0.0.4:2375", env).host == "tcp://10.0.0.4:2375"
    # "default" means no context: the local socket.
    env = {"DOCKER_CONFIG": str(cfg), "DOCKER_CONTEXT": "default"}
    assert resolve_endpoint(None, env).host == f"unix://{DEFAULT_SOCKET}"
    # No configuration at all.
    assert resolve_endpoint(None, {"DOCKER_CONFIG": str(cfg / "nope")}).host == (
        f"unix://{DEFAULT_SOCKET}"
    )


def test_tls_environment_like_the_cli(tmp_path, clean_docker_env):
    certs = tmp_path / "certs"
    certs.mkdir()
    for f in ("ca.pem", "cert.pem", "key.pem"):
        (certs / f).write_text("x")
    base = {"DOCKER_CONFIG": str(clean_docker_env), "DOCKER_HOST": "tcp://h:2376"}
    # Any non-empty DOCKER_TLS_VERIFY verifies, even "0" (docker/cli flags/options.go).
    for value in ("1", "0", "false", "yes"):
        ep = resolve_endpoint(
            None, {**base, "DOCKER_TLS_VERIFY": value, "DOCKER_CERT_PATH": str(certs)}
        )
        assert ep.tls is not None and ep.tls.verify, value
        assert ep.tls.ca == str(certs / "ca.pem") and ep.tls.cert == str(certs / "cert.pem")
    assert resolve_endpoint(None, {**base, "DOCKER_TLS_VERIFY": ""}).tls is None
    # DOCKER_TLS: TLS without verifying the daemon.
    ep = resolve_endpoint(None, {**base, "DOCKER_TLS": "1", "DOCKER_CERT_PATH": str(certs)})
    assert ep.tls is not None and not ep.tls.verify
    # The port alone never turns TLS on (the CLI does not look at it either).
    assert resolve_endpoint(None, {**base, "DOCKER_HOST": "tcp://h:2376"}).tls is None
    # No host and TLS on: tcp://localhost:2376, the CLI's DefaultTLSHost.
    ep = resolve_endpoint(None, {"DOCKER_CONFIG": str(clean_docker_env), "DOCKER_TLS_VERIFY": "1"})
    assert ep.host == "tcp://localhost:2376"
    # The default cert path is the docker config directory.
    assert ep.tls is not None and ep.tls.ca == str(clean_docker_env / "ca.pem")
    assert ep.tls.cert is None  # cert.pem/key.pem only when both exist
    # TLS settings mean nothing on a unix socket.
    ep = resolve_endpoint("unix:///x.sock", {**base, "DOCKER_TLS_VERIFY": "1"})
    assert ep.tls is None


def test_missing_ca_pem_is_named_without_its_path(tmp_path):
    env = {
        "DOCKER_CONFIG": str(tmp_path),
        "DOCKER_TLS_VERIFY": "1",
        "DOCKER_CERT_PATH": str(tmp_path / "empty"),
    }
    with pytest.raises(DaemonUnavailable) as err:
        DockerClient("tcp://127.0.0.1:2376", env=env)
    msg = str(err.value)
    assert "no ca.pem in DOCKER_CERT_PATH" in msg
    assert_no_paths(msg, tmp_path)


def test_mismatched_and_encrypted_keys_are_refused_early(tmp_path):
    certs = make_certs(tmp_path)
    mixed = tmp_path / "mixed"
    mixed.mkdir()
    shutil.copy(certs.good / "ca.pem", mixed / "ca.pem")
    shutil.copy(certs.good / "cert.pem", mixed / "cert.pem")
    shutil.copy(certs.bad_client / "key.pem", mixed / "key.pem")
    env = {"DOCKER_CONFIG": str(tmp_path), "DOCKER_TLS_VERIFY": "1", "DOCKER_CERT_PATH": str(mixed)}
    with pytest.raises(DaemonUnavailable, match="not a matching PEM certificate and private key"):
        DockerClient("tcp://127.0.0.1:2376", env=env)
    _openssl(
        mixed, "pkey", "-in", str(certs.good / "key.pem"), "-aes256", "-passout", "pass:pw",
        "-out", "key.pem",
    )  # fmt: skip
    with pytest.raises(DaemonUnavailable, match=r"key\.pem in DOCKER_CERT_PATH is encrypted"):
        DockerClient("tcp://127.0.0.1:2376", env=env)


def test_unknown_context_is_a_clear_error(clean_docker_env):
    env = {"DOCKER_CONFIG": str(clean_docker_env), "DOCKER_CONTEXT": "nope"}
    with pytest.raises(
        DaemonUnavailable, match=r"docker context 'nope' \(DOCKER_CONTEXT\) does not exist"
    ):
        DockerClient(env=env)
    set_current_context(clean_docker_env, "gone")
    with pytest.raises(DaemonUnavailable, match=r"currentContext in config\.json"):
        DockerClient(env={"DOCKER_CONFIG": str(clean_docker_env)})


def test_context_brings_its_own_tls_and_ignores_the_env(tmp_path, clean_docker_env):
    certs = make_certs(tmp_path)
    write_context(clean_docker_env, "remote", "tcp://127.0.0.1:2376", certs.good)
    write_context(clean_docker_env, "plain", "tcp://127.0.0.1:2375")
    write_context(clean_docker_env, "skip", "tcp://127.0.0.1:2376", skip_verify=True)
    env = {
        "DOCKER_CONFIG": str(clean_docker_env),
        "DOCKER_TLS_VERIFY": "1",
        "DOCKER_CERT_PATH": str(certs.wrong_ca),
    }
    ep = resolve_endpoint(None, {**env, "DOCKER_CONTEXT": "remote"})
    assert ep.tls is not None and ep.tls.verify and ep.tls.origin == "docker context 'remote'"
    assert ep.tls.ca is not None and ep.tls.ca.endswith(os.path.join("docker", "ca.pem"))
    assert ep.tls.cert is not None and ep.tls.key is not None
    # A context without TLS files is plain HTTP, whatever DOCKER_TLS_VERIFY says.
    assert resolve_endpoint(None, {**env, "DOCKER_CONTEXT": "plain"}).tls is None
    ep = resolve_endpoint(None, {**env, "DOCKER_CONTEXT": "skip"})
    assert ep.tls is not None and not ep.tls.verify and ep.tls.ca is None


def test_tls_against_a_plain_http_port_says_so(tmp_path):
    certs = make_certs(tmp_path)
    env = {
        "DOCKER_CONFIG": str(tmp_path),
        "DOCKER_TLS_VERIFY": "1",
        "DOCKER_CERT_PATH": str(certs.good),
    }
    with FakeDaemon() as fake:
        with pytest.raises(DaemonUnavailable) as err:
            DockerClient(fake.host, env=env).ping()
    msg = str(err.value)
    assert "does not speak TLS on this port" in msg and "unset DOCKER_TLS_VERIFY" in msg
    assert fake.host in msg
    assert_no_paths(msg, tmp_path)


# -- against the TLS daemon --------------------------------------------------------------

daemon = pytest.mark.daemon


@daemon
def test_build_over_tls(tls_daemon, tls_env):
    tls_env(tls_daemon.certs.good)
    result = jd.build(
        "FROM scratch\nCOPY hello.txt /hello.txt\n",
        files={"hello.txt": "hello over TLS\n"},
        tags=["jdb-tls-test:1"],
        host=tls_daemon.host,
    )
    assert result.ok and result.image_id and result.image_id.startswith("sha256:")
    client = DockerClient(tls_daemon.host)
    try:
        assert client.base_url.startswith("https://")
        assert client.image_exists("jdb-tls-test:1")
        assert "tls=verify" in repr(client)
    finally:
        client.close()


@daemon
def test_wrong_ca_fails_clearly(tls_daemon, tls_env):
    tls_env(tls_daemon.certs.wrong_ca)
    with pytest.raises(DaemonUnavailable) as err:
        DockerClient(tls_daemon.host).ping()
    msg = str(err.value)
    assert msg.startswith(f"TLS handshake with the Docker daemon at {tls_daemon.host} failed")
    assert "not signed by the CA in ca.pem in DOCKER_CERT_PATH" in msg
    assert "dockerd --tlscacert" in msg
    assert_no_paths(msg, tls_daemon.certs.root)


@daemon
def test_missing_client_cert_fails_clearly(tls_daemon, tls_env):
    tls_env(tls_daemon.certs.no_client)
    with pytest.raises(DaemonUnavailable) as err:
        DockerClient(tls_daemon.host).ping()
    msg = str(err.value)
    assert "the daemon requires a client certificate" in msg
    assert "cert.pem and key.pem" in msg and "DOCKER_CERT_PATH" in msg
    assert_no_paths(msg, tls_daemon.certs.root)


@daemon
def test_client_cert_from_another_ca_is_rejected_clearly(tls_daemon, tls_env):
    tls_env(tls_daemon.certs.bad_client)
    with pytest.raises(DaemonUnavailable) as err:
        DockerClient(tls_daemon.host).ping()
    msg = str(err.value)
    assert "rejected the client certificate (cert.pem in DOCKER_CERT_PATH)" in msg
    assert_no_paths(msg, tls_daemon.certs.root)


@daemon
def test_plain_http_to_the_tls_port_fails_clearly(tls_daemon):
    with pytest.raises(DaemonUnavailable) as err:
        DockerClient(tls_daemon.host).ping()
    msg = str(err.value)
    assert f"the Docker daemon at {tls_daemon.host} expects TLS" in msg
    assert "DOCKER_TLS_VERIFY=1" in msg and "DOCKER_CERT_PATH" in msg


@daemon
def test_build_fails_clearly_too(tls_daemon, tls_env):
    # Through the Python API the same message arrives, before any body is sent.
    tls_env(tls_daemon.certs.wrong_ca)
    with pytest.raises(DaemonUnavailable, match=r"not signed by the CA"):
        jd.build("FROM scratch\n", host=tls_daemon.host)


@daemon
def test_current_context_points_at_the_tls_daemon(tls_daemon, clean_docker_env, monkeypatch):
    write_context(clean_docker_env, "tls-test", tls_daemon.host, tls_daemon.certs.good)
    set_current_context(clean_docker_env, "tls-test")
    # Env TLS settings are ignored when a context is used (they point at a wrong CA).
    monkeypatch.setenv("DOCKER_TLS_VERIFY", "1")
    monkeypatch.setenv("DOCKER_CERT_PATH", str(tls_daemon.certs.wrong_ca))
    client = DockerClient()
    try:
        assert client.host == tls_daemon.host
        assert client.endpoint.source == (
            "docker context 'tls-test' (currentContext in config.json)"
        )
        result = jd.build(
            "FROM scratch\nCOPY a /a\n", files={"a": "context"}, tags=["jdb-ctx-test:1"]
        )
        assert result.ok and client.image_exists("jdb-ctx-test:1")
    finally:
        client.close()
    # DOCKER_CONTEXT wins over config.json; DOCKER_HOST wins over both.
    write_context(clean_docker_env, "wrong-ca", tls_daemon.host, tls_daemon.certs.wrong_ca)
    monkeypatch.setenv("DOCKER_CONTEXT", "wrong-ca")
    with pytest.raises(
        DaemonUnavailable, match=r"not signed by the CA in ca\.pem in docker context 'wrong-ca'"
    ):
        DockerClient().ping()
    refused = f"tcp://127.0.0.1:{_free_port()}"
    monkeypatch.setenv("DOCKER_HOST", refused)
    monkeypatch.delenv("DOCKER_TLS_VERIFY")
    with pytest.raises(DaemonUnavailable, match=f"{refused} \\(connection refused"):
        DockerClient().ping()


@daemon
def test_context_that_skips_verification(tls_daemon, clean_docker_env, monkeypatch):
    # SkipTLSVerify: the wrong CA does not matter; the client certificate still does.
    write_context(
        clean_docker_env, "skip", tls_daemon.host, tls_daemon.certs.wrong_ca, skip_verify=True
    )
    monkeypatch.setenv("DOCKER_CONTEXT", "skip")
    with pytest.warns(Warning, match="Unverified HTTPS request"):
        assert DockerClient().ping()


@daemon
@pytest.mark.skipif(shutil.which("docker") is None, reason="needs the docker CLI")
def test_context_made_by_the_docker_cli(tls_daemon, clean_docker_env):
    # Contexts written by `docker context create` itself (it does not connect).
    good = tls_daemon.certs.good
    subprocess.run(
        [
            "docker", "context", "create", "cli-made", "--docker",
            f"host={tls_daemon.host},ca={good}/ca.pem,cert={good}/cert.pem,key={good}/key.pem",
        ],
        check=True, capture_output=True, env={**os.environ, "DOCKER_CONFIG": str(clean_docker_env)},
    )  # fmt: skip
    client = DockerClient(
        env={"DOCKER_CONFIG": str(clean_docker_env), "DOCKER_CONTEXT": "cli-made"}
    )
    try:
        assert client.ping() and client.endpoint.tls is not None
    finally:
        client.close()


# -- the magic: -H and %config DockerBuildMagics.host go through the same discovery ------


@pytest.fixture
def ip():
    shell = InteractiveShell.instance()
    shell.run_line_magic("load_ext", "jupyter_dockerbuild")
    magics = shell.magics_manager.registry["DockerBuildMagics"]
    yield shell
    magics.host = None


CELL = "FROM scratch\nCOPY hello.txt /hello.txt\n"


@daemon
def test_magic_host_flag_and_config_default_over_tls(ip, tls_daemon, tls_env, capsys):
    tls_env(tls_daemon.certs.good)
    ip.user_ns["hello"] = "hi\n"
    res = ip.run_cell(
        f"%%dockerbuild -H {tls_daemon.host} --var hello.txt=hello -t jdb-tls-magic:1 --out r1\n"
        + CELL
    )
    assert res.success, res.error_in_exec
    assert ip.user_ns["r1"].ok
    ip.run_line_magic("config", f"DockerBuildMagics.host = {tls_daemon.host!r}")
    res = ip.run_cell("%%dockerbuild --var hello.txt=hello -t jdb-tls-magic:2 --out r2\n" + CELL)
    assert res.success, res.error_in_exec
    client = DockerClient(tls_daemon.host)
    try:
        assert client.image_exists("jdb-tls-magic:1") and client.image_exists("jdb-tls-magic:2")
    finally:
        client.close()
    # The same discovery means the same TLS failure message from either way in.
    tls_env(tls_daemon.certs.wrong_ca)
    res = ip.run_cell("%%dockerbuild --var hello.txt=hello\n" + CELL)
    assert isinstance(res.error_in_exec, DaemonUnavailable)
    assert "not signed by the CA in ca.pem in DOCKER_CERT_PATH" in str(res.error_in_exec)
    ip.magics_manager.registry["DockerBuildMagics"].host = None
    res = ip.run_cell(f"%%dockerbuild -H {tls_daemon.host} --var hello.txt=hello\n" + CELL)
    assert "not signed by the CA in ca.pem in DOCKER_CERT_PATH" in str(res.error_in_exec)
    err = capsys.readouterr()
    assert str(tls_daemon.certs.root) not in err.out + err.err


@daemon
def test_magic_uses_the_current_context(ip, tls_daemon, clean_docker_env):
    write_context(clean_docker_env, "nb", tls_daemon.host, tls_daemon.certs.good)
    set_current_context(clean_docker_env, "nb")
    ip.user_ns["hello"] = "hi\n"
    res = ip.run_cell("%%dockerbuild --var hello.txt=hello -t jdb-tls-ctx:1 --out r\n" + CELL)
    assert res.success, res.error_in_exec
    client = DockerClient(
        tls_daemon.host,
        env={"DOCKER_TLS_VERIFY": "1", "DOCKER_CERT_PATH": str(tls_daemon.certs.good)},
    )
    try:
        assert client.image_exists("jdb-tls-ctx:1")
    finally:
        client.close()


# -- the BuildKit session over the same TLS connection settings ---------------------------


@daemon
def test_buildkit_session_over_tls(tls_daemon, tls_env):
    """The session's own connection uses the same TLS files; a BuildKit build runs through it."""
    import time as _time

    from jupyter_dockerbuild.engine.session import HEALTH_CHECK, Session

    tls_env(tls_daemon.certs.good)
    client = DockerClient(tls_daemon.host)
    try:
        with Session(client, {}) as session:
            deadline = _time.monotonic() + 15
            while not session.calls.get(HEALTH_CHECK) and _time.monotonic() < deadline:
                _time.sleep(0.1)
            assert session.calls.get(HEALTH_CHECK, 0) >= 1
        assert not session.alive and session.ended is None
        result = jd.build(
            "FROM scratch\nCOPY hello.txt /hello.txt\n",
            files={"hello.txt": "hello over a TLS session\n"},
            tags=["jdb-tls-test:session"],
            host=tls_daemon.host,
            builder="buildkit",
        )
        assert result.ok and result.builder == "buildkit"
    finally:
        client.close()


@daemon
def test_buildkit_session_with_the_wrong_ca_fails_like_any_request(tls_daemon, tls_env):
    from jupyter_dockerbuild.engine.session import Session

    tls_env(tls_daemon.certs.wrong_ca)
    client = DockerClient(tls_daemon.host, version="1.41")
    with pytest.raises(DaemonUnavailable) as err:
        Session(client, {}).open()
    msg = str(err.value)
    assert msg.startswith(f"TLS handshake with the Docker daemon at {tls_daemon.host} failed")
    assert "not signed by the CA in ca.pem in DOCKER_CERT_PATH" in msg
    assert_no_paths(msg, tls_daemon.certs.root)
