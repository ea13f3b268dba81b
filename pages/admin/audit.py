"""Audit log (admin): who signed in, saw personal data, exported, imported, changed what, and when."""

from functools import partial

import streamlit as st

from pages.common.downloads import CSV, export_button
from pages.common.gate import open_for
from pages.common.tables import show_table
from services.documents import exports
from services.i18n import translate, translate_plural
from services.store import audit

account, _ = open_for("audit")
language = st.session_state.get("language", "fr")


def t(key: str, **values: object) -> str:
    return translate(key, language, **values)


def tn(key: str, count: int, **values: object) -> str:
    return translate_plural(key, count, language, **values)


st.title(t("page.audit"))
st.caption(t("audit.caption"))

events = audit.recent_events(limit=audit.PAGE_SIZE)
if events.empty:
    st.info(t("audit.empty"))
    st.stop()

left, right = st.columns([2, 1])
actions = left.multiselect(
    t("audit.actions"),
    options=sorted(events["action"].unique()),
    format_func=lambda action: audit.action_label(action, language),
    key="audit_actions",
    placeholder=t("filters.all"),
)
actor = right.text_input(t("audit.actor"), key="audit_actor", placeholder="nom@exemple.fr")
shown = audit.filter_events(events, actions=actions, actor=actor, language=language)
st.caption(tn("audit.count", len(shown), limit=audit.PAGE_SIZE))
table = shown.rename(columns=lambda c: t(f"col.{c}"))
show_table(
    table,
    language,
    column_config={
        t("col.actor"): st.column_config.TextColumn(width="medium"),
        t("col.action"): st.column_config.TextColumn(width="medium"),
    },
)
export_button(
    st,
    "CSV",
    partial(exports.to_csv, table, language),
    "journal-audit.csv",
    CSV,
    target="audit_log",
    key="audit_csv",
)
