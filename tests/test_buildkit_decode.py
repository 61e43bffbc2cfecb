"""Decoding ``moby.buildkit.trace`` payloads: real captures, built messages, bad payloads."""

from __future__ import annotations

import base64
import email.utils
import random
from dataclasses import replace

import bkcapture as bk
import pytest
from bkcapture import Ts, f_bytes, f_fixed32, f_fixed64, f_group, f_varint, key, varint
from hypothesis import given, settings
from hypothesis import strategies as st

from jupyter_dockerbuild.engine.buildkit import (
    IMAGE_ID,
    TRACE_ID,
    StatusResponse,
    Vertex,
    VertexLog,
    VertexStatus,
    VertexWarning,
    decode_status,
    image_id_of,
    parse_status,
    status_of,
)
from jupyter_dockerbuild.errors import StreamError

DIGEST = "sha256:" + "ab" * 32
OTHER = "sha256:" + "cd" * 32


def statuses(name: str) -> list[StatusResponse]:
    return [decode_status(e["aux"]) for e in bk.oracle_events(name) if e.get("id") == TRACE_ID]


# -- real captures ---------------------------------------------------------------------


@pytest.mark.parametrize("name", bk.names())
def test_every_trace_of_every_capture_decodes(name: str) -> None:
    capture = bk.load(name)
    sent = email.utils.parsedate_to_datetime(capture.headers["date"]).timestamp()
    for status in statuses(name):
        for vertex in status.vertexes:
            assert vertex.digest.startswith("sha256:") and len(vertex.digest) == 71
            assert all(i.startswith("sha256:") for i in vertex.inputs)
            for t in (vertex.started, vertex.completed):
                # The daemon's clock, within a minute of the response's Date header.
                assert t is None or abs(t - sent) < 60
        for log in status.logs:
            assert log.stream in (1, 2)
            assert log.timestamp is not None and abs(log.timestamp - sent) < 60
        for job in status.statuses:
            assert job.vertex.startswith("sha256:")
            assert job.timestamp is not None and abs(job.timestamp - sent) < 60
        assert status.warnings == ()  # Docker 20.10's BuildKit has no warnings


def test_multistep_capture_decodes_to_the_real_steps() -> None:
    names = []
    logs: dict[int, bytes] = {1: b"", 2: b""}
    run4 = None
    for status in statuses("b01_success_multistep"):
        for vertex in status.vertexes:
            if vertex.name not in names:
                names.append(vertex.name)
            if vertex.name.startswith("[4/5] RUN"):
                run4 = vertex.digest
        for log in status.logs:
            if log.vertex == run4:
                logs[log.stream] += log.msg
    assert names == [
        "[internal] load remote build context",
        "copy /context /",
        "[internal] load metadata for docker.io/local/busybox:latest",
        "[1/5] FROM docker.io/local/busybox:latest",
        "[2/5] COPY hello.txt /hello.txt",
        "[3/5] WORKDIR /work",
        "[4/5] RUN echo out-line-1 && echo err-line-1 >&2 && echo out-line-2 && sleep 0.3 "
        "&& echo err-line-2 >&2 && printf 'no-newline'",
        '[5/5] RUN cat /hello.txt && echo "hi from $(pwd)"',
        "exporting to image",
    ]
    assert logs == {1: b"out-line-1\nout-line-2\nno-newline", 2: b"err-line-1\nerr-line-2\n"}


def test_the_pull_capture_has_transfer_statuses_with_sizes() -> None:
    jobs = [job for status in statuses("b25_pull_loopback_registry") for job in status.statuses]
    layer = [j for j in jobs if j.total > 100_000]
    assert layer, "the layer download reported no total"
    last = layer[-1]
    assert last.current == last.total and last.completed is not None
    assert last.name == "done" and last.id.startswith("sha256:")
    assert any(j.name == "downloading" and j.completed is None for j in layer)


# -- built messages --------------------------------------------------------------------


