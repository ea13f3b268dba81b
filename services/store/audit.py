"""The append-only audit log: sign-ins, views of personal data, exports, imports, changes."""

from __future__ import annotations

from datetime import UTC, datetime

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from services.config import LOCAL_TZ
from services.i18n import has_message, translate
from services.store.database import get_engine, write_transaction
from services.store.models import AuditEvent

EVENTS = AuditEvent.__table__
#: How many of the latest events the audit page reads.
PAGE_SIZE = 2000


def record(
    action: str,
    *,
    actor: str,
    target: str | None = None,
    detail: str | None = None,
    connection: sa.Connection | None = None,
    engine: Engine | None = None,
) -> None:
    """Append one event (inside the caller's transaction when a connection is given)."""
    row = {"at": datetime.now(UTC), "actor": actor, "action": action, "target": target, "detail": detail}
    if connection is not None:
        connection.execute(EVENTS.insert().values(**row))
        return
    with write_transaction(engine) as own:
        own.execute(EVENTS.insert().values(**row))


def record_view(actor: str, page: str, detail: str, *, seen: set[tuple[str, str]]) -> None:
    """Log that ``actor`` saw personal data on ``page`` (``detail``: which period), once per
    browser session and view: ``seen`` is the session's set of views already logged."""
    if (page, detail) in seen:
        return
    record("view", actor=actor, target=page, detail=detail)
    seen.add((page, detail))


def recent_events(limit: int = 500, engine: Engine | None = None) -> pd.DataFrame:
    """The latest events, newest first."""
    query = (
        sa.select(EVENTS.c.at, EVENTS.c.actor, EVENTS.c.action, EVENTS.c.target, EVENTS.c.detail)
        .order_by(EVENTS.c.id.desc())
        .limit(limit)
    )
    with (engine or get_engine()).connect() as connection:
        return pd.DataFrame(
            connection.execute(query).all(), columns=["at", "actor", "action", "target", "detail"]
        )


def action_label(action: str, language: str) -> str:
    """An action as the audit page names it (its code when it has no label)."""
    key = f"audit.action.{action}"
    return translate(key, language) if has_message(key, language) else action


def filter_events(events: pd.DataFrame, *, actions: list[str], actor: str, language: str) -> pd.DataFrame:
    """The events of these actions (all when none) whose actor contains ``actor``, as shown:
    the centre's time (written in the reader's language by the page), action labels."""
    kept = events[events["action"].isin(actions)] if actions else events
    if actor.strip():
        kept = kept[kept["actor"].str.contains(actor.strip(), case=False, regex=False)]
    return kept.fillna({"target": "", "detail": ""}).assign(
        at=pd.to_datetime(kept["at"], utc=True).dt.tz_convert(LOCAL_TZ),
        action=kept["action"].map(lambda action: action_label(action, language)),
    )
