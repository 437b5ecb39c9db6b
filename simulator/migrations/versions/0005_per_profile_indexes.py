"""per-profile indexes that win without statistics

A profile's audiences, reserved coupons, cards, referral codes and own ledgers are read by
(tenant_id, profile): each of those indexes now also holds the column the read returns or
orders by, so a planner without statistics (SQLite before ANALYZE, PostgreSQL before
autovacuum) picks it over the primary key, which starts with tenant_id and would walk every
row of the tenant (a session update's audience lookup: 1.06 ms against 0.005 ms at 20,000
memberships).

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-06 03:00:00.000000
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# (index, table, columns before, columns after); None before: a new index.
WIDENED: tuple[tuple[str, str, list[str] | None, list[str]], ...] = (
    (
        "ix_talonone_audience_membership_profile",
        "talonone_audience_membership",
        ["tenant_id", "profile_integration_id"],
        ["tenant_id", "profile_integration_id", "audience_id"],
    ),
    (
        "ix_talonone_coupon_reservation_profile",
        "talonone_coupon_reservation",
        ["tenant_id", "profile_integration_id"],
        ["tenant_id", "profile_integration_id", "coupon_id"],
    ),
    (
        "ix_talonone_referral_advocate",
        "talonone_referral",
        ["tenant_id", "advocate_profile_integration_id"],
        ["tenant_id", "advocate_profile_integration_id", "id"],
    ),
    (
        "ix_talonone_loyalty_card_profile_profile",
        "talonone_loyalty_card_profile",
        ["tenant_id", "profile_id"],
        ["tenant_id", "profile_id", "card_id"],
    ),
    (
        "ix_talonone_loyalty_ledger_profile",
        "talonone_loyalty_ledger",
        None,
        ["tenant_id", "profile_id", "card_identifier", "program_id", "joined"],
    ),
)


def upgrade() -> None:
    for name, table, before, after in WIDENED:
        if before is not None:
            op.drop_index(name, table_name=table)
        op.create_index(name, table, after, unique=False)


def downgrade() -> None:
    for name, table, before, _after in reversed(WIDENED):
        op.drop_index(name, table_name=table)
        if before is not None:
            op.create_index(name, table, before, unique=False)
