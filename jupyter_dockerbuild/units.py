"""Counts and nouns for people: ``64MiB`` to read, ``64m`` to type, ``1 layer``, ``an int``.

The lowest layer (beside :mod:`~jupyter_dockerbuild.errors`): sizes and counts are shown
by the images, builder and UI layers alike.
"""

from __future__ import annotations


def format_size(num: int) -> str:
    """Format bytes the way a person reads them (``64MiB``, ``1.5GiB``)."""
    if num < 0:
        return "unlimited"
    for unit, scale in (("GiB", 1024**3), ("MiB", 1024**2), ("KiB", 1024)):
        if num >= scale:
            value = num / scale
            return f"{value:.{0 if value == int(value) else 1}f}{unit}"
    return f"{num}B"


def format_size_flag(num: int) -> str:
    """Write a byte count the way one types it on the command line (``64m``, ``2g``)."""
    if num <= 0:
        return str(num)
    for suffix, scale in (("g", 1024**3), ("m", 1024**2), ("k", 1024)):
        if num % scale == 0:
            return f"{num // scale}{suffix}"
    return str(num)


def format_count(num: int, noun: str, plural: str | None = None) -> str:
    """``1 layer``, ``0 layers``, ``2 layers``: the noun agrees with the count.

    ``plural`` is for nouns that do not just take an ``s`` (``1 entry``, ``2 entries``).
    Thousands are separated (``20,000 lines``): log and layer counts get large.
    """
    return f"{num:,} {noun if num == 1 else (plural or noun + 's')}"


def with_article(noun: str) -> str:
    """``a list``, ``an int``: the noun after the indefinite article its sound takes.

    Decided by the first letter, which is right for the type names it is given
    (``an int``, ``an object``, ``a str``, ``a NoneType``).
    """
    article = "an" if noun[:1].lower() in ("a", "e", "i", "o", "u") else "a"
    return f"{article} {noun}"
