"""``--secret``: the forms buildx accepts, the early checks, and the session's GetSecret.

No daemon: the handler is called as the session calls it (:mod:`sessionutil`), with
well-formed, truncated and fuzzed requests. The build through a real daemon is in
``test_build_secrets_daemon.py``.
"""

from __future__ import annotations

import os

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sessionutil import CallStream, run_call

from jupyter_dockerbuild.builder import secrets
from jupyter_dockerbuild.builder.options import BuildOptions
from jupyter_dockerbuild.engine import grpc, protobuf
from jupyter_dockerbuild.errors import OptionsError

VALUE = "s3cr3t-valu3-for-the-unit-tests"


def request(secret_id: str, annotations: dict[str, str] | None = None) -> bytes:
    """A ``GetSecretRequest`` as BuildKit sends it."""
    return protobuf.bytes_field(1, secret_id) + protobuf.map_field(2, annotations or {})


def response_data(message: bytes) -> bytes:
    fields = {n: bytes(v) for n, _, v in protobuf.fields(message) if isinstance(v, memoryview)}
    return fields.get(1, b"")


def get(store: secrets.SecretStore, *requests: bytes) -> tuple[int, str, list[bytes]]:
    handler = secrets.secret_services(store)[secrets.GET_SECRET]
    stream = CallStream(secrets.GET_SECRET, requests)
    code, message = run_call(handler, stream)
    return code, message, stream.sent


@pytest.fixture
def secret_file(tmp_path):
    path = tmp_path / "token.txt"
    path.write_text(VALUE)
    return path


# -- the forms -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("id=tok,src=f.txt", secrets.SecretSpec("tok", src="f.txt")),
        ("id=tok,source=f.txt", secrets.SecretSpec("tok", src="f.txt")),
        ("id=tok,env=TOKEN", secrets.SecretSpec("tok", env="TOKEN")),
        ("type=env,id=tok,src=TOKEN", secrets.SecretSpec("tok", env="TOKEN")),
        ("type=file,id=tok,src=f.txt", secrets.SecretSpec("tok", src="f.txt")),
        ("ID=tok, SRC=f.txt", secrets.SecretSpec("tok", src="f.txt")),  # keys any case
        ('id=tok,"src=a,b.txt"', secrets.SecretSpec("tok", src="a,b.txt")),  # CSV quotes
        # id alone: the variable of that name if it is set, else the file (BuildKit's store).
        ("id=TOKEN", secrets.SecretSpec("TOKEN", env="TOKEN")),
        ("id=tok", secrets.SecretSpec("tok", src="tok")),
    ],
)
def test_the_forms_buildx_accepts(text, expected) -> None:
    assert secrets.parse_secret(text, env={"TOKEN": VALUE}) == expected


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("src=f.txt", "has no id"),
        ("id=", "has no id"),
        ("id=tok,file=f.txt", "unknown key 'file'"),
        ("id=tok,type=ssh", "type='ssh' is not a secret type"),
        ("id=tok,f.txt", "'f.txt' is not a key=value pair"),
        ("id=tok,src=f.txt,env=TOKEN", "either src= (a file) or env= (a variable)"),
        ('id=tok,"src=f.txt', "not a CSV list"),
        ("", "expected id=NAME,src=PATH"),
    ],
)
def test_bad_syntax_names_the_flag_and_the_problem(text, words) -> None:
    with pytest.raises(OptionsError) as info:
        secrets.parse_secret(text, env={})
    assert str(info.value).startswith("--secret ")
    assert words in str(info.value)
    assert info.value.option == "secrets"


def test_what_is_not_there_is_refused_before_any_request(tmp_path, secret_file) -> None:
    big = tmp_path / "big"
    big.write_bytes(b"x" * (secrets.MAX_SECRET_SIZE + 1))
    cases = {
        f"id=t,src={tmp_path / 'missing'}": "no file",
        "id=nosuch": "id alone means a variable of that name, or a file",
        f"id=t,src={tmp_path}": "is not a regular file",
        f"id=t,src={big}": "larger than BuildKit's limit of 500 KiB",
        "id=t,env=UNSET_VAR": "the environment variable UNSET_VAR is not set",
    }
    for text, words in cases.items():
        with pytest.raises(OptionsError) as info:
            BuildOptions.from_user(env={}, secrets=[text])
        assert str(info.value).startswith(f"--secret {text}: "), text
        assert words in str(info.value), text
    # A secret exactly at the limit is fine, like an empty one.
    big.write_bytes(b"x" * secrets.MAX_SECRET_SIZE)
    assert BuildOptions.from_user(env={}, secrets=[f"id=t,src={big}"]).secrets


