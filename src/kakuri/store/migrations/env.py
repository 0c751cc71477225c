"""Alembic environment: always run with a connection handed in by kakuri.store.db.migrate."""

from alembic import context

from kakuri.store.db import Base
import kakuri.store.models  # noqa: F401  (registers every table on Base.metadata)

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
