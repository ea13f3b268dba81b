"""Values from users and files shown through Markdown render as plain text (issue 16, item 11).

What Streamlit's renderer (react-markdown with GitHub Markdown, math and directives) makes of the
escaped text was checked with remark on these cases; here, the escapes themselves are checked.
"""

from __future__ import annotations

import re

import pytest

from services.app.markdown import escape_markdown

HOSTILE = [
    "[x](https://evil.example)",
    "![t](https://evil.example/p.png)",
    "<https://evil.example>",
    "<img src=x onerror=alert(1)>",
    "**bold** `code` $x^2$ ~~gone~~ _em_",
    ":material/home: :red[red] :blue-background[y] Note:abc",
    "x\n# heading\n- item\n> quote",
    "a | b |\r\n|---|---|",
    "\\[x](y)",
    "see https://evil.example and www.evil.example",
]
ZERO_WIDTH_SPACE = "\u200b"


@pytest.mark.parametrize("text", HOSTILE)
def test_every_markdown_opening_is_escaped(text: str) -> None:
    escaped = escape_markdown(text)
    unescaped = re.sub(r"\\.", "", escaped)  # what is left once every escaped pair is dropped
    assert not re.search(r"[\[\]()<>*_`$|~!#+{}\\]", unescaped)
    assert not re.search(r":[A-Za-z]", unescaped)  # no directive nor icon
    assert not re.search(r"(?i)[a-z]://|www\.", escaped)  # no bare link
    assert "\n" not in escaped and "\r" not in escaped
    # Dropping the backslashes and the zero-width spaces gives back the text (line breaks as spaces).
    assert re.sub(r"\\(.)", r"\1", escaped).replace(ZERO_WIDTH_SPACE, "") == re.sub(r"[\r\n]+", " ", text)


@pytest.mark.parametrize(
    ("text", "escaped"),
    [
        ("- item", r"\- item"),
        ("12. x", r"12\. x"),
        ("  3) y", r"  3\) y"),
        ("# titre", r"\# titre"),
    ],
)
def test_a_value_starting_a_line_is_neither_a_list_nor_a_heading(text: str, escaped: str) -> None:
    assert escape_markdown(text) == escaped


@pytest.mark.parametrize(
    "text", ["Lyon Part-Dieu", "quelqu'un d'autre", "2020-13-45", "sites.csv", "10:00 le 14/04", "a - b 1. c"]
)
def test_words_without_markdown_are_unchanged(text: str) -> None:
    assert escape_markdown(text) == text


def test_any_value_becomes_text() -> None:
    assert escape_markdown(12) == "12"
    assert escape_markdown(None) == "None"
