"""Visitors module: visits and their personal data, entrance rules, watch list.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23 14:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "visitor_rules",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("centre_id", sa.String(length=64), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("temperature_threshold_c", sa.Float(), nullable=False),
        sa.Column("require_temperature", sa.Boolean(), nullable=False),
        sa.Column("auto_admit", sa.Boolean(), nullable=False),
        sa.Column("region_class1_action", sa.String(length=8), nullable=False),
        sa.Column("region_class2_action", sa.String(length=8), nullable=False),
        sa.Column(
            "watched_regions",
            sa.JSON().with_variant(postgresql.JSONB(), "postgresql"),
            nullable=True,
        ),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_by", sa.String(length=100), nullable=False),
        sa.Column("config_version", sa.Integer(), nullable=True),
        sa.Column("pushed_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["centre_id"], ["centres.id"], name=op.f("fk_visitor_rules_centre_id_centres")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_visitor_rules")),
        sa.UniqueConstraint("centre_id", "version", name="uq_visitor_rules_version"),
    )
    op.create_table(
        "visitor_watchlist",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("centre_id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.Text(), nullable=True),
        sa.Column("id_number", sa.Text(), nullable=True),
        sa.Column("id_number_hash", sa.String(length=64), nullable=True),
        sa.Column("reason", sa.String(length=200), nullable=False),
        sa.Column("action", sa.String(length=8), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_by", sa.String(length=100), nullable=False),
        sa.ForeignKeyConstraint(
            ["centre_id"], ["centres.id"], name=op.f("fk_visitor_watchlist_centre_id_centres")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_visitor_watchlist")),
    )
    op.create_index(
        op.f("ix_visitor_watchlist_centre_id"), "visitor_watchlist", ["centre_id"], unique=False
    )
    op.create_index(
        op.f("ix_visitor_watchlist_id_number_hash"),
        "visitor_watchlist",
        ["id_number_hash"],
        unique=False,
    )
    op.create_table(
        "visits",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("centre_id", sa.String(length=64), nullable=False),
        sa.Column("entry_passage_id", sa.String(length=64), nullable=True),
        sa.Column("exit_passage_id", sa.String(length=64), nullable=True),
        sa.Column("door_in", sa.String(length=64), nullable=True),
        sa.Column("door_out", sa.String(length=64), nullable=True),
        sa.Column("entered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("exited_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("closed_automatically", sa.Boolean(), nullable=False),
        sa.Column("exit_unmatched", sa.Boolean(), nullable=False),
        sa.Column("name", sa.Text(), nullable=True),
        sa.Column("name_hash", sa.String(length=64), nullable=True),
        sa.Column("id_number", sa.Text(), nullable=True),
        sa.Column("id_number_hash", sa.String(length=64), nullable=True),
        sa.Column("document_type", sa.String(length=24), nullable=False),
        sa.Column("sex", sa.String(length=8), nullable=False),
        sa.Column("birth_year", sa.Integer(), nullable=True),
        sa.Column("origin_code", sa.String(length=6), nullable=True),
        sa.Column("origin_province", sa.String(length=40), nullable=False),
        sa.Column("origin_city", sa.String(length=60), nullable=False),
        sa.Column("origin_county", sa.String(length=60), nullable=False),
        sa.Column("flags", sa.JSON().with_variant(postgresql.JSONB(), "postgresql"), nullable=True),
        sa.Column("flag_codes", sa.String(length=200), nullable=False),
        sa.Column("flagged", sa.Boolean(), nullable=False),
        sa.Column("temperature_c", sa.Float(), nullable=True),
        sa.Column("temperature_source", sa.String(length=8), nullable=True),
        sa.Column("decision", sa.String(length=16), nullable=False),
        sa.Column("decided_by", sa.String(length=16), nullable=False),
        sa.Column("operator", sa.String(length=64), nullable=False),
        sa.Column("device_id", sa.String(length=64), nullable=False),
        sa.Column("rules_version", sa.Integer(), nullable=True),
        sa.Column("purged_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["centre_id"], ["centres.id"], name=op.f("fk_visits_centre_id_centres")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_visits")),
        sa.UniqueConstraint("entry_passage_id", name=op.f("uq_visits_entry_passage_id")),
        sa.UniqueConstraint("exit_passage_id", name=op.f("uq_visits_exit_passage_id")),
    )
    # Covering the columns the contact-tracing self-join reads (index-only scans).
    op.create_index(
        "ix_visits_centre_entered",
        "visits",
        ["centre_id", "entered_at", "exited_at", "decision", "id_number_hash", "id"],
        unique=False,
    )
    op.create_index(
        "ix_visits_centre_exited",
        "visits",
        ["centre_id", "exited_at", "entered_at", "decision", "id_number_hash", "id"],
        unique=False,
    )
    op.create_index(op.f("ix_visits_id_number_hash"), "visits", ["id_number_hash"], unique=False)
    op.create_index(op.f("ix_visits_name_hash"), "visits", ["name_hash"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_visits_name_hash"), table_name="visits")
    op.drop_index(op.f("ix_visits_id_number_hash"), table_name="visits")
    op.drop_index("ix_visits_centre_exited", table_name="visits")
    op.drop_index("ix_visits_centre_entered", table_name="visits")
    op.drop_table("visits")
    op.drop_index(op.f("ix_visitor_watchlist_id_number_hash"), table_name="visitor_watchlist")
    op.drop_index(op.f("ix_visitor_watchlist_centre_id"), table_name="visitor_watchlist")
    op.drop_table("visitor_watchlist")
    op.drop_table("visitor_rules")
