"""Indexes for the console's quarantine list: state filter plus newest-first keyset order in one index.

Revision ID: 0004a
Revises: 0003
"""

from alembic import op

revision = "0004a"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_gw_messages_state_received", "gw_messages", ["state", "received_at", "queue_id"])
    op.create_index("ix_gw_messages_received_queue", "gw_messages", ["received_at", "queue_id"])


def downgrade() -> None:
    op.drop_index("ix_gw_messages_received_queue", "gw_messages")
    op.drop_index("ix_gw_messages_state_received", "gw_messages")
