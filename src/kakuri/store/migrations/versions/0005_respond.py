"""Outbreak response: emergency modes, incidents, links, timeline, warnings.

Revision ID: 0005
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0001"
branch_labels = ("respond",)
depends_on = None

_TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "ir_incidents",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("title", sa.String(300), nullable=False),
        sa.Column("status", sa.String(16), nullable=False, index=True),
        sa.Column("severity", sa.String(16), nullable=False),
        sa.Column("opened_at", _TS, nullable=False),
        sa.Column("opened_by", sa.String(255), nullable=False),
        sa.Column("closed_at", _TS, nullable=True),
        sa.Column("summary", sa.Text, nullable=False, server_default=""),
    )
    op.create_table(
        "ir_emergency_modes",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("kind", sa.String(32), nullable=False, index=True),
        sa.Column("value", sa.String(320), nullable=False, server_default=""),
        sa.Column("reason", sa.Text, nullable=False, server_default=""),
        sa.Column("enabled_at", _TS, nullable=False),
        sa.Column("enabled_by", sa.String(255), nullable=False),
        sa.Column("disabled_at", _TS, nullable=True, index=True),
        sa.Column("disabled_by", sa.String(255), nullable=True),
        sa.Column("incident_id", sa.Integer, sa.ForeignKey("ir_incidents.id"), nullable=True),
    )
    op.create_table(
        "ir_incident_links",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("incident_id", sa.Integer, sa.ForeignKey("ir_incidents.id", ondelete="CASCADE"), nullable=False, index=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("value", sa.String(2000), nullable=False),
        sa.Column("note", sa.Text, nullable=False, server_default=""),
        sa.Column("added_at", _TS, nullable=False),
        sa.UniqueConstraint("incident_id", "kind", "value"),
    )
    op.create_table(
        "ir_incident_events",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("incident_id", sa.Integer, sa.ForeignKey("ir_incidents.id", ondelete="CASCADE"), nullable=False, index=True),
        sa.Column("at", _TS, nullable=False),
        sa.Column("actor", sa.String(255), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("text", sa.Text, nullable=False, server_default=""),
        sa.Column("detail", sa.JSON, nullable=False),
    )
    op.create_table(
        "ir_warnings",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("incident_id", sa.Integer, sa.ForeignKey("ir_incidents.id", ondelete="CASCADE"), nullable=False, index=True),
        sa.Column("recipient", sa.String(320), nullable=False),
        sa.Column("language", sa.String(8), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("queue_id", sa.String(40), nullable=True),
        sa.Column("last_reply", sa.Text, nullable=False, server_default=""),
        sa.Column("sent_at", _TS, nullable=True),
        sa.UniqueConstraint("incident_id", "recipient"),
    )


def downgrade() -> None:
    for table in ("ir_warnings", "ir_incident_events", "ir_incident_links", "ir_emergency_modes", "ir_incidents"):
        op.drop_table(table)