def test_every_field_of_every_message() -> None:
    t1, t2 = Ts(1_700_000_000, 250_000_000), Ts(1_700_000_001, 5)
    payload = bk.status_response(
        vertexes=(
            bk.vertex(DIGEST, "[a 1/2] RUN x", (OTHER,), True, t1, t2, "boom")
            + f_bytes(8, f_bytes(1, "grp") + f_bytes(2, "Group") + f_varint(3, 1)),
        ),
        statuses=(bk.vertex_status("job", DIGEST, "downloading", 5, 10, t2, t1, t2),),
        logs=(bk.vertex_log(DIGEST, b"hi\n", 2, t2),),
        warnings=(
            bk.vertex_warning(DIGEST, b"short", 2, (b"d1", b"d2"), "https://x")
            + f_bytes(
                6, f_bytes(1, "Dockerfile") + f_bytes(2, b"FROM x") + f_bytes(4, "Dockerfile")
            )
            + f_bytes(7, f_bytes(1, f_varint(1, 3) + f_varint(2, 1)) + f_bytes(2, f_varint(1, 4))),
        ),
    )
    status = decode_status(base64.b64encode(payload).decode())
    (vertex,) = status.vertexes
    assert vertex.digest == DIGEST and vertex.inputs == (OTHER,) and vertex.name == "[a 1/2] RUN x"
    assert vertex.cached and vertex.error == "boom"
    assert vertex.started == 1_700_000_000.25 and vertex.completed == t2.value
    assert vertex.progress_group is not None and vertex.progress_group.name == "Group"
    assert vertex.progress_group.weak
    assert status.statuses == (
        VertexStatus("job", DIGEST, "downloading", 5, 10, t2.value, t1.value, t2.value),
    )
    assert status.logs == (VertexLog(DIGEST, t2.value, 2, b"hi\n"),)
    (warning,) = status.warnings
    assert (warning.level, warning.short, warning.detail, warning.url) == (
        2,
        b"short",
        (b"d1", b"d2"),
        "https://x",
    )
    assert warning.info is not None and warning.info.filename == "Dockerfile"
    assert warning.info.data == b"FROM x"
    (rng,) = warning.ranges
    assert rng.start is not None and (rng.start.line, rng.start.character) == (3, 1)
    assert rng.end is not None and rng.end.line == 4


def test_absent_and_go_zero_timestamps_are_none_and_negative_seconds_work() -> None:
    go_zero = Ts(-62135596800)
    status = parse_status(
        bk.status_response(
            vertexes=(bk.vertex(DIGEST, "v"),),
            logs=(bk.vertex_log(DIGEST, b"x", 1, go_zero),),
            statuses=(bk.vertex_status("j", DIGEST, ts=Ts(-5, 500_000_000)),),
        )
    )
    assert status.vertexes[0].started is None and status.vertexes[0].completed is None
    assert status.logs[0].timestamp is None
    assert status.statuses[0].timestamp == -4.5
    # An empty Timestamp message is the epoch itself, not "absent".
    epoch = parse_status(bk.status_response(vertexes=(bk.vertex(DIGEST, started=Ts(0)),)))
    assert epoch.vertexes[0].started == 0.0


def test_invalid_utf8_in_a_name_is_replaced_not_fatal() -> None:
    payload = bk.status_response(vertexes=(f_bytes(1, DIGEST) + f_bytes(3, b"RUN \xff\xfe ok"),))
    assert parse_status(payload).vertexes[0].name == "RUN \ufffd\ufffd ok"


def test_an_empty_payload_is_an_empty_status() -> None:
    assert decode_status("") == StatusResponse()


# -- unknown fields --------------------------------------------------------------------

UNKNOWN = (
    f_varint(99, 12345)
    + f_bytes(100, b"\x08\x01future")
    + f_fixed32(101, 7)
    + f_fixed64(102, 8)
    + f_group(103, f_varint(1, 1) + f_bytes(2, b"in a group"))
    + f_bytes(1 << 28, b"")
)


def test_unknown_fields_are_skipped_at_every_level() -> None:
    t = Ts(1_700_000_000, 1)
    plain = bk.status_response(
        vertexes=(bk.vertex(DIGEST, "n", (OTHER,), False, t, t),),
        statuses=(bk.vertex_status("j", DIGEST, "s", 1, 2, t),),
        logs=(bk.vertex_log(DIGEST, b"m", 1, t),),
        warnings=(bk.vertex_warning(DIGEST, b"w"),),
    )
    ts_unknown = f_bytes(5, t.encode() + UNKNOWN)
    noisy = bk.status_response(
        vertexes=(
            UNKNOWN + bk.vertex(DIGEST, "n", (OTHER,), False, None, t) + ts_unknown + UNKNOWN,
        ),
        statuses=(bk.vertex_status("j", DIGEST, "s", 1, 2, t) + UNKNOWN,),
        logs=(UNKNOWN + bk.vertex_log(DIGEST, b"m", 1, t),),
        warnings=(bk.vertex_warning(DIGEST, b"w") + UNKNOWN,),
    )
    assert parse_status(UNKNOWN + noisy + UNKNOWN) == parse_status(plain)


