"""The download buttons of the pages: every export is built when asked for (never at each rerun),
by the server, for a sign-in that still lives, and recorded in the audit log as it is built (a
download requested over the app's connection without the click is recorded all the same). The
file is then served only to the account that built it (``web.own_export``). Not a page: imported
by the pages."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

import pandas as pd
import streamlit as st
from streamlit.delta_generator import DeltaGenerator
from streamlit.runtime.memory_media_file_storage import _calculate_file_id

from services.app import web
from services.documents import exports
from services.store import audit

CSV = "text/csv"
EXCEL = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


class SignInEnded(PermissionError):
    """The sign-in that showed the button has ended: no file is built."""


def _built(
    build: Callable[[], bytes | str],
    cookies: dict[str, str],
    file_name: str,
    mime: str,
    target: str | None,
) -> bytes:
    # Runs when the browser asks for the file, outside the page's run: the cookies are those of
    # the connection that showed the button, checked against the store now.
    account, _ = web.signed_in(cookies)
    if account is None:
        raise SignInEnded("la session de connexion est terminée : aucun fichier n'est produit")
    data = build()
    data = data.encode("utf-8") if isinstance(data, str) else data
    if target is not None:
        audit.record("export", actor=account.email, target=target, detail=file_name.rsplit(".", 1)[-1])
    # The id under which Streamlit stores and serves these bytes (its own function).
    web.own_export(_calculate_file_id(data, mime, file_name), account.account_id)
    return data


def export_button(
    where: DeltaGenerator,
    label: str,
    build: Callable[[], bytes | str],
    file_name: str,
    mime: str,
    *,
    target: str | None,
    key: str,
    **options: object,
) -> None:
    """A download button whose file ``build()`` makes when asked for, for a live sign-in only,
    recorded as an export of ``target`` (None: ``build`` records its own audit event)."""
    where.download_button(
        label,
        partial(_built, build, dict(st.context.cookies), file_name, mime, target),
        file_name,
        mime,
        key=key,
        **{"icon": ":material/download:", **options},
    )


def table_downloads(
    table: pd.DataFrame,
    name: str,
    *,
    key: str,
    label: str = "",
    widths: tuple[float, ...] = (1, 1, 4),
) -> list[DeltaGenerator]:
    """CSV and Excel buttons for ``table`` (files ``name.csv``, ``name.xlsx``), in columns of
    ``widths``; returns the columns left after the two (for another button, or empty)."""
    columns = st.columns(list(widths))
    export_button(
        columns[0],
        f"{label}CSV",
        partial(exports.to_csv, table),
        f"{name}.csv",
        CSV,
        target=name,
        key=f"{key}_{name}_csv",
    )
    export_button(
        columns[1],
        f"{label}Excel",
        partial(exports.to_excel, table),
        f"{name}.xlsx",
        EXCEL,
        target=name,
        key=f"{key}_{name}_xlsx",
    )
    return columns[2:]
