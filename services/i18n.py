"""Every label the user reads, in the reader's language: gettext catalogues and Babel formats.

Labels live in locales/<language>/LC_MESSAGES/messages.po (a key such as ``kpi.booked`` is the
msgid, the text the msgstr); they are compiled in memory when this module is loaded, so a
fresh checkout runs with nothing to build. Numbers, money, percentages and dates are written by
Babel with the CLDR conventions of the language (``7 400 €``, ``32,3 %``, ``14 avr. 2020`` in
French). How to add a label and refresh the catalogues: docs/translations.md.
"""

from __future__ import annotations

import copy
import gettext
import io
import math
import unicodedata
from collections.abc import Mapping
from datetime import date, datetime, time
from functools import cache
from pathlib import Path

import numpy as np
import pandas as pd
from babel import Locale
from babel.dates import format_date as babel_date
from babel.dates import format_time as babel_time
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.numbers import parse_pattern

LANGUAGES = {"fr": "Français", "en": "English"}
DEFAULT_LANGUAGE = "fr"
# The Babel locale of each language: French of France, English of the United States.
LOCALES = {"fr": "fr_FR", "en": "en_US"}
CATALOGUES = Path(__file__).resolve().parents[1] / "locales"
#: The day order of Streamlit's date pickers in each language (its formats are numeric).
DATE_INPUT_FORMATS = {"fr": "DD/MM/YYYY", "en": "MM/DD/YYYY"}
NOTHING = "—"  # what a figure without a value shows (no rate without a denominator, no cost)


def N_(key: str) -> str:  # noqa: N802 - the gettext convention, a keyword of `pybabel extract`
    """Marks ``key`` as a label for the extractor where the code picks it at run time."""
    return key


def catalogue_path(language: str) -> Path:
    return CATALOGUES / language / "LC_MESSAGES" / "messages.po"


@cache
def _translations(language: str) -> gettext.GNUTranslations:
    """The language's catalogue, compiled from its .po in memory (French under English's gaps)."""
    with catalogue_path(language).open("rb") as file:
        catalogue = read_po(file, locale=language)
    compiled = io.BytesIO()
    write_mo(compiled, catalogue)
    compiled.seek(0)
    translations = gettext.GNUTranslations(compiled)
    if language != DEFAULT_LANGUAGE:
        translations.add_fallback(_translations(DEFAULT_LANGUAGE))
    return translations


def _language(language: str) -> str:
    return language if language in LANGUAGES else DEFAULT_LANGUAGE


def choose_language(
    asked: str | None, remembered: str | None = None, accept_language: str | None = None
) -> str:
    """The language to show: the one ``asked`` for, else the one ``remembered``, else the first
    of ours the browser's ``Accept-Language`` header prefers (``en-US,en;q=0.9,fr;q=0.8``);
    French by default."""
    for language in (asked, remembered):
        if language in LANGUAGES:
            return language
    wanted = []
    for position, part in enumerate((accept_language or "").split(",")):
        tag, _, parameters = part.strip().partition(";")
        weight = 1.0
        for parameter in parameters.split(";"):
            name, _, value = parameter.strip().partition("=")
            if name == "q":
                try:
                    weight = float(value)
                except ValueError:
                    weight = 0.0
        language = tag.strip().lower().split("-")[0]
        if language in LANGUAGES and weight > 0:
            wanted.append((-weight, position, language))
    return min(wanted)[2] if wanted else DEFAULT_LANGUAGE


def has_message(key: str, language: str = DEFAULT_LANGUAGE) -> bool:
    """Whether the catalogue of ``language`` holds ``key``."""
    return key in _translations(_language(language))._catalog  # noqa: SLF001 - gettext keeps it there


def translate(key: str, language: str = DEFAULT_LANGUAGE, **values: object) -> str:
    """The label ``key`` in ``language`` (French when missing there), with ``values`` filled in."""
    text = _translations(_language(language)).gettext(key)
    return text.format(**values) if values else text


