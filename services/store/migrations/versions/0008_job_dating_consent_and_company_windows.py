"""job-dating consent and company windows

Candidates get ``presentation_consent`` (accepted to be presented to companies at job
datings) and ``parent_presentation_consent`` (a parent's too, needed under 15), both false for
the rows already stored; they are not in the import contract, an advisor sets them. Companies
get their time windows per job-dating event (``company_windows``).

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

import services.store.models

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # A literal default lets SQLite add the columns in place (see revision 0004).
    with op.batch_alter_table("candidates", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("presentation_consent", sa.Boolean(), server_default="0", nullable=False)
        )
        batch_op.add_column(
            sa.Column("parent_presentation_consent", sa.Boolean(), server_default="0", nullable=False)
        )
    op.create_table(
        "company_windows",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("event_code", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("siret", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("starts_at", services.store.models.UtcDateTime(timezone=True), nullable=False),
        sa.Column("ends_at", services.store.models.UtcDateTime(timezone=True), nullable=False),
        sa.Column("meeting_min", sa.Integer(), server_default="20", nullable=False),
        sa.ForeignKeyConstraint(["event_code"], ["events.code"]),
        sa.ForeignKeyConstraint(["siret"], ["companies.siret"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("event_code", "siret", "starts_at", name="uq_company_windows_key"),
    )
    with op.batch_alter_table("company_windows", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_company_windows_event_code"), ["event_code"], unique=False)
        batch_op.create_index(batch_op.f("ix_company_windows_siret"), ["siret"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("company_windows", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_company_windows_siret"))
        batch_op.drop_index(batch_op.f("ix_company_windows_event_code"))
    op.drop_table("company_windows")
    with op.batch_alter_table("candidates", schema=None) as batch_op:
        batch_op.drop_column("parent_presentation_consent")
        batch_op.drop_column("presentation_consent")
