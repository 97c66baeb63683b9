"""Alembic environment of the collector.

Run through :func:`collector.migrate.upgrade` (or ``prtc-collector db upgrade``); the
connection or URL arrives in ``config.attributes`` so that no ``alembic.ini`` is needed and
passwords with ``%`` in URLs need no escaping.
"""

from __future__ import annotations

from typing import Any, Literal

from alembic import context
from alembic.autogenerate.api import AutogenContext
from sqlalchemy import JSON, DateTime, Enum, String
from sqlalchemy.engine import Connection
from sqlmodel.sql.sqltypes import AutoString

from collector.db import make_engine
from collector.db_types import UTCDateTime
from collector.models import metadata

config = context.config


def render_item(type_: str, obj: Any, autogen_context: AutogenContext) -> str | Literal[False]:
    """Render the project's column types as plain SQLAlchemy types.

    Migrations outlive the code that wrote them, so they must not import application types.
    """
    if type_ != "type":
        return False
    if isinstance(obj, UTCDateTime):
        return "sa.DateTime(timezone=True)"
    if isinstance(obj, Enum) and not obj.native_enum:  # str_enum: VARCHAR of the values
        return f"sa.String(length={obj.length})"
    if isinstance(obj, AutoString):
        return f"sa.String(length={obj.length})" if obj.length else "sa.String()"
    if isinstance(obj, JSON) and obj._variant_mapping:  # JSONType: JSON, JSONB on PostgreSQL
        autogen_context.imports.add("from sqlalchemy.dialects import postgresql")
        return "sa.JSON().with_variant(postgresql.JSONB(), 'postgresql')"
    return False


def compare_type(
    _context: Any, _column: Any, inspected: Any, metadata_type: Any, *_: Any
) -> bool | None:
    # The decorated and variant types compare by what they become in the database.
    if isinstance(metadata_type, UTCDateTime):
        return not (isinstance(inspected, DateTime))
    if isinstance(metadata_type, Enum) and not metadata_type.native_enum:
        return not isinstance(inspected, String) or inspected.length != metadata_type.length
    if isinstance(metadata_type, AutoString):
        return not isinstance(inspected, String) or inspected.length != metadata_type.length
    return None


# Tables other libraries own and create themselves: APScheduler's persistent job store.
FOREIGN_TABLES = frozenset({"apscheduler_jobs"})


def include_object(
    obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any
) -> bool:
    return not (type_ == "table" and name in FOREIGN_TABLES)


def _configure(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=True,  # one migration file runs on SQLite and PostgreSQL
        render_item=render_item,
        compare_type=compare_type,
        compare_server_default=True,
        include_object=include_object,
    )


def run_migrations_online() -> None:
    connection: Connection | None = config.attributes.get("connection")
    if connection is not None:
        _configure(connection)
        with context.begin_transaction():
            context.run_migrations()
        return
    url = config.attributes.get("url") or config.get_main_option("sqlalchemy.url")
    if not url:
        raise RuntimeError("no database: pass a connection or url in config.attributes")
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            _configure(conn)
            with context.begin_transaction():
                context.run_migrations()
    finally:
        engine.dispose()


def run_migrations_offline() -> None:
    url = config.attributes.get("url") or config.get_main_option("sqlalchemy.url")
    context.configure(
        url=url,
        target_metadata=metadata,
        literal_binds=True,
        render_as_batch=True,
        render_item=render_item,
    )
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
