"""Exports of tables (CSV, Excel) with formula injection neutralised, and the printable summary."""

from __future__ import annotations

import html
import io
from collections.abc import Iterable

import pandas as pd

#: A cell starting with one of these is read as a formula by spreadsheets.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def neutralise(value: object) -> object:
    """The value, with a leading ``'`` when it is text a spreadsheet would run as a formula."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def safe_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy of the table whose text cells (and headers) cannot run as formulas."""
    safe = frame.copy()
    for column in safe.columns:
        if safe[column].dtype == object or pd.api.types.is_string_dtype(safe[column]):
            safe[column] = safe[column].map(neutralise)
    safe.columns = [neutralise(str(name)) for name in safe.columns]
    return safe


def to_csv(frame: pd.DataFrame) -> bytes:
    """CSV as French Excel opens it: UTF-8 with BOM, ``;`` separator, decimal comma."""
    return safe_frame(frame).to_csv(index=False, sep=";", decimal=",").encode("utf-8-sig")


def to_excel(frame: pd.DataFrame, sheet: str = "Données") -> bytes:
    """An .xlsx workbook of one sheet."""
    buffer = io.BytesIO()
    with pd.ExcelWriter(buffer, engine="openpyxl") as writer:
        safe_frame(frame).to_excel(writer, sheet_name=sheet[:31], index=False)
    return buffer.getvalue()


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
