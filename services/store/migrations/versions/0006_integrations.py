"""integrations: Cal.com event types and sync cursors, Whereby rooms and attendance

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import services.store.models

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("bookings") as batch:
        batch.add_column(sa.Column("room_meeting_id", sa.String(), nullable=True))
        batch.add_column(sa.Column("host_room_url", sa.String(), nullable=True))
    op.create_table(
        "event_type_mappings",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("event_type_id", sa.Integer(), nullable=False),
        sa.Column("site_code", sa.String(), nullable=False),
        sa.Column("program_code", sa.String(), nullable=True),
        sa.Column("event_code", sa.String(), nullable=True),
        sa.Column("label", sa.String(), nullable=True),
        sa.ForeignKeyConstraint(["site_code"], ["sites.code"]),
        sa.ForeignKeyConstraint(["event_code"], ["events.code"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("event_type_id"),
    )
    op.create_index("ix_event_type_mappings_site_code", "event_type_mappings", ["site_code"])
    op.create_index("ix_event_type_mappings_event_code", "event_type_mappings", ["event_code"])
    op.create_table(
        "sync_cursors",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("cursor", sa.String(), nullable=False),
        sa.Column("synced_at", services.store.models.UtcDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("name"),
    )
    op.create_table(
        "room_attempts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("booking_ref", sa.String(), nullable=False),
        sa.Column("attempted_at", services.store.models.UtcDateTime(timezone=True), nullable=False),
        sa.Column("end_date", sa.String(), nullable=False),
        sa.Column("room_name_prefix", sa.String(), nullable=False),
        sa.Column("state", sa.String(), nullable=False),
        sa.ForeignKeyConstraint(["booking_ref"], ["bookings.ref"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("booking_ref"),
    )
    op.create_table(
        "attendance_suggestions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("booking_ref", sa.String(), nullable=False),
        sa.Column("suggestion", sa.String(), nullable=False),
        sa.Column("visitors", sa.Integer(), nullable=False),
        sa.Column("host_joined", sa.Boolean(), nullable=False),
        sa.Column("family", sa.Boolean(), nullable=False),
        sa.Column("fetched_at", services.store.models.UtcDateTime(timezone=True), nullable=False),
        sa.Column("decided_at", services.store.models.UtcDateTime(timezone=True), nullable=True),
        sa.Column("decided_by", sa.String(), nullable=True),
        sa.Column("decision", sa.String(), nullable=True),
        sa.ForeignKeyConstraint(["booking_ref"], ["bookings.ref"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("booking_ref"),
    )


def downgrade() -> None:
    op.drop_table("attendance_suggestions")
    op.drop_table("room_attempts")
    op.drop_table("sync_cursors")
    op.drop_index("ix_event_type_mappings_event_code", table_name="event_type_mappings")
    op.drop_index("ix_event_type_mappings_site_code", table_name="event_type_mappings")
    op.drop_table("event_type_mappings")
    with op.batch_alter_table("bookings") as batch:
        batch.drop_column("host_room_url")
        batch.drop_column("room_meeting_id")
