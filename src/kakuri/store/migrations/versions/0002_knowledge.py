"""Organisation knowledge: directory, domains, thread ledger, contact graph, held archives.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = ("knowledge",)
depends_on = None


def upgrade() -> None:
    op.create_table(
        "kn_people",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("email", sa.String(320), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("other_names", sa.Text, nullable=False),
        sa.Column("company", sa.String(200), nullable=False),
    )
    op.create_index("ix_kn_people_email", "kn_people", ["email"])
    op.create_table(
        "kn_domains",
        sa.Column("domain", sa.String(255), primary_key=True),
        sa.Column("kind", sa.String(16), primary_key=True),
        sa.Column("company", sa.String(200), nullable=False),
    )
    op.create_table(
        "kn_messages",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("message_id", sa.String(998), nullable=False, unique=True),
        sa.Column("refs", sa.Text, nullable=False),
        sa.Column("subject", sa.Text, nullable=False),
        sa.Column("sender", sa.String(320), nullable=False),
        sa.Column("recipients", sa.Text, nullable=False),
        sa.Column("sent_at", sa.Float, nullable=False),
        sa.Column("passwords", sa.Text, nullable=False),
    )
    op.create_index("ix_kn_messages_sent_at", "kn_messages", ["sent_at"])
    op.create_table(
        "kn_contacts",
        sa.Column("sender", sa.String(320), primary_key=True),
        sa.Column("recipient", sa.String(320), primary_key=True),
        sa.Column("messages", sa.Integer, nullable=False),
        sa.Column("first_at", sa.Float, nullable=False),
        sa.Column("last_at", sa.Float, nullable=False),
    )
    op.create_table(
        "kn_pending_archives",
        sa.Column("key", sa.String(200), primary_key=True),
        sa.Column("sender", sa.String(320), nullable=False),
        sa.Column("recipients", sa.Text, nullable=False),
        sa.Column("thread_ids", sa.Text, nullable=False),
        sa.Column("held_at", sa.Float, nullable=False),
    )


def downgrade() -> None:
    for table in ("kn_pending_archives", "kn_contacts", "kn_messages", "kn_domains", "kn_people"):
        op.drop_table(table)
