"""Exports cannot run formulas in a spreadsheet, and the summary cannot run scripts."""

from __future__ import annotations

import csv
import io

import openpyxl
import pandas as pd
import pytest

from services.exports import neutralise, summary_html, to_csv, to_excel

DANGEROUS = ['=HYPERLINK("http://x","clic")', "+33 6 12", "-2+3", "@SUM(A1)", "\tindent", "\rret"]


@pytest.mark.parametrize("value", DANGEROUS)
def test_formula_starts_get_a_quote(value):
    assert neutralise(value) == "'" + value


@pytest.mark.parametrize("value", ["Maxéville", "", "42", 42, -3.5, None])
def test_other_values_are_kept(value):
    assert neutralise(value) == value


def test_csv_is_french_excel_friendly_and_safe():
    frame = pd.DataFrame({"nom": DANGEROUS[:2], "taux": [0.5, -0.25]})
    text = to_csv(frame).decode("utf-8-sig")
    rows = list(csv.reader(io.StringIO(text), delimiter=";"))
    assert rows[0] == ["nom", "taux"]
    assert rows[1] == ["'" + DANGEROUS[0], "0,5"]
    assert rows[2] == ["'+33 6 12", "-0,25"]  # a negative number stays a number


def test_excel_cells_are_text_not_formulas():
    workbook = openpyxl.load_workbook(io.BytesIO(to_excel(pd.DataFrame({"nom": DANGEROUS}))))
    cells = [row[0].value for row in workbook.active.iter_rows(min_row=2)]
    # XML stores a carriage return as a line feed: the quote is what matters.
    assert cells == ["'" + value.replace("\r", "\n") for value in DANGEROUS]
    assert all(row[0].data_type == "s" for row in workbook.active.iter_rows(min_row=2))


def test_summary_escapes_everything():
    page = summary_html(
        "<b>T</b>",
        "s",
        [("<script>alert(1)</script>", "1")],
        [("t", pd.DataFrame({"x": ["<img src=x onerror=alert(1)>"]}))],
        ["<i>note</i>"],
    )
    assert "<script>" not in page and "<img" not in page and "<i>note" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