def translate_plural(key: str, count: int, language: str = DEFAULT_LANGUAGE, **values: object) -> str:
    """The form of the label ``key`` for ``count`` (``1 rencontre``, ``2 rencontres``).

    ``{count}`` in the text is the count written in the language; other blanks come from ``values``.
    """
    text = _translations(_language(language)).ngettext(key, key, count)
    return text.format(**{"count": format_number(count, language), **values})


@cache
def locale(language: str = DEFAULT_LANGUAGE) -> Locale:
    return Locale.parse(LOCALES[_language(language)])


def _undefined(value: object) -> bool:
    return value is None or value is pd.NaT or (isinstance(value, float) and math.isnan(value))


@cache
def _pattern(kind: str, language: str, decimals: int):
    """Babel's pattern of a kind of figure, made once (a table of 700 sites writes 46,000
    figures: parsing the locale and the pattern for each took 2.6 s at scale L)."""
    where = locale(language)
    pattern = copy.copy(
        parse_pattern(
            {
                "decimal": where.decimal_formats[None],
                "percent": where.percent_formats[None],
                "money": where.currency_formats["standard"],
            }[kind].pattern
        )
    )
    pattern.frac_prec = (decimals, decimals)
    return pattern, where


def reading_order(text: str) -> tuple[str, str]:
    """A sort key for names as a French reader looks them up: accents and case ignored first
    (« Électro » with the E's, not after « Usinage »), then the text itself to break ties."""
    bare = "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))
    return bare.casefold(), text


def format_number(value: float | int | None, language: str = DEFAULT_LANGUAGE, decimals: int = 0) -> str:
    """``1 234`` / ``1 234,5`` in French, ``1,234`` / ``1,234.5`` in English; "—" when undefined."""
    if _undefined(value):
        return NOTHING
    pattern, where = _pattern("decimal", language, decimals)
    return pattern.apply(value, where)


def format_percent(value: float | None, language: str = DEFAULT_LANGUAGE, decimals: int = 1) -> str:
    """A share (0.862) as ``86,2 %`` in French, ``86.2%`` in English; "—" when undefined."""
    if _undefined(value):
        return NOTHING
    pattern, where = _pattern("percent", language, decimals)
    return pattern.apply(value, where)


def format_money(value: float | None, language: str = DEFAULT_LANGUAGE, decimals: int = 0) -> str:
    """Euros: ``1 234 €`` in French, ``€1,234`` in English; "—" when undefined."""
    if _undefined(value):
        return NOTHING
    pattern, where = _pattern("money", language, decimals)
    return pattern.apply(value, where, currency="EUR", currency_digits=False)


def format_date(day: date, language: str = DEFAULT_LANGUAGE) -> str:
    """``14 avr. 2020`` in French, ``Apr 14, 2020`` in English."""
    if _undefined(day):
        return NOTHING
    return babel_date(day, "medium", locale=locale(language))


def format_day(day: date, language: str = DEFAULT_LANGUAGE) -> str:
    """A day written out: ``mardi 14 avril 2020`` in French, ``Tuesday, April 14, 2020`` in English."""
    if _undefined(day):
        return NOTHING
    return babel_date(day, "full", locale=locale(language))


def format_datetime(moment: datetime, language: str = DEFAULT_LANGUAGE) -> str:
    """``14 avr. 2020 09:30`` in French, ``Apr 14, 2020 9:30 AM`` in English, in the time zone
    the instant carries (the callers give the centre's time)."""
    if _undefined(moment):
        return NOTHING
    return f"{format_date(moment.date(), language)} {format_time(moment, language)}"


def format_time(moment: datetime | time, language: str = DEFAULT_LANGUAGE) -> str:
    """``09:30`` in French, ``9:30 AM`` in English (in the time zone the instant carries)."""
    if _undefined(moment):
        return NOTHING
    return babel_time(moment, "short", locale=locale(language))


