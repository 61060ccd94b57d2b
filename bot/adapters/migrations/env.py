"""Alembic's environment: the migrations run on the connection they are given (bot/adapters/migrations/__init__.py
passes it, inside the transaction that holds the migration lock), never on one of their own."""

from __future__ import annotations

from alembic import context

from bot.adapters.schema import metadata

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=metadata)
with context.begin_transaction():
    context.run_migrations()
