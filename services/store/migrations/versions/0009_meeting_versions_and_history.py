"""meeting versions and history

Meetings get a ``version`` (0 for the rows already stored), which every change increments, so
that a save from the dashboard that read an older row is refused, as for interviews; their
changes are kept in ``meeting_changes`` (who, when, which field, old and new value).

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

import services.store.models

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # A literal default lets SQLite add the column in place (see revision 0004).
    with op.batch_alter_table("meetings", schema=None) as batch_op:
        batch_op.add_column(sa.Column("version", sa.Integer(), server_default="0", nullable=False))
    op.create_table(
        "meeting_changes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("meeting_ref", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("changed_at", services.store.models.UtcDateTime(timezone=True), nullable=False),
        sa.Column("changed_by", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("field", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("old_value", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("new_value", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.ForeignKeyConstraint(["meeting_ref"], ["meetings.ref"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("meeting_changes", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_meeting_changes_meeting_ref"), ["meeting_ref"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("meeting_changes", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_meeting_changes_meeting_ref"))
    op.drop_table("meeting_changes")
    with op.batch_alter_table("meetings", schema=None) as batch_op:
        batch_op.drop_column("version")
