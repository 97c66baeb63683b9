"""Venues: retention of the personal data in scan records (``venue_scans.purged_at``).

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-23 17:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | Sequence[str] | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # A nullable column without a default: no table rewrite on SQLite or PostgreSQL.
    op.add_column("venue_scans", sa.Column("purged_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("venue_scans", schema=None) as batch_op:
        batch_op.drop_column("purged_at")
