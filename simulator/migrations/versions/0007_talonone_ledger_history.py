"""Talon.One: the points ledger's movements (balances as of any date), price observations,
achievements and customers' progress in them, advanced events' integration IDs

Every change of a lot's remaining or revoked points and of a ledger's debt, with the instant
it happened at, so that a balance at an earlier instant is what the ledger held then.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-06 03:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import simulator.core.db

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "talonone_loyalty_movement",
        sa.Column("pk", sa.Integer(), nullable=False),
        sa.Column("tenant_id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("program_id", sa.Integer(), nullable=False),
        sa.Column("profile_id", sqlmodel.sql.sqltypes.AutoString(length=1000), nullable=False),
        sa.Column("card_identifier", sqlmodel.sql.sqltypes.AutoString(length=108), nullable=False),
        sa.Column("subledger_id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("lot_id", sa.Integer(), nullable=True),
        sa.Column("at_ts", sa.Float(), nullable=False),
        sa.Column("remaining", sa.Float(), nullable=False),
        sa.Column("revoked", sa.Float(), nullable=False),
        sa.Column("debt", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("pk"),
    )
    op.create_index(
        "ix_talonone_loyalty_movement_owner",
        "talonone_loyalty_movement",
        ["tenant_id", "program_id", "profile_id", "card_identifier", "at_ts"],
        unique=False,
    )
    op.create_table(
        "talonone_price_observation",
        sa.Column("tenant_id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("sku", sqlmodel.sql.sqltypes.AutoString(length=1000), nullable=False),
        sa.Column("price", sa.Float(), nullable=False),
        sa.Column("observed_at", simulator.core.db.UTCDateTime(), nullable=False),
        sa.Column("audience_id", sa.Integer(), nullable=True),
        sa.Column("context_ids", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "id"),
    )
    op.create_index(
        "ix_talonone_price_observation_sku",
        "talonone_price_observation",
        ["tenant_id", "sku", "observed_at"],
        unique=False,
    )
    op.create_table(
        "talonone_achievement",
        sa.Column("tenant_id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("campaign_id", sa.Integer(), nullable=False),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=1000), nullable=False),
        sa.Column("title", sqlmodel.sql.sqltypes.AutoString(length=1000), nullable=False),
        sa.Column("description", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("target", sa.Float(), nullable=False),
        sa.Column("period", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True),
        sa.Column("recurrence_policy", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("activation_policy", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("fixed_start_date", simulator.core.db.UTCDateTime(), nullable=True),
        sa.Column("end_date", simulator.core.db.UTCDateTime(), nullable=True),
        sa.Column("allow_rollback_after_completion", sa.Boolean(), nullable=False),
        sa.Column("activity", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("event_type", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=True),
        sa.Column("measure", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("created", simulator.core.db.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "id"),
    )
    op.create_table(
        "talonone_achievement_progress",
        sa.Column("tenant_id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("achievement_id", sa.Integer(), nullable=False),
        sa.Column("profile_id", sqlmodel.sql.sqltypes.AutoString(length=1000), nullable=False),
        sa.Column("progress", sa.Float(), nullable=False),
        sa.Column("start_date", simulator.core.db.UTCDateTime(), nullable=False),
        sa.Column("end_date", simulator.core.db.UTCDateTime(), nullable=True),
        sa.Column("completion_date", simulator.core.db.UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("tenant_id", "id"),
    )
    op.create_index(
        "ix_talonone_achievement_progress_profile",
        "talonone_achievement_progress",
        ["tenant_id", "profile_id", "achievement_id", "start_date"],
        unique=False,
    )
    op.create_table(
        "talonone_achievement_contribution",
        sa.Column("pk", sa.Integer(), nullable=False),
        sa.Column("tenant_id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("progress_id", sa.Integer(), nullable=False),
        sa.Column("session_id", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
        sa.Column("delta", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("pk"),
    )
    op.create_index(
        "ix_talonone_achievement_contribution",
        "talonone_achievement_contribution",
        ["tenant_id", "session_id"],
        unique=False,
    )
    op.create_table(
        "talonone_advanced_event",
        sa.Column("tenant_id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("integration_id", sqlmodel.sql.sqltypes.AutoString(length=1000), nullable=False),
        sa.Column("event_id", sa.Integer(), nullable=False),
        sa.Column(
            "connected_session_id", sqlmodel.sql.sqltypes.AutoString(length=1000), nullable=True
        ),
        sa.PrimaryKeyConstraint("tenant_id", "integration_id"),
    )


def downgrade() -> None:
    op.drop_table("talonone_advanced_event")
    op.drop_index(
        "ix_talonone_achievement_contribution", table_name="talonone_achievement_contribution"
    )
    op.drop_table("talonone_achievement_contribution")
    op.drop_index(
        "ix_talonone_achievement_progress_profile", table_name="talonone_achievement_progress"
    )
    op.drop_table("talonone_achievement_progress")
    op.drop_table("talonone_achievement")
    op.drop_index("ix_talonone_price_observation_sku", table_name="talonone_price_observation")
    op.drop_table("talonone_price_observation")
    op.drop_index("ix_talonone_loyalty_movement_owner", table_name="talonone_loyalty_movement")
    op.drop_table("talonone_loyalty_movement")
