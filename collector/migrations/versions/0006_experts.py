"""Experts module: projects, sessions, rosters, admissions, sign-ins, rooms, provincial sync.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-23 14:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0006"
down_revision: str | Sequence[str] | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "experts_recorder_state",
        sa.Column("device_id", sa.String(length=64), nullable=False),
        sa.Column("centre_id", sa.String(length=64), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("gate_session", sa.String(length=64), nullable=True),
        sa.Column("reason", sa.String(length=64), nullable=False),
        sa.Column("error", sa.String(length=500), nullable=False),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("device_id", name=op.f("pk_experts_recorder_state")),
    )
    with op.batch_alter_table("experts_recorder_state", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_experts_recorder_state_centre_id"), ["centre_id"], unique=False
        )

    op.create_table(
        "experts_recordings",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("centre_id", sa.String(length=64), nullable=True),
        sa.Column("session_id", sa.Integer(), nullable=True),
        sa.Column("gate_session", sa.String(length=64), nullable=False),
        sa.Column("device_id", sa.String(length=64), nullable=False),
        sa.Column("file_id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("content_type", sa.String(length=128), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("duration_s", sa.Float(), nullable=True),
        sa.Column("index", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_experts_recordings")),
        sa.UniqueConstraint("file_id", name=op.f("uq_experts_recordings_file_id")),
    )
    with op.batch_alter_table("experts_recordings", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_experts_recordings_centre_id"), ["centre_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_experts_recordings_session_id"), ["session_id"], unique=False
        )

    op.create_table(
        "experts_access_log",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("centre_id", sa.String(length=64), nullable=False),
        sa.Column("attempt_id", sa.String(length=64), nullable=False),
        sa.Column("event_id", sa.String(length=64), nullable=False),
        sa.Column("gate", sa.String(length=64), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("credential", sa.String(length=16), nullable=False),
        sa.Column("person_hash", sa.String(length=64), nullable=False),
        sa.Column("card_hash", sa.String(length=64), nullable=False),
        sa.Column("label", sa.String(length=60), nullable=False),
        sa.Column("decision", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.String(length=32), nullable=True),
        sa.Column("gate_session", sa.String(length=64), nullable=True),
        sa.Column("session_id", sa.Integer(), nullable=True),
        sa.Column("room", sa.String(length=64), nullable=True),
        sa.Column("roster_entry_id", sa.Integer(), nullable=True),
        sa.Column("gate_opened", sa.Boolean(), nullable=False),
        sa.Column("roster_version", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["centre_id"], ["centres.id"], name=op.f("fk_experts_access_log_centre_id_centres")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_experts_access_log")),
        sa.UniqueConstraint("attempt_id", name=op.f("uq_experts_access_log_attempt_id")),
    )
    with op.batch_alter_table("experts_access_log", schema=None) as batch_op:
        batch_op.create_index("ix_experts_access_centre_at", ["centre_id", "at"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_experts_access_log_person_hash"), ["person_hash"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_experts_access_log_session_id"), ["session_id"], unique=False
        )

    op.create_table(
        "experts_alerts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("centre_id", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=24), nullable=False),
        sa.Column("dedup_key", sa.String(length=200), nullable=False),
        sa.Column("session_id", sa.Integer(), nullable=True),
        sa.Column("room_id", sa.Integer(), nullable=True),
        sa.Column("gate", sa.String(length=64), nullable=False),
        sa.Column("message", sa.String(length=500), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("sms_sent", sa.Boolean(), nullable=False),
        sa.Column("acknowledged_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("acknowledged_by", sa.String(length=100), nullable=False),
        sa.ForeignKeyConstraint(
            ["centre_id"], ["centres.id"], name=op.f("fk_experts_alerts_centre_id_centres")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_experts_alerts")),
        sa.UniqueConstraint("dedup_key", name=op.f("uq_experts_alerts_dedup_key")),
    )
    with op.batch_alter_table("experts_alerts", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_experts_alerts_centre_id"), ["centre_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_experts_alerts_session_id"), ["session_id"], unique=False
        )

    op.create_table(
        "experts_projects",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("centre_id", sa.String(length=64), nullable=False),
        sa.Column("number", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("category", sa.String(length=24), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["centre_id"], ["centres.id"], name=op.f("fk_experts_projects_centre_id_centres")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_experts_projects")),
        sa.UniqueConstraint("centre_id", "number", name="uq_experts_projects_number"),
    )
    with op.batch_alter_table("experts_projects", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_experts_projects_centre_id"), ["centre_id"], unique=False
        )

    op.create_table(
        "experts_rooms",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("centre_id", sa.String(length=64), nullable=False),
        sa.Column("code", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("gates", sa.JSON().with_variant(postgresql.JSONB(), "postgresql"), nullable=True),
        sa.Column(
            "terminals", sa.JSON().with_variant(postgresql.JSONB(), "postgresql"), nullable=True
        ),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["centre_id"], ["centres.id"], name=op.f("fk_experts_rooms_centre_id_centres")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_experts_rooms")),
        sa.UniqueConstraint("centre_id", "code", name="uq_experts_rooms_code"),
    )
    with op.batch_alter_table("experts_rooms", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_experts_rooms_centre_id"), ["centre_id"], unique=False)

    op.create_table(
        "experts_sync_outbox",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("centre_id", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("record_id", sa.Integer(), nullable=False),
        sa.Column("idempotency_key", sa.String(length=100), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_status", sa.Integer(), nullable=True),
        sa.Column("last_error", sa.String(length=500), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["centre_id"], ["centres.id"], name=op.f("fk_experts_sync_outbox_centre_id_centres")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_experts_sync_outbox")),
        sa.UniqueConstraint("idempotency_key", name=op.f("uq_experts_sync_outbox_idempotency_key")),
    )
    with op.batch_alter_table("experts_sync_outbox", schema=None) as batch_op:
        batch_op.create_index(
            "ix_experts_sync_due", ["delivered_at", "next_attempt_at"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_experts_sync_outbox_centre_id"), ["centre_id"], unique=False
        )

    op.create_table(
        "experts_sessions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("centre_id", sa.String(length=64), nullable=False),
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("rooms", sa.JSON().with_variant(postgresql.JSONB(), "postgresql"), nullable=True),
        sa.Column("planned_start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("planned_end", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("previous_start", sa.DateTime(timezone=True), nullable=True),
        sa.Column("host_name", sa.String(length=60), nullable=False),
        sa.Column("host_phone", sa.Text(), nullable=True),
        sa.Column("host_phone_hash", sa.String(length=64), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["centre_id"], ["centres.id"], name=op.f("fk_experts_sessions_centre_id_centres")
        ),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["experts_projects.id"],
            name=op.f("fk_experts_sessions_project_id_experts_projects"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_experts_sessions")),
        sa.UniqueConstraint("project_id", "key", name="uq_experts_sessions_key"),
    )
    with op.batch_alter_table("experts_sessions", schema=None) as batch_op:
        batch_op.create_index(
            "ix_experts_sessions_centre_start", ["centre_id", "planned_start"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_experts_sessions_host_phone_hash"), ["host_phone_hash"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_experts_sessions_project_id"), ["project_id"], unique=False
        )

    op.create_table(
        "experts_roster",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("centre_id", sa.String(length=64), nullable=False),
        sa.Column("session_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("name", sa.Text(), nullable=True),
        sa.Column("name_hash", sa.String(length=64), nullable=True),
        sa.Column("id_number", sa.Text(), nullable=True),
        sa.Column("id_number_hash", sa.String(length=64), nullable=True),
        sa.Column("phone", sa.Text(), nullable=True),
        sa.Column("phone_hash", sa.String(length=64), nullable=True),
        sa.Column("card_uid", sa.Text(), nullable=True),
        sa.Column("card_uid_hash", sa.String(length=64), nullable=True),
        sa.Column("specialty", sa.String(length=100), nullable=False),
        sa.Column("organisation", sa.String(length=200), nullable=False),
        sa.ForeignKeyConstraint(
            ["centre_id"], ["centres.id"], name=op.f("fk_experts_roster_centre_id_centres")
        ),
        sa.ForeignKeyConstraint(
            ["session_id"],
            ["experts_sessions.id"],
            name=op.f("fk_experts_roster_session_id_experts_sessions"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_experts_roster")),
    )
    with op.batch_alter_table("experts_roster", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_experts_roster_card_uid_hash"), ["card_uid_hash"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_experts_roster_centre_id"), ["centre_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_experts_roster_id_number_hash"), ["id_number_hash"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_experts_roster_name_hash"), ["name_hash"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_experts_roster_phone_hash"), ["phone_hash"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_experts_roster_session_id"), ["session_id"], unique=False
        )

    op.create_table(
        "experts_signins",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("centre_id", sa.String(length=64), nullable=False),
        sa.Column("session_id", sa.Integer(), nullable=False),
        sa.Column("roster_entry_id", sa.Integer(), nullable=False),
        sa.Column("access_id", sa.Integer(), nullable=True),
        sa.Column("gate", sa.String(length=64), nullable=False),
        sa.Column("signed_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["centre_id"], ["centres.id"], name=op.f("fk_experts_signins_centre_id_centres")
        ),
        sa.ForeignKeyConstraint(
            ["roster_entry_id"],
            ["experts_roster.id"],
            name=op.f("fk_experts_signins_roster_entry_id_experts_roster"),
        ),
        sa.ForeignKeyConstraint(
            ["session_id"],
            ["experts_sessions.id"],
            name=op.f("fk_experts_signins_session_id_experts_sessions"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_experts_signins")),
        sa.UniqueConstraint("session_id", "roster_entry_id", name="uq_experts_signins_once"),
    )
    with op.batch_alter_table("experts_signins", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_experts_signins_centre_id"), ["centre_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_experts_signins_session_id"), ["session_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("experts_signins", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_experts_signins_session_id"))
        batch_op.drop_index(batch_op.f("ix_experts_signins_centre_id"))

    op.drop_table("experts_signins")
    with op.batch_alter_table("experts_roster", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_experts_roster_session_id"))
        batch_op.drop_index(batch_op.f("ix_experts_roster_phone_hash"))
        batch_op.drop_index(batch_op.f("ix_experts_roster_name_hash"))
        batch_op.drop_index(batch_op.f("ix_experts_roster_id_number_hash"))
        batch_op.drop_index(batch_op.f("ix_experts_roster_centre_id"))
        batch_op.drop_index(batch_op.f("ix_experts_roster_card_uid_hash"))

    op.drop_table("experts_roster")
    with op.batch_alter_table("experts_sessions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_experts_sessions_project_id"))
        batch_op.drop_index(batch_op.f("ix_experts_sessions_host_phone_hash"))
        batch_op.drop_index("ix_experts_sessions_centre_start")

    op.drop_table("experts_sessions")
    with op.batch_alter_table("experts_sync_outbox", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_experts_sync_outbox_centre_id"))
        batch_op.drop_index("ix_experts_sync_due")

    op.drop_table("experts_sync_outbox")
    with op.batch_alter_table("experts_rooms", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_experts_rooms_centre_id"))

    op.drop_table("experts_rooms")
    with op.batch_alter_table("experts_projects", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_experts_projects_centre_id"))

    op.drop_table("experts_projects")
    with op.batch_alter_table("experts_alerts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_experts_alerts_session_id"))
        batch_op.drop_index(batch_op.f("ix_experts_alerts_centre_id"))

    op.drop_table("experts_alerts")
    with op.batch_alter_table("experts_access_log", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_experts_access_log_session_id"))
        batch_op.drop_index(batch_op.f("ix_experts_access_log_person_hash"))
        batch_op.drop_index("ix_experts_access_centre_at")

    op.drop_table("experts_access_log")
    with op.batch_alter_table("experts_recordings", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_experts_recordings_session_id"))
        batch_op.drop_index(batch_op.f("ix_experts_recordings_centre_id"))

    op.drop_table("experts_recordings")
    with op.batch_alter_table("experts_recorder_state", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_experts_recorder_state_centre_id"))

    op.drop_table("experts_recorder_state")
