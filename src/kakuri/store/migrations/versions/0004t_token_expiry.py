"""API tokens can expire: `expires_at` (NULL = until revoked).

Revision ID: 0004t
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0004t"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("web_api_tokens") as batch:
        batch.add_column(sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("web_api_tokens") as batch:
        batch.drop_column("expires_at")
