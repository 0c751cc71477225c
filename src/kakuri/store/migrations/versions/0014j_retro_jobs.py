"""Retro-scan jobs: why each run was made, under which rule version, its counts; one running at a time.

Revision ID: 0014j
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0014j"
down_revision = "0001"
branch_labels = ("retro_jobs",)
depends_on = None

_TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "rt_jobs",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("slot", sa.Integer, nullable=True, unique=True),  # 1 while running: one job at a time
        sa.Column("reason", sa.String(200), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("rule_version", sa.String(64), nullable=False),
        sa.Column("full", sa.Boolean, nullable=False),
        sa.Column("since", _TS, nullable=False),
        sa.Column("actor", sa.String(255), nullable=False),
        sa.Column("started_at", _TS, nullable=False, index=True),
        sa.Column("heartbeat_at", _TS, nullable=False),
        sa.Column("finished_at", _TS, nullable=True),
        sa.Column("total", sa.Integer, nullable=False),
        sa.Column("examined", sa.Integer, nullable=False),
        sa.Column("scanned", sa.Integer, nullable=False),
        sa.Column("skipped", sa.Integer, nullable=False),
        sa.Column("findings", sa.Integer, nullable=False),
        sa.Column("incident_id", sa.Integer, nullable=True),
        sa.Column("error", sa.Text, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("rt_jobs")
