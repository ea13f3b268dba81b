"""Spend, cost per conversion and e-mail rates (metrics.md, *Money*)."""

from __future__ import annotations

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from services.metrics.bookings import ratio
from services.store.database import get_engine
from services.store.models import Campaign
from services.store.scope import Scope

CAMPAIGNS = Campaign.__table__


def _campaigns_in_scope(scope: Scope) -> list[sa.ColumnElement[bool]]:
    conditions = [scope.on_dates(CAMPAIGNS.c.starts_on)]
    if scope.event:
        conditions.append(CAMPAIGNS.c.event_code == scope.event)
    return conditions


def spend_by_channel(scope: Scope, engine: Engine | None = None) -> dict[str, float]:
    """Sum of ``spend_eur`` of the campaigns starting in the period (of the event, when set)."""
    query = (
        sa.select(CAMPAIGNS.c.channel, sa.func.sum(CAMPAIGNS.c.spend_eur))
        .where(*_campaigns_in_scope(scope))
        .group_by(CAMPAIGNS.c.channel)
    )
    with (engine or get_engine()).connect() as connection:
        return {channel: float(total or 0) for channel, total in connection.execute(query)}


def cost_per_conversion(
    spend: dict[str, float], credits: dict[str, float], channels: list[str]
) -> dict[str, float | None]:
    """spend / credit per channel; None where the credit is 0."""
    return {channel: ratio(spend.get(channel, 0.0), credits.get(channel, 0.0)) for channel in channels}


def email_campaigns(scope: Scope, engine: Engine | None = None) -> pd.DataFrame:
    """E-mail campaigns starting in the period, with their open and click rates."""
    query = (
        sa.select(
            CAMPAIGNS.c.code, CAMPAIGNS.c.name, CAMPAIGNS.c.sent, CAMPAIGNS.c.opened, CAMPAIGNS.c.clicked
        )
        .where(*_campaigns_in_scope(scope), CAMPAIGNS.c.channel == "email")
        .order_by(CAMPAIGNS.c.starts_on, CAMPAIGNS.c.code)
    )
    with (engine or get_engine()).connect() as connection:
        frame = pd.DataFrame(
            connection.execute(query).all(), columns=["code", "name", "sent", "opened", "clicked"]
        )
    frame["open_rate"] = [rate(o, n) for o, n in zip(frame["opened"], frame["sent"], strict=True)]
    frame["click_rate"] = [rate(c, n) for c, n in zip(frame["clicked"], frame["sent"], strict=True)]
    return frame


def rate(part: float | None, whole: float | None) -> float | None:
    """part / whole; undefined when either count is missing or the whole is 0."""
    if part is None or whole is None or pd.isna(part) or pd.isna(whole):
        return None
    return ratio(part, whole)
