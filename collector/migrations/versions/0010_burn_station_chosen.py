"""Burn jobs remember whether their station was chosen by a person.

A job sent to a station picked automatically may go to another one when that station answers
"busy" before starting it; a station chosen in the console, the import or a schedule stays.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-06 20:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | Sequence[str] | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("burn_jobs", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("station_chosen", sa.Boolean(), nullable=False, server_default=sa.false())
        )
    # every job not ended keeps its station as before: jobs created before this had one only
    # when it was chosen or they were sent to it, and neither may move now
    op.execute(
        "UPDATE burn_jobs SET station_chosen = (station_id IS NOT NULL) "
        "WHERE state NOT IN ('done', 'failed', 'cancelled')"
    )


def downgrade() -> None:
    with op.batch_alter_table("burn_jobs", schema=None) as batch_op:
        batch_op.drop_column("station_chosen")
