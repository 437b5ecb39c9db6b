"""Seeded fake volume for the `customergauge` section: unsubscribe and bounce list entries.

Counts (in `generate.counts`): `customergauge.unsubscribe` (default: half the customers, rounded
up) and `customergauge.bounce` (default: the other half). Addresses are unique by a counter and
never repeat one the section already lists (the lists are unique by address, case-insensitively).
"""

from __future__ import annotations

from typing import Any

from simulator.core.generate import (
    EMAIL_DOMAINS,
    FakePools,
    GenerateContext,
    iso_instant,
    unique_email,
)

BOUNCE_REASONS = (
    "550 Mailbox unavailable",
    "550 5.1.1 User unknown",
    "552 Mailbox full",
    "554 Message rejected",
    "421 Service not available",
)


def listed_keys(entries: list[Any]) -> set[str]:
    keys = set()
    for entry in entries:
        email = entry if isinstance(entry, str) else (entry or {}).get("email", "")
        keys.add(str(email).strip().lower())
    return keys


COUNTS = ("customergauge.unsubscribe", "customergauge.bounce")


def generate(context: GenerateContext, section: dict[str, Any]) -> dict[str, Any]:
    unsubscribe_count = context.count("customergauge.unsubscribe", (context.customers + 1) // 2)
    bounce_count = context.count("customergauge.bounce", context.customers // 2)
    if unsubscribe_count <= 0 and bounce_count <= 0:
        return section
    unsubscribe = list(section.get("unsubscribe") or [])
    bounce = list(section.get("bounce") or [])
    taken = listed_keys(unsubscribe) | listed_keys(bounce)
    pools = FakePools.build(context, "customergauge.people")
    rng = context.rng("customergauge.lists")
    number = 0

    def next_email() -> str:
        nonlocal number
        while True:
            number += 1
            email = unique_email(
                rng.choice(pools.first_names),
                rng.choice(pools.last_names),
                number,
                rng.choice(EMAIL_DOMAINS),
            )
            if email not in taken:
                taken.add(email)
                return email

    for _ in range(unsubscribe_count):
        unsubscribe.append(
            {"email": next_email(), "date": iso_instant(rng, 2025, 365), "user": "import"}
        )
    for _ in range(bounce_count):
        bounce.append(
            {
                "email": next_email(),
                "date": iso_instant(rng, 2025, 365),
                "reason": rng.choice(BOUNCE_REASONS),
            }
        )
    return {**section, "unsubscribe": unsubscribe, "bounce": bounce}
