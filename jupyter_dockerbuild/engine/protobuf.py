"""A minimal reader of the protobuf wire format, enough to decode BuildKit's progress.

Pure, no IO, standard library only. :func:`fields` walks one message's bytes and yields
``(field number, wire type, value)``; the caller keeps the fields it knows and ignores
the rest, which is exactly how protobuf treats unknown fields, so a newer daemon that adds
fields keeps working. Values: an ``int`` for varint (wire type 0), fixed64 (1) and fixed32
(5), a ``memoryview`` slice for length-delimited (2); groups (3/4, deprecated but legal)
are skipped whole. Everything that does not follow the format (a varint longer than ten
bytes, a length past the end, wire type 6 or 7, field number 0, an unbalanced group)
raises :class:`~jupyter_dockerbuild.errors.StreamError` with the offset; nothing else is
ever raised, and every step consumes at least one byte, so no input can make it loop.

Why not the ``protobuf`` package: BuildKit's ``control.proto`` imports gogoproto
options and half of the solver's ``ops.proto``; using the package means generating and
shipping ``_pb2`` modules pinned to one runtime major version (protobuf refuses gencode
newer than its runtime), a compiled dependency of a few MB, for five small messages that
use four wire types. This reader is about a hundred lines and fuzzed in the tests.
"""

from __future__ import annotations

from collections.abc import Iterator

from ..errors import StreamError

VARINT, FIXED64, LENGTH, START_GROUP, END_GROUP, FIXED32 = 0, 1, 2, 3, 4, 5

#: Nesting of (skipped) groups deeper than this is refused rather than followed.
MAX_GROUP_DEPTH = 64

_MASK64 = (1 << 64) - 1


def read_varint(buf: memoryview, pos: int) -> tuple[int, int]:
    """Decode the base-128 varint at ``buf[pos:]``; return ``(value, next position)``.

    Values are unsigned 64-bit, as on the wire; :func:`as_int64` gives the signed view.
    """
    result = 0
    shift = 0
    end = len(buf)
    start = pos
    while True:
        if pos >= end:
            raise StreamError(f"protobuf varint cut off at byte {start}")
        byte = buf[pos]
        pos += 1
        if shift == 63 and byte > 1:
            raise StreamError(f"protobuf varint at byte {start} overflows 64 bits")
        result |= (byte & 0x7F) << shift
        if byte < 0x80:
            return result, pos
        shift += 7


def as_int64(value: int) -> int:
    """The signed value of a varint read into an ``int64`` (or ``int32``) field."""
    value &= _MASK64
    return value - (1 << 64) if value >= 1 << 63 else value


def as_int32(value: int) -> int:
    """The value of an ``int32`` field: its low 32 bits, signed (as protobuf truncates)."""
    value &= 0xFFFFFFFF
    return value - (1 << 32) if value >= 1 << 31 else value


def _tag(buf: memoryview, pos: int) -> tuple[int, int, int]:
    start = pos
    key, pos = read_varint(buf, pos)
    number, wire = key >> 3, key & 7
    if number == 0 or number > 0x1FFFFFFF:
        raise StreamError(f"protobuf field number {number} at byte {start} is invalid")
    return number, wire, pos


def _value(buf: memoryview, pos: int, wire: int, at: int) -> tuple[int | memoryview, int]:
    """Read the value of a non-group field with wire type ``wire`` at ``pos``."""
    if wire == VARINT:
        return read_varint(buf, pos)
    if wire == LENGTH:
        length, pos = read_varint(buf, pos)
        if length > len(buf) - pos:
            raise StreamError(
                f"protobuf field at byte {at} says {length} bytes but {len(buf) - pos} remain"
            )
        return buf[pos : pos + length], pos + length
    if wire in (FIXED64, FIXED32):
        size = 8 if wire == FIXED64 else 4
        if pos + size > len(buf):
            raise StreamError(f"protobuf fixed{size * 8} field at byte {at} is cut off")
        return int.from_bytes(buf[pos : pos + size], "little"), pos + size
    raise StreamError(f"protobuf wire type {wire} at byte {at} is invalid")


