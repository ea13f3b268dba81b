"""Exports cannot run formulas in a spreadsheet, and the summary cannot run scripts."""

from __future__ import annotations

import csv
import io

import openpyxl
import pandas as pd
import pytest

from services.documents.exports import (
    TABLES,
    neutralise,
    summary_html,
    table_columns,
    table_frame,
    table_size,
    to_csv,
    to_excel,
)
from tests.conftest import load

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


# ---------------------------------------------------------------- whole tables (the data page)

CANDIDATES = (
    "ref,first_name,last_name,email,created_at\n"
    'C1,"=HYPERLINK(""http://x"",""y"")",<script>alert(1)</script>,c1@example.org,2020-04-01 10:00\n'
    "C2,Léa,Martin,c2@example.org,2020-07-01 09:30\n"
)


def test_a_table_export_neutralises_formulas_and_keeps_markup_as_text(engine):
    load("candidates", CANDIDATES, engine)
    frame = table_frame("candidates")
    assert list(frame["ref"]) == ["C1", "C2"]
    rows = list(csv.reader(io.StringIO(to_csv(frame).decode("utf-8-sig")), delimiter=";"))
    header = rows[0]
    first = dict(zip(header, rows[1], strict=True))
    assert first["first_name"] == '\'=HYPERLINK("http://x","y")'
    assert first["last_name"] == "<script>alert(1)</script>"  # text for a spreadsheet, left as it is
    sheet = openpyxl.load_workbook(io.BytesIO(to_excel(frame))).active
    cells = {cell.value: cell for cell in sheet[2]}
    formula = cells['\'=HYPERLINK("http://x","y")']
    assert formula.data_type == "s"  # a string, not a formula ("f")
    assert "<script>alert(1)</script>" in cells


def test_instants_are_exported_in_paris_time_and_empty_counts_stay_empty(engine):
    load("candidates", CANDIDATES, engine)
    load("events", "code,name,kind,starts_on,ends_on\nPOV,Virtuelles,virtual,2020-04-14,2020-04-18\n", engine)
    load(
        "campaigns",
        'code,name,channel,event_code,spend_eur,sent\nFB,Facebook,social,POV,"1 234,50",\n',
        engine,
    )
    created = table_frame("candidates")["created_at"]
    # The file's local times come back as they were written (stored in UTC: 08:00 and 07:30).
    assert list(created) == [pd.Timestamp("2020-04-01 10:00"), pd.Timestamp("2020-07-01 09:30")]
    campaign = table_frame("campaigns").iloc[0]
    assert campaign["spend_eur"] == 1234.5 and pd.isna(campaign["sent"])
    row = to_csv(table_frame("campaigns")).decode("utf-8-sig").splitlines()[1].split(";")
    assert row[6:8] == ["1234,5", ""]  # spend with a decimal comma, sent empty (not "nan", not "0")


def test_no_export_holds_a_password_or_a_sign_in_token(engine):
    from services.access import accounts

    accounts.add_account(email="a@example.org", role="admin", password="long enough password", actor="t")
    token = accounts.open_session(accounts.authenticate("a@example.org", "long enough password"))
    assert "sign_in_sessions" not in TABLES
    with pytest.raises(KeyError):
        table_frame("sign_in_sessions")
    assert "password_hash" not in table_frame("accounts").columns
    everything = "".join(to_csv(table_frame(name)).decode("utf-8-sig") for name in TABLES)
    assert "$argon2" not in everything and token not in everything
    assert list(table_frame("accounts")["email"]) == ["a@example.org"]


def test_every_table_exports_to_csv_and_excel(scenario):
    for name in TABLES:
        frame = table_frame(name)
        assert table_size(name) == len(frame)
        assert table_columns(name) == list(frame.columns)
        assert to_csv(frame) and to_excel(frame)  # Excel refuses instants with an offset
    # tests/data/scenario/sites.csv: a header and two sites.
    assert table_size("sites") == 2


# ------------------------------------------------------ line breaks inside a cell (issue 16, item 8)

FORMULA_CHARACTERS = ("=", "+", "-", "@", "\t")


def _hostile_frame() -> pd.DataFrame:
    return pd.DataFrame(
        {"x\r=cmd|' /C calc'!A0": ["x\r=cmd|' /C calc'!A0", "a\n+1", "b\r\n-2+3", "c\r@SUM(A1)", "\r\r=1"]}
        | {"n": [1, 2, 3, 4, 5]}
    )


def _lines(cell: str) -> list[str]:
    return cell.replace("\r\n", "\n").replace("\r", "\n").split("\n")


def _assert_no_line_starts_a_formula(cell: str) -> None:
    for number, line in enumerate(_lines(cell)):
        if number == 0 and cell.startswith(("'\r", "'\n")):
            continue  # the cell's own first character was a line break, quoted
        assert not line.startswith(FORMULA_CHARACTERS), repr(cell)


def test_a_csv_cell_holding_line_breaks_is_quoted_and_read_back_as_one_row():
    frame = _hostile_frame()
    text = to_csv(frame).decode("utf-8-sig")
    # The bare carriage return field is quoted: no reader can take its CR for the end of a row.
    assert "\"x\r'=cmd|' /C calc'!A0\";1" in text
    rows = list(csv.reader(io.StringIO(text, newline=""), delimiter=";"))
    assert len(rows) == len(frame) + 1 and all(len(row) == 2 for row in rows)
    back = pd.read_csv(io.StringIO(text, newline=""), sep=";", dtype=str)
    assert back.shape == frame.shape
    for cell in [*rows[0], *(row[0] for row in rows[1:]), *back.columns, *back.iloc[:, 0]]:
        _assert_no_line_starts_a_formula(cell)
    assert rows[1][0] == "x\r'=cmd|' /C calc'!A0" and rows[3][0] == "b\r\n'-2+3"
    # A reader that ends a row at every line break, quoted or not, still finds no formula.
    for line in _lines(text):
        assert not line.startswith(FORMULA_CHARACTERS), repr(line)


def test_an_excel_cell_holding_line_breaks_has_no_line_starting_a_formula():
    frame = _hostile_frame()
    sheet = openpyxl.load_workbook(io.BytesIO(to_excel(frame))).active
    rows = list(sheet.iter_rows(values_only=True))
    assert len(rows) == len(frame) + 1
    for cell in [rows[0][0], *(row[0] for row in rows[1:])]:
        _assert_no_line_starts_a_formula(cell)
    assert all(row[0].data_type == "s" for row in sheet.iter_rows())


def test_an_anonymous_sign_in_e_mail_cannot_smuggle_a_row_into_the_audit_export(engine):
    from services.access import accounts
    from services.store import audit

    with pytest.raises(accounts.AccountError):
        accounts.authenticate("x\r=cmd|' /C calc'!A0", "wrong password")
    events = audit.recent_events()
    assert len(events) == 1
    text = to_csv(events).decode("utf-8-sig")
    rows = list(csv.reader(io.StringIO(text, newline=""), delimiter=";"))
    assert len(rows) == 2
    for line in _lines(text):
        assert not line.startswith(FORMULA_CHARACTERS), repr(line)
