"""Scale-out on PostgreSQL: node registry, shared spool entries, blobs in the database.

Revision ID: 0013n
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0013n"
down_revision = "0001"
branch_labels = ("cluster",)
depends_on = None

_TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "cluster_nodes",
        sa.Column("node_id", sa.String(200), primary_key=True),
        sa.Column("hostname", sa.String(255), nullable=False, server_default=""),
        sa.Column("pid", sa.Integer, nullable=False, server_default="0"),
        sa.Column("started_at", _TS, nullable=False, server_default=sa.func.now()),
        sa.Column("heartbeat_at", _TS, nullable=False, server_default=sa.func.now()),
        sa.Column("stopped_at", _TS, nullable=True),
        sa.Column("queue_size", sa.Integer, nullable=False, server_default="0"),
    )
    op.create_table(
        "spool_entries",
        sa.Column("queue_id", sa.String(100), primary_key=True),
        sa.Column("data", sa.LargeBinary, nullable=False),
        sa.Column("size", sa.Integer, nullable=False),
        sa.Column("owner", sa.String(200), nullable=True),
        sa.Column("corrupt", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("created_at", _TS, nullable=False, server_default=sa.func.now()),
    )
    op.create_index("ix_spool_entries_owner", "spool_entries", ["owner"])
    if op.get_bind().dialect.name == "postgresql":
        # Spool entries live seconds: out-of-line without compression costs the database less CPU.
        op.execute("ALTER TABLE spool_entries ALTER COLUMN data SET STORAGE EXTERNAL")
    op.create_table(
        "blob_store",
        sa.Column("key", sa.String(64), primary_key=True),
        sa.Column("data", sa.LargeBinary, nullable=False),
        sa.Column("size", sa.Integer, nullable=False),
        sa.Column("created_at", _TS, nullable=False, server_default=sa.func.now()),
    )


def downgrade() -> None:
    op.drop_table("blob_store")
    op.drop_index("ix_spool_entries_owner", "spool_entries")
    op.drop_table("spool_entries")
    op.drop_table("cluster_nodes")
