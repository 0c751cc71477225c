"""Gateway: messages, their recipients, and the audit log.

Revision ID: 0003
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0001"
branch_labels = ("gateway",)
depends_on = None

_TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "gw_messages",
        sa.Column("queue_id", sa.String(40), primary_key=True),
        sa.Column("message_id", sa.String(998), nullable=False, server_default=""),
        sa.Column("mail_from", sa.String(320), nullable=False, server_default=""),
        sa.Column("from_header", sa.Text, nullable=False, server_default=""),
        sa.Column("to_header", sa.Text, nullable=False, server_default=""),
        sa.Column("subject", sa.Text, nullable=False, server_default=""),
        sa.Column("date_header", sa.String(200), nullable=False, server_default=""),
        sa.Column("size", sa.Integer, nullable=False, server_default="0"),
        sa.Column("blob_sha256", sa.String(64), nullable=True),
        sa.Column("direction", sa.String(16), nullable=False, server_default="inbound"),
        sa.Column("client_ip", sa.String(64), nullable=False, server_default=""),
        sa.Column("helo", sa.String(255), nullable=False, server_default=""),
        sa.Column("auth_user", sa.String(255), nullable=False, server_default=""),
        sa.Column("origin", sa.String(16), nullable=False, server_default="smtp"),
        sa.Column("action", sa.String(16), nullable=True),
        sa.Column("score", sa.Float, nullable=True),
        sa.Column("reasons", sa.JSON, nullable=False),
        sa.Column("symbols", sa.JSON, nullable=False),
        sa.Column("findings", sa.JSON, nullable=False),
        sa.Column("state", sa.String(16), nullable=False, server_default="queued"),
        sa.Column("received_at", _TS, nullable=False),
        sa.Column("scanned_at", _TS, nullable=True),
        sa.Column("finished_at", _TS, nullable=True),
        sa.Column("updated_at", _TS, nullable=False),
    )
    for column in ("message_id", "mail_from", "action", "state", "received_at"):
        op.create_index(f"ix_gw_messages_{column}", "gw_messages", [column])
    op.create_table(
        "gw_recipients",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("queue_id", sa.String(40), sa.ForeignKey("gw_messages.queue_id", ondelete="CASCADE"), nullable=False),
        sa.Column("address", sa.String(320), nullable=False),
        sa.Column("direction", sa.String(16), nullable=False, server_default="inbound"),
        sa.Column("status", sa.String(16), nullable=False, server_default="pending"),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("last_reply", sa.Text, nullable=False, server_default=""),
        sa.Column("next_attempt_at", _TS, nullable=True),
        sa.Column("delivered_at", _TS, nullable=True),
    )
    for column in ("queue_id", "address", "status"):
        op.create_index(f"ix_gw_recipients_{column}", "gw_recipients", [column])
    op.create_table(
        "gw_audit",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("queue_id", sa.String(40), sa.ForeignKey("gw_messages.queue_id", ondelete="CASCADE"), nullable=False),
        sa.Column("at", _TS, nullable=False),
        sa.Column("actor", sa.String(255), nullable=False),
        sa.Column("event", sa.String(32), nullable=False),
        sa.Column("reason", sa.Text, nullable=False, server_default=""),
        sa.Column("detail", sa.JSON, nullable=False),
    )
    op.create_index("ix_gw_audit_queue_id", "gw_audit", ["queue_id"])


def downgrade() -> None:
    op.drop_table("gw_audit")
    op.drop_table("gw_recipients")
    op.drop_table("gw_messages")
