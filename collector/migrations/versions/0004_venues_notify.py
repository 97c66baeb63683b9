"""Notify module (SMS log) and venues module (registry, units, scans, daily counts, alerts).

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23 14:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "notify_sms",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("purpose", sa.String(length=64), nullable=False),
        sa.Column("dedup_key", sa.String(length=200), nullable=True),
        sa.Column("centre_id", sa.String(length=64), nullable=True),
        sa.Column("phone", sa.Text(), nullable=True),
        sa.Column("phone_hash", sa.String(length=64), nullable=True),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.String(length=500), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("sender", sa.String(length=16), nullable=False),
        sa.Column("parts", sa.Integer(), nullable=False),
        sa.Column("reference", sa.String(length=100), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notify_sms")),
        sa.UniqueConstraint("dedup_key", name=op.f("uq_notify_sms_dedup_key")),
    )
    with op.batch_alter_table("notify_sms", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_notify_sms_centre_id"), ["centre_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_notify_sms_created_at"), ["created_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_notify_sms_phone_hash"), ["phone_hash"], unique=False)
        batch_op.create_index(batch_op.f("ix_notify_sms_purpose"), ["purpose"], unique=False)
        batch_op.create_index(batch_op.f("ix_notify_sms_status"), ["status"], unique=False)

    op.create_table(
        "venue_scan_days",
        sa.Column("centre_id", sa.String(length=64), nullable=False),
        sa.Column("venue_code", sa.String(length=100), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("centre_id", "venue_code", "day", name=op.f("pk_venue_scan_days")),
        # SQLite: clustered on the key, so statistics and alerts read it without lookups.
        sqlite_with_rowid=False,
    )

    op.create_table(
        "venue_sync_state",
        sa.Column("name", sa.String(length=32), nullable=False),
        sa.Column("watermark", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_run_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.String(length=500), nullable=False),
        sa.Column("venues", sa.Integer(), nullable=False),
        sa.Column("scans", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_venue_sync_state")),
    )
    op.create_table(
        "venue_scans",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("centre_id", sa.String(length=64), nullable=False),
        sa.Column("venue_code", sa.String(length=100), nullable=False),
        sa.Column("venue_name", sa.String(length=200), nullable=False),
        sa.Column("category", sa.String(length=100), nullable=False),
        sa.Column("city", sa.String(length=50), nullable=False),
        sa.Column("street", sa.String(length=100), nullable=False),
        sa.Column("venue_admin", sa.String(length=100), nullable=False),
        sa.Column("person", sa.Text(), nullable=True),
        sa.Column("id_number_hash", sa.String(length=32), nullable=True),
        sa.Column("phone_hash", sa.String(length=32), nullable=True),
        sa.Column("collect_result", sa.String(length=50), nullable=False),
        sa.Column("nucleic_result", sa.String(length=50), nullable=False),
        sa.Column("nucleic_time", sa.String(length=50), nullable=False),
        sa.Column("health_code", sa.String(length=50), nullable=False),
        sa.Column("location", sa.String(length=300), nullable=False),
        sa.Column("collected_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("imported_by", sa.String(length=100), nullable=False),
        sa.Column("imported_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("record_hash", sa.String(length=32), nullable=False),
        sa.ForeignKeyConstraint(
            ["centre_id"], ["centres.id"], name=op.f("fk_venue_scans_centre_id_centres")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_venue_scans")),
        sa.UniqueConstraint("centre_id", "record_hash", name=op.f("uq_venue_scans_centre_id")),
    )
    with op.batch_alter_table("venue_scans", schema=None) as batch_op:
        batch_op.create_index(
            "ix_venue_scans_centre_imported", ["centre_id", "imported_at"], unique=False
        )
        batch_op.create_index(
            "ix_venue_scans_centre_time", ["centre_id", "collected_at"], unique=False
        )
        batch_op.create_index(
            "ix_venue_scans_centre_venue_time",
            ["centre_id", "venue_code", "collected_at"],
            unique=False,
        )
        batch_op.create_index(
            batch_op.f("ix_venue_scans_id_number_hash"), ["id_number_hash"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_venue_scans_phone_hash"), ["phone_hash"], unique=False)

    op.create_table(
        "venue_units",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("centre_id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("leader", sa.Text(), nullable=True),
        sa.Column("phone", sa.Text(), nullable=True),
        sa.Column("phone_hash", sa.String(length=64), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["centre_id"], ["centres.id"], name=op.f("fk_venue_units_centre_id_centres")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_venue_units")),
        sa.UniqueConstraint("centre_id", "name", name=op.f("uq_venue_units_centre_id")),
    )
    with op.batch_alter_table("venue_units", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_venue_units_centre_id"), ["centre_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_venue_units_phone_hash"), ["phone_hash"], unique=False)

    op.create_table(
        "venue_unit_members",
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("unit_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["unit_id"], ["venue_units.id"], name=op.f("fk_venue_unit_members_unit_id_venue_units")
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_venue_unit_members_user_id_users")
        ),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_venue_unit_members")),
    )
    with op.batch_alter_table("venue_unit_members", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_venue_unit_members_unit_id"), ["unit_id"], unique=False
        )

    op.create_table(
        "venues",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("centre_id", sa.String(length=64), nullable=False),
        sa.Column("code", sa.String(length=100), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("category", sa.String(length=100), nullable=False),
        sa.Column("city", sa.String(length=50), nullable=False),
        sa.Column("street", sa.String(length=100), nullable=False),
        sa.Column("admin", sa.String(length=100), nullable=False),
        sa.Column("location", sa.String(length=300), nullable=False),
        sa.Column("unit_id", sa.Integer(), nullable=True),
        sa.Column("min_daily", sa.Integer(), nullable=True),
        sa.Column("max_daily", sa.Integer(), nullable=True),
        sa.Column("discovered", sa.Boolean(), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["centre_id"], ["centres.id"], name=op.f("fk_venues_centre_id_centres")
        ),
        sa.ForeignKeyConstraint(
            ["unit_id"], ["venue_units.id"], name=op.f("fk_venues_unit_id_venue_units")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_venues")),
        sa.UniqueConstraint("centre_id", "code", name=op.f("uq_venues_centre_id")),
    )
    with op.batch_alter_table("venues", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_venues_centre_id"), ["centre_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_venues_unit_id"), ["unit_id"], unique=False)

    op.create_table(
        "venue_alerts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("centre_id", sa.String(length=64), nullable=False),
        sa.Column("venue_id", sa.Integer(), nullable=False),
        sa.Column("direction", sa.String(length=8), nullable=False),
        sa.Column("threshold", sa.Integer(), nullable=False),
        sa.Column("start_day", sa.Date(), nullable=False),
        sa.Column("end_day", sa.Date(), nullable=False),
        sa.Column("counts", sa.JSON(), nullable=False),
        sa.Column("received", sa.Boolean(), nullable=False),
        sa.Column("received_by", sa.String(length=100), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["centre_id"], ["centres.id"], name=op.f("fk_venue_alerts_centre_id_centres")
        ),
        sa.ForeignKeyConstraint(
            ["venue_id"], ["venues.id"], name=op.f("fk_venue_alerts_venue_id_venues")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_venue_alerts")),
        sa.UniqueConstraint(
            "venue_id", "direction", "start_day", name=op.f("uq_venue_alerts_venue_id")
        ),
    )
    with op.batch_alter_table("venue_alerts", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_venue_alerts_centre_id"), ["centre_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_venue_alerts_received"), ["received"], unique=False)
        batch_op.create_index(batch_op.f("ix_venue_alerts_venue_id"), ["venue_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("venue_alerts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_venue_alerts_venue_id"))
        batch_op.drop_index(batch_op.f("ix_venue_alerts_received"))
        batch_op.drop_index(batch_op.f("ix_venue_alerts_centre_id"))

    op.drop_table("venue_alerts")
    with op.batch_alter_table("venues", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_venues_unit_id"))
        batch_op.drop_index(batch_op.f("ix_venues_centre_id"))

    op.drop_table("venues")
    with op.batch_alter_table("venue_unit_members", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_venue_unit_members_unit_id"))

    op.drop_table("venue_unit_members")
    with op.batch_alter_table("venue_units", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_venue_units_phone_hash"))
        batch_op.drop_index(batch_op.f("ix_venue_units_centre_id"))

    op.drop_table("venue_units")
    with op.batch_alter_table("venue_scans", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_venue_scans_phone_hash"))
        batch_op.drop_index(batch_op.f("ix_venue_scans_id_number_hash"))
        batch_op.drop_index("ix_venue_scans_centre_venue_time")
        batch_op.drop_index("ix_venue_scans_centre_time")
        batch_op.drop_index("ix_venue_scans_centre_imported")

    op.drop_table("venue_scans")
    op.drop_table("venue_sync_state")

    op.drop_table("venue_scan_days")
    with op.batch_alter_table("notify_sms", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_notify_sms_status"))
        batch_op.drop_index(batch_op.f("ix_notify_sms_purpose"))
        batch_op.drop_index(batch_op.f("ix_notify_sms_phone_hash"))
        batch_op.drop_index(batch_op.f("ix_notify_sms_created_at"))
        batch_op.drop_index(batch_op.f("ix_notify_sms_centre_id"))

    op.drop_table("notify_sms")
