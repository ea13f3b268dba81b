"""mail sends

``mail_sends`` is the send log of the job datings' schedules, updates, cancellations and
reminders: one row per message tried (recipient, whose schedule: a company or a candidate, the
meeting set it carried, time, message id, status), so that a second run sends nothing new.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

import services.store.models

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "mail_sends",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("event_code", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("role", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("siret", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("candidate_ref", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("recipient", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("day", sa.Date(), nullable=True),
        sa.Column("meetings", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("sent_at", services.store.models.UtcDateTime(timezone=True), nullable=False),
        sa.Column("message_id", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("error", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["candidate_ref"], ["candidates.ref"]),
        sa.ForeignKeyConstraint(["event_code"], ["events.code"]),
        sa.ForeignKeyConstraint(["siret"], ["companies.siret"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("mail_sends", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_mail_sends_candidate_ref"), ["candidate_ref"], unique=False)
        batch_op.create_index(batch_op.f("ix_mail_sends_event_code"), ["event_code"], unique=False)
        batch_op.create_index(batch_op.f("ix_mail_sends_siret"), ["siret"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("mail_sends", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_mail_sends_siret"))
        batch_op.drop_index(batch_op.f("ix_mail_sends_event_code"))
        batch_op.drop_index(batch_op.f("ix_mail_sends_candidate_ref"))
    op.drop_table("mail_sends")
