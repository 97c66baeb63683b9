"""Initial schema: centres, devices, events, dead letters, commands, configs, files.

Revision ID: 0001
Revises:
Create Date: 2026-11-23 11:08:21.752231
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "centres",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("level", sa.String(length=16), nullable=False),
        sa.Column("parent_id", sa.String(length=64), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["parent_id"], ["centres.id"], name=op.f("fk_centres_parent_id_centres")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_centres")),
    )
    op.create_table(
        "command_acks",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("command_id", sa.String(length=36), nullable=False),
        sa.Column("device_id", sa.String(length=64), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("progress", sa.Float(), nullable=True),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column(
            "result", sa.JSON().with_variant(postgresql.JSONB(), "postgresql"), nullable=False
        ),
        sa.Column("ts", sa.DateTime(timezone=True), nullable=False),
        sa.Column("stored_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_command_acks")),
    )
    with op.batch_alter_table("command_acks", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_command_acks_command_id"), ["command_id"], unique=False
        )

    op.create_table(
        "dead_letters",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("topic", sa.Text(), nullable=False),
        sa.Column("reason", sa.String(length=32), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("raw", sa.LargeBinary(), nullable=False),
        sa.Column("centre_id", sa.String(length=64), nullable=True),
        sa.Column("device_id", sa.String(length=64), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dead_letters")),
    )
    with op.batch_alter_table("dead_letters", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_dead_letters_centre_id"), ["centre_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_dead_letters_reason"), ["reason"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_dead_letters_received_at"), ["received_at"], unique=False
        )

    op.create_table(
        "desired_configs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("scope", sa.String(length=16), nullable=False),
        sa.Column("target", sa.String(length=64), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column(
            "config", sa.JSON().with_variant(postgresql.JSONB(), "postgresql"), nullable=False
        ),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_by", sa.String(length=128), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_desired_configs")),
        sa.UniqueConstraint("version", name=op.f("uq_desired_configs_version")),
    )
    with op.batch_alter_table("desired_configs", schema=None) as batch_op:
        batch_op.create_index(
            "ix_desired_configs_scope_target", ["scope", "target", "version"], unique=False
        )

    op.create_table(
        "events",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("centre_id", sa.String(length=64), nullable=False),
        sa.Column("device_id", sa.String(length=64), nullable=False),
        sa.Column("type", sa.String(length=96), nullable=False),
        sa.Column("schema_version", sa.Integer(), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("ts", sa.DateTime(timezone=True), nullable=False),
        sa.Column("stored_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "payload", sa.JSON().with_variant(postgresql.JSONB(), "postgresql"), nullable=False
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_events")),
    )
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.create_index("ix_events_centre_ts", ["centre_id", "ts"], unique=False)
        batch_op.create_index("ix_events_device_seq", ["device_id", "seq"], unique=False)
        batch_op.create_index("ix_events_type_ts", ["type", "ts"], unique=False)

    op.create_table(
        "files",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("received", sa.BigInteger(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("store_key", sa.String(length=512), nullable=False),
        sa.Column("content_type", sa.String(length=128), nullable=False),
        sa.Column("centre_id", sa.String(length=64), nullable=True),
        sa.Column("device_id", sa.String(length=64), nullable=True),
        sa.Column("meta", sa.JSON().with_variant(postgresql.JSONB(), "postgresql"), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("completed_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_files")),
    )
    with op.batch_alter_table("files", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_files_centre_id"), ["centre_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_files_device_id"), ["device_id"], unique=False)

    op.create_table(
        "devices",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("centre_id", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("enrolled_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("broker_password_hash", sa.String(length=255), nullable=True),
        sa.Column("online", sa.Boolean(), nullable=False),
        sa.Column("status_online", sa.Boolean(), nullable=False),
        sa.Column("status_boot", sa.Integer(), nullable=False),
        sa.Column("status_session", sa.Integer(), nullable=False),
        sa.Column("status_changed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_heartbeat_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "heartbeat", sa.JSON().with_variant(postgresql.JSONB(), "postgresql"), nullable=True
        ),
        sa.Column("agent_version", sa.String(length=64), nullable=False),
        sa.Column("applied_config_version", sa.Integer(), nullable=True),
        sa.Column("last_seq", sa.BigInteger(), nullable=False),
        sa.Column("stored_count", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["centre_id"], ["centres.id"], name=op.f("fk_devices_centre_id_centres")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_devices")),
    )
    with op.batch_alter_table("devices", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_devices_centre_id"), ["centre_id"], unique=False)

    op.create_table(
        "commands",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("centre_id", sa.String(length=64), nullable=False),
        sa.Column("device_id", sa.String(length=64), nullable=False),
        sa.Column("action", sa.String(length=96), nullable=False),
        sa.Column("args", sa.JSON().with_variant(postgresql.JSONB(), "postgresql"), nullable=False),
        sa.Column("durable", sa.Boolean(), nullable=False),
        sa.Column("issued_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("progress", sa.Float(), nullable=True),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column(
            "result", sa.JSON().with_variant(postgresql.JSONB(), "postgresql"), nullable=False
        ),
        sa.Column("send_count", sa.Integer(), nullable=False),
        sa.Column("last_sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_ack_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_by", sa.String(length=128), nullable=False),
        sa.ForeignKeyConstraint(
            ["device_id"], ["devices.id"], name=op.f("fk_commands_device_id_devices")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_commands")),
    )
    with op.batch_alter_table("commands", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_commands_centre_id"), ["centre_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_commands_device_id"), ["device_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_commands_state"), ["state"], unique=False)

    op.create_table(
        "sequence_gaps",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("device_id", sa.String(length=64), nullable=False),
        sa.Column("first_seq", sa.BigInteger(), nullable=False),
        sa.Column("last_seq", sa.BigInteger(), nullable=False),
        sa.Column("missing", sa.Integer(), nullable=False),
        sa.Column("detected_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["device_id"], ["devices.id"], name=op.f("fk_sequence_gaps_device_id_devices")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sequence_gaps")),
    )
    with op.batch_alter_table("sequence_gaps", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_sequence_gaps_device_id"), ["device_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("sequence_gaps", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_sequence_gaps_device_id"))

    op.drop_table("sequence_gaps")
    with op.batch_alter_table("commands", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_commands_state"))
        batch_op.drop_index(batch_op.f("ix_commands_device_id"))
        batch_op.drop_index(batch_op.f("ix_commands_centre_id"))

    op.drop_table("commands")
    with op.batch_alter_table("devices", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_devices_centre_id"))

    op.drop_table("devices")
    with op.batch_alter_table("files", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_files_device_id"))
        batch_op.drop_index(batch_op.f("ix_files_centre_id"))

    op.drop_table("files")
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.drop_index("ix_events_type_ts")
        batch_op.drop_index("ix_events_device_seq")
        batch_op.drop_index("ix_events_centre_ts")

    op.drop_table("events")
    with op.batch_alter_table("desired_configs", schema=None) as batch_op:
        batch_op.drop_index("ix_desired_configs_scope_target")

    op.drop_table("desired_configs")
    with op.batch_alter_table("dead_letters", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_dead_letters_received_at"))
        batch_op.drop_index(batch_op.f("ix_dead_letters_reason"))
        batch_op.drop_index(batch_op.f("ix_dead_letters_centre_id"))

    op.drop_table("dead_letters")
    with op.batch_alter_table("command_acks", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_command_acks_command_id"))

    op.drop_table("command_acks")
    op.drop_table("centres")
