"""Console at scale: dashboard counts per hour (store/counts.py) and, on PostgreSQL, trigram indexes for
sender, subject and recipient fragments (pg_trgm; ILIKE '%fragment%' uses them).

The counts are rebuilt from the existing records here. pg_trgm is a trusted extension since PostgreSQL 13,
so the database owner may create it; where that is refused, the migration goes on without the trigram
indexes (searches still work, by scanning) and says so in the log. Building the indexes on a big
gw_messages blocks writes to it meanwhile: upgrade large installations in a quiet hour.

Revision ID: 0013c
Revises: 0001
"""

import logging

import sqlalchemy as sa
from alembic import op

revision = "0013c"
down_revision = "0001"
branch_labels = ("console_scale",)
depends_on = ("0004a",)  # gw_messages (0003) and its console indexes

log = logging.getLogger("kakuri.store.migrations")

TRIGRAM_INDEXES = {
    "ix_gw_messages_subject_trgm": ("gw_messages", "subject"),
    "ix_gw_messages_mail_from_trgm": ("gw_messages", "mail_from"),
    "ix_gw_messages_from_header_trgm": ("gw_messages", "from_header"),
    "ix_gw_recipients_address_trgm": ("gw_recipients", "address"),
}


def upgrade() -> None:
    op.create_table(
        "gw_counts",
        sa.Column("facet", sa.String(16), primary_key=True),
        sa.Column("hour", sa.Integer, primary_key=True),
        sa.Column("direction", sa.String(16), primary_key=True),
        sa.Column("name", sa.String(320), primary_key=True),
        sa.Column("count", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "gw_count_deltas",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True),
        sa.Column("facet", sa.String(16), nullable=False),
        sa.Column("hour", sa.Integer, nullable=False),
        sa.Column("direction", sa.String(16), nullable=False),
        sa.Column("name", sa.String(320), nullable=False),
        sa.Column("count", sa.BigInteger, nullable=False),
    )
    from kakuri.store import counts

    counts.rebuild(op.get_bind())
    if op.get_bind().dialect.name == "postgresql":
        _trigram_indexes(op.get_bind())


def _trigram_indexes(connection) -> None:
    try:
        with connection.begin_nested():
            connection.exec_driver_sql("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    except sa.exc.DBAPIError as exc:
        log.warning("pg_trgm is not available (%s): sender and subject searches will scan gw_messages",
                    str(exc.orig).splitlines()[0])
        return
    for name, (table, column) in TRIGRAM_INDEXES.items():
        connection.exec_driver_sql(f"CREATE INDEX {name} ON {table} USING gin ({column} gin_trgm_ops)")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for name in TRIGRAM_INDEXES:
            op.execute(f"DROP INDEX IF EXISTS {name}")
    op.drop_table("gw_count_deltas")
    op.drop_table("gw_counts")
