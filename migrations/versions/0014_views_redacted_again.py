"""views' stored redacted text made again under the rules of version 2 (no "[address]" for
"a 20 min drive" or "2 quid each way")

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-03 13:40:00
"""

from alembic import op

from bot.stored_redactions import redact_stale_views

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    redact_stale_views(op.get_bind())


def downgrade() -> None:
    # Nothing to undo: an older release sees another REDACTION_VERSION and redacts itself.
    pass
