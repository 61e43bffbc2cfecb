"""The protobuf wire reader: exact values, every malformation a StreamError, fuzzed.

The encoder in ``bkcapture`` follows the protobuf encoding spec on its own, so the
round-trip properties check the reader against an independent implementation.
"""

from __future__ import annotations

import os
import random

import pytest
from bkcapture import f_bytes, f_fixed32, f_fixed64, f_group, f_varint, key, varint
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from jupyter_dockerbuild.engine.buildkit import parse_status
from jupyter_dockerbuild.engine.protobuf import (
    MAX_GROUP_DEPTH,
    as_int32,
    as_int64,
    fields,
    read_varint,
)
from jupyter_dockerbuild.errors import StreamError


def read(data: bytes) -> list[tuple[int, int, int | bytes]]:
    return [(n, w, bytes(v) if isinstance(v, memoryview) else v) for n, w, v in fields(data)]


# -- varints ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("encoded", "value"),
    [
        (b"\x00", 0),
        (b"\x01", 1),
        (b"\x7f", 127),
        (b"\x80\x01", 128),
        (b"\xac\x02", 300),  # the spec's own example
        (b"\xff\xff\xff\xff\x0f", 0xFFFFFFFF),
        (b"\x80\x80\x80\x80\x80\x80\x80\x80\x80\x01", 1 << 63),
        (b"\xff" * 9 + b"\x01", (1 << 64) - 1),
    ],
)
def test_varint_values(encoded: bytes, value: int) -> None:
    assert read_varint(memoryview(encoded), 0) == (value, len(encoded))
    assert varint(value) == encoded


def test_varint_non_minimal_encoding_is_accepted() -> None:
    # Encoders may pad with 0x80 continuation bytes; protobuf parsers accept them.
    assert read_varint(memoryview(b"\x81\x80\x00"), 0) == (1, 3)


def test_negative_int64_and_int32() -> None:
    minus_one = varint(-1)
    assert len(minus_one) == 10
    value, _ = read_varint(memoryview(minus_one), 0)
    assert as_int64(value) == -1
    assert as_int32(value) == -1
    assert as_int64(read_varint(memoryview(varint(-62135596800)), 0)[0]) == -62135596800
    # An int32 field truncates to its low 32 bits, as protobuf does.
    assert as_int32(0x1_0000_0005) == 5


@pytest.mark.parametrize(
    ("data", "words"),
    [
        (b"\x80", "cut off at byte 0"),
        (b"\xff" * 9 + b"\x02", "overflows 64 bits"),
        (b"\xff" * 10 + b"\x01", "overflows 64 bits"),
        (b"\xff" * 20, "overflows 64 bits"),
    ],
)
def test_bad_varints(data: bytes, words: str) -> None:
    with pytest.raises(StreamError, match=words):
        read_varint(memoryview(data), 0)


# -- fields ----------------------------------------------------------------------------


def test_each_wire_type() -> None:
    data = (
        f_varint(1, 150)
        + f_fixed64(2, 0x0102030405060708)
        + f_bytes(3, b"hi")
        + f_fixed32(5, 0xDEADBEEF)
        + f_bytes(1 << 28, b"")  # the largest field numbers take a 5-byte key
    )
    assert read(data) == [
        (1, 0, 150),
        (2, 1, 0x0102030405060708),
        (3, 2, b"hi"),
        (5, 5, 0xDEADBEEF),
        (1 << 28, 2, b""),
    ]


def test_length_delimited_values_are_views_not_copies() -> None:
    data = bytearray(f_bytes(1, b"abc"))
    ((_, _, value),) = list(fields(data))
    assert isinstance(value, memoryview)
    assert value.obj is data


def test_groups_are_skipped_whole_even_nested() -> None:
    inner = f_varint(1, 5) + f_group(7, f_bytes(2, b"x") + f_fixed32(3, 1)) + f_fixed64(4, 9)
    data = f_varint(1, 1) + f_group(9, inner) + f_bytes(2, b"after")
    assert read(data) == [(1, 0, 1), (2, 2, b"after")]


@pytest.mark.parametrize(
    ("data", "words"),
    [
        (key(1, 6) + b"\x00", "wire type 6 at byte 0 is invalid"),
        (f_varint(1, 1) + key(2, 7), "wire type 7 at byte 2 is invalid"),
        (b"\x00\x01", "field number 0 at byte 0 is invalid"),
        (key(1, 2) + varint(10) + b"abc", "says 10 bytes but 3 remain"),
        (key(1, 2) + varint(1 << 62), "says 4611686018427387904 bytes but 0 remain"),
        (key(1, 2), "varint cut off at byte 1"),
        (key(1, 1) + b"1234567", "fixed64 field at byte 0 is cut off"),
        (key(1, 5) + b"123", "fixed32 field at byte 0 is cut off"),
        (key(3, 3) + f_varint(1, 1), "group opened at byte 0 is never closed"),
        (key(3, 3) + key(4, 4), "group end at byte 1 does not match"),
        (f_varint(1, 1) + key(3, 4), "group end at byte 2 without a group"),
        (key(3, 3) * (MAX_GROUP_DEPTH + 1), "groups nested too deep"),
        (key(1, 0) + b"\xff" * 11, "overflows 64 bits"),
    ],
)
def test_malformed_messages_raise_stream_error_naming_the_offset(data: bytes, words: str) -> None:
    with pytest.raises(StreamError, match=words):
        list(fields(data))


