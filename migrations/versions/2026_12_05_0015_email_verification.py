"""users.email_verified_at: when the person proved the address is theirs

Every account that exists today was made by an admin (or the first-admin command), which vouches for
the address: they are all verified as of their creation. Accounts people make themselves start
unverified.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-05 22:10:00.000000

"""

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("email_verified_at", sa.DateTime(timezone=True), nullable=True))
    op.execute("UPDATE users SET email_verified_at = created_at")


def downgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.drop_column("email_verified_at")
