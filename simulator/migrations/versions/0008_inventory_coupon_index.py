"""the coupons every profile sees, on an index of their own

A profile's inventory lists its reserved coupons, the coupons addressed to it and those
visible to everyone (`implicitly_reserved`). The three are now read apart, each on an index;
the last had none, and one condition joining the three walked every coupon of the tenant.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-06 07:00:00.000000
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        "ix_talonone_coupon_implicit",
        "talonone_coupon",
        ["tenant_id", "implicitly_reserved", "id"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index("ix_talonone_coupon_implicit", table_name="talonone_coupon")
