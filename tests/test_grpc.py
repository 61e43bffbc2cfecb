"""gRPC framing and the protobuf writer the BuildKit session answers with (no IO)."""

from __future__ import annotations

import pytest

from jupyter_dockerbuild.engine import grpc, protobuf
from jupyter_dockerbuild.errors import GrpcError


def test_frames_come_back_whole_whatever_the_cut() -> None:
    messages = [b"", b"x", b"hello" * 1000]
    wire = b"".join(grpc.frame(m) for m in messages)
    for cut in range(1, len(wire)):
        d = grpc.Deframer()
        got = d.feed(wire[:cut]) + d.feed(wire[cut:])
        assert got == messages
        assert not d.pending


def test_a_truncated_message_is_pending() -> None:
    d = grpc.Deframer()
    assert d.feed(grpc.frame(b"abcdef")[:-1]) == []
    assert d.pending


@pytest.mark.parametrize(
    ("wire", "code"),
    [
        (b"\x01\x00\x00\x00\x01x", grpc.UNIMPLEMENTED),  # compressed, none negotiated
        (b"\x07\x00\x00\x00\x01x", grpc.INTERNAL),  # no such flag
        (b"\x00\xff\xff\xff\xff", grpc.RESOURCE_EXHAUSTED),  # 4 GiB announced
    ],
)
def test_bad_prefixes_are_refused_with_a_status(wire: bytes, code: int) -> None:
    with pytest.raises(GrpcError) as info:
        grpc.Deframer().feed(wire)
    assert info.value.code == code


def test_status_message_is_percent_encoded() -> None:
    assert grpc.status_trailers(12, "no\nsuch 100%") == [
        ("grpc-status", "12"),
        ("grpc-message", "no%0Asuch 100%25"),
    ]
    assert grpc.status_trailers(0) == [("grpc-status", "0")]


@pytest.mark.parametrize("value", [0, 1, 127, 128, 300, 2**63 - 1, -1, -(2**63)])
def test_varints_round_trip_through_the_reader(value: int) -> None:
    data = protobuf.varint(value)
    got, end = protobuf.read_varint(memoryview(data), 0)
    assert end == len(data)
    assert protobuf.as_int64(got) == value


def test_fields_round_trip_through_the_reader() -> None:
    msg = (
        protobuf.uint_field(1, 5)
        + protobuf.bytes_field(2, "päth")
        + protobuf.uint_field(3, 0)  # default: omitted
        + protobuf.message_field(4, b"")
        + protobuf.map_field(7, {"b": b"2", "a": b"1"})
    )
    decoded = [
        (n, w, bytes(v) if isinstance(v, memoryview) else v) for n, w, v in protobuf.fields(msg)
    ]
    assert decoded[0] == (1, protobuf.VARINT, 5)
    assert decoded[1] == (2, protobuf.LENGTH, "päth".encode())
    assert decoded[2] == (4, protobuf.LENGTH, b"")
    entries = [dict((k, bytes(v)) for k, _, v in protobuf.fields(e)) for _, _, e in decoded[3:]]
    assert entries == [{1: b"a", 2: b"1"}, {1: b"b", 2: b"2"}]
