"""Exports of tables (CSV, Excel) with formula injection neutralised, and the printable summary."""

from __future__ import annotations

import csv
import html
import io
import re
from collections.abc import Iterable
from decimal import Decimal

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from services.config import LOCAL_TZ
from services.store import models
from services.store.contract import IMPORT_ORDER
from services.store.database import get_engine
from services.store.values import FORMULA_STARTS

#: A cell starting with one of these is read as a formula by spreadsheets.
#: A line inside a cell that starts a formula: a reader that takes a line break for the end of a
#: row (a bare carriage return does that in some) would run it.
_FORMULA_LINE = re.compile(r"(\r\n|\r|\n)(?=[=+\-@\t])")
#: The tables the data page exports: the contract's files in their order, then the app's own.
#: Sign-in sessions are never exported (their token hashes open sessions).
TABLES: tuple[str, ...] = (
    *IMPORT_ORDER,
    "booking_changes",
    "booking_notes",
    "channel_rules",
    "import_runs",
    "audit_events",
    "accounts",
)
#: Columns never exported, whatever the table (a video room's host link makes its holder the host).
SECRET_COLUMNS = frozenset({"password_hash", "token_hash", "host_room_url"})


def neutralise(value: object) -> object:
    """The value, with a ``'`` before it and before every line inside it that a spreadsheet would run."""
    if not isinstance(value, str):
        return value
    value = _FORMULA_LINE.sub(r"\1'", value)
    return "'" + value if value.startswith(FORMULA_STARTS) else value


def safe_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy of the table whose text cells (and headers) cannot run as formulas."""
    safe = frame.copy()
    for column in safe.columns:
        if isinstance(safe[column].dtype, pd.CategoricalDtype):
            safe[column] = safe[column].astype(object)
        if safe[column].dtype == object or pd.api.types.is_string_dtype(safe[column]):
            safe[column] = safe[column].map(neutralise)
    safe.columns = [neutralise(str(name)) for name in safe.columns]
    return safe


def to_csv(frame: pd.DataFrame) -> bytes:
    """CSV as French Excel opens it: UTF-8 with BOM, ``;`` separator, decimal comma, CRLF rows.

    The csv module quotes a field holding any character of the line terminator: with CRLF, every
    field holding a carriage return or a line feed is quoted (with a bare LF terminator, a bare CR
    was written as it is, and spreadsheets read it as the end of a row).
    """
    return (
        safe_frame(frame)
        .to_csv(index=False, sep=";", decimal=",", lineterminator="\r\n", quoting=csv.QUOTE_MINIMAL)
        .encode("utf-8-sig")
    )


def to_excel(frame: pd.DataFrame, sheet: str = "Données") -> bytes:
    """An .xlsx workbook of one sheet."""
    buffer = io.BytesIO()
    with pd.ExcelWriter(buffer, engine="openpyxl") as writer:
        safe_frame(frame).to_excel(writer, sheet_name=sheet[:31], index=False)
    return buffer.getvalue()


def _exported(name: str) -> tuple[sa.Table, list[sa.Column]]:
    if name not in TABLES:
        raise KeyError(f"table non exportable : {name}")
    table = models.SQLModel.metadata.tables[name]
    columns = [
        column
        for column in table.columns
        if column.name not in SECRET_COLUMNS and not (name in IMPORT_ORDER and column.name == "id")
    ]
    return table, columns


def table_columns(name: str) -> list[str]:
    """The columns an export of the table holds."""
    return [column.name for column in _exported(name)[1]]


def table_size(name: str, engine: Engine | None = None) -> int:
    """The number of rows of an exported table."""
    table, _ = _exported(name)
    with (engine or get_engine()).connect() as connection:
        return int(connection.execute(sa.select(sa.func.count()).select_from(table)).scalar_one())


def _local_instants(values: pd.Series) -> pd.Series:
    """Instants in Paris time without offset, as Excel and the import files read them; those of
    the hour that comes twice when clocks go back (02:00-03:00 in October) keep their offset as
    text, which the import reads: without it, one of the two would come back an hour off."""
    local = values.dt.tz_convert(LOCAL_TZ)
    naive = local.dt.tz_localize(None)
    twice = naive.notna() & naive.dt.tz_localize(LOCAL_TZ, ambiguous="NaT", nonexistent="NaT").isna()
    if not twice.any():
        return naive
    shown = naive.astype(object)
    shown[twice] = local[twice].map(lambda instant: instant.isoformat(sep=" "))
    return shown


def table_frame(name: str, engine: Engine | None = None) -> pd.DataFrame:
    """A whole table as the data page exports it, in insertion order.

    No secret column; no row id for the contract's files (their natural key identifies a row,
    as in the files); instants in Europe/Paris time without offset (as Excel and the import
    files read them); amounts as numbers. Raises KeyError for a table that is not exported.
    """
    table, columns = _exported(name)
    with (engine or get_engine()).connect() as connection:
        rows = connection.execute(sa.select(*columns).order_by(table.c.id)).all()
    frame = pd.DataFrame(rows, columns=[column.name for column in columns])
    for column in columns:
        values = frame[column.name]
        if isinstance(values.dtype, pd.DatetimeTZDtype):
            frame[column.name] = _local_instants(values)
        elif isinstance(column.type, sa.Integer) and not isinstance(column.type, sa.Boolean):
            frame[column.name] = values.astype("Int64")  # an empty count stays empty, not 1000.0
        elif values.map(lambda value: isinstance(value, Decimal)).any():
            frame[column.name] = values.map(
                lambda value: float(value) if isinstance(value, Decimal) else value
            )
    return frame


def summary_html(
    title: str,
    subtitle: str,
    figures: Iterable[tuple[str, str]],
    tables: Iterable[tuple[str, pd.DataFrame]],
    notes: Iterable[str] = (),
) -> str:
    """A one-page printable summary (HTML with print styles); every value is escaped."""
    cards = "".join(
        f"<div class='card'><div class='label'>{html.escape(label)}</div>"
        f"<div class='value'>{html.escape(value)}</div></div>"
        for label, value in figures
    )
    sections = "".join(
        f"<h2>{html.escape(name)}</h2>{table.to_html(index=False, escape=True, na_rep='—', border=0)}"
        for name, table in tables
    )
    findings = "".join(f"<li>{html.escape(note)}</li>" for note in notes)
    return f"""<!doctype html>
<html lang="fr"><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>
@page {{ size: A4; margin: 12mm; }}
body {{ font-family: system-ui, sans-serif; color: #1F2A37; font-size: 11px; }}
h1 {{ font-size: 20px; margin: 0; }} h2 {{ font-size: 14px; margin: 14px 0 4px; }}
.sub {{ color: #555; margin-bottom: 10px; }}
.cards {{ display: grid; grid-template-columns: repeat(4, 1fr); gap: 6px; }}
.card {{ border: 1px solid #ccd; border-radius: 4px; padding: 6px; }}
.label {{ color: #555; }} .value {{ font-size: 16px; font-weight: 600; }}
table {{ border-collapse: collapse; width: 100%; }}
th, td {{ border-bottom: 1px solid #dde; padding: 2px 4px; text-align: right; }}
th:first-child, td:first-child {{ text-align: left; }}
</style></head><body>
<h1>{html.escape(title)}</h1><div class="sub">{html.escape(subtitle)}</div>
<div class="cards">{cards}</div>
{"<h2>Constats</h2><ul>" + findings + "</ul>" if findings else ""}
{sections}
</body></html>"""