def test_the_options_hold_the_reference_and_never_the_value(secret_file) -> None:
    env = {"TOKEN": VALUE}
    options = BuildOptions.from_user(
        env=env, secrets=[f"id=a,src={secret_file}", "id=b,env=TOKEN"], builder="buildkit"
    )
    shown = [repr(options), options.to_cli(), options.to_cli(magic=True), str(options.secrets)]
    for text in shown:
        assert VALUE not in text
    assert f"--secret id=a,src={secret_file} --secret id=b,env=TOKEN" in options.to_cli()
    # Nothing of it goes into /build's query: the session serves it.
    assert not any("secret" in k or VALUE in v for k, v in options.to_query())
    # secret= is an alias, a single string is one item.
    assert BuildOptions.from_user(env=env, secret="id=b,env=TOKEN").secrets == ("id=b,env=TOKEN",)


def test_the_classic_builder_refuses_and_auto_picks_buildkit(secret_file) -> None:
    from jupyter_dockerbuild.builder.choose import choose_builder
    from jupyter_dockerbuild.builder.classic import ClassicBuilder

    spec = f"id=a,src={secret_file}"
    with pytest.raises(OptionsError) as info:
        BuildOptions.from_user(env={}, secrets=[spec], builder="classic")
    assert str(info.value) == (
        "--secret: the classic builder ignores this option; use BuildKit "
        "(--builder buildkit), which honours it"
    )
    options = BuildOptions.from_user(env={}, secrets=[spec])
    with pytest.raises(OptionsError, match=r"^--secret: the classic builder ignores"):
        ClassicBuilder().refuse_options(options)
    choice = choose_builder(None, "FROM x\nRUN true\n", options, env={})
    assert (choice.name, choice.reason) == ("buildkit", "auto: --secret needs BuildKit")
    # With an option only the classic builder honours: no builder can do both.
    both = BuildOptions.from_user(env={}, secrets=[spec], memory="64m")
    with pytest.raises(OptionsError) as info:
        choose_builder(None, "FROM x\n", both, env={})
    assert str(info.value).startswith("--builder auto: --secret needs BuildKit, but -m/--memory")


# -- the store and GetSecret -----------------------------------------------------------


def test_get_secret_answers_the_value_read_when_asked(secret_file) -> None:
    store = secrets.SecretStore([f"id=tok,src={secret_file}"])
    # Read at the request, not before: a change after the options were made is seen.
    secret_file.write_text(VALUE + "-changed")
    code, _, sent = get(store, request("tok", {"annotation": "x"}))
    assert code == grpc.OK
    assert [response_data(m) for m in sent] == [(VALUE + "-changed").encode()]
    assert VALUE not in repr(store) and store.ids == ("tok",)


def test_get_secret_reads_the_variable_from_the_environment_given() -> None:
    env = {"TOKEN": VALUE}
    store = secrets.SecretStore(["id=tok,env=TOKEN", "id=TOKEN"], env=env)
    assert get(store, request("tok"))[2] == [protobuf.bytes_field(1, VALUE)]
    assert get(store, request("TOKEN"))[2] == [protobuf.bytes_field(1, VALUE)]
    env.pop("TOKEN")
    code, message, sent = get(store, request("tok"))
    assert (code, sent) == (grpc.FAILED_PRECONDITION, [])
    assert message == "secret tok: $TOKEN is no longer set in the kernel"


def test_an_empty_secret_is_an_empty_answer(tmp_path) -> None:
    empty = tmp_path / "empty"
    empty.write_bytes(b"")
    store = secrets.SecretStore([f"id=e,src={empty}"])
    assert get(store, request("e"))[:1] == (grpc.OK,)
    assert get(store, request("e"))[2] == [b""]


def test_unknown_ids_are_not_found_so_optional_mounts_are_skipped(secret_file) -> None:
    store = secrets.SecretStore([f"id=tok,src={secret_file}"])
    code, message, sent = get(store, request("other"))
    assert (code, message, sent) == (grpc.NOT_FOUND, "secret other not found", [])


def test_a_file_gone_or_grown_since_the_check_fails_clearly(secret_file) -> None:
    store = secrets.SecretStore([f"id=tok,src={secret_file}"])
    secret_file.write_bytes(b"x" * (secrets.MAX_SECRET_SIZE + 1))
    assert get(store, request("tok"))[:2] == (
        grpc.RESOURCE_EXHAUSTED,
        "secret tok is larger than 500 KiB",
    )
    os.unlink(secret_file)
    code, message, _ = get(store, request("tok"))
    assert code == grpc.FAILED_PRECONDITION
    assert message.startswith(f"secret tok: cannot read {secret_file}: ")


