"""The stored rules: adding, listing and deleting them (the caller's transaction), and how the
admin API shows one."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.engine import Engine
from sqlmodel import col

from simulator.core.clock import format_instant, real_now, tenant_now
from simulator.core.faults.dice import flush_hits
from simulator.core.faults.rules import FaultError, FaultRule, RuleDefinition
from simulator.core.models import Tenant
from simulator.core.store import Store


def ensure_table(engine: Engine) -> None:
    """Create the table in a store made before it existed (create_all makes it in a new one)."""
    FaultRule.__table__.create(engine, checkfirst=True)  # type: ignore[attr-defined]


def definition_json(rule: RuleDefinition) -> str:
    return rule.model_dump_json(exclude_none=True, exclude_defaults=True)


def add_rules(
    session: Store,
    rules: list[RuleDefinition],
    source: str = "admin",
    keys: list[str] | None = None,
) -> list[FaultRule]:
    """Store rules (the caller commits). A tenant rule's TTL runs on that tenant's clock."""
    rows = []
    tenants: dict[str, Tenant] = {}
    for index, rule in enumerate(rules):
        tenant = None
        if rule.tenant is not None:
            tenant = tenants.get(rule.tenant) or session.get(Tenant, rule.tenant)
            if tenant is None:
                raise FaultError(f"[{index}].tenant", f"no tenant {rule.tenant!r}")
            tenants[rule.tenant] = tenant
        now = tenant_now(tenant) if tenant is not None else real_now()
        expires = now + timedelta(seconds=rule.ttl_seconds) if rule.ttl_seconds else None
        row = FaultRule(
            tenant_id=rule.tenant,
            key=keys[index] if keys else None,
            source=source,
            definition=definition_json(rule),
            created_at=now,
            expires_at=expires,
        )
        session.add(row)
        rows.append(row)
    session.flush()
    return rows


def list_rules(session: Store, tenant_id: str | None = None) -> list[FaultRule]:
    """Stored rules with up-to-date counts (this process's buffered ones added first)."""
    flush_hits(session.get_bind())
    statement = select(FaultRule).order_by(col(FaultRule.id))
    if tenant_id is not None:
        statement = statement.where(col(FaultRule.tenant_id) == tenant_id)
    return list(session.execute(statement).scalars())


def delete_rules(session: Store, tenant_id: str | None = None, rule_id: int | None = None) -> int:
    statement = delete(FaultRule)
    if tenant_id is not None:
        statement = statement.where(col(FaultRule.tenant_id) == tenant_id)
    if rule_id is not None:
        statement = statement.where(col(FaultRule.id) == rule_id)
    return session.execute(statement).rowcount  # the caller commits, then `invalidate()`s


def rule_view(row: FaultRule) -> dict[str, Any]:
    definition = json.loads(row.definition)
    definition.pop("tenant", None)
    return {
        "id": row.id,
        "tenant": row.tenant_id,
        "source": row.source,
        **definition,
        "hits": row.hits,
        "matched": row.matched,
        "created": format_instant(row.created_at),
        "expires": format_instant(row.expires_at) if row.expires_at else None,
    }
