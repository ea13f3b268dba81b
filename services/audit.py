"""The append-only audit log: sign-ins, views of personal data, exports, imports, changes."""

from __future__ import annotations

from datetime import UTC, datetime

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from services.database import get_engine, write_transaction
from services.models import AuditEvent

EVENTS = AuditEvent.__table__


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
