"""rt_features.judged_version: the rule version a retained message was last judged clean under, written by
the gateway at delivery and by the retro-scan, so that a retro-scan skips it without parsing.

Revision ID: 0014k
Revises: 0001 (after 0014r, which makes rt_features)
"""

import sqlalchemy as sa
from alembic import op

revision = "0014k"
down_revision = "0001"
branch_labels = ("retro_judged",)
depends_on = ("0014r",)


def upgrade() -> None:
    op.add_column("rt_features", sa.Column("judged_version", sa.String(64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("rt_features") as batch:
        batch.drop_column("judged_version")
