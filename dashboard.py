"""Rencontres: the entry point and router (``streamlit run dashboard.py``).

Page config, the language, the shared scope filters (kept in the URL) and the navigation.

The page scripts live in sub-folders of ``pages/`` (one per audience), never directly in it:
Streamlit 1.67 still runs a ``pages/*.py`` file on its own, without this entry script, when
its URL is opened or rerun; in a sub-folder only ``st.navigation`` below can reach it.
"""

from datetime import date

import streamlit as st

from services import cached
from services.filters import Selection, params_of, read_selection
from services.i18n import LANGUAGES, translate
from services.results import comparison_event

st.set_page_config(page_title="Rencontres", page_icon=":material/handshake:", layout="wide")

# The sidebar's widgets keep their values across pages only when re-assigned at each run.
for key in ("language", "filter_event", "filter_period", "filter_sites", "filter_programs", "filter_compare"):
    if key in st.session_state:
        st.session_state[key] = st.session_state[key]

holds_demo_data = cached.prepared_store()
version = cached.data_version()
events = cached.event_list(version)
event_names = dict(zip(events["code"], events["name"], strict=True))
site_names = cached.site_names(version)
program_names = cached.program_names(version)
if "language" not in st.session_state:
    st.session_state["language"] = (
        st.query_params.get("lang", "fr") if st.query_params.get("lang") in LANGUAGES else "fr"
    )
language = st.session_state["language"]


def t(key: str, **values: object) -> str:
    return translate(key, language, **values)


def _on_event_change() -> None:
    # A new operation brings its own period and comparison.
    event = st.session_state["filter_event"]
    scope = cached.default_scope(event, version)
    st.session_state["filter_period"] = (scope.date_from, scope.date_to)
    st.session_state["filter_compare"] = comparison_event(events, event)


if "filter_event" not in st.session_state:
    params = {
        name: st.query_params.get_all(name) for name in ("event", "from", "to", "site", "program", "compare")
    }
    selection, notices = read_selection(
        params,
        events,
        list(site_names),
        list(program_names),
        default_scope=lambda code: cached.default_scope(code, version),
        default_compare=lambda code: comparison_event(events, code),
        today=date.today(),
    )
    st.session_state.update(
        {
            "filter_event": selection.event,
            "filter_period": (selection.date_from, selection.date_to),
            "filter_sites": list(selection.sites),
            "filter_programs": list(selection.programs),
            "filter_compare": selection.compare,
            "filter_notices": notices,
        }
    )

with st.sidebar:
    st.selectbox(t("app.language"), options=list(LANGUAGES), format_func=LANGUAGES.get, key="language")
    st.subheader(t("filters.title"))
    event = st.selectbox(
        t("filters.event"),
        options=list(event_names) or [None],
        key="filter_event",
        format_func=lambda code: event_names.get(code, t("filters.no_event")),
        on_change=_on_event_change,
        placeholder=t("filters.no_event"),
    )
    period = st.date_input(t("filters.period"), key="filter_period", format="DD/MM/YYYY")
    sites = st.multiselect(
        t("filters.sites"),
        options=list(site_names),
        key="filter_sites",
        format_func=lambda code: site_names.get(code, code),
        placeholder=t("filters.all"),
    )
    programs = st.multiselect(
        t("filters.programs"),
        options=list(program_names),
        key="filter_programs",
        format_func=lambda code: f"{code} · {program_names.get(code, code)}",
        placeholder=t("filters.all"),
    )
    compare_options = [code for code in event_names if code != event and code in event_names]
    if st.session_state.get("filter_compare") not in compare_options:
        st.session_state["filter_compare"] = None
    compare = st.selectbox(
        t("filters.compare"),
        options=[None, *compare_options],
        key="filter_compare",
        format_func=lambda code: event_names.get(code, t("filters.no_event")),
        placeholder=t("filters.no_event"),
    )

date_from, date_to = period if len(period) == 2 else (period[0], period[0])
selection = Selection(event, date_from, date_to, tuple(sites), tuple(programs), compare)
st.session_state["selection"] = selection
st.query_params.from_dict({**params_of(selection), "lang": language})

if holds_demo_data:
    st.warning(t("app.demo_notice"), icon=":material/science:")
for key, value in st.session_state.pop("filter_notices", []):
    st.warning(t(key, value=value), icon=":material/link_off:")

navigation = st.navigation(
    {
        t("nav.overview"): [
            st.Page(
                "pages/directors/results.py",
                title=t("page.results"),
                icon=":material/insights:",
                default=True,
            ),
        ],
        t("nav.advisors"): [
            st.Page("pages/advisors/schedule.py", title=t("page.schedule"), icon=":material/calendar_month:"),
        ],
        t("nav.marketing"): [
            st.Page("pages/marketing/channels.py", title=t("page.channels"), icon=":material/campaign:"),
        ],
    }
)
navigation.run()
