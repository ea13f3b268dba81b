"""consent records and mail addresses

Candidates get ``consent_recorded_on`` and ``consent_source`` (when and where their consents to
be presented to companies were collected: the import contract now carries those consents) and
``parent_email`` (a parent's address, to whom a minor's job-dating schedule is sent too);
companies get ``email`` (where their job-dating schedule is sent). All empty for stored rows.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("candidates", schema=None) as batch_op:
        batch_op.add_column(sa.Column("consent_recorded_on", sa.Date(), nullable=True))
        batch_op.add_column(sa.Column("consent_source", sqlmodel.sql.sqltypes.AutoString(), nullable=True))
        batch_op.add_column(sa.Column("parent_email", sqlmodel.sql.sqltypes.AutoString(), nullable=True))
    with op.batch_alter_table("companies", schema=None) as batch_op:
        batch_op.add_column(sa.Column("email", sqlmodel.sql.sqltypes.AutoString(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("companies", schema=None) as batch_op:
        batch_op.drop_column("email")
    with op.batch_alter_table("candidates", schema=None) as batch_op:
        batch_op.drop_column("parent_email")
        batch_op.drop_column("consent_source")
        batch_op.drop_column("consent_recorded_on")
