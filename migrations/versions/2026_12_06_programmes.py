"""programme rules: eligible payees, a rate per resource kind, an annual cap per team

``eligible_payees`` (JSON, NULL: any lab or provider) names the payees a programme's vouchers
subsidise; ``rate_bp_compute|instrument|service`` override ``rate_bp`` for one kind;
``annual_team_cap_fen`` caps what one team receives from the programme in a calendar year.

Revision ID: programmes1
Revises: 0020
Create Date: 2026-12-06 01:00:00.000000

"""

import sqlalchemy as sa
from alembic import op

revision = "programmes1"
down_revision = "closures1"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("programs") as batch_op:
        batch_op.add_column(sa.Column("eligible_payees", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("rate_bp_compute", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("rate_bp_instrument", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("rate_bp_service", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("annual_team_cap_fen", sa.BigInteger(), nullable=True))
        batch_op.create_check_constraint(
            batch_op.f("ck_programs_rate_bp_by_kind"),
            "(rate_bp_compute IS NULL OR rate_bp_compute BETWEEN 0 AND 10000) AND "
            "(rate_bp_instrument IS NULL OR rate_bp_instrument BETWEEN 0 AND 10000) AND "
            "(rate_bp_service IS NULL OR rate_bp_service BETWEEN 0 AND 10000)",
        )
        batch_op.create_check_constraint(
            batch_op.f("ck_programs_annual_team_cap"),
            "annual_team_cap_fen IS NULL OR annual_team_cap_fen > 0",
        )


def downgrade() -> None:
    with op.batch_alter_table("programs") as batch_op:
        batch_op.drop_constraint(batch_op.f("ck_programs_annual_team_cap"), type_="check")
        batch_op.drop_constraint(batch_op.f("ck_programs_rate_bp_by_kind"), type_="check")
        batch_op.drop_column("annual_team_cap_fen")
        batch_op.drop_column("rate_bp_service")
        batch_op.drop_column("rate_bp_instrument")
        batch_op.drop_column("rate_bp_compute")
        batch_op.drop_column("eligible_payees")