def format_delta(difference: float | int, kind: str, language: str = DEFAULT_LANGUAGE) -> str:
    """A signed difference: ``+12``, ``-3,2 pts`` (rates), ``+1 200 €`` (money).

    The minus is ASCII: Streamlit's metric reads it to choose the arrow and colour.
    """
    sign = "+" if difference >= 0 else "-"
    size = abs(difference)
    if kind == "rate":
        return f"{sign}{format_number(size * 100, language, 1)} pts"
    if kind == "money":
        return f"{sign}{format_money(size, language)}"
    return f"{sign}{format_number(size, language)}"


#: How format_table writes a column: a share (0.3226 → 32,3 %), euros without or with cents,
#: a number with one or two decimals (a credit, hours), a whole number, a date, a date and time,
#: a time of day.
TABLE_FORMATS = (
    "percent",
    "money",
    "money_cents",
    "decimal",
    "decimal2",
    "integer",
    "date",
    "datetime",
    "time",
)


#: The TABLE_FORMATS of figures: equal values are written alike (dates and times carry a zone).
_FIGURES = frozenset({"percent", "money", "money_cents", "decimal", "decimal2", "integer"})


def _cell_writer(kind: str, language: str):
    return {
        "percent": lambda value: format_percent(value, language),
        "money": lambda value: format_money(value, language),
        "money_cents": lambda value: format_money(value, language, 2),
        "decimal": lambda value: format_number(value, language, 1),
        "decimal2": lambda value: format_number(value, language, 2),
        "integer": lambda value: format_number(value, language),
        "date": lambda value: format_date(value, language),
        "datetime": lambda value: format_datetime(value, language),
        "time": lambda value: format_time(value, language),
    }[kind]


def _kind_of(column: pd.Series) -> str | None:
    """How a column is written when no format is given (None: left as it is)."""
    if pd.api.types.is_bool_dtype(column):
        return None
    if pd.api.types.is_integer_dtype(column):
        return "integer"
    if pd.api.types.is_float_dtype(column):
        whole = column.dropna()
        return "integer" if whole.empty or (whole == whole.round()).all() else "decimal"
    if pd.api.types.is_datetime64_any_dtype(column):
        times = column.dropna()
        return "date" if (times == times.dt.normalize()).all() else "datetime"
    sample = column.dropna()
    if not sample.empty and all(isinstance(value, date) for value in sample):
        return "datetime" if any(isinstance(value, datetime) for value in sample) else "date"
    if not sample.empty and all(isinstance(value, time) for value in sample):
        return "time"
    return None


def format_table(
    frame: pd.DataFrame, language: str, formats: Mapping[str, str] | None = None
) -> pd.DataFrame:
    """A copy of ``frame`` to read: every figure and date written the language's way, as text.

    ``formats`` names the kind of some columns (TABLE_FORMATS); any other numeric column is a
    whole number or a number with one decimal, a date column a date (``14 avr. 2020``).
    Streamlit's own column formats follow the browser's language, not the one chosen in the
    app: the pages show these texts instead (exports keep the numbers, services/exports.py).
    """
    shown = frame.copy()
    for name in frame.columns:
        kind = (formats or {}).get(name) or _kind_of(frame[name])
        if kind is None:
            continue
        write = _cell_writer(kind, language)
        if kind in _FIGURES:
            # Each distinct figure written once: a table of 3,000 programmes repeats its counts
            # and rates (46,000 cells, 1.6 s through Babel at scale L, one by one).
            codes, distinct = pd.factorize(frame[name], use_na_sentinel=True)
            texts = [NOTHING if _undefined(value) else write(value) for value in distinct]
            shown[name] = np.array([*texts, NOTHING], dtype=object)[codes].tolist()  # -1: undefined
        else:
            shown[name] = [NOTHING if _undefined(value) else write(value) for value in frame[name]]
    return shown


def figure_columns(frame: pd.DataFrame, formats: Mapping[str, str] | None = None) -> list[str]:
    """The columns format_table writes as figures (to align them right)."""
    return [name for name in frame.columns if (formats or {}).get(name) or _kind_of(frame[name]) is not None]
