"""table versions

A version per table, a new random stamp at every write transaction to it: the analytical
copies of the tables (``services.store.analytics``) are refreshed table by table when it changes.
The tables already there get a first stamp: two stores upgraded apart never share one.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-29
"""

from __future__ import annotations

import secrets

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    existing = sorted(sa.inspect(op.get_bind()).get_table_names())
    versions = op.create_table(
        "table_versions",
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("name"),
    )
    op.bulk_insert(versions, [{"name": name, "version": secrets.randbits(62) + 1} for name in existing])


def downgrade() -> None:
    op.drop_table("table_versions")