def test_fields_before_the_damage_are_yielded_first() -> None:
    # Streaming: a reader sees the good fields, then the error (nothing is buffered).
    seen = []
    with pytest.raises(StreamError):
        for item in fields(f_varint(1, 7) + f_bytes(2, b"ok") + key(3, 2) + varint(99)):
            seen.append((item[0], item[1]))
    assert seen == [(1, 0), (2, 2)]


# -- fuzz ------------------------------------------------------------------------------

FUZZ = settings(
    max_examples=int(os.environ.get("DOCKERBUILD_FUZZ_EXAMPLES", "600")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)


def _walk(data: bytes | memoryview, depth: int = 0) -> int:
    """Read ``data`` as a message and, like a decoder, every length field as one too."""
    count = 0
    for _, wire, value in fields(data):
        count += 1
        if wire == 2 and depth < 8:
            assert isinstance(value, memoryview)
            try:
                count += _walk(value, depth + 1)
            except StreamError:
                pass  # a string or bytes field need not parse as a message
    return count


@FUZZ
@given(st.binary(max_size=512))
def test_random_bytes_give_fields_or_stream_error(data: bytes) -> None:
    try:
        _walk(data)
    except StreamError as exc:
        assert str(exc).startswith("protobuf ")
        assert len(str(exc)) < 120


@FUZZ
@given(st.binary(max_size=512))
def test_random_bytes_decode_as_status_or_stream_error(data: bytes) -> None:
    try:
        parse_status(data)
    except StreamError:
        pass


def _field_strategy() -> st.SearchStrategy[tuple[int, int, int | bytes]]:
    number = st.integers(min_value=1, max_value=(1 << 29) - 1)
    return st.one_of(
        st.tuples(number, st.just(0), st.integers(min_value=0, max_value=(1 << 64) - 1)),
        st.tuples(number, st.just(1), st.integers(min_value=0, max_value=(1 << 64) - 1)),
        st.tuples(number, st.just(2), st.binary(max_size=64)),
        st.tuples(number, st.just(5), st.integers(min_value=0, max_value=(1 << 32) - 1)),
    )


def _encode(items: list[tuple[int, int, int | bytes]]) -> bytes:
    out = b""
    for number, wire, value in items:
        if wire == 0:
            assert isinstance(value, int)
            out += f_varint(number, value)
        elif wire == 1:
            assert isinstance(value, int)
            out += f_fixed64(number, value)
        elif wire == 2:
            assert isinstance(value, bytes)
            out += f_bytes(number, value)
        else:
            assert isinstance(value, int)
            out += f_fixed32(number, value)
    return out


@FUZZ
@given(st.lists(_field_strategy(), max_size=20))
def test_round_trip_of_encoded_fields(items: list[tuple[int, int, int | bytes]]) -> None:
    assert read(_encode(items)) == items


@FUZZ
@given(st.lists(_field_strategy(), min_size=1, max_size=10), st.data())
def test_every_strict_prefix_cut_inside_a_field_fails(
    items: list[tuple[int, int, int | bytes]], data: st.DataObject
) -> None:
    encoded = _encode(items)
    # Offsets where a field ends: a cut there is a shorter, valid message.
    ends, pos = [], 0
    for item in items:
        pos += len(_encode([item]))
        ends.append(pos)
    cut = data.draw(st.integers(min_value=1, max_value=len(encoded) - 1))
    if cut in ends:
        assert read(encoded[:cut]) == items[: ends.index(cut) + 1]
    else:
        with pytest.raises(StreamError):
            list(fields(encoded[:cut]))


def test_large_random_input_finishes() -> None:
    # No input can make the reader loop or recurse: each step consumes a byte.
    rng = random.Random(13)
    blob = bytes(rng.getrandbits(8) for _ in range(1 << 20))
    for start in range(0, len(blob), 1 << 16):
        try:
            _walk(blob[start : start + (1 << 16)])
        except StreamError:
            pass
    nested = key(3, 3) * (MAX_GROUP_DEPTH - 1) + key(3, 4) * (MAX_GROUP_DEPTH - 1)
    assert read(nested * 1000) == []
