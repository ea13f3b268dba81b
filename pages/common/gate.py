"""The first thing every page does: run only for a role that may open it, however it was reached.

The navigation (dashboard.py) registers a page for its roles only, so no address leads another
role to it; a page still does not rely on that (Streamlit has run a ``pages/*.py`` file on its own
when its address was opened): it reads the sign-in the dashboard checked at this run and shows
nothing at all to a role it is not for. Not a page: imported by the pages."""

from __future__ import annotations

import streamlit as st

from services.access import roles
from services.access.accounts import SignedIn


def open_for(page: str) -> tuple[SignedIn, roles.Viewer]:
    """The account and viewer of this run's sign-in, when its role may open ``page`` (a name of
    ``roles.PAGES``); otherwise the page stops here, having shown nothing."""
    account, viewer = st.session_state.get("account"), st.session_state.get("viewer")
    if not isinstance(viewer, roles.Viewer) or not roles.may_open(page, viewer.role):
        st.stop()
    return account, viewer
