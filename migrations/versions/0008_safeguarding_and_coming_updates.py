"""safeguarding alerts, the console permission to see them, updates still to come, and
views under several themes

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-30 14:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "safeguarding_alerts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("resident_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("channel", sa.String(length=32), nullable=False),
        sa.Column("confidence", sa.Float(), nullable=True),
        sa.Column("inbox_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("notified_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("handled_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("handled_by", sa.String(length=254), nullable=True),
        sa.ForeignKeyConstraint(
            ["resident_id"],
            ["residents.id"],
            name=op.f("fk_safeguarding_alerts_resident_id_residents"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["inbox_id"],
            ["inbox.id"],
            name=op.f("fk_safeguarding_alerts_inbox_id_inbox"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_safeguarding_alerts")),
        sa.UniqueConstraint("inbox_id", name=op.f("uq_safeguarding_alerts_inbox_id")),
    )
    for column in ("resident_id", "created_at"):
        op.create_index(
            op.f(f"ix_safeguarding_alerts_{column}"), "safeguarding_alerts", [column], unique=False
        )
    with op.batch_alter_table("console_users") as batch:
        batch.add_column(
            sa.Column("safeguarding", sa.Boolean(), nullable=False, server_default=sa.false())
        )
    with op.batch_alter_table("updates") as batch:
        batch.add_column(
            sa.Column("stage", sa.String(length=8), nullable=False, server_default="done")
        )
    op.create_table(
        "view_themes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("view_id", sa.Integer(), nullable=False),
        sa.Column("theme_key", sa.String(length=32), nullable=False),
        sa.Column("confidence", sa.Float(), nullable=True),
        sa.Column("rank", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["view_id"], ["views.id"], name=op.f("fk_view_themes_view_id_views"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_view_themes")),
        sa.UniqueConstraint("view_id", "theme_key", name="uq_view_themes_view_id"),
    )
    for column in ("view_id", "theme_key"):
        op.create_index(op.f(f"ix_view_themes_{column}"), "view_themes", [column], unique=False)
    # Every existing view's theme becomes its primary (and only) theme.
    op.execute(
        "INSERT INTO view_themes (view_id, theme_key, confidence, rank) "
        "SELECT id, theme_key, confidence, 0 FROM views WHERE theme_key IS NOT NULL"
    )


def downgrade() -> None:
    for column in ("theme_key", "view_id"):
        op.drop_index(op.f(f"ix_view_themes_{column}"), table_name="view_themes")
    op.drop_table("view_themes")
    with op.batch_alter_table("updates") as batch:
        batch.drop_column("stage")
    with op.batch_alter_table("console_users") as batch:
        batch.drop_column("safeguarding")
    for column in ("created_at", "resident_id"):
        op.drop_index(op.f(f"ix_safeguarding_alerts_{column}"), table_name="safeguarding_alerts")
    op.drop_table("safeguarding_alerts")
