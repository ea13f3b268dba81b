"""Tables shown in the app's language: every figure written by services.i18n.format_table.

Not a page: imported by the pages.
"""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd
import streamlit as st
from streamlit.delta_generator import DeltaGenerator

from services.i18n import figure_columns, format_table, translate


def show_table(
    frame: pd.DataFrame,
    language: str,
    formats: Mapping[str, str] | None = None,
    *,
    where: DeltaGenerator | None = None,
    **options: object,
) -> object:
    """``st.dataframe`` of ``frame`` with its figures as the language writes them, aligned right.

    ``formats``: column → kind (services.i18n.TABLE_FORMATS); ``options`` go to st.dataframe
    (their ``column_config`` entries win over the alignment given here); returns what
    st.dataframe returns (the selection, with ``on_select``). A table without rows is a caption
    saying so in the language (one whose rows can be selected stays a table).
    """
    if frame.empty and "on_select" not in options:
        return (where or st).caption(translate("table.empty", language))
    config: dict[str, object] = {
        name: st.column_config.TextColumn(alignment="right") for name in figure_columns(frame, formats)
    }
    config.update(options.pop("column_config", None) or {})
    options.setdefault("hide_index", True)
    options.setdefault("width", "stretch")
    return (where or st).dataframe(format_table(frame, language, formats), column_config=config, **options)
