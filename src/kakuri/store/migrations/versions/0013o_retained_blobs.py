"""Scale-out on PostgreSQL: retained copies of delivered mail in the database (for every node's retro-scan).

Revision ID: 0013o
Revises: 0013n
"""

import sqlalchemy as sa
from alembic import op

revision = "0013o"
down_revision = "0013n"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "retained_blob_store",
        sa.Column("key", sa.String(64), primary_key=True),
        sa.Column("data", sa.LargeBinary, nullable=False),
        sa.Column("size", sa.Integer, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    )


def downgrade() -> None:
    op.drop_table("retained_blob_store")
