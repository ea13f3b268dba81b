"""Rencontres: the entry point and router (``streamlit run dashboard.py``)."""

import streamlit as st

from services import cached
from services.i18n import LANGUAGES, translate

st.set_page_config(page_title="Rencontres", page_icon=":material/handshake:", layout="wide")

holds_demo_data = cached.prepared_store()

with st.sidebar:
    language = st.selectbox(
        translate("app.language", st.session_state.get("language", "fr")),
        options=list(LANGUAGES),
        format_func=LANGUAGES.get,
        key="language",
    )

if holds_demo_data:
    st.warning(translate("app.demo_notice", language), icon=":material/science:")

navigation = st.navigation(
    {
        translate("nav.overview", language): [
            st.Page(
                "pages/home.py", title=translate("page.home", language), icon=":material/home:", default=True
            )
        ]
    }
)
navigation.run()
