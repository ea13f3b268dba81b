"""Text from a user, a file or the store made safe to show through Streamlit's Markdown."""

from __future__ import annotations

import re

#: Characters that open Markdown anywhere in a line: links and images (``[ ] ( ) !``), autolinks and
#: HTML (``< >``), emphasis and strikethrough (``* _ ~``), code (backtick), LaTeX (``$``), tables
#: (``|``), directives' labels and attributes (``[ ] { }``), headings (``#``), and the backslash
#: itself. CommonMark lets a backslash escape any ASCII punctuation: an escaped one is plain text.
_SPECIAL = re.compile(r"([\\`*_{}\[\]()<>#+!|~$])")
#: A colon before a letter starts a directive (``:red[…]``, ``:small``) or an icon (``:material/…:``).
_DIRECTIVE = re.compile(r":(?=[A-Za-z])")
#: Streamlit turns ``:material/`` into an icon before it parses the Markdown: the slash is escaped too.
_ICON = re.compile(r"(?<=material)/")
#: A list item or a heading when the text starts a line: ``- x``, ``1. x``, ``1) x``.
_LINE_START = re.compile(r"^(\s*(?:-|\d+(?=[.)])))")
#: GitHub Markdown links a bare ``https://…`` or ``www.…`` whatever the escapes: an invisible
#: zero-width space before the scheme's colon or after ``www`` keeps the text and drops the link.
_BARE_LINK = re.compile(r"(?i)(?<=[a-z])(?=://)|(?<=\bwww)(?=\.)")
#: Line breaks (and the other characters that end a line for some reader) would start a new
#: block: a heading, a list, a quote, a table row.
_LINE_BREAKS = re.compile(r"[\r\n\v\f\x85\u2028\u2029]+")


def escape_markdown(text: object) -> str:
    """``text`` as Streamlit Markdown that renders it literally, on one line.

    ``[x](https://evil)``, ``![t](…)``, ``<https://evil>``, ``**``, backticks, ``$…$``,
    ``:material/…:``, ``:red[…]`` and bare ``https://…`` or ``www.…`` stay plain text (the last
    two with a zero-width space); line breaks become spaces. Characters without a meaning in a
    line (quotes, dots, commas, hyphens, slashes in dates) are left as they are, so a message
    reads the same in the page's source. An e-mail address may still show as a ``mailto:`` link.
    For values put into Markdown, never for plain-text widgets (``st.dataframe`` cells, ``st.text``,
    select options), where the backslashes would show.
    """
    escaped = _SPECIAL.sub(r"\\\1", _LINE_BREAKS.sub(" ", str(text)))
    escaped = _ICON.sub(r"\\/", _DIRECTIVE.sub(r"\\:", _BARE_LINK.sub("\u200b", escaped)))
    return _LINE_START.sub(_escape_line_start, escaped, count=1)


def _escape_line_start(found: re.Match[str]) -> str:
    marker = found[1]
    return marker[:-1] + "\\-" if marker.endswith("-") else marker + "\\"
