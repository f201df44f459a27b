"""Client text escaped for the log: one line of printable ASCII that shows what was sent."""

from __future__ import annotations

import pytest

from socketrush.logtext import untrusted


@pytest.mark.parametrize(
    ("text", "logged"),
    [
        ("GET /apps/1/events HTTP/1.1", "GET /apps/1/events HTTP/1.1"),
        ("GET /\x00\xff HTTP/1.1", "GET /\\x00\\xff HTTP/1.1"),  # bytes decoded as latin-1
        ("forged\nINFO line", "forged\\nINFO line"),
        ("tab\tand\rreturn", "tab\\tand\\rreturn"),
        ("back\\slash", "back\\\\slash"),
        ("\x7f\u20ac\U0001f600", "\\x7f\\u20ac\\U0001f600"),
        ("", ""),
    ],
)
def test_untrusted_text_is_printable_ascii_on_one_line(text: str, logged: str) -> None:
    assert untrusted(text) == logged
    assert untrusted(text).isascii() and untrusted(text).isprintable()


def test_text_that_needs_nothing_is_the_same_object() -> None:
    text = "https://app.example.com"
    assert untrusted(text) is text