def test_a_known_field_with_an_unexpected_wire_type_is_skipped() -> None:
    # name (3) as a varint and cached (4) as bytes: protobuf treats them as unknown.
    payload = bk.status_response(
        vertexes=(f_bytes(1, DIGEST) + f_varint(3, 5) + f_bytes(4, b"x") + f_bytes(3, "real"),),
        logs=(f_bytes(1, DIGEST) + f_bytes(3, b"\x02") + f_varint(4, 1),),
    )
    status = parse_status(f_varint(1, 7) + payload)
    assert status.vertexes == (Vertex(DIGEST, name="real"),)
    assert status.logs == (VertexLog(DIGEST, None, 1, b""),)


# -- truncated and corrupt payloads ------------------------------------------------------


def _real_payload() -> bytes:
    for event in bk.oracle_events("b01_success_multistep"):
        if event.get("id") == TRACE_ID:
            data = base64.b64decode(event["aux"])
            if len(data) > 300:
                return data
    raise AssertionError("no large trace in b01")


def test_every_cut_inside_the_message_is_a_short_clear_error() -> None:
    data = _real_payload()
    # The payload is top-level fields; a cut exactly between two is a valid prefix.
    boundaries, pos = {0}, 0
    view = memoryview(data)
    while pos < len(data):
        _, pos = bk_read_field_end(view, pos)
        boundaries.add(pos)
    for cut in range(len(data)):
        aux = base64.b64encode(data[:cut]).decode()
        if cut in boundaries:
            assert isinstance(decode_status(aux), StatusResponse)
            continue
        with pytest.raises(StreamError) as info:
            decode_status(aux)
        message = str(info.value)
        assert message.startswith("BuildKit trace payload is corrupt: protobuf ")
        assert len(message) < 160


def bk_read_field_end(view: memoryview, pos: int) -> tuple[int, int]:
    """End of the top-level length-delimited field at ``pos`` (the payload has no others)."""
    from jupyter_dockerbuild.engine.protobuf import read_varint

    tag, pos = read_varint(view, pos)
    assert tag & 7 == 2
    length, pos = read_varint(view, pos)
    return tag >> 3, pos + length


@pytest.mark.parametrize(
    ("aux", "words"),
    [
        ("Cm8KR3NoYTI", "not valid base64"),  # cut inside a base64 quantum
        ("Cm8K*3NoYTI1", "not valid base64"),
        ("Cm8KR3NoYTI1\n", "not valid base64"),
    ],
)
def test_bad_base64(aux: str, words: str) -> None:
    with pytest.raises(StreamError, match=words):
        decode_status(aux)


def test_a_payload_that_is_not_a_string() -> None:
    with pytest.raises(StreamError, match="is a dict, not a base64 string"):
        status_of({"id": TRACE_ID, "aux": {"ID": "x"}})


def test_corrupted_bytes_give_a_status_or_a_stream_error_never_another_exception() -> None:
    data = bytearray(_real_payload())
    rng = random.Random(7)
    errors = 0
    for _ in range(3000):
        broken = bytearray(data)
        for _ in range(rng.randint(1, 4)):
            broken[rng.randrange(len(broken))] = rng.getrandbits(8)
        try:
            decode_status(base64.b64encode(broken).decode())
        except StreamError:
            errors += 1
    assert 0 < errors < 3000  # both outcomes really happen


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300))
def test_random_payloads_never_raise_anything_but_stream_error(data: bytes) -> None:
    try:
        decode_status(base64.b64encode(data).decode())
    except StreamError:
        pass


# -- round trip of built messages --------------------------------------------------------

_text = st.text(max_size=20)
_ts = st.one_of(
    st.none(),
    st.builds(Ts, st.integers(min_value=0, max_value=1 << 40), st.integers(0, 999_999_999)),
)


