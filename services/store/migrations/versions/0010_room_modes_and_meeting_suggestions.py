"""room modes and meeting suggestions

A room's ``roomMode`` is kept with its attempt (``room_attempts.room_mode``; empty for the rooms
asked before, taken as ``normal``), so that an interview that grew past 4 people gets a ``group``
room before it starts. ``meeting_suggestions`` holds what the calls say of job-dating meetings,
waiting for an advisor, deleted with their meeting.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import services.store.models

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("room_attempts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("room_mode", sa.String(), nullable=True))
    op.create_table(
        "meeting_suggestions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("meeting_ref", sa.String(), nullable=False),
        sa.Column("suggestion", sa.String(), nullable=False),
        sa.Column("candidate_joined", sa.Boolean(), nullable=False),
        sa.Column("company_joined", sa.Boolean(), nullable=False),
        sa.Column("fetched_at", services.store.models.UtcDateTime(timezone=True), nullable=False),
        sa.Column("decided_at", services.store.models.UtcDateTime(timezone=True), nullable=True),
        sa.Column("decided_by", sa.String(), nullable=True),
        sa.Column("decision", sa.String(), nullable=True),
        sa.ForeignKeyConstraint(["meeting_ref"], ["meetings.ref"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("meeting_ref"),
    )


def downgrade() -> None:
    op.drop_table("meeting_suggestions")
    with op.batch_alter_table("room_attempts", schema=None) as batch_op:
        batch_op.drop_column("room_mode")
