"""Alembic environment: the URL comes from database_url(), never from alembic.ini."""

from logging.config import fileConfig

from alembic import context
from sqlalchemy import create_engine, pool

from database.models import Base
from connectors.management.tables import metadata as management_metadata
from connectors.whatsapp.tables import metadata as channel_metadata
from connectors.staff.tables import metadata as staff_metadata
from database.session import database_url

config = context.config

# Tests set configure_logger=False so alembic leaves their logging alone.
if config.config_file_name is not None and config.attributes.get("configure_logger", True):
    fileConfig(config.config_file_name, disable_existing_loggers=False)

# Business tables, the WhatsApp channel's and the management channel's share one database and history.
target_metadata = [Base.metadata, channel_metadata, management_metadata, staff_metadata]


def run_migrations_offline() -> None:
    """Emit SQL for the configured database without connecting."""
    url = database_url()
    context.configure(
        url=url,
        target_metadata=target_metadata,
        literal_binds=True,
        dialect_opts={"paramstyle": "named"},
        render_as_batch=url.startswith("sqlite"),
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    """Apply migrations over a short-lived connection."""
    # Not the app's engine: its SQLite pragmas (foreign keys on) would get in
    # the way of batch table rebuilds in later migrations.
    connectable = create_engine(database_url(), poolclass=pool.NullPool, future=True)
    with connectable.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            render_as_batch=connection.dialect.name == "sqlite",
            compare_type=True,
        )
        with context.begin_transaction():
            context.run_migrations()
        if connection.dialect.name == "sqlite":
            # WAL belongs to the file: set it once here. Left to the app, the first connections switch
            # a fresh file at run time, which waits for every other connection's lock (up to the 5 s
            # busy timeout, then "database is locked").
            connection.exec_driver_sql("PRAGMA journal_mode=WAL")
    connectable.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
