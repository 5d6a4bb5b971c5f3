"""team_invitations: invitations mailed by a team's owner to an e-mail address

Only the SHA-256 of a link's secret is stored; at most one open invitation per team and address.

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-05 22:30:00.000000

"""

import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None

OPEN = "accepted_at IS NULL AND revoked_at IS NULL"


def upgrade() -> None:
    op.create_table(
        "team_invitations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("team_id", sa.Integer(), nullable=False),
        sa.Column("email", sa.String(length=254), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("invited_by_id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("accepted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("accepted_by_id", sa.Integer(), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("expires_at > created_at", name=op.f("ck_team_invitations_expires_after_created")),
        sa.CheckConstraint(
            "accepted_at IS NULL OR revoked_at IS NULL", name=op.f("ck_team_invitations_accepted_or_revoked")
        ),
        sa.CheckConstraint(
            "(accepted_at IS NULL) = (accepted_by_id IS NULL)", name=op.f("ck_team_invitations_accepted_by_whom")
        ),
        sa.CheckConstraint("email <> ''", name=op.f("ck_team_invitations_email_given")),
        sa.ForeignKeyConstraint(
            ["team_id"], ["teams.id"], name=op.f("fk_team_invitations_team_id_teams"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["invited_by_id"], ["users.id"], name=op.f("fk_team_invitations_invited_by_id_users")
        ),
        sa.ForeignKeyConstraint(
            ["accepted_by_id"], ["users.id"], name=op.f("fk_team_invitations_accepted_by_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_team_invitations")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_team_invitations_token_hash")),
    )
    with op.batch_alter_table("team_invitations") as batch_op:
        batch_op.create_index(batch_op.f("ix_team_invitations_team_id"), ["team_id"], unique=False)
        batch_op.create_index(
            "uq_team_invitations_open_email",
            ["team_id", "email"],
            unique=True,
            sqlite_where=sa.text(OPEN),
            postgresql_where=sa.text(OPEN),
        )


def downgrade() -> None:
    with op.batch_alter_table("team_invitations") as batch_op:
        batch_op.drop_index("uq_team_invitations_open_email")
        batch_op.drop_index(batch_op.f("ix_team_invitations_team_id"))
    op.drop_table("team_invitations")
