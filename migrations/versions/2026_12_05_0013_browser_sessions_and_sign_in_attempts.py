"""server-side browser sessions and per-account sign-in attempts

A signed cookie alone kept a user signed in for 31 days after sign-out; each sign-in now has a row in
``browser_sessions`` that sign-out deletes. Failed sign-ins were counted in each worker's memory (or
with a check-then-hit race in Redis); ``sign_in_attempts`` counts them per e-mail in the database,
atomically, for every worker and node.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-05 19:00:00.000000

"""

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "browser_sessions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("key_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_browser_sessions_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_browser_sessions")),
        sa.UniqueConstraint("key_hash", name=op.f("uq_browser_sessions_key_hash")),
    )
    with op.batch_alter_table("browser_sessions") as batch_op:
        batch_op.create_index(batch_op.f("ix_browser_sessions_user_id"), ["user_id"], unique=False)
    op.create_table(
        "sign_in_attempts",
        sa.Column("email_digest", sa.String(length=64), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("window_started_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("email_digest", name=op.f("pk_sign_in_attempts")),
    )
    with op.batch_alter_table("sign_in_attempts") as batch_op:
        batch_op.create_index(
            batch_op.f("ix_sign_in_attempts_window_started_at"), ["window_started_at"], unique=False
        )


def downgrade():
    with op.batch_alter_table("sign_in_attempts") as batch_op:
        batch_op.drop_index(batch_op.f("ix_sign_in_attempts_window_started_at"))
    op.drop_table("sign_in_attempts")
    with op.batch_alter_table("browser_sessions") as batch_op:
        batch_op.drop_index(batch_op.f("ix_browser_sessions_user_id"))
    op.drop_table("browser_sessions")
