"""finance: running totals for the dashboard

Per account, period and transaction kind (maintained with every posting, ``ledger.add_period_totals``)
and per period, team and payee (maintained with every settlement, ``reconciliation.add_settlement_totals``),
so the finance dashboard reads a few thousand rows instead of every posting and settlement;
``ledger verify`` checks both. Backfilled from what is already there.

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-23 23:00:00.000000

"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "ledger_period_totals",
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("period", sa.String(length=7), nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("amount_fen", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["ledger_accounts.id"],
            name=op.f("fk_ledger_period_totals_account_id_ledger_accounts"),
        ),
        sa.PrimaryKeyConstraint("account_id", "period", "kind", name=op.f("pk_ledger_period_totals")),
    )
    op.execute(
        "INSERT INTO ledger_period_totals (account_id, period, kind, amount_fen) "
        "SELECT p.account_id, t.period, t.kind, SUM(p.amount_fen) "
        "FROM postings AS p JOIN journal_transactions AS t ON t.id = p.transaction_id "
        "GROUP BY p.account_id, t.period, t.kind"
    )

    op.create_table(
        "settlement_totals",
        sa.Column("period", sa.String(length=7), nullable=False),
        sa.Column("team_id", sa.Integer(), nullable=False),
        sa.Column("payee_kind", sa.String(length=10), nullable=False),
        sa.Column("payee_id", sa.Integer(), nullable=False),
        sa.Column("bookings", sa.Integer(), nullable=False),
        sa.Column("municipal_fen", sa.BigInteger(), nullable=False),
        sa.Column("district_fen", sa.BigInteger(), nullable=False),
        sa.Column("subsidy_fen", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(["team_id"], ["teams.id"], name=op.f("fk_settlement_totals_team_id_teams")),
        sa.PrimaryKeyConstraint(
            "period", "team_id", "payee_kind", "payee_id", name=op.f("pk_settlement_totals")
        ),
    )
    op.execute(
        "INSERT INTO settlement_totals "
        "(period, team_id, payee_kind, payee_id, bookings, municipal_fen, district_fen, subsidy_fen) "
        "SELECT s.period, b.team_id, s.payee_kind, s.payee_id, COUNT(*), "
        "SUM(s.municipal_fen), SUM(s.district_fen), SUM(s.subsidy_fen) "
        "FROM settlements AS s JOIN bookings AS b ON b.id = s.booking_id "
        "GROUP BY s.period, b.team_id, s.payee_kind, s.payee_id"
    )


def downgrade():
    op.drop_table("settlement_totals")
    op.drop_table("ledger_period_totals")
