"""Values from users and files shown through Markdown render as plain text (issue 16, item 11)."""

from __future__ import annotations

import re

import pytest

from services.markdown import escape_markdown

HOSTILE = [
    "[x](https://evil)",
    "![t](https://evil/p.png)",
    "<https://evil>",
    "<img src=x onerror=alert(1)>",
    "**bold** `code` $x^2$",
    ":material/home: :red[red] :blue-background[y]",
    "x\n# heading\n- item\n> quote",
    "a | b |\r\n|---|---|",
    "\\[x](y)",
]


@pytest.mark.parametrize("text", HOSTILE)
def test_every_markdown_character_is_escaped(text: str) -> None:
    escaped = escape_markdown(text)
    # No punctuation character is left unescaped: strip the escaped pairs, none may remain.
    assert not re.search(r"""[!"#$%&'()*+,\-./:;<=>?@\[\]^_`{|}~]""", re.sub(r"\\.", "", escaped))
    assert "\n" not in escaped and "\r" not in escaped
    # Dropping the backslashes gives back the text (line breaks as spaces): nothing is lost.
    assert re.sub(r"\\(.)", r"\1", escaped) == re.sub(r"[\r\n]+", " ", text)


def test_plain_words_and_numbers_are_unchanged() -> None:
    assert escape_markdown("Lyon Part-Dieu") == r"Lyon Part\-Dieu"
    assert escape_markdown("Élodie 7 400 €") == "Élodie 7 400 €"
    assert escape_markdown(12) == "12"
