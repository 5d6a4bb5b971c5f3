"""users.oidc_subject: the single sign-on provider's subject (``sub``) of an account

Set on the first sign-in with OpenID Connect; later sign-ins find the account by it before the e-mail.

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-05 23:00:00.000000

"""

import sqlalchemy as sa
from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("users") as batch_op:
        batch_op.add_column(sa.Column("oidc_subject", sa.String(length=255), nullable=True))
        batch_op.create_unique_constraint(batch_op.f("uq_users_oidc_subject"), ["oidc_subject"])


def downgrade() -> None:
    with op.batch_alter_table("users") as batch_op:
        batch_op.drop_constraint(batch_op.f("uq_users_oidc_subject"), type_="unique")
        batch_op.drop_column("oidc_subject")
