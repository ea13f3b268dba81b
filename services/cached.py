"""The only module of services/ that knows Streamlit: cached reads for the pages.

Every cached function takes the store's data version, so that a write (which bumps it)
makes the next read compute afresh; results are small (figures, not raw tables).
"""

from __future__ import annotations

import pandas as pd
import streamlit as st

from services import database, events, report, startup
from services.scope import Scope


@st.cache_resource(show_spinner=False)
def prepared_store() -> bool:
    """Migrate (and seed demo data into an empty store) once per process; True if demo data."""
    return startup.prepare_store()


def data_version() -> int:
    """The store's current data version (not cached: it is the cache key)."""
    return database.data_version()


@st.cache_data(ttl=600, show_spinner=False)
def event_list(version: int) -> pd.DataFrame:
    """Every event, latest first."""
    return events.list_events()


@st.cache_data(ttl=600, show_spinner=False)
def default_scope(event_code: str, version: int) -> Scope:
    """The default period of an event."""
    return events.default_scope(event_code)


@st.cache_data(ttl=600, show_spinner=False)
def scope_report(scope: Scope, goal: str, lookback_days: int, version: int) -> dict:
    """The report object of a scope."""
    return report.build_report(scope, goal, lookback_days)
