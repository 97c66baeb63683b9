"""Burn station module: jobs, discs, drives, schedules, the archive.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-23 14:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0005"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "burn_job_logs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("job_id", sa.String(length=36), nullable=False),
        sa.Column("ts", sa.DateTime(timezone=True), nullable=True),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("progress", sa.Float(), nullable=True),
        sa.Column("message", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_burn_job_logs")),
    )
    with op.batch_alter_table("burn_job_logs", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_burn_job_logs_job_id"), ["job_id"], unique=False)

    op.create_table(
        "burn_schedule_runs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("schedule_id", sa.Integer(), nullable=False),
        sa.Column("occurrence", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ran_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("jobs", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_burn_schedule_runs")),
        sa.UniqueConstraint("schedule_id", "occurrence", name="uq_burn_schedule_runs_occurrence"),
    )
    with op.batch_alter_table("burn_schedule_runs", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_burn_schedule_runs_schedule_id"), ["schedule_id"], unique=False
        )

    op.create_table(
        "burn_discs",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("centre_id", sa.String(length=64), nullable=False),
        sa.Column("job_id", sa.String(length=36), nullable=False),
        sa.Column("project_id", sa.Integer(), nullable=True),
        sa.Column("project_number", sa.String(length=64), nullable=False),
        sa.Column("project_name", sa.String(length=255), nullable=False),
        sa.Column("category", sa.String(length=24), nullable=False),
        sa.Column("opening_date", sa.Date(), nullable=True),
        sa.Column("disc_index", sa.Integer(), nullable=False),
        sa.Column("disc_count", sa.Integer(), nullable=False),
        sa.Column("copy_role", sa.String(length=16), nullable=False),
        sa.Column("copy_number", sa.Integer(), nullable=False),
        sa.Column("medium", sa.String(length=8), nullable=False),
        sa.Column("volume_id", sa.String(length=64), nullable=False),
        sa.Column("station_id", sa.String(length=64), nullable=True),
        sa.Column("drive", sa.String(length=128), nullable=False),
        sa.Column("burned_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("verify", sa.String(length=16), nullable=False),
        sa.Column("verify_detail", sa.Text(), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("image_size", sa.BigInteger(), nullable=False),
        sa.Column("image_sha256", sa.String(length=64), nullable=False),
        sa.Column("shelf", sa.String(length=64), nullable=False),
        sa.Column("box", sa.String(length=64), nullable=False),
        sa.Column("last_verified_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("next_verify_due", sa.Date(), nullable=True),
        sa.Column("reverify_command_id", sa.String(length=36), nullable=True),
        sa.ForeignKeyConstraint(
            ["centre_id"], ["centres.id"], name=op.f("fk_burn_discs_centre_id_centres")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_burn_discs")),
    )
    with op.batch_alter_table("burn_discs", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_burn_discs_centre_id"), ["centre_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_burn_discs_job_id"), ["job_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_burn_discs_next_verify_due"), ["next_verify_due"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_burn_discs_opening_date"), ["opening_date"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_burn_discs_project_id"), ["project_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_burn_discs_project_number"), ["project_number"], unique=False
        )

    op.create_table(
        "burn_drives",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("centre_id", sa.String(length=64), nullable=False),
        sa.Column("station_id", sa.String(length=64), nullable=False),
        sa.Column("drive", sa.String(length=128), nullable=False),
        sa.Column("device", sa.String(length=255), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("medium", sa.String(length=64), nullable=False),
        sa.Column("blank", sa.Boolean(), nullable=True),
        sa.Column("capacity", sa.BigInteger(), nullable=True),
        sa.Column("free", sa.BigInteger(), nullable=True),
        sa.Column("current_job_id", sa.String(length=36), nullable=True),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["centre_id"], ["centres.id"], name=op.f("fk_burn_drives_centre_id_centres")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_burn_drives")),
        sa.UniqueConstraint("station_id", "drive", name="uq_burn_drives_drive"),
    )
    with op.batch_alter_table("burn_drives", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_burn_drives_centre_id"), ["centre_id"], unique=False)

    op.create_table(
        "burn_imports",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("centre_id", sa.String(length=64), nullable=False),
        sa.Column("filename", sa.String(length=255), nullable=False),
        sa.Column("rows", sa.Integer(), nullable=False),
        sa.Column("jobs", sa.Integer(), nullable=False),
        sa.Column("created_by", sa.String(length=128), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["centre_id"], ["centres.id"], name=op.f("fk_burn_imports_centre_id_centres")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_burn_imports")),
    )
    with op.batch_alter_table("burn_imports", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_burn_imports_centre_id"), ["centre_id"], unique=False)

    op.create_table(
        "burn_projects",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("centre_id", sa.String(length=64), nullable=False),
        sa.Column("number", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("category", sa.String(length=24), nullable=False),
        sa.Column("opening_date", sa.Date(), nullable=False),
        sa.Column(
            "rooms", sa.JSON().with_variant(postgresql.JSONB(), "postgresql"), nullable=False
        ),
        sa.Column(
            "sources", sa.JSON().with_variant(postgresql.JSONB(), "postgresql"), nullable=False
        ),
        sa.Column("archive_status", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["centre_id"], ["centres.id"], name=op.f("fk_burn_projects_centre_id_centres")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_burn_projects")),
        sa.UniqueConstraint("centre_id", "number", name="uq_burn_projects_number"),
    )
    with op.batch_alter_table("burn_projects", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_burn_projects_archive_status"), ["archive_status"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_burn_projects_centre_id"), ["centre_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_burn_projects_number"), ["number"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_burn_projects_opening_date"), ["opening_date"], unique=False
        )

    op.create_table(
        "burn_schedules",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("centre_id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("frequency", sa.String(length=16), nullable=False),
        sa.Column("time_of_day", sa.String(length=5), nullable=False),
        sa.Column("weekday", sa.Integer(), nullable=True),
        sa.Column("day_of_month", sa.Integer(), nullable=True),
        sa.Column("run_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("category", sa.String(length=24), nullable=True),
        sa.Column("medium", sa.String(length=8), nullable=False),
        sa.Column(
            "copies", sa.JSON().with_variant(postgresql.JSONB(), "postgresql"), nullable=False
        ),
        sa.Column("station_id", sa.String(length=64), nullable=True),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("synced", sa.Boolean(), nullable=False),
        sa.Column("created_by", sa.String(length=128), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_run_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["centre_id"], ["centres.id"], name=op.f("fk_burn_schedules_centre_id_centres")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_burn_schedules")),
    )
    with op.batch_alter_table("burn_schedules", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_burn_schedules_centre_id"), ["centre_id"], unique=False
        )

    op.create_table(
        "burn_disc_files",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("disc_id", sa.String(length=36), nullable=False),
        sa.Column("centre_id", sa.String(length=64), nullable=False),
        sa.Column("path", sa.String(length=512), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("duration_s", sa.Float(), nullable=True),
        sa.Column("codec", sa.String(length=64), nullable=False),
        sa.Column("media", sa.String(length=16), nullable=False),
        sa.ForeignKeyConstraint(
            ["disc_id"], ["burn_discs.id"], name=op.f("fk_burn_disc_files_disc_id_burn_discs")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_burn_disc_files")),
    )
    with op.batch_alter_table("burn_disc_files", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_burn_disc_files_centre_id"), ["centre_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_burn_disc_files_disc_id"), ["disc_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_burn_disc_files_path"), ["path"], unique=False)

    op.create_table(
        "burn_jobs",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("centre_id", sa.String(length=64), nullable=False),
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("project_number", sa.String(length=64), nullable=False),
        sa.Column("project_name", sa.String(length=255), nullable=False),
        sa.Column("spec", sa.JSON().with_variant(postgresql.JSONB(), "postgresql"), nullable=False),
        sa.Column("medium", sa.String(length=8), nullable=False),
        sa.Column(
            "copies", sa.JSON().with_variant(postgresql.JSONB(), "postgresql"), nullable=False
        ),
        sa.Column("station_id", sa.String(length=64), nullable=True),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("failed_stage", sa.String(length=16), nullable=True),
        sa.Column("progress", sa.Float(), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("error", sa.Text(), nullable=False),
        sa.Column("command_id", sa.String(length=36), nullable=True),
        sa.Column("retry_command_id", sa.String(length=36), nullable=True),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("origin", sa.String(length=16), nullable=False),
        sa.Column("schedule_id", sa.Integer(), nullable=True),
        sa.Column("import_id", sa.Integer(), nullable=True),
        sa.Column("dedupe_key", sa.String(length=160), nullable=True),
        sa.Column("created_by", sa.String(length=128), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_event_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["centre_id"], ["centres.id"], name=op.f("fk_burn_jobs_centre_id_centres")
        ),
        sa.ForeignKeyConstraint(
            ["project_id"], ["burn_projects.id"], name=op.f("fk_burn_jobs_project_id_burn_projects")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_burn_jobs")),
        sa.UniqueConstraint("dedupe_key", name=op.f("uq_burn_jobs_dedupe_key")),
    )
    with op.batch_alter_table("burn_jobs", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_burn_jobs_centre_id"), ["centre_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_burn_jobs_command_id"), ["command_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_burn_jobs_import_id"), ["import_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_burn_jobs_project_id"), ["project_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_burn_jobs_project_number"), ["project_number"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_burn_jobs_schedule_id"), ["schedule_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_burn_jobs_state"), ["state"], unique=False)
        batch_op.create_index(batch_op.f("ix_burn_jobs_station_id"), ["station_id"], unique=False)


def downgrade() -> None:
    for table in (
        "burn_jobs",
        "burn_disc_files",
        "burn_schedules",
        "burn_projects",
        "burn_imports",
        "burn_drives",
        "burn_discs",
        "burn_schedule_runs",
        "burn_job_logs",
    ):
        op.drop_table(table)
