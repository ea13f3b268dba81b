"""Rows changed by several people at once: each change is written only if the row is still at
the version its author read, and each changed field is logged (bookings, meetings)."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa


class ChangeRefused(ValueError):
    """A change that the rules refuse (the message says why, in French)."""


class ConflictError(ChangeRefused):
    """Someone else changed the row since it was read: nothing was written."""


def read_versioned(
    connection: sa.Connection, table: sa.Table, ref: str, read_version: int, *, unknown: str, changed: str
) -> dict:
    """The row of ``table`` (a table with ``ref`` and ``version``: bookings, meetings) if it is
    still at the version the user read; ``ChangeRefused(unknown)`` without it, ``ConflictError``
    (``changed`` and what to do) after someone else's change."""
    current = connection.execute(sa.select(table).where(table.c.ref == ref)).mappings().first()
    if current is None:
        raise ChangeRefused(unknown)
    if current["version"] != read_version:
        raise ConflictError(f"{changed} : rechargez la page, vérifiez, puis enregistrez à nouveau")
    return dict(current)


def write_versioned(
    connection: sa.Connection,
    table: sa.Table,
    changes_table: sa.Table,
    current: dict,
    changes: dict,
    *,
    author: str,
    now: datetime,
    changed: str,
) -> int:
    """Update the row ``current`` (read by ``read_versioned``) if it is still at its version, and
    log each changed field in ``changes_table`` (its first column after the id names the row:
    ``booking_ref``, ``meeting_ref``); returns the new version."""
    updated = {name: value for name, value in changes.items() if current[name] != value}
    new_version = current["version"] + 1
    result = connection.execute(
        table.update()
        .where(table.c.ref == current["ref"], table.c.version == current["version"])
        .values(**updated, version=new_version)
    )
    if result.rowcount != 1:
        raise ConflictError(f"{changed} : rechargez la page")
    if updated:
        key = _owner_column(changes_table).name
        connection.execute(
            changes_table.insert(),
            [
                {
                    key: current["ref"],
                    "changed_at": now,
                    "changed_by": author,
                    "field": name,
                    "old_value": None if current[name] is None else str(current[name]),
                    "new_value": None if value is None else str(value),
                }
                for name, value in updated.items()
            ],
        )
    return new_version


def _owner_column(changes_table: sa.Table) -> sa.Column:
    """The column of a history table that names its row (``booking_ref``, ``meeting_ref``)."""
    return next(column for column in changes_table.columns if column.name.endswith("_ref"))


def changes_of(connection: sa.Connection, changes_table: sa.Table, ref: str) -> list[sa.Row]:
    """The logged changes of one row (``write_versioned``): at, by, field, old, new, in the
    order they were written."""
    table = changes_table.c
    return connection.execute(
        sa.select(table.changed_at, table.changed_by, table.field, table.old_value, table.new_value)
        .where(_owner_column(changes_table) == ref)
        .order_by(table.id)
    ).all()
