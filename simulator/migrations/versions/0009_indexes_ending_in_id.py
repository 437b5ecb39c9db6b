"""a session's, an owner's and a transaction's rows on indexes that end in id

Without statistics SQLite prefers the index that yields a statement's ORDER BY id for free,
and the lot, transaction and return tables' primary key (tenant_id, id) always does: a read
of one owner's, one session's or one transaction's rows walked every row of the tenant.

- ix_talonone_loyalty_lot_owner_id: an owner's lots in id order (the points lists' default
  sort); the owner index covers the balance aggregate and does not end in id, so a page sorted
  every lot of the owner (5.3 ms for 21,000 lots).
- ix_talonone_loyalty_lot_session gains program_id and id (ActivateLoyaltyPoints by session).
- ix_talonone_loyalty_lot_transaction: a transaction's lots (a rollback; activation by UUID).
- ix_talonone_loyalty_tx_session gains id (a session's transactions in posting order).
- ix_talonone_return_session gains id (a session's `previousReturns`).

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-07 23:50:00.000000
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

LOT = "talonone_loyalty_lot"
TRANSACTION = "talonone_loyalty_transaction"
RETURN = "talonone_return"


def upgrade() -> None:
    op.create_index(
        "ix_talonone_loyalty_lot_owner_id",
        LOT,
        ["tenant_id", "program_id", "profile_id", "card_identifier", "id"],
    )
    op.drop_index("ix_talonone_loyalty_lot_session", table_name=LOT)
    op.create_index(
        "ix_talonone_loyalty_lot_session", LOT, ["tenant_id", "session_id", "program_id", "id"]
    )
    op.create_index(
        "ix_talonone_loyalty_lot_transaction",
        LOT,
        ["tenant_id", "transaction_uuid", "transaction_id"],
    )
    op.drop_index("ix_talonone_loyalty_tx_session", table_name=TRANSACTION)
    op.create_index(
        "ix_talonone_loyalty_tx_session", TRANSACTION, ["tenant_id", "session_id", "id"]
    )
    op.drop_index("ix_talonone_return_session", table_name=RETURN)
    op.create_index(
        "ix_talonone_return_session", RETURN, ["tenant_id", "session_integration_id", "id"]
    )


def downgrade() -> None:
    op.drop_index("ix_talonone_return_session", table_name=RETURN)
    op.create_index("ix_talonone_return_session", RETURN, ["tenant_id", "session_integration_id"])
    op.drop_index("ix_talonone_loyalty_tx_session", table_name=TRANSACTION)
    op.create_index("ix_talonone_loyalty_tx_session", TRANSACTION, ["tenant_id", "session_id"])
    op.drop_index("ix_talonone_loyalty_lot_transaction", table_name=LOT)
    op.drop_index("ix_talonone_loyalty_lot_session", table_name=LOT)
    op.create_index("ix_talonone_loyalty_lot_session", LOT, ["tenant_id", "session_id"])
    op.drop_index("ix_talonone_loyalty_lot_owner_id", table_name=LOT)
