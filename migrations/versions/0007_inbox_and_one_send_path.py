"""durable inbox, shared send slots, one record of sent messages, retryable check-ins

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-30 13:40:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "send_slots",
        sa.Column("identity", sa.String(length=80), nullable=False),
        sa.Column("next_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("identity", name=op.f("pk_send_slots")),
    )
    op.create_table(
        "inbox",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("resident_id", sa.Integer(), nullable=False),
        sa.Column("channel", sa.String(length=32), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("claim_token", sa.String(length=32), nullable=True),
        sa.Column("claimed_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("replies", sa.Text(), nullable=True),
        sa.Column("error", sa.String(length=64), nullable=True),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("processed_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["resident_id"],
            ["residents.id"],
            name=op.f("fk_inbox_resident_id_residents"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_inbox")),
    )
    op.create_index("ix_inbox_open", "inbox", ["status", "resident_id", "id"], unique=False)

    with op.batch_alter_table("checkins") as batch:
        batch.add_column(sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=True))

    with op.batch_alter_table("outbound_messages") as batch:
        batch.add_column(
            sa.Column("purpose", sa.String(length=16), nullable=False, server_default="reply")
        )
        batch.add_column(sa.Column("outbox_id", sa.Integer(), nullable=True))
        batch.create_index(batch.f("ix_outbound_messages_outbox_id"), ["outbox_id"], unique=False)
        batch.create_foreign_key(
            batch.f("fk_outbound_messages_outbox_id_outbox"),
            "outbox",
            ["outbox_id"],
            ["id"],
            ondelete="SET NULL",
        )
    # Updates already sent get their record here, so their delivery reports still land.
    op.execute(
        "INSERT INTO outbound_messages "
        "(resident_id, channel, purpose, outbox_id, provider_id, status, error_code, "
        "created_at, updated_at) "
        "SELECT resident_id, channel, 'update', id, provider_id, status, error_code, "
        "COALESCE(sent_at, created_at), COALESCE(sent_at, created_at) "
        "FROM outbox WHERE provider_id IS NOT NULL"
    )

    for table in ("update_reactions", "views"):
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column("inbox_id", sa.Integer(), nullable=True))
            batch.create_unique_constraint(batch.f(f"uq_{table}_inbox_id"), ["inbox_id"])
            batch.create_foreign_key(
                batch.f(f"fk_{table}_inbox_id_inbox"),
                "inbox",
                ["inbox_id"],
                ["id"],
                ondelete="SET NULL",
            )


def downgrade() -> None:
    for table in ("views", "update_reactions"):
        with op.batch_alter_table(table) as batch:
            batch.drop_constraint(batch.f(f"fk_{table}_inbox_id_inbox"), type_="foreignkey")
            batch.drop_constraint(batch.f(f"uq_{table}_inbox_id"), type_="unique")
            batch.drop_column("inbox_id")
    op.execute("DELETE FROM outbound_messages WHERE purpose = 'update'")
    with op.batch_alter_table("outbound_messages") as batch:
        batch.drop_constraint(batch.f("fk_outbound_messages_outbox_id_outbox"), type_="foreignkey")
        batch.drop_index(batch.f("ix_outbound_messages_outbox_id"))
        batch.drop_column("outbox_id")
        batch.drop_column("purpose")
    with op.batch_alter_table("checkins") as batch:
        batch.drop_column("claimed_at")
    op.drop_index("ix_inbox_open", table_name="inbox")
    op.drop_table("inbox")
    op.drop_table("send_slots")
