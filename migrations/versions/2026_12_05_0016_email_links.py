"""email_links: single-use links mailed to a user (verify the address, reset the password)

Only the SHA-256 of a link's secret is stored.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-05 22:20:00.000000

"""

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "email_links",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("purpose", sa.String(length=20), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.CheckConstraint("purpose IN ('verify_email', 'reset_password')", name=op.f("ck_email_links_purpose")),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_email_links_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_email_links")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_email_links_token_hash")),
    )
    with op.batch_alter_table("email_links") as batch_op:
        batch_op.create_index(batch_op.f("ix_email_links_user_id"), ["user_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("email_links") as batch_op:
        batch_op.drop_index(batch_op.f("ix_email_links_user_id"))
    op.drop_table("email_links")
