"""Counts and nouns as people read them: the noun agrees with its count and its article."""

from __future__ import annotations

import pytest

from jupyter_dockerbuild.units import format_count, with_article


@pytest.mark.parametrize(
    ("num", "text"), [(0, "0 steps"), (1, "1 step"), (2, "2 steps"), (20000, "20,000 steps")]
)
def test_format_count_agrees_and_separates_thousands(num: int, text: str) -> None:
    assert format_count(num, "step") == text


@pytest.mark.parametrize(
    ("noun", "text"),
    [("int", "an int"), ("object", "an object"), ("list", "a list"), ("str", "a str")],
)
def test_with_article(noun: str, text: str) -> None:
    assert with_article(noun) == text