def _skip_group(buf: memoryview, pos: int, number: int, at: int) -> int:
    """Skip a group opened by field ``number`` (its START_GROUP already read)."""
    open_groups = [number]
    while open_groups:
        if pos >= len(buf):
            raise StreamError(f"protobuf group opened at byte {at} is never closed")
        field_at = pos
        inner, wire, pos = _tag(buf, pos)
        if wire == START_GROUP:
            if len(open_groups) >= MAX_GROUP_DEPTH:
                raise StreamError(f"protobuf groups nested too deep at byte {field_at}")
            open_groups.append(inner)
        elif wire == END_GROUP:
            if open_groups.pop() != inner:
                raise StreamError(f"protobuf group end at byte {field_at} does not match")
        else:
            _, pos = _value(buf, pos, wire, field_at)
    return pos


def fields(data: bytes | memoryview) -> Iterator[tuple[int, int, int | memoryview]]:
    """Yield ``(field number, wire type, value)`` for each field of one message.

    Groups are skipped (never yielded); a stray END_GROUP is an error. The values of
    length-delimited fields are views into ``data``, valid while ``data`` is.
    """
    buf = memoryview(data)
    pos = 0
    end = len(buf)
    while pos < end:
        at = pos
        number, wire, pos = _tag(buf, pos)
        if wire == START_GROUP:
            pos = _skip_group(buf, pos, number, at)
            continue
        if wire == END_GROUP:
            raise StreamError(f"protobuf group end at byte {at} without a group")
        value, pos = _value(buf, pos, wire, at)
        yield number, wire, value


# -- writing ----------------------------------------------------------------------------
# The BuildKit session answers the daemon in protobuf (FileSync packets, auth and secret
# replies): these few functions write the same four wire types the reader reads. Each
# returns the bytes of one field, so a message is ``b"".join(...)`` of its fields, in
# field-number order as protobuf writers emit them (readers accept any order).


def varint(value: int) -> bytes:
    """Encode ``value`` as a base-128 varint; negative ints as their 64-bit two's complement.

    That is how protobuf writes ``int64``/``int32`` fields holding negative numbers (ten
    bytes); ``sint`` zig-zag fields are not used by any message the session sends.
    """
    if value < 0:
        value &= _MASK64
    if value > _MASK64:
        raise ValueError(f"{value} does not fit in 64 bits")
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _key(number: int, wire: int) -> bytes:
    if number < 1 or number > (1 << 29) - 1:
        raise ValueError(f"protobuf field number {number} is out of range")
    return varint(number << 3 | wire)


def uint_field(number: int, value: int) -> bytes:
    """A varint field (``int32``, ``int64``, ``uint32``, ``uint64``, ``bool``, enums).

    Zero is omitted, as proto3 writers do for a scalar with its default value.
    """
    if not value:
        return b""
    return _key(number, VARINT) + varint(int(value))


def bytes_field(number: int, value: bytes | bytearray | memoryview | str) -> bytes:
    """A length-delimited field: ``bytes``, ``string`` (UTF-8) or an embedded message.

    Empty values are omitted (proto3 default), except that callers wanting an empty
    embedded message to be present use :func:`message_field`.
    """
    data = value.encode() if isinstance(value, str) else bytes(value)
    if not data:
        return b""
    return _key(number, LENGTH) + varint(len(data)) + data


def message_field(number: int, message: bytes) -> bytes:
    """An embedded message, written even when empty (its presence can matter)."""
    return _key(number, LENGTH) + varint(len(message)) + message


def map_field(number: int, entries: dict[str, bytes] | dict[str, str]) -> bytes:
    """A ``map<string, bytes|string>`` field: one entry message (key 1, value 2) per item."""
    out = []
    for key in sorted(entries):
        out.append(message_field(number, bytes_field(1, key) + bytes_field(2, entries[key])))
    return b"".join(out)
