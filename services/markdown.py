"""Text from a user, a file or the store made safe to show through Streamlit's Markdown."""

from __future__ import annotations

import re

#: CommonMark lets a backslash escape any ASCII punctuation, and an escaped character is always
#: literal text: no link, image, autolink, emphasis, code, LaTeX (``$``), HTML or directive
#: (``:red[…]``) can start from it. Escaping them all is simpler and safer than choosing.
_PUNCTUATION = re.compile(r"""([!"#$%&'()*+,\-./:;<=>?@\[\\\]^_`{|}~])""")
#: Line breaks (and the other characters that end a line for some reader) would start a new
#: block: a heading, a list, a quote, a table row.
_LINE_BREAKS = re.compile(r"[\r\n\v\f\x85\u2028\u2029]+")


def escape_markdown(text: object) -> str:
    """``text`` as Streamlit Markdown that renders it literally, on one line.

    Every ASCII punctuation character is backslash-escaped (``[x](https://evil)``, ``![t](…)``,
    ``<https://evil>``, ``**``, backticks, ``$…$``, ``:material/…:``, ``:red[…]`` stay plain
    text, and so do bare ``https://…`` and ``www.…`` that GitHub Markdown would link); line
    breaks become spaces. For values put into Markdown, never for plain-text widgets
    (``st.dataframe`` cells, ``st.text``, select options), where the backslashes would show.
    """
    return _PUNCTUATION.sub(r"\\\1", _LINE_BREAKS.sub(" ", str(text)))

