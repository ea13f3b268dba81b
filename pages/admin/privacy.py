"""Personal data (admin): the next retention purge, and one candidate's access export or erasure."""

import streamlit as st

from pages.common.downloads import export_button
from pages.common.gate import open_for
from pages.common.tables import show_table
from services.access import retention, rights
from services.app import cached
from services.app.markdown import escape_markdown
from services.i18n import format_date, translate, translate_plural
from services.store import audit

account, _ = open_for("privacy")
language = st.session_state.get("language", "fr")


def t(key: str, **values: object) -> str:
    return translate(key, language, **values)


def tn(key: str, count: int, **values: object) -> str:
    return translate_plural(key, count, language, **values)


st.title(t("page.privacy"))
st.caption(t("privacy.caption"))
if message := st.session_state.pop("privacy_message", None):
    st.success(message, icon=":material/check:")

st.subheader(t("privacy.purge"), help=t("privacy.purge.help"))
preview = cached.purge_preview(cached.data_version())
st.markdown(
    tn(
        "privacy.purge.next",
        preview.candidates,
        cutoff=format_date(preview.cutoff.date(), language),
    )
)
if preview.candidates:
    rows = preview.as_frame()
    show_table(
        rows.assign(
            table=rows["table"].map(lambda table: t(f"privacy.table.{table}")),
            action=rows["action"].map(lambda action: t(f"privacy.action.{action}")),
        ).rename(columns=lambda c: t(f"col.{c}")),
        language,
        width="content",
    )
    with st.form("privacy_purge_form"):
        confirmed = st.checkbox(tn("privacy.purge.confirm", preview.candidates), key="privacy_purge_confirm")
        if st.form_submit_button(t("privacy.purge.run"), type="primary", icon=":material/delete_sweep:"):
            if confirmed:
                done = retention.purge(actor=account.email)
                st.session_state["privacy_message"] = tn("privacy.purge.done", done.candidates)
                st.rerun()
            st.warning(t("privacy.confirm_first"), icon=":material/warning:")

st.subheader(t("privacy.person"), help=t("privacy.person.help"))
query = st.text_input(t("privacy.search"), key="privacy_search", placeholder=t("privacy.search.placeholder"))
if len(query.strip()) >= 2:
    found = rights.find_candidates(query)
    if found.empty:
        st.info(t("privacy.search.none"))
    else:
        audit.record_view(
            account.email, "privacy", "search", seen=st.session_state.setdefault("audited_views", set())
        )
        names = {
            row.ref: f"{row.first_name or ''} {row.last_name or ''} · {row.email or '—'} · {row.ref}"
            for row in found.itertuples()
        }
        ref = st.selectbox(
            t("privacy.person.pick"), options=list(names), format_func=names.get, key="privacy_ref"
        )
        footprint = rights.candidate_footprint(ref)
        st.caption(
            t(
                "privacy.footprint",
                rows=", ".join(f"{t(f'privacy.table.{k}')} {v}" for k, v in footprint.items()),
            )
        )
        left, right = st.columns(2)
        export_button(
            left,
            t("privacy.export"),
            lambda: rights.candidate_json(ref, actor=account.email),  # audited as it is built
            f"candidat-{ref}.json",
            "application/json",
            target=None,
            key="privacy_export",
        )
        with right.form("privacy_erase_form"):
            confirmed = st.checkbox(
                t("privacy.erase.confirm", ref=escape_markdown(ref)), key=f"privacy_erase_confirm_{ref}"
            )
            if st.form_submit_button(t("privacy.erase"), type="primary", icon=":material/person_remove:"):
                if confirmed:
                    rights.erase_candidate(ref, actor=account.email)
                    st.session_state["privacy_message"] = t("privacy.erase.done", ref=escape_markdown(ref))
                    st.rerun()
                st.warning(t("privacy.confirm_first"), icon=":material/warning:")
elif query.strip():
    st.caption(t("privacy.search.short"))
