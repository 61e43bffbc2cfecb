r"""Incremental decoder for the daemon's build stream: byte chunks in, JSON events out.

Pure, no IO. The daemon writes one JSON object per message followed by ``\\r\\n``, but
an HTTP chunk may hold several messages and a socket read may cut one anywhere, even
inside a multi-byte UTF-8 character. So the decoder splits on the byte stream, never on
read boundaries, and decodes UTF-8 incrementally (invalid bytes become U+FFFD, the way
the daemon already marks bytes a RUN step printed that were not text).

Decoding is linear: each byte is scanned once for the end of a message, so a RUN that
prints a million lines in ~1.6k messages of 32 KiB costs no rescans of a growing buffer.
"""

from __future__ import annotations

import codecs
import json
from collections.abc import Iterable, Iterator
from typing import Any

from ..errors import StreamError
from ..units import with_article

_decode_json = json.JSONDecoder().raw_decode


class JSONStreamDecoder:
    """Feed bytes with :meth:`feed`; get every complete message as a dict."""

    def __init__(self) -> None:
        self._utf8 = codecs.getincrementaldecoder("utf-8")(errors="replace")
        # Text of the message still incomplete, kept as pieces: joining only when a
        # newline arrives keeps a message fed in many small reads linear, not quadratic.
        self._pending: list[str] = []

    def feed(self, data: bytes) -> list[dict[str, Any]]:
        """Add ``data``; return the messages it completed (possibly none)."""
        text = self._utf8.decode(data)
        if "\n" not in text:
            if text:
                self._pending.append(text)
            return []
        self._pending.append(text)
        buf = "".join(self._pending)
        self._pending = []
        events: list[dict[str, Any]] = []
        start = 0
        while True:
            # Messages end with "\r\n"; a raw newline cannot occur inside a JSON
            # string (it is escaped), so every newline ends a message.
            end = buf.find("\n", start)
            if end == -1:
                break
            line = buf[start:end].strip()
            if line:
                events.append(_parse(line))
            start = end + 1
        if start < len(buf):
            self._pending.append(buf[start:])
        return events

    def close(self) -> list[dict[str, Any]]:
        """End of stream: return a last message without newline; raise if one was cut."""
        self._pending.append(self._utf8.decode(b"", final=True))
        rest = "".join(self._pending).strip()
        self._pending = []
        if not rest:
            return []
        try:
            return [_parse(rest)]
        except StreamError:
            raise StreamError(
                f"the connection to the daemon ended in the middle of a message ({rest[:60]!r}...)"
            ) from None


def _parse(line: str) -> dict[str, Any]:
    try:
        obj, pos = _decode_json(line)
    except ValueError as exc:
        raise StreamError(f"the daemon sent a message that is not JSON: {line[:200]!r}") from exc
    if line[pos:].strip():
        raise StreamError(f"unexpected data after a message: {line[pos:][:200]!r}")
    if not isinstance(obj, dict):
        raise StreamError(f"the daemon sent {with_article(type(obj).__name__)}, not a JSON object")
    return obj


def iter_events(chunks: Iterable[bytes]) -> Iterator[dict[str, Any]]:
    """Decode a whole stream of byte chunks into events."""
    decoder = JSONStreamDecoder()
    for chunk in chunks:
        yield from decoder.feed(chunk)
    yield from decoder.close()
