"""The download buttons a page puts under a table: the same table as CSV and Excel, each export
recorded in the audit log (``audit.on_export``). Not a page: imported by the pages."""

from __future__ import annotations

from functools import partial

import pandas as pd
import streamlit as st
from streamlit.delta_generator import DeltaGenerator

from services import audit, exports


def table_downloads(
    table: pd.DataFrame,
    name: str,
    *,
    email: str,
    key: str,
    label: str = "",
    widths: tuple[float, ...] = (1, 1, 4),
) -> list[DeltaGenerator]:
    """CSV and Excel buttons for ``table`` (files ``name.csv``, ``name.xlsx``), in columns of
    ``widths``; returns the columns left after the two (for another button, or empty)."""
    columns = st.columns(list(widths))
    columns[0].download_button(
        f"{label}CSV",
        partial(exports.to_csv, table),
        f"{name}.csv",
        "text/csv",
        key=f"{key}_{name}_csv",
        icon=":material/download:",
        **audit.on_export(email, name, "csv"),
    )
    columns[1].download_button(
        f"{label}Excel",
        partial(exports.to_excel, table),
        f"{name}.xlsx",
        key=f"{key}_{name}_xlsx",
        icon=":material/download:",
        **audit.on_export(email, name, "xlsx"),
    )
    return columns[2:]
