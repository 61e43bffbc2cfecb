"""The stream decoder on the daemon's real responses: however the bytes are cut, same events.

The oracle is independent of the decoder: the daemon ends every message with ``\\r\\n``
and a JSON string cannot hold a raw CR or LF, so splitting the whole body on ``\\r\\n``
and ``json.loads`` each piece gives the expected events.
"""

from __future__ import annotations

import bisect
import json
import random
from typing import Any

import pytest
from capture import all_captures, index, load_capture, meta, stream_captures

from jupyter_dockerbuild.engine.stream import JSONStreamDecoder, iter_events
from jupyter_dockerbuild.errors import StreamError

STREAMS = stream_captures()
#: Above this size, two-piece splits are sampled instead of trying every offset.
SMALL = 16 * 1024


def oracle(body: bytes) -> list[dict[str, Any]]:
    return [json.loads(part) for part in body.split(b"\r\n") if part.strip()]


def decode(*pieces: bytes) -> list[dict[str, Any]]:
    decoder = JSONStreamDecoder()
    events: list[dict[str, Any]] = []
    for piece in pieces:
        events += decoder.feed(piece)
    return events + decoder.close()


def message_ends(body: bytes) -> list[int]:
    """Offsets just after each message's ``\\r\\n``."""
    ends, pos = [], 0
    while (pos := body.find(b"\r\n", pos) + 2) > 1:
        ends.append(pos)
    return ends


def inside_utf8_chars(body: bytes, every: int = 1) -> list[int]:
    """Offsets that fall inside a multi-byte UTF-8 character (every ``every``-th char)."""
    offsets, seen = [], 0
    for i, byte in enumerate(body):
        if byte >= 0xC0:  # a lead byte: 0b11xxxxxx
            if seen % every == 0:
                length = 2 if byte < 0xE0 else 3 if byte < 0xF0 else 4
                offsets += range(i + 1, i + length)
            seen += 1
    return offsets


def test_stream_captures_are_the_build_streams() -> None:
    # 43 of the 76 captures are 200 build streams; ping/version/prune are not streams.
    assert len(STREAMS) == 43
    assert "s01_success_multistep" in STREAMS and "s07_large_output_200k" in STREAMS
    assert not any(n.startswith(("s09", "s10")) for n in STREAMS)
    assert len(all_captures()) == 76


def test_capture_loader() -> None:
    for name, (_request, status) in index().items():
        assert load_capture(name).status == status, name
    s01 = load_capture("s01_success_multistep")
    assert s01.headers["content-type"] == "application/json"
    assert s01.headers["api-version"] == "1.41"
    assert s01.body.startswith(b'{"stream":"Step 1/7 : FROM scratch"}\r\n')
    assert b"\r\n30\r\n" not in s01.body  # chunk framing removed
    version = load_capture("s09_version")  # Content-Length, not chunked
    assert len(version.body) == int(version.headers["content-length"]) == 792
    assert json.loads(version.body)["ApiVersion"] == "1.41"
    assert load_capture("s09_ping").body == b"OK"


@pytest.mark.parametrize("name", STREAMS)
def test_one_shot_matches_oracle(name: str) -> None:
    body = load_capture(name).body
    expected = oracle(body)
    assert expected, name
    assert decode(body) == expected
    assert list(iter_events([body])) == expected


@pytest.mark.parametrize("name", [n for n in STREAMS if len(load_capture(n).body) <= SMALL])
def test_every_two_piece_split_small(name: str) -> None:
    body = load_capture(name).body
    expected = oracle(body)
    for k in range(len(body) + 1):
        assert decode(body[:k], body[k:]) == expected, f"{name} split at {k}"


@pytest.mark.parametrize("name", [n for n in STREAMS if len(load_capture(n).body) > SMALL])
def test_sampled_two_piece_splits_large(name: str) -> None:
    """Big captures: every 97th offset, all offsets near message ends and in UTF-8 chars.

    Decoding 1.5 MB per offset would take minutes, so each split is decoded in a window
    of whole messages around it (the one holding the offset and its neighbours). That is
    the same input for the decoder: after a message's ``\\r\\n`` it holds no state (no
    pending text, no half character; `test_windows_are_independent` checks it).
    """
    body = load_capture(name).body
    expected = oracle(body)
    ends = message_ends(body)
    assert len(ends) == len(expected) and ends[-1] == len(body)
    starts = [0, *ends[:-1]]
    offsets = set(range(0, len(body) + 1, 97))
    for end in ends:
        offsets.update(range(max(0, end - 4), min(len(body), end + 4) + 1))
    offsets.update(inside_utf8_chars(body, every=37))
    for k in sorted(offsets):
        i = min(bisect.bisect_right(starts, k) - 1, len(starts) - 1)
        lo, hi = max(0, i - 1), min(len(ends), i + 2)
        window = body[starts[lo] : ends[hi - 1]]
        cut = k - starts[lo]
        got = decode(window[:cut], window[cut:])
        assert got == expected[lo:hi], f"{name} split at {k}"


