"""The label catalogues (gettext .po) and the formats of figures in each language."""

from __future__ import annotations

import string
from datetime import date, datetime

import pandas as pd
import pytest
from babel.messages.pofile import read_po

from services import i18n
from services.app import labels
from services.i18n import (
    format_date,
    format_delta,
    format_money,
    format_number,
    format_percent,
    translate,
    translate_plural,
)
from services.store.models import PROGRAM_LEVELS
from tools import catalogues


def blanks(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


def read(language: str):
    with i18n.catalogue_path(language).open("rb") as file:
        return read_po(file, locale=language)


def test_code_and_catalogues_agree():
    # Every label the code uses (pybabel's extraction, same keywords) is translated in fr and
    # en, and no catalogue holds a label no code uses (tools/catalogues.py check lists them).
    assert catalogues.problems() == []


def test_the_check_sees_a_missing_translation_and_a_dead_label(tmp_path, monkeypatch):
    # The check above can fail: a copy of the catalogues with one translation emptied and one
    # label the code never uses gives exactly these two problems.
    for language in catalogues.LANGUAGES:
        target = tmp_path / language / "LC_MESSAGES"
        target.mkdir(parents=True)
        text = i18n.catalogue_path(language).read_text(encoding="utf-8")
        if language == "en":
            text = text.replace(
                'msgid "kpi.booked"\nmsgstr "Candidates booked"', 'msgid "kpi.booked"\nmsgstr ""'
            )
        text += '\nmsgid "nowhere.in.the.code"\nmsgstr "x"\n'
        (target / "messages.po").write_text(text, encoding="utf-8")
    monkeypatch.setattr(catalogues, "LOCALES", tmp_path)
    assert catalogues.problems() == [
        "fr: nowhere.in.the.code is in the catalogue but no code uses it",
        "en: kpi.booked has no translation",
        "en: nowhere.in.the.code is in the catalogue but no code uses it",
    ]


def test_a_label_has_the_same_blanks_in_both_languages():
    english = {message.id: message for message in read("en") if message.id}
    differing = {}
    for message in read("fr"):
        if not message.id or message.id not in english:
            continue
        french = message.string if isinstance(message.string, tuple) else (message.string,)
        other = english[message.id].string
        other = other if isinstance(other, tuple) else (other,)
        # A plural's singular may leave the count out ("ce candidat"): compare form by form.
        if [blanks(text) for text in french] != [blanks(text) for text in other]:
            differing[message.id] = (french, other)
    assert differing == {}


def test_plural_forms_follow_each_language():
    # French uses the singular for 0 and 1 (nplurals=2; plural=(n > 1)), English for 1 only.
    assert translate_plural("jdplan.saved", 0, "fr") == "0 rencontre enregistrée."
    assert translate_plural("jdplan.saved", 1, "fr") == "1 rencontre enregistrée."
    assert translate_plural("jdplan.saved", 2, "fr") == "2 rencontres enregistrées."
    assert translate_plural("jdplan.saved", 0, "en") == "0 meetings saved."
    assert translate_plural("jdplan.saved", 1, "en") == "1 meeting saved."
    # The count is written the language's way.
    assert translate_plural("jdplan.saved", 1200, "fr") == "1\u202f200 rencontres enregistrées."
    assert translate_plural("jdplan.saved", 1200, "en") == "1,200 meetings saved."


def test_a_label_in_each_language():
    assert translate("kpi.booked", "fr") == "Candidats ayant réservé"
    assert translate("kpi.booked", "en") == "Candidates booked"
    assert translate("kpi.booked", "de") == "Candidats ayant réservé"  # unknown language: French


NNBSP, NBSP = "\u202f", "\u00a0"


@pytest.mark.parametrize(
    ("language", "figures"),
    [
        # CLDR French: narrow no-break space between thousands, decimal comma, a no-break
        # space before % and €; English: comma thousands, decimal point, € first.
        (
            "fr",
            [
                "7\u202f400",
                "1\u202f234,5",
                f"32,3{NBSP}%",
                f"7{NNBSP}400{NBSP}€",
                f"30,99{NBSP}€",
                "14 avr. 2020",
            ],
        ),
        ("en", ["7,400", "1,234.5", "32.3%", "€7,400", "€30.99", "Apr 14, 2020"]),
    ],
)
def test_figures_are_written_the_language_s_way(language, figures):
    assert [
        format_number(7400, language),
        format_number(1234.5, language, 1),
        format_percent(0.3226, language),  # 32.26 % rounded to one decimal
        format_money(7400, language),
        format_money(30.99, language, 2),
        format_date(date(2020, 4, 14), language),
    ] == figures


def test_a_missing_figure_is_a_dash_in_every_format():
    for language in ("fr", "en"):
        assert {
            format_number(None, language),
            format_number(float("nan"), language),
            format_percent(None, language),
            format_money(None, language),
            format_date(None, language),
        } == {"—"}


def test_signed_differences():
    assert format_delta(-0.032, "rate", "fr") == "-3,2 pts"
    assert format_delta(1200, "money", "fr") == f"+1{NNBSP}200{NBSP}€"
    assert format_delta(1200, "money", "en") == "+€1,200"
    assert format_delta(-3, "count", "en") == "-3"


def test_times_of_day():
    assert i18n.format_datetime(datetime(2020, 4, 14, 9, 30), "fr") == "14 avr. 2020 09:30"
    assert i18n.format_datetime(datetime(2020, 4, 14, 9, 30), "en") == "Apr 14, 2020 9:30\u202fAM"


def test_names_sort_as_a_french_reader_looks_them_up():
    # Accents and case ignored first: « Électro » with the E's, not after « Usinage » (code
    # point order puts « É » after every plain letter); exact ties are kept apart by the text.
    names = ["Usinage Petit", "Électro Bonnet", "acier Lorrain", "Eclairage Nord", "Électro bonnet"]
    assert sorted(names, key=i18n.reading_order) == [
        "acier Lorrain",
        "Eclairage Nord",
        "Électro Bonnet",
        "Électro bonnet",
        "Usinage Petit",
    ]


def test_each_number_of_decimals_keeps_its_own_pattern():
    # Babel's patterns are made once per kind, language and decimals: writing with 2, then 0,
    # then 1 decimal again must not leak one's precision into another's (1 234,567 → 1 234,57,
    # 1 235, 1 234,6; the spaces are French narrow no-break spaces).
    assert [i18n.format_number(1234.567, "fr", decimals) for decimals in (2, 0, 1, 2)] == [
        "1\u202f234,57",
        "1\u202f235",
        "1\u202f234,6",
        "1\u202f234,57",
    ]
    assert [i18n.format_money(12.4, "en", decimals) for decimals in (2, 0)] == ["€12.40", "€12"]


def test_a_table_writes_each_cell_as_its_figure_alone():
    # format_table writes each distinct figure once and repeats the text: every cell must read
    # as format_number / format_percent of its own value, missing ones (NaN, None, pd.NA) "—",
    # whatever their place among equal values.
    frame = pd.DataFrame(
        {
            "booked": [7400, 3, 7400, 3, 0],
            "rate": [0.3226, None, 0.3226, 0.5, 0.3226],
            "seats": pd.array([12, pd.NA, 12, 14, pd.NA], dtype="Int64"),
            "site": ["NAN", "MET", "NAN", "EPI", "MET"],
        }
    )
    shown = i18n.format_table(frame, "fr", {"rate": "percent"})
    assert shown["booked"].tolist() == ["7\u202f400", "3", "7\u202f400", "3", "0"]
    assert shown["rate"].tolist() == [f"32,3{NBSP}%", "—", f"32,3{NBSP}%", f"50,0{NBSP}%", f"32,3{NBSP}%"]
    assert shown["seats"].tolist() == ["12", "—", "12", "14", "—"]
    assert shown["site"].tolist() == frame["site"].tolist()  # text stays as it is
    assert frame["booked"].tolist() == [7400, 3, 7400, 3, 0]  # a copy: the figures stay numbers


def test_every_programme_level_has_a_label():
    # The programmes' table names each level of the contract (services.store.models) by its
    # label: a level added there without one would show as a raw key.
    assert set(labels.LEVEL) == {f"level.{level}" for level in PROGRAM_LEVELS}