@st.composite
def _vertex(draw: st.DrawFn) -> tuple[bytes, Vertex]:
    digest, name, err = draw(_text), draw(_text), draw(_text)
    inputs = tuple(draw(st.lists(_text, max_size=3)))
    cached = draw(st.booleans())
    started, completed = draw(_ts), draw(_ts)
    encoded = bk.vertex(digest, name, inputs, cached, started, completed, err)
    expect = Vertex(
        digest,
        inputs,
        name,
        cached,
        started.value if started else None,
        completed.value if completed else None,
        err,
    )
    return encoded, expect


@st.composite
def _log(draw: st.DrawFn) -> tuple[bytes, VertexLog]:
    vertex, msg = draw(_text), draw(st.binary(max_size=40))
    stream, ts = draw(st.sampled_from([1, 2])), draw(_ts)
    return bk.vertex_log(vertex, msg, stream, ts), VertexLog(
        vertex, ts.value if ts else None, stream, msg
    )


@st.composite
def _job(draw: st.DrawFn) -> tuple[bytes, VertexStatus]:
    job_id, vertex, name = draw(_text), draw(_text), draw(_text)
    current = draw(st.integers(min_value=-(1 << 63), max_value=(1 << 63) - 1))
    total = draw(st.integers(min_value=0, max_value=1 << 50))
    ts, started, completed = draw(_ts), draw(_ts), draw(_ts)

    def value(t: Ts | None) -> float | None:
        return t.value if t else None

    return (
        bk.vertex_status(job_id, vertex, name, current, total, ts, started, completed),
        VertexStatus(
            job_id, vertex, name, current, total, value(ts), value(started), value(completed)
        ),
    )


@st.composite
def _warning(draw: st.DrawFn) -> tuple[bytes, VertexWarning]:
    vertex, short = draw(_text), draw(st.binary(max_size=20))
    level = draw(st.integers(min_value=-3, max_value=3))
    detail = tuple(draw(st.lists(st.binary(max_size=10), max_size=3)))
    url = draw(_text)
    return bk.vertex_warning(vertex, short, level, detail, url), VertexWarning(
        vertex, level, short, detail, url
    )


@settings(max_examples=300, deadline=None)
@given(
    st.lists(_vertex(), max_size=4),
    st.lists(_job(), max_size=3),
    st.lists(_log(), max_size=4),
    st.lists(_warning(), max_size=2),
)
def test_round_trip_of_built_status_responses(vertexes, jobs, logs, warnings) -> None:  # type: ignore[no-untyped-def]
    payload = bk.status_response(
        tuple(v[0] for v in vertexes),
        tuple(j[0] for j in jobs),
        tuple(entry[0] for entry in logs),
        tuple(w[0] for w in warnings),
    )
    expected = StatusResponse(
        tuple(v[1] for v in vertexes),
        tuple(j[1] for j in jobs),
        tuple(entry[1] for entry in logs),
        tuple(w[1] for w in warnings),
    )
    # Order inside each repeated field is kept; the four lists may interleave freely.
    assert decode_status(base64.b64encode(payload).decode()) == expected


def test_frozen_messages() -> None:
    vertex = Vertex(DIGEST)
    with pytest.raises(AttributeError):
        vertex.name = "x"  # type: ignore[misc]
    assert replace(vertex, name="x").name == "x"


# -- the other aux messages ------------------------------------------------------------


def test_image_id_event() -> None:
    image = "sha256:" + "1" * 64
    assert image_id_of({"id": IMAGE_ID, "aux": {"ID": image}}) == image
    assert image_id_of({"aux": {"ID": image}}) is None  # the classic builder's, not ours
    assert image_id_of({"stream": "x"}) is None
    assert status_of({"stream": "x"}) is None
    with pytest.raises(StreamError, match=r"moby\.image\.id message has no image ID"):
        image_id_of({"id": IMAGE_ID, "aux": {"Id": image}})
    with pytest.raises(StreamError, match="no image ID"):
        image_id_of({"id": IMAGE_ID})


def test_image_ids_in_captures_match_the_daemons() -> None:
    checked = 0
    for name in bk.names():
        ids = [image_id_of(e) for e in bk.oracle_events(name) if e.get("id") == IMAGE_ID]
        tagged = set(bk.meta(name).get("tagged_image_ids", {}).values())
        if ids:
            assert set(ids) == tagged
            checked += 1
    assert checked >= 15


def test_varint_helper_matches_for_keys() -> None:
    assert key(1, 2) == b"\x0a" and varint(300) == b"\xac\x02"