@pytest.mark.parametrize("name", ["s07_large_output_200k", "s07_utf8_split_and_binary"])
def test_windows_are_independent(name: str) -> None:
    body = load_capture(name).body
    ends = message_ends(body)
    decoder = JSONStreamDecoder()
    start = 0
    for end in ends:  # feeding message by message yields exactly one event each time
        assert len(decoder.feed(body[start:end])) == 1
        assert decoder._pending == []
        start = end
    assert decoder.close() == []


@pytest.mark.parametrize("name", ["s07_large_output_200k", "s07_utf8_split_and_binary"])
def test_whole_body_two_piece_splits_large(name: str) -> None:
    body = load_capture(name).body
    expected = oracle(body)
    rng = random.Random(97)
    offsets = [1, len(body) // 2, len(body) - 1, *rng.sample(range(len(body)), 12)]
    offsets += inside_utf8_chars(body, every=4000)[:8]
    for k in offsets:
        assert decode(body[:k], body[k:]) == expected, f"{name} split at {k}"


@pytest.mark.parametrize(
    "name",
    [n for n in STREAMS if len(load_capture(n).body) <= SMALL] + ["s07_utf8_split_and_binary"],
)
def test_one_byte_reads(name: str) -> None:
    body = load_capture(name).body
    assert decode(*(body[i : i + 1] for i in range(len(body)))) == oracle(body)


@pytest.mark.parametrize("name", STREAMS)
def test_random_splits(name: str) -> None:
    body = load_capture(name).body
    expected = oracle(body)
    rng = random.Random(f"split-{name}")
    # Tiny reads over 1.5 MB are slow in Python: big captures start at 300-byte reads
    # (one-byte reads are covered on the small ones and the UTF-8 capture).
    sizes = (7, 300, 5000, 40000) if len(body) <= 64 * 1024 else (300, 5000, 40000, 300000)
    for trial in range(12):
        biggest = sizes[trial % 4]
        pieces, pos = [], 0
        while pos < len(body):
            size = rng.randint(1, biggest)
            pieces.append(body[pos : pos + size])
            pos += size
        if trial % 3 == 0:  # empty reads happen too (a chunk of framing only)
            pieces.insert(rng.randrange(len(pieces) + 1), b"")
        assert decode(*pieces) == expected, f"{name} trial {trial}"


WITH_META = [n for n in STREAMS if meta(n) is not None]


def test_meta_captures() -> None:
    assert WITH_META == [
        "s01_success_multistep",
        "s01_success_multistep_nocache",
        "s02_run_exit3",
        "s04_buildargs_unconsumed",
        "s05_oom_kill_64m",
        "s07_utf8_split_and_binary",
        "s13_multistage_full",
        "s14_add_url_progress_status",
        "s15_multiple_tags",
    ]


@pytest.mark.parametrize("name", WITH_META)
def test_recorded_chunk_sizes(name: str) -> None:
    """Replay the body in the chunks the daemon actually wrote (from *.meta.json)."""
    info = meta(name)
    assert info is not None
    sizes = info["chunk_sizes"]
    body = load_capture(name).body
    assert sum(sizes) == len(body) and len(sizes) == info["n_chunks"]
    pieces, pos = [], 0
    for size in sizes:
        pieces.append(body[pos : pos + size])
        pos += size
    events = list(iter_events(pieces))
    assert events == oracle(body)
    assert len(events) == info["n_messages"]


def test_utf8_split_and_binary() -> None:
    """Characters straddling reads decode whole; the daemon's U+FFFD stay as they came."""
    body = load_capture("s07_utf8_split_and_binary").body
    # The RUN printed 20000 EUR signs in 4 KiB reads: 9 were cut by the daemon's reads
    # and arrive as 3 x U+FFFD each, plus the 2 invalid bytes \377\376: 29 U+FFFD,
    # all escaped as \ufffd in the JSON; the intact EUR signs are raw UTF-8 bytes.
    assert body.count("€".encode()) == 19991 and body.count(b"\\ufffd") == 29
    assert b"\xef\xbf\xbd" not in body
    euro_cuts = inside_utf8_chars(body)
    assert len(euro_cuts) == 2 * 19991
    for k in euro_cuts[:300] + euro_cuts[-300:] + euro_cuts[::401]:
        events = decode(body[:k], body[k:])
        text = "".join(e.get("stream", "") for e in events)
        assert text.count("€") == 19991, k
        assert text.count("\ufffd") == 29, k
    events = decode(body)
    text = "".join(e.get("stream", "") for e in events)
    assert "bin:\ufffd\ufffd:end\n" in text
    assert "tab\there\x01ctl\n" in text
    # Three reads of two bytes each across one EUR sign: (lead+1st) (2nd+\r) ...
    i = body.index("€".encode())
    assert decode(body[: i + 1], body[i + 1 : i + 2], body[i + 2 :]) == oracle(body)


def test_character_cut_at_the_very_end_is_an_error() -> None:
    body = load_capture("s07_utf8_split_and_binary").body
    i = body.index("€".encode())
    decoder = JSONStreamDecoder()
    assert len(decoder.feed(body[: i + 2])) == 6
    with pytest.raises(StreamError, match="ended in the middle of a message"):
        decoder.close()


@pytest.mark.parametrize(
    "name", ["s01_success_multistep", "s02_run_exit3", "s14_add_url_progress_status"]
)
def test_truncated_mid_message_fails_on_close(name: str) -> None:
    body = load_capture(name).body
    ends = message_ends(body)
    expected = oracle(body)
    for n, end in enumerate(ends[:-1]):
        nxt = ends[n + 1]
        for cut in (end + 1, (end + nxt) // 2, nxt - 3, nxt - 2):  # -2: up to the "}"
            decoder = JSONStreamDecoder()
            assert decoder.feed(body[:cut]) == expected[: n + 1]
            if cut == nxt - 2:
                # The last message is whole, only its "\r\n" is missing: close() gives it.
                assert decoder.close() == [expected[n + 1]]
                continue
            with pytest.raises(StreamError, match="connection to the daemon ended in the middle"):
                decoder.close()


def test_truncated_at_message_boundary_is_clean() -> None:
    # The cancel capture: the client hung up; the body stops after a whole message.
    capture = load_capture("s06_cancel_close_after_2s")
    assert capture.complete is False
    events = decode(capture.body)
    assert events[-1] == {"stream": "start-sleep\n"} and len(events) == 7
    assert load_capture("s01_success_multistep").complete is True


def test_final_message_without_newline_is_returned_by_close() -> None:
    body = load_capture("s08_quiet_q1").body
    assert body.endswith(b"\r\n")
    decoder = JSONStreamDecoder()
    assert decoder.feed(body[:-2]) == []
    (event,) = decoder.close()
    assert event == {
        "stream": "sha256:31034e7c10957899a30c96bf5b51398822513b66178543216293d16b3bd4cdc5\n"
    }
    assert decoder.close() == []  # nothing left


def test_whitespace_and_bare_newlines_between_messages() -> None:
    body = load_capture("s02_run_exit3").body
    expected = oracle(body)
    parts = [p for p in body.split(b"\r\n") if p]
    seps = [b"\r\n\r\n", b"\n", b" \t\r\n  ", b"\r\n \r\n", b"\n\n\n"]
    noisy = b"\r\n  " + b"".join(p + seps[i % len(seps)] for i, p in enumerate(parts)) + b" \r\n"
    assert decode(noisy) == expected
    assert decode(*(noisy[i : i + 3] for i in range(0, len(noisy), 3))) == expected
    assert decode(b"\r\n", b"   ", b"\n") == []


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"<html>Bad Gateway</html>\r\n", "not JSON"),
        (b'{"stream":"a"}{"stream":"b"}\r\n', "unexpected data after a message"),
        (b'{"stream":"a"} x\r\n', "unexpected data after a message"),
        (b'["stream","a"]\r\n', "a list, not a JSON object"),
        (b'"just a string"\r\n', "a str, not a JSON object"),
        (b'{"stream":"a\r\n"}\r\n', "not JSON"),
    ],
)
def test_garbage_raises(data: bytes, message: str) -> None:
    with pytest.raises(StreamError, match=message):
        decode(data)


def test_text_plain_error_body_is_not_a_stream() -> None:
    # The daemon's 400 for a too-old API version is text/plain, not JSON.
    capture = load_capture("s09_build_v1_11")
    assert capture.status == 400 and capture.headers["content-type"].startswith("text/plain")
    with pytest.raises(StreamError, match=r"not JSON.*client version 1\.11 is too old"):
        decode(capture.body)
    with pytest.raises(StreamError, match="ended in the middle"):
        decode(capture.body.rstrip(b"\n"))  # no newline: close() sees it


def test_events_before_garbage_are_delivered() -> None:
    body = load_capture("s01_success_multistep").body
    decoder = JSONStreamDecoder()
    first = decoder.feed(body[: message_ends(body)[2]])
    assert [e["stream"] for e in first] == ["Step 1/7 : FROM scratch", "\n", " ---> \n"]
    with pytest.raises(StreamError):
        decoder.feed(b"garbage\r\n")
