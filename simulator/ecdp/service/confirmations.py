"""Consent confirmation messages "sent" for consents set to AwaitingConfirmation, and the
customer's click on one (admin). The caller commits.
"""

from __future__ import annotations

import json
from datetime import datetime

from sqlalchemy import select

from simulator.core.store import Store
from simulator.ecdp.models import EcdpConfirmation, EcdpCustomer


def list_confirmations(
    session: Store, tenant_id: str, customer_id: int | None = None
) -> list[EcdpConfirmation]:
    statement = select(EcdpConfirmation).where(EcdpConfirmation.tenant_id == tenant_id)
    if customer_id is not None:
        statement = statement.where(EcdpConfirmation.customer_id == customer_id)
    return list(session.execute(statement.order_by(EcdpConfirmation.id)).scalars())


def confirm(
    session: Store, tenant_id: str, confirmation_id: int, now: datetime
) -> EcdpConfirmation | None:
    """The customer clicked the link: consents still awaiting this confirmation become True."""
    message = session.execute(
        select(EcdpConfirmation).where(
            EcdpConfirmation.tenant_id == tenant_id, EcdpConfirmation.id == confirmation_id
        )
    ).scalar_one_or_none()
    if message is None:
        return None
    customer = session.execute(
        select(EcdpCustomer).where(
            EcdpCustomer.tenant_id == tenant_id, EcdpCustomer.id == message.customer_id
        )
    ).scalar_one_or_none()
    if customer is not None:
        consents = json.loads(customer.consents)
        for cid in json.loads(message.consent_ids):
            if consents.get(str(cid)) == "AwaitingConfirmation":
                consents[str(cid)] = "True"
        customer.consents = json.dumps(consents)
        customer.updated_at = now
        session.add(customer)
    message.confirmed = True
    session.add(message)
    return message
