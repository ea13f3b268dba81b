"""Which Cal.com event type books which site, programme and operation: the mappings the data
page edits (an event type's bookings need one before the sync can place them).
"""

from __future__ import annotations

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from services.store import audit
from services.store.database import get_engine, write_transaction
from services.store.models import (
    Event,
    EventTypeMapping,
    Program,
    Site,
)

MAPPINGS = EventTypeMapping.__table__


class MappingError(ValueError):
    """An event type mapping the store refuses (unknown site, programme or event…)."""


def list_event_type_mappings(engine: Engine | None = None) -> pd.DataFrame:
    """Every mapping: event type id, label, site, programme, event."""
    columns = ["event_type_id", "label", "site_code", "program_code", "event_code"]
    query = sa.select(*(MAPPINGS.c[name] for name in columns)).order_by(MAPPINGS.c.event_type_id)
    with (engine or get_engine()).connect() as connection:
        frame = pd.DataFrame(connection.execute(query).all(), columns=columns)
    text = columns[1:]
    frame[text] = frame[text].astype(object).where(frame[text].notna(), None)
    return frame


def save_event_type_mapping(
    *,
    event_type_id: int,
    site_code: str,
    actor: str,
    program_code: str | None = None,
    event_code: str | None = None,
    label: str | None = None,
    engine: Engine | None = None,
) -> None:
    """Create or change the site, programme and event of a Cal.com event type's bookings."""
    if isinstance(event_type_id, bool) or not isinstance(event_type_id, int) or event_type_id < 1:
        raise MappingError("numéro de type d'événement Cal.com invalide (entier ≥ 1 attendu)")
    site_code = (site_code or "").strip()
    program_code = (program_code or "").strip() or None
    event_code = (event_code or "").strip() or None
    label = (label or "").strip() or None
    with write_transaction(engine) as connection:
        if not site_code or not _exists(connection, Site, code=site_code):
            raise MappingError(f"site inconnu : {site_code or '(vide)'}")
        if program_code and not _exists(connection, Program, code=program_code, site_code=site_code):
            raise MappingError(f"programme {program_code} non proposé sur le site {site_code}")
        if event_code and not _exists(connection, Event, code=event_code):
            raise MappingError(f"événement inconnu : {event_code}")
        row = {"site_code": site_code, "program_code": program_code, "event_code": event_code, "label": label}
        updated = connection.execute(
            MAPPINGS.update().where(MAPPINGS.c.event_type_id == event_type_id).values(**row)
        )
        if updated.rowcount == 0:
            connection.execute(MAPPINGS.insert().values(event_type_id=event_type_id, **row))
        audit.record(
            "calcom.mapping",
            actor=actor,
            target=str(event_type_id),
            detail=f"site={site_code} program={program_code or ''} event={event_code or ''}",
            connection=connection,
        )


def _exists(connection: sa.Connection, model: type, **where: str) -> bool:
    table = model.__table__
    query = sa.select(table.c.id).where(*(table.c[name] == value for name, value in where.items()))
    return connection.execute(query).first() is not None


def delete_event_type_mapping(*, event_type_id: int, actor: str, engine: Engine | None = None) -> bool:
    """Forget an event type's mapping (its bookings are reported again); False if there was none."""
    with write_transaction(engine) as connection:
        deleted = connection.execute(MAPPINGS.delete().where(MAPPINGS.c.event_type_id == event_type_id))
        if deleted.rowcount:
            audit.record(
                "calcom.mapping.delete", actor=actor, target=str(event_type_id), connection=connection
            )
    return bool(deleted.rowcount)
