"""Events (open-day operations, job datings) and the default scope of an event."""

from __future__ import annotations

from datetime import date, timedelta

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from services.store.database import get_engine
from services.store.models import Campaign, Event, Program
from services.store.scope import Scope

EVENTS = Event.__table__
CAMPAIGNS = Campaign.__table__
#: How long after an event its default period runs (enrollments come weeks later).
AFTER_EVENT = timedelta(days=30)


def list_events(engine: Engine | None = None) -> pd.DataFrame:
    """Every event, latest first: code, name, kind, starts_on, ends_on."""
    query = sa.select(
        EVENTS.c.code, EVENTS.c.name, EVENTS.c.kind, EVENTS.c.starts_on, EVENTS.c.ends_on
    ).order_by(EVENTS.c.starts_on.desc(), EVENTS.c.code)
    with (engine or get_engine()).connect() as connection:
        return pd.DataFrame(
            connection.execute(query).all(), columns=["code", "name", "kind", "starts_on", "ends_on"]
        )


def latest_open_day(events: pd.DataFrame) -> str | None:
    """The code of the latest open-day event (virtual or in person) of ``list_events``, or None."""
    open_days = events[events["kind"] != "job_dating"]
    return None if open_days.empty else str(open_days.iloc[0]["code"])


def default_scope(event_code: str, engine: Engine | None = None) -> Scope:
    """The event's campaign window: first campaign start (or the event's start) to a month after it."""
    with (engine or get_engine()).connect() as connection:
        starts_on, ends_on = connection.execute(
            sa.select(EVENTS.c.starts_on, EVENTS.c.ends_on).where(EVENTS.c.code == event_code)
        ).one()
        first_campaign: date | None = connection.execute(
            sa.select(sa.func.min(CAMPAIGNS.c.starts_on)).where(CAMPAIGNS.c.event_code == event_code)
        ).scalar()
    date_from = min(first_campaign, starts_on) if first_campaign else starts_on
    return Scope(date_from, ends_on + AFTER_EVENT, event=event_code)


def program_names(engine: Engine | None = None) -> dict[str, str]:
    """Programme code → name (one name per code, the first by site)."""
    programs = Program.__table__
    query = sa.select(programs.c.code, programs.c.name).order_by(programs.c.code, programs.c.site_code)
    with (engine or get_engine()).connect() as connection:
        names: dict[str, str] = {}
        for code, name in connection.execute(query):
            names.setdefault(code, name)
    return names
