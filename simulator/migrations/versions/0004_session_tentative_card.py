"""an open session's row marks its tentative loyalty figures (the tentative table goes)

An open session with loyalty effects records, in `tentative_card`, the card they name ("" for
the profile's own ledgers); balances find the latest such session by profile or by card
through two partial indexes. Each update of an open session used to write a row of
`talonone_loyalty_tentative` as well (a statement and three B-tree entries of its own).

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-05 00:10:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import simulator.core.db

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TENTATIVE = "tentative_card IS NOT NULL"
CARD = "tentative_card != ''"


def upgrade() -> None:
    op.add_column(
        "talonone_session",
        sa.Column("tentative_card", sqlmodel.sql.sqltypes.AutoString(length=108), nullable=True),
    )
    op.execute(
        "UPDATE talonone_session SET tentative_card = ("
        " SELECT t.card_identifier FROM talonone_loyalty_tentative t"
        " WHERE t.tenant_id = talonone_session.tenant_id"
        " AND t.session_id = talonone_session.integration_id)"
        " WHERE state = 'open'"
    )
    op.create_index(
        "ix_talonone_session_tentative_profile",
        "talonone_session",
        ["tenant_id", "profile_id", "updated"],
        unique=False,
        sqlite_where=sa.text(TENTATIVE),
        postgresql_where=sa.text(TENTATIVE),
    )
    op.create_index(
        "ix_talonone_session_tentative_card",
        "talonone_session",
        ["tenant_id", "tentative_card", "updated"],
        unique=False,
        sqlite_where=sa.text(CARD),
        postgresql_where=sa.text(CARD),
    )
    op.drop_index("ix_talonone_loyalty_tentative_profile", table_name="talonone_loyalty_tentative")
    op.drop_table("talonone_loyalty_tentative")


def downgrade() -> None:
    op.create_table(
        "talonone_loyalty_tentative",
        sa.Column("tenant_id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("session_id", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
        sa.Column("profile_id", sqlmodel.sql.sqltypes.AutoString(length=1000), nullable=False),
        sa.Column("card_identifier", sqlmodel.sql.sqltypes.AutoString(length=108), nullable=False),
        sa.Column("effects", sa.JSON(), nullable=False),
        sa.Column("updated", simulator.core.db.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "session_id"),
    )
    op.create_index(
        "ix_talonone_loyalty_tentative_profile",
        "talonone_loyalty_tentative",
        ["tenant_id", "profile_id"],
        unique=False,
    )
    # The whole effects list stands for the loyalty ones: their readers skip the others.
    op.execute(
        "INSERT INTO talonone_loyalty_tentative"
        " (tenant_id, session_id, profile_id, card_identifier, effects, updated)"
        " SELECT tenant_id, integration_id, profile_id, tentative_card, effects, updated"
        " FROM talonone_session WHERE tentative_card IS NOT NULL"
    )
    op.drop_index("ix_talonone_session_tentative_card", table_name="talonone_session")
    op.drop_index("ix_talonone_session_tentative_profile", table_name="talonone_session")
    with op.batch_alter_table("talonone_session", schema=None) as batch_op:
        batch_op.drop_column("tentative_card")