@pytest.mark.parametrize(
    ("message", "code"),
    [
        (b"", grpc.INVALID_ARGUMENT),  # no ID
        (protobuf.bytes_field(1, "tok")[:-1], grpc.INVALID_ARGUMENT),  # cut in the ID
        (b"\x0a", grpc.INVALID_ARGUMENT),  # a length that never comes
        (protobuf.uint_field(1, 7), grpc.INVALID_ARGUMENT),  # ID as a number
        (protobuf.bytes_field(1, b"\xff\xfe"), grpc.INVALID_ARGUMENT),  # not UTF-8
        (request("tok") + b"\x12\x05\x0a\x09", grpc.INVALID_ARGUMENT),  # broken annotation
        (b"\x0f", grpc.INVALID_ARGUMENT),  # wire type 7
    ],
)
def test_malformed_requests_get_a_status(secret_file, message, code) -> None:
    store = secrets.SecretStore([f"id=tok,src={secret_file}"])
    got, text, sent = get(store, message)
    assert (got, sent) == (code, [])
    assert "GetSecretRequest" in text


def test_a_call_without_a_request_is_refused(secret_file) -> None:
    store = secrets.SecretStore([f"id=tok,src={secret_file}"])
    code, message, _ = get(store)  # half-closed at once
    assert code == grpc.INVALID_ARGUMENT and "no request message" in message


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=64), st.integers(min_value=0, max_value=12))
def test_fuzzed_and_truncated_requests_end_with_a_status(data: bytes, cut: int) -> None:
    store = secrets.SecretStore(["id=tok,env=TOKEN"], env={"TOKEN": VALUE})
    for message in (data, request("tok")[:cut], request("tok") + data):
        code, _, sent = get(store, message)
        # Either the one right answer, or a status and nothing sent: never a crash.
        if code == grpc.OK:
            assert sent == [protobuf.bytes_field(1, VALUE)]
        else:
            assert code in (grpc.INVALID_ARGUMENT, grpc.NOT_FOUND) and sent == []


# -- the form ------------------------------------------------------------------------------


def test_the_form_holds_references_and_its_widgets_never_the_value(secret_file) -> None:
    import json

    import ipywidgets as widgets
    from ipywidgets.embed import dependency_state

    from jupyter_dockerbuild.ui.form import BuildForm

    env = {"TOKEN": VALUE}
    f = BuildForm("FROM local/busybox\n", env=env, secret=["id=a,env=TOKEN"], tags=["t:1"])
    assert list(f.secrets.value) == ["id=a,env=TOKEN"]  # a chip, as typed
    # Typed into the field, then Enter: the reference to the file is the item.
    f.model.set_pending("secrets", f"id=b,src={secret_file}")
    f.model.commit("secrets")
    assert f.options.secrets == ("id=a,env=TOKEN", f"id=b,src={secret_file}")
    assert f"--secret id=a,env=TOKEN --secret id=b,src={secret_file}" in f.magic_line
    assert "--secret id=a,env=TOKEN" in f.command
    saved = json.dumps(dependency_state(f.widget, drop_defaults=False), default=str)
    assert "id=a,env=TOKEN" in saved  # the field shows what was typed ...
    assert VALUE not in saved  # ... and nothing of the secret itself
    for w in list(widgets.widget._instances.values()):
        assert VALUE not in json.dumps(w.get_state(), default=str)
    assert VALUE not in repr(f)
    # A reference that leads nowhere keeps Build disabled, naming the field's flag.
    f.model.set_pending("secrets", "id=c,env=NOT_SET")
    error = f.model.check()
    assert error is not None and error.option == "secrets"
    assert (
        str(error)
        == "--secret id=c,env=NOT_SET: the environment variable NOT_SET is not set in the kernel"
    )


@pytest.mark.parametrize(
    "message",
    [
        "secret tok not found: not found",  # Docker 20.10's BuildKit
        "secret tok: not found",  # 26 and later
    ],
)
def test_buildkit_s_missing_secret_error_names_the_flag(message) -> None:
    assert secrets.explain_missing_secret(message) == (
        "the step needs the secret 'tok', which the build was not given; add "
        "--secret id=tok,src=PATH (a file) or --secret id=tok,env=VARIABLE"
    )
    assert secrets.explain_missing_secret("process did not complete successfully") is None


def test_a_home_relative_path_is_expanded_as_a_shell_would(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    (tmp_path / "token").write_text(VALUE)
    options = BuildOptions.from_user(env={}, secrets=["id=t,src=~/token"])
    assert options.secrets == ("id=t,src=~/token",)  # kept as typed
    assert get(secrets.SecretStore(options.secrets), request("t"))[2] == [
        protobuf.bytes_field(1, VALUE)
    ]


def test_the_magic_s_help_and_completion_offer_both_flags() -> None:
    from jupyter_dockerbuild.builder.options import magic_flags
    from jupyter_dockerbuild.ipython.magics import DockerBuildMagics

    helptext = DockerBuildMagics.dockerbuild.__doc__ or ""
    for flag in ("--secret", "--ssh"):
        assert flag in magic_flags() and flag in helptext
    assert "RUN --mount=type=secret,id=NAME" in " ".join(helptext.split())
