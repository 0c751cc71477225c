"""Retention of delivered mail, retro-scan features/judgements/findings, clawback results, imported indicators.

Revision ID: 0014r
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0014r"
down_revision = "0001"
branch_labels = ("retro",)
depends_on = None

_TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "rt_retained",
        sa.Column("queue_id", sa.String(40), primary_key=True),
        sa.Column("blob_key", sa.String(64), nullable=False, index=True),
        sa.Column("size", sa.Integer, nullable=False),
        sa.Column("retained_at", _TS, nullable=False, index=True),
        sa.Column("expires_at", _TS, nullable=False, index=True),
    )
    op.create_table(
        "rt_features",
        sa.Column("queue_id", sa.String(40), primary_key=True),
        sa.Column("items", sa.JSON, nullable=False),
        sa.Column("extracted_at", _TS, nullable=False),
    )
    op.create_table(
        "rt_judged",
        sa.Column("item", sa.String(2100), primary_key=True),
        sa.Column("rule_version", sa.String(64), nullable=False, index=True),
        sa.Column("judged_at", _TS, nullable=False),
    )
    op.create_table(
        "rt_findings",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("queue_id", sa.String(40), nullable=False, index=True),
        sa.Column("incident_id", sa.Integer, nullable=True, index=True),
        sa.Column("found_at", _TS, nullable=False),
        sa.Column("rule_version", sa.String(64), nullable=False),
        sa.Column("action", sa.String(16), nullable=False),
        sa.Column("score", sa.Float, nullable=False),
        sa.Column("matched", sa.JSON, nullable=False),
        sa.Column("reasons", sa.JSON, nullable=False),
        sa.Column("recipients", sa.JSON, nullable=False),
    )
    op.create_table(
        "rt_clawback",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("queue_id", sa.String(40), nullable=False, index=True),
        sa.Column("message_id", sa.String(998), nullable=False),
        sa.Column("recipient", sa.String(320), nullable=False, index=True),
        sa.Column("action", sa.String(16), nullable=False),
        sa.Column("result", sa.String(24), nullable=False),
        sa.Column("folder", sa.String(255), nullable=False),
        sa.Column("detail", sa.Text, nullable=False),
        sa.Column("dry_run", sa.Boolean, nullable=False),
        sa.Column("actor", sa.String(255), nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("at", _TS, nullable=False),
    )
    op.create_table(
        "ioc_indicators",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("value", sa.String(2000), nullable=False),
        sa.Column("source", sa.String(300), nullable=False),
        sa.Column("description", sa.Text, nullable=False),
        sa.Column("incident_id", sa.Integer, nullable=True, index=True),
        sa.Column("imported_at", _TS, nullable=False),
        sa.UniqueConstraint("kind", "value", "source"),
    )
    op.create_index("ix_ioc_indicators_kind_value", "ioc_indicators", ["kind", "value"])
    op.create_table(
        "ioc_feeds",
        sa.Column("name", sa.String(100), primary_key=True),
        sa.Column("url", sa.String(2000), nullable=False),
        sa.Column("etag", sa.String(300), nullable=False),
        sa.Column("last_modified", sa.String(100), nullable=False),
        sa.Column("fetched_at", _TS, nullable=True),
        sa.Column("changed_at", _TS, nullable=True),
        sa.Column("last_error", sa.Text, nullable=False),
        sa.Column("indicators", sa.Integer, nullable=False),
    )


def downgrade() -> None:
    for table in ("ioc_feeds", "ioc_indicators", "rt_clawback", "rt_findings", "rt_judged", "rt_features", "rt_retained"):
        op.drop_table(table)
