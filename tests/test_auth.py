"""Registry credentials and proxies from the docker config, the way ``docker build`` sends them.

Credential helpers are tiny ``docker-credential-*`` shell scripts put first on PATH; a
fake daemon records the ``X-Registry-Config`` header and the build args it receives.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import shlex
import stat
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from fakedaemon import FakeDaemon
from IPython.core.interactiveshell import InteractiveShell

from jupyter_dockerbuild.builder.docker_config import apply_docker_config
from jupyter_dockerbuild.builder.options import BuildOptions
from jupyter_dockerbuild.builder.options import (
    registry_config_from_docker_config as options_registry_config,
)
from jupyter_dockerbuild.engine import auth
from jupyter_dockerbuild.engine.auth import (
    INDEX_SERVER,
    get_all_credentials,
    proxy_build_args,
    registry_config_from_docker_config,
)

NOT_FOUND = "credentials not found in native keychain"
#: name -> (servers that ``list`` names, {server: (Username, Secret)}); ``None``: broken.
HELPERS: dict[str, tuple[list[str], dict[str, tuple[str, str]]] | None] = {
    # A keychain with Docker Hub credentials and an identity token; "gone" is listed
    # but its secret is missing (the helper then says "credentials not found").
    "test": (
        [INDEX_SERVER, "registry.example.com", "gone.example.com"],
        {
            INDEX_SERVER: ("alice", "hub-secret-1"),
            "registry.example.com": ("<token>", "identity-token-2"),
        },
    ),
    "other": (
        [],
        {"docker.io": ("bob", "hub-secret-3"), "ghcr.io": ("carol", "ghcr-secret-4")},
    ),
    # Fails loudly, printing what might be a secret: it must not reach any message.
    "broken": None,
}


def helper_script(name: str, calls: Path) -> str:
    """A POSIX sh credential helper speaking the docker-credential-helpers protocol."""
    lines = [
        "#!/bin/sh",
        "server=$(cat)",  # the server URL comes on stdin, without a newline
        f'echo "{name} $1 $server" >> {shlex.quote(str(calls))}',
    ]
    spec = HELPERS[name]
    if spec is None:
        return "\n".join([*lines, "echo broken-helper-output-5", "exit 3", ""])
    listed, secrets = spec
    listing = json.dumps({server: secrets.get(server, ("x", ""))[0] for server in listed})
    lines += [
        'case "$1" in',
        f"list) printf '%s' {shlex.quote(listing)} ;;",
        'get) case "$server" in',
    ]
    for server, (user, secret) in secrets.items():
        reply = json.dumps({"ServerURL": server, "Username": user, "Secret": secret})
        lines.append(f"  {shlex.quote(server)}) printf '%s' {shlex.quote(reply)} ;;")
    lines += [f'  *) echo "{NOT_FOUND}"; exit 1 ;;', "  esac ;;", "*) exit 2 ;;", "esac", ""]
    return "\n".join(lines)


@pytest.fixture
def helpers(tmp_path, monkeypatch) -> Path:
    """``docker-credential-{test,other,broken}`` first on PATH; calls logged to a file."""
    bindir = tmp_path / "bin"
    bindir.mkdir()
    calls = tmp_path / "helper-calls.log"
    for name in HELPERS:
        script = bindir / f"docker-credential-{name}"
        script.write_text(helper_script(name, calls))
        script.chmod(script.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("PATH", f"{bindir}{os.pathsep}{os.environ['PATH']}")
    return calls


@pytest.fixture
def docker_config(tmp_path, monkeypatch):
    """``docker_config(dict)`` writes config.json in a fresh DOCKER_CONFIG directory."""
    cfg = tmp_path / "dockercfg"
    cfg.mkdir()
    for name in ("DOCKER_HOST", "DOCKER_CONTEXT", "DOCKER_AUTH_CONFIG", "DOCKER_TLS_VERIFY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("DOCKER_CONFIG", str(cfg))

    def write(config: dict) -> dict:
        (cfg / "config.json").write_text(json.dumps(config))
        return config

    return write


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def decode_header(value: str | None) -> dict:
    assert value is not None
    return json.loads(base64.urlsafe_b64decode(value))


def test_creds_store_lists_then_gets_each_server(helpers, docker_config):
    config = docker_config(
        {
            "credsStore": "test",
            "auths": {
                INDEX_SERVER: {"email": "alice@example.com"},
                # With a credsStore the CLI ignores plain auths (only emails are merged).
                "plain.example.com": {"auth": b64("u:plain-pw")},
            },
        }
    )
    creds = get_all_credentials(config)
    assert creds == {
        INDEX_SERVER: {
            "serveraddress": INDEX_SERVER,
            "username": "alice",
            "password": "hub-secret-1",
            "email": "alice@example.com",
        },
        "registry.example.com": {
            "serveraddress": "registry.example.com",
            "identitytoken": "identity-token-2",
        },
    }
    calls = helpers.read_text().splitlines()
    assert calls[0] == "test list unused"
    assert sorted(calls[1:]) == [
        "test get gone.example.com",
        f"test get {INDEX_SERVER}",
        "test get registry.example.com",
    ]


def test_cred_helpers_override_and_docker_io_is_aliased(helpers, docker_config, caplog):
    config = docker_config(
        {
            "auths": {
                "docker.io": {"auth": b64("old:old-pw")},
                "quay.io": {"auth": b64("dave:quay-pw-6")},
            },
            "credHelpers": {
                "docker.io": "other",
                "ghcr.io": "other",
                "nothing.example.com": "other",
                "broken.example.com": "broken",
                "missing.example.com": "not-installed",
            },
        }
    )
    with caplog.at_level(logging.WARNING, logger="jupyter_dockerbuild.engine.auth"):
        value = registry_config_from_docker_config()
    decoded = decode_header(value)
    assert decoded["docker.io"]["username"] == "bob"
    assert decoded["docker.io"]["password"] == "hub-secret-3"
    # The daemon looks Docker Hub up under the index server key first.
    assert decoded[INDEX_SERVER] == decoded["docker.io"]
    assert decoded["ghcr.io"]["password"] == "ghcr-secret-4"
    assert decoded["quay.io"]["password"] == "quay-pw-6"
    assert "nothing.example.com" not in decoded
    assert set(decoded) == {"docker.io", INDEX_SERVER, "ghcr.io", "quay.io"}
    # Failing helpers are skipped with a warning naming the helper, never its output.
    text = caplog.text
    assert "broken.example.com" in text and "exited with code 3" in text
    assert "docker-credential-not-installed is not on PATH" in text
    assert "broken-helper-output-5" not in text
    assert config  # unchanged on disk
    # The old import path still works (a thin re-export).
    assert decode_header(options_registry_config()) == decoded


def test_failing_creds_store_drops_its_credentials_like_the_cli(helpers, docker_config, caplog):
    docker_config(
        {
            "credsStore": "broken",
            "auths": {"quay.io": {"auth": b64("dave:quay-pw-6")}},
            "credHelpers": {"ghcr.io": "other"},
        }
    )
    with caplog.at_level(logging.WARNING, logger="jupyter_dockerbuild.engine.auth"):
        decoded = decode_header(registry_config_from_docker_config())
    assert set(decoded) == {"ghcr.io"}
    assert "credsStore 'broken'" in caplog.text
    assert "broken-helper-output-5" not in caplog.text


def test_docker_auth_config_env_overrides(helpers, docker_config, monkeypatch):
    docker_config(
        {"auths": {"quay.io": {"auth": b64("dave:quay-pw-6")}}, "credHelpers": {"ghcr.io": "other"}}
    )
    monkeypatch.setenv(
        "DOCKER_AUTH_CONFIG",
        json.dumps({"auths": {"ghcr.io": {"auth": b64("env:env-pw-7")}}}),
    )
    decoded = decode_header(registry_config_from_docker_config())
    assert decoded["ghcr.io"]["password"] == "env-pw-7"
    assert decoded["quay.io"]["password"] == "quay-pw-6"
    assert "other get ghcr.io" not in (helpers.read_text() if helpers.exists() else "")


def test_bad_entries_and_helper_names_are_skipped(helpers, docker_config, caplog, tmp_path):
    evil = tmp_path / "evil-ran"
    docker_config(
        {
            "credsStore": "../../bin/sh",
            "auths": {
                "a.example.com": {"auth": "not base64!"},
                "b.example.com": {"auth": b64("nocolon")},
            },
            "credHelpers": {"c.example.com": f"x; touch {evil}"},
        }
    )
    with caplog.at_level(logging.WARNING, logger="jupyter_dockerbuild.engine.auth"):
        assert registry_config_from_docker_config() is None
    assert not evil.exists()
    assert "is not a credential helper name" in caplog.text


def test_no_config_no_header(docker_config):
    assert registry_config_from_docker_config() is None
    docker_config({"auths": {}})
    assert registry_config_from_docker_config() is None


def test_proxies_become_build_args_like_the_cli():
    config = {
        "proxies": {
            "default": {
                "httpProxy": "http://user:proxy-pw-8@proxy.example:3128",
                "httpsProxy": "http://proxy.example:3129",
                "noProxy": "localhost,127.0.0.1",
                "ftpProxy": "",
                "allProxy": "socks5://proxy.example:1080",
            },
            "tcp://build-host:2376": {"httpProxy": "http://other-proxy:3128"},
        }
    }
    args = proxy_build_args(config, "unix:///var/run/docker.sock", {"HTTPS_PROXY": None})
    assert args == {
        "HTTP_PROXY": "http://user:proxy-pw-8@proxy.example:3128",
        "http_proxy": "http://user:proxy-pw-8@proxy.example:3128",
        # HTTPS_PROXY was given by the user (even without a value): kept; the
        # lowercase name is a different arg, as in the CLI.
        "https_proxy": "http://proxy.example:3129",
        "NO_PROXY": "localhost,127.0.0.1",
        "no_proxy": "localhost,127.0.0.1",
        "ALL_PROXY": "socks5://proxy.example:1080",
        "all_proxy": "socks5://proxy.example:1080",
    }
    # A daemon with its own entry uses only that one.
    assert proxy_build_args(config, "tcp://build-host:2376") == {
        "HTTP_PROXY": "http://other-proxy:3128",
        "http_proxy": "http://other-proxy:3128",
    }
    assert proxy_build_args({}, "unix:///x") == {}


def test_apply_docker_config_masks_proxies_and_keeps_user_args(docker_config):
    docker_config(
        {
            "auths": {"quay.io": {"auth": b64("dave:quay-pw-6")}},
            "proxies": {"default": {"httpProxy": "http://user:proxy-pw-8@proxy.example:3128"}},
        }
    )
    opts = BuildOptions.from_user(build_args=["http_proxy=http://mine:1", "A=1"])
    applied = apply_docker_config(opts, host="unix:///var/run/docker.sock")
    assert applied.build_args == {
        "http_proxy": "http://mine:1",
        "A": "1",
        "HTTP_PROXY": "http://user:proxy-pw-8@proxy.example:3128",
    }
    assert "HTTP_PROXY" in applied.secret_args
    assert decode_header(applied.registry_config)["quay.io"]["password"] == "quay-pw-6"
    for shown in (repr(applied), applied.to_cli(), applied.to_cli(magic=True)):
        assert "proxy-pw-8" not in shown and "quay-pw-6" not in shown
        assert applied.registry_config not in shown
    assert "'HTTP_PROXY': '***'" in repr(applied)


def _ok_build(captured: list):
    """A /build that records the request and answers with a two-message success."""
    image = "sha256:" + "ab" * 32

    def handler(req) -> None:
        captured.append((req.path, dict(req.headers)))
        body = (
            b'{"stream":"Step 1/1 : FROM scratch"}\r\n{"stream":"\\n"}\r\n'
            b'{"aux":{"ID":"%s"}}\r\n{"stream":"Successfully built abababababab\\n"}\r\n'
            % image.encode()
        )
        req.send_response(200)
        req.send_header("Content-Type", "application/json")
        req.send_header("Content-Length", str(len(body)))
        req.end_headers()
        req.wfile.write(body)

    return handler


def test_magic_sends_all_credentials_and_proxies(helpers, docker_config, capsys):
    docker_config(
        {
            "credsStore": "test",
            "credHelpers": {"ghcr.io": "other"},
            "proxies": {"default": {"httpsProxy": "http://user:proxy-pw-8@proxy.example:3128"}},
        }
    )
    captured: list = []
    shell = InteractiveShell.instance()
    shell.run_line_magic("load_ext", "jupyter_dockerbuild")
    with FakeDaemon(build=_ok_build(captured)) as fake:
        res = shell.run_cell(
            f"%%dockerbuild -H {fake.host} --build-arg A=1 --text --out built\nFROM scratch\n"
        )
        assert res.success, res.error_in_exec
    [(path, headers)] = captured
    creds = decode_header(headers["X-Registry-Config"])
    assert set(creds) == {INDEX_SERVER, "registry.example.com", "ghcr.io"}
    assert creds[INDEX_SERVER]["password"] == "hub-secret-1"
    build_args = json.loads(parse_qs(urlsplit(path).query)["buildargs"][0])
    assert build_args == {
        "A": "1",
        "HTTPS_PROXY": "http://user:proxy-pw-8@proxy.example:3128",
        "https_proxy": "http://user:proxy-pw-8@proxy.example:3128",
    }
    out = capsys.readouterr()
    built = shell.user_ns["built"]
    for secret in ("hub-secret-1", "identity-token-2", "ghcr-secret-4", "proxy-pw-8"):
        assert secret not in out.out + out.err + repr(built) + built.log


def test_helper_timeout_is_bounded(helpers, docker_config, monkeypatch, caplog, tmp_path):
    slow = tmp_path / "bin" / "docker-credential-slow"
    slow.write_text("#!/bin/sh\nsleep 5\n")
    slow.chmod(0o755)
    monkeypatch.setattr(auth, "HELPER_TIMEOUT", 0.2)
    docker_config({"credHelpers": {"slow.example.com": "slow"}})
    with caplog.at_level(logging.WARNING, logger="jupyter_dockerbuild.engine.auth"):
        assert registry_config_from_docker_config() is None
    assert "did not answer in 0.2s" in caplog.text
