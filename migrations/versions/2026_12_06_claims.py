"""claims: redemption claims (兑付) with their per-level shares and attachments

A lab or provider files one live claim per closed period (a partial unique index: rejected claims
do not count); each level with a share (municipal, each district) approves and pays its own.

Revision ID: claims1
Revises: 0020
Create Date: 2026-12-06 01:00:00.000000

"""

import sqlalchemy as sa
from alembic import op

revision = "claims1"
down_revision = "programmes1"
branch_labels = None
depends_on = None

LIVE = "status <> 'rejected'"


def upgrade() -> None:
    op.create_table(
        "claims",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("payee_kind", sa.String(length=10), nullable=False),
        sa.Column("payee_id", sa.Integer(), nullable=False),
        sa.Column("period", sa.String(length=7), nullable=False),
        sa.Column("invoice_number", sa.String(length=100), nullable=False),
        sa.Column("note", sa.String(length=2000), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("amount_fen", sa.BigInteger(), nullable=False),
        sa.Column("municipal_fen", sa.BigInteger(), nullable=False),
        sa.Column("district_fen", sa.BigInteger(), nullable=False),
        sa.Column("bookings", sa.Integer(), nullable=False),
        sa.Column("reason", sa.String(length=2000), nullable=False),
        sa.Column("created_by_id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.CheckConstraint(
            "status IN ('submitted', 'partly_approved', 'approved', 'partly_paid', 'paid', 'rejected')",
            name=op.f("ck_claims_status"),
        ),
        sa.CheckConstraint("payee_kind IN ('lab', 'provider')", name=op.f("ck_claims_payee_kind")),
        sa.CheckConstraint(
            "municipal_fen >= 0 AND district_fen >= 0 AND amount_fen = municipal_fen + district_fen "
            "AND amount_fen > 0",
            name=op.f("ck_claims_amounts"),
        ),
        sa.ForeignKeyConstraint(["created_by_id"], ["users.id"], name=op.f("fk_claims_created_by_id_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_claims")),
    )
    with op.batch_alter_table("claims") as batch_op:
        batch_op.create_index(batch_op.f("ix_claims_period"), ["period"], unique=False)
        batch_op.create_index(batch_op.f("ix_claims_status"), ["status"], unique=False)
        batch_op.create_index("ix_claims_payee", ["payee_kind", "payee_id"], unique=False)
        batch_op.create_index(
            "uq_claims_live",
            ["payee_kind", "payee_id", "period"],
            unique=True,
            sqlite_where=sa.text(LIVE),
            postgresql_where=sa.text(LIVE),
        )
    op.create_table(
        "claim_shares",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("claim_id", sa.Integer(), nullable=False),
        sa.Column("level", sa.String(length=10), nullable=False),
        sa.Column("district_code", sa.String(length=6), nullable=True),
        sa.Column("amount_fen", sa.BigInteger(), nullable=False),
        sa.Column("programs", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("decided_by_id", sa.Integer(), nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("reason", sa.String(length=2000), nullable=False),
        sa.Column("reference", sa.String(length=200), nullable=False),
        sa.Column("paid_by_id", sa.Integer(), nullable=True),
        sa.Column("paid_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "status IN ('pending', 'approved', 'rejected', 'paid')", name=op.f("ck_claim_shares_status")
        ),
        sa.CheckConstraint(
            "(level = 'municipal' AND district_code IS NULL) OR "
            "(level = 'district' AND district_code IS NOT NULL)",
            name=op.f("ck_claim_shares_level"),
        ),
        sa.CheckConstraint("amount_fen > 0", name=op.f("ck_claim_shares_amount_positive")),
        sa.CheckConstraint(
            "(status = 'paid') = (paid_at IS NOT NULL)", name=op.f("ck_claim_shares_paid_when_paid")
        ),
        sa.ForeignKeyConstraint(["claim_id"], ["claims.id"], name=op.f("fk_claim_shares_claim_id_claims")),
        sa.ForeignKeyConstraint(
            ["district_code"], ["districts.code"], name=op.f("fk_claim_shares_district_code_districts")
        ),
        sa.ForeignKeyConstraint(
            ["decided_by_id"], ["users.id"], name=op.f("fk_claim_shares_decided_by_id_users")
        ),
        sa.ForeignKeyConstraint(["paid_by_id"], ["users.id"], name=op.f("fk_claim_shares_paid_by_id_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_claim_shares")),
    )
    with op.batch_alter_table("claim_shares") as batch_op:
        batch_op.create_index(batch_op.f("ix_claim_shares_claim_id"), ["claim_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_claim_shares_district_code"), ["district_code"], unique=False)
    op.create_table(
        "claim_attachments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("claim_id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=32), nullable=False),
        sa.Column("filename", sa.String(length=255), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("content_type", sa.String(length=100), nullable=False),
        sa.Column("uploaded_by_id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.CheckConstraint("size >= 0", name=op.f("ck_claim_attachments_size")),
        sa.ForeignKeyConstraint(
            ["claim_id"], ["claims.id"], name=op.f("fk_claim_attachments_claim_id_claims")
        ),
        sa.ForeignKeyConstraint(
            ["uploaded_by_id"], ["users.id"], name=op.f("fk_claim_attachments_uploaded_by_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_claim_attachments")),
        sa.UniqueConstraint("key", name=op.f("uq_claim_attachments_key")),
    )
    with op.batch_alter_table("claim_attachments") as batch_op:
        batch_op.create_index(batch_op.f("ix_claim_attachments_claim_id"), ["claim_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("claim_attachments") as batch_op:
        batch_op.drop_index(batch_op.f("ix_claim_attachments_claim_id"))
    op.drop_table("claim_attachments")
    with op.batch_alter_table("claim_shares") as batch_op:
        batch_op.drop_index(batch_op.f("ix_claim_shares_district_code"))
        batch_op.drop_index(batch_op.f("ix_claim_shares_claim_id"))
    op.drop_table("claim_shares")
    with op.batch_alter_table("claims") as batch_op:
        batch_op.drop_index("uq_claims_live")
        batch_op.drop_index("ix_claims_payee")
        batch_op.drop_index(batch_op.f("ix_claims_status"))
        batch_op.drop_index(batch_op.f("ix_claims_period"))
    op.drop_table("claims")
