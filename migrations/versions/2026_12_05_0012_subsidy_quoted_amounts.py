"""subsidy lines: the amount quoted at booking, kept apart from what settlement draws

A line's ``committed_fen`` grows at settlement when the actual cost draws more from a voucher than
the booking held (and a voucher that only pays at settlement gets a line then), so the booking's
quote cannot be read from it. ``quoted_fen`` is what the booking committed at booking and is never
rewritten. Existing lines get it back from the ledger: the sum of their booking's ``commit``
postings to the voucher's committed account (0 for a line made at settlement).

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-05 19:00:00.000000

"""

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("subsidy_lines") as batch_op:
        batch_op.add_column(sa.Column("quoted_fen", sa.BigInteger(), server_default="0", nullable=False))
    op.execute(
        """
        UPDATE subsidy_lines SET quoted_fen = COALESCE((
            SELECT SUM(p.amount_fen)
            FROM postings p
            JOIN journal_transactions t ON t.id = p.transaction_id
            JOIN ledger_accounts a ON a.id = p.account_id
            WHERE t.kind = 'commit' AND t.booking_id = subsidy_lines.booking_id
              AND a.kind = 'committed' AND a.voucher_id = subsidy_lines.voucher_id
        ), 0)
        """
    )
    with op.batch_alter_table("subsidy_lines") as batch_op:
        batch_op.create_check_constraint(
            op.f("ck_subsidy_lines_quoted_within_commitment"), "quoted_fen >= 0 AND quoted_fen <= committed_fen"
        )


def downgrade():
    with op.batch_alter_table("subsidy_lines") as batch_op:
        batch_op.drop_constraint(op.f("ck_subsidy_lines_quoted_within_commitment"), type_="check")
        batch_op.drop_column("quoted_fen")
