"""Loyalty cards: lookups, the card view, GenerateLoyaltyCard, LinkLoyaltyCardToProfile, card
balances.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import bindparam, select

from simulator.core import fastsql
from simulator.core.clock import format_instant
from simulator.core.db import same_tenant
from simulator.core.ids import ALPHANUMERIC, next_value, seeded_rng
from simulator.core.storable import length_of
from simulator.core.store import Store
from simulator.talonone.errors import TalonOneError
from simulator.talonone.models.core import TalonProfile
from simulator.talonone.models.loyalty import (
    TalonLoyaltyCard,
    TalonLoyaltyCardProfile,
    TalonLoyaltyProgram,
)
from simulator.talonone.service.loyalty.asof import balances_at
from simulator.talonone.service.loyalty.figures import ledger_infos
from simulator.talonone.service.loyalty.programs import get_program, require_program
from simulator.talonone.service.loyalty_ledger import Balance, Owner
from simulator.talonone.service.profile_store import ensure_profile

CARD_IDENTIFIER = re.compile(r"^[A-Za-z0-9_-]{4,108}$")
CARD_STATUSES = ("active", "inactive")


def get_card(
    db: Store, tenant_id: str, program_id: int, identifier: str
) -> TalonLoyaltyCard | None:
    statement = select(TalonLoyaltyCard).where(
        TalonLoyaltyCard.tenant_id == tenant_id,
        TalonLoyaltyCard.program_id == program_id,
        TalonLoyaltyCard.identifier == identifier,
    )
    return db.scalars(statement).first()


def require_card(
    db: Store, tenant_id: str, program_id: int, identifier: str
) -> tuple[TalonLoyaltyProgram, TalonLoyaltyCard]:
    """The program and the card as ORM objects (a write changes the card); 404 / 400 as
    `card_to_read`."""
    program = require_program(db, tenant_id, program_id, card_based=True)
    card = get_card(db, tenant_id, program_id, identifier)
    if card is None:
        raise card_not_found(identifier)
    return program, card


def card_to_read(
    db: Store | fastsql.Lease, tenant_id: str, program_id: int, identifier: str
) -> CardFields:
    """The card as a row of a prepared read (on a read lease too): 404 for an unknown program
    or card, 400 for a program that is not card-based."""
    require_program(db, tenant_id, program_id, card_based=True)
    parameters = {"tenant": tenant_id, "program": program_id, "identifier": identifier}
    card = fastsql.execute(db, CARD_BY_IDENTIFIER, parameters).first()
    if card is None:
        raise card_not_found(identifier)
    return card


def card_not_found(identifier: str) -> TalonOneError:
    return TalonOneError(
        404,
        f"Loyalty card {identifier} not found",
        parameter="loyaltyCardId",
        title="Not found",
    )


class CardFields(Protocol):
    """What a card's view reads: a TalonLoyaltyCard, or a row of a prepared read (the card
    table's columns by name)."""

    id: int
    program_id: int
    identifier: str
    status: str
    block_reason: str | None
    batch_id: str | None
    created: datetime
    modified: datetime | None


class RegistrationFields(Protocol):
    """A card's link to a profile: a TalonLoyaltyCardProfile, or a row of a prepared read."""

    profile_id: str
    timestamp: datetime


CARDS = TalonLoyaltyCard.__table__
CARD_PROFILES = TalonLoyaltyCardProfile.__table__
# A card by its identifier in its program (the key's index), as `get_card` reads it.
CARD_BY_IDENTIFIER = fastsql.prepared(
    select(CARDS).where(
        CARDS.c.tenant_id == bindparam("tenant"),
        CARDS.c.program_id == bindparam("program"),
        CARDS.c.identifier == bindparam("identifier"),
    ),
    autoflush=True,
)
# Built once, run on the DBAPI cursor (core/fastsql), on a lease or a Session (`autoflush`:
# a link the request added through the ORM is read too).
PROFILES_OF_CARD = fastsql.prepared(
    select(CARD_PROFILES)
    .where(
        CARD_PROFILES.c.tenant_id == bindparam("tenant"),
        CARD_PROFILES.c.card_id == bindparam("card"),
    )
    .order_by(CARD_PROFILES.c.timestamp, CARD_PROFILES.c.profile_id),
    autoflush=True,
)
PROFILES_LINK = CARD_PROFILES.alias("profiles_link")  # the profile's link to the card
CARD_LINKS = CARD_PROFILES.alias("card_links")  # every link of the card, the profile's too
# The cards linked to a profile (on the per-profile index, by card id), each with every
# profile linked to it, oldest link first as PROFILES_OF_CARD gives them (on the card's key):
# one statement for the inventory, a row per card and link. A row is both its card
# (CardFields) and the link (RegistrationFields: `profile_id`, `timestamp`).
CARDS_OF_PROFILE = fastsql.prepared(
    select(CARDS, CARD_LINKS.c.profile_id, CARD_LINKS.c.timestamp)
    .select_from(
        PROFILES_LINK.join(CARDS, same_tenant(CARDS.c.id, PROFILES_LINK.c.card_id)).join(
            CARD_LINKS, same_tenant(CARD_LINKS.c.card_id, CARDS.c.id)
        )
    )
    .where(
        PROFILES_LINK.c.tenant_id == bindparam("tenant"),
        PROFILES_LINK.c.profile_id == bindparam("profile"),
    )
    .order_by(PROFILES_LINK.c.card_id, CARD_LINKS.c.timestamp, CARD_LINKS.c.profile_id),
    autoflush=True,
)


def card_profiles(
    db: Store | fastsql.Lease, tenant_id: str, card_id: int
) -> list[RegistrationFields]:
    """The card's links to profiles, oldest first (those the request added too)."""
    parameters = {"tenant": tenant_id, "card": card_id}
    return fastsql.execute(db, PROFILES_OF_CARD, parameters).all()


def linked_cards(
    db: Store | fastsql.Lease, tenant_id: str, profile_id: str
) -> list[tuple[CardFields, list[RegistrationFields]]]:
    """The cards linked to the profile, by card id (those the request linked too), each with
    its links to profiles, oldest first (as `card_profiles` gives them)."""
    parameters = {"tenant": tenant_id, "profile": profile_id}
    cards: dict[int, tuple[CardFields, list[RegistrationFields]]] = {}
    for row in fastsql.execute(db, CARDS_OF_PROFILE, parameters):
        cards.setdefault(row.id, (row, []))[1].append(row)
    return list(cards.values())


def registration_view(link: RegistrationFields) -> dict[str, Any]:
    return {"integrationId": link.profile_id, "timestamp": format_instant(link.timestamp)}


def card_view(
    db: Store | fastsql.Lease,
    tenant_id: str,
    card: CardFields,
    now: datetime,
    links: Sequence[RegistrationFields] | None = None,
) -> dict[str, Any]:
    """The LoyaltyCard JSON; the card's links to profiles are read unless given."""
    if links is None:
        links = card_profiles(db, tenant_id, card.id)
    program = get_program(db, tenant_id, card.program_id)
    assert program is not None
    main, subs = ledger_infos(
        db, tenant_id, program, Owner(program.id, card_identifier=card.identifier), now
    )
    view: dict[str, Any] = {
        "id": card.id,
        "created": format_instant(card.created),
        "programID": program.id,
        "programName": program.name,
        "programTitle": program.title,
        "status": card.status,
        "identifier": card.identifier,
        "usersPerCardLimit": program.users_per_card_limit,
        "profiles": [registration_view(link) for link in links],
        "ledger": main,
        "subledgers": subs,
    }
    if card.block_reason:
        view["blockReason"] = card.block_reason
    if card.modified is not None:
        view["modified"] = format_instant(card.modified)
    if card.batch_id:
        view["batchId"] = card.batch_id
    return view


def generated_identifier(seed: int, tenant_id: str, program: TalonLoyaltyProgram, n: int) -> str:
    """From the program's code settings: `couponPattern` (`#` = a drawn character) and
    `validCharacters`; by default 12 upper-case letters and digits."""
    settings = program.card_code_settings or {}
    alphabet = "".join(settings.get("validCharacters") or []) or ALPHANUMERIC
    pattern = settings.get("couponPattern") or "#" * 12
    rng = seeded_rng(seed, tenant_id, "talonone-loyalty-card", program.id, n)
    return "".join(rng.choice(alphabet) if char == "#" else char for char in pattern)


def ensure_profiles(db: Store, tenant_id: str, profile_ids: list[str], now: datetime) -> None:
    """Linking a card to an unknown profile creates the profile, as sessions do."""
    for profile_id in profile_ids:
        ensure_profile(db, tenant_id, profile_id, now)


def generate_card(
    db: Store,
    tenant_id: str,
    now: datetime,
    seed: int,
    *,
    program_id: int,
    status: str = "active",
    profile_ids: list[str] | None = None,
    identifier: str | None = None,
) -> TalonLoyaltyCard:
    program = require_program(db, tenant_id, program_id, card_based=True)
    if status not in CARD_STATUSES:
        raise TalonOneError(
            400,
            "status must be one of the following: active, inactive",
            pointer="/status",
            title="enum",
        )
    longest = length_of(TalonProfile.integration_id)
    if any(not isinstance(p, str) or not 1 <= len(p) <= longest for p in profile_ids or ()):
        raise TalonOneError(
            400,
            f"customerProfileIds must be strings of 1 to {longest} characters",
            pointer="/customerProfileIds",
            title="Invalid value",
        )
    profile_ids = list(dict.fromkeys(profile_ids or []))
    limit = program.users_per_card_limit
    if limit and len(profile_ids) > limit:
        raise TalonOneError(
            400,
            f"The number of customer profiles exceeds the card user limit ({limit})",
            pointer="/customerProfileIds",
            title="Invalid value",
        )
    if identifier is not None:
        if not CARD_IDENTIFIER.match(identifier):
            raise TalonOneError(
                400,
                "cardIdentifier must be 4 to 108 characters of letters, digits, '_' or '-'",
                pointer="/cardIdentifier",
                title="Invalid value",
            )
        if get_card(db, tenant_id, program_id, identifier) is not None:
            raise TalonOneError(
                400,
                f"Loyalty card {identifier} already exists",
                pointer="/cardIdentifier",
                title="Invalid value",
            )
    card_id = next_value(db, tenant_id, "talonone.loyalty_card")
    if identifier is None:
        attempt = card_id
        identifier = generated_identifier(seed, tenant_id, program, attempt)
        while get_card(db, tenant_id, program_id, identifier) is not None:
            attempt += 1_000_003
            identifier = generated_identifier(seed, tenant_id, program, attempt)
    card = TalonLoyaltyCard(
        tenant_id=tenant_id,
        id=card_id,
        program_id=program_id,
        identifier=identifier,
        status=status,
        created=now,
    )
    db.add(card)
    ensure_profiles(db, tenant_id, profile_ids, now)
    for profile_id in profile_ids:
        db.add(
            TalonLoyaltyCardProfile(
                tenant_id=tenant_id, card_id=card_id, profile_id=profile_id, timestamp=now
            )
        )
    db.flush()
    return card


def link_card(
    db: Store, tenant_id: str, now: datetime, *, program_id: int, identifier: str, profile_id: str
) -> TalonLoyaltyCard:
    program, card = require_card(db, tenant_id, program_id, identifier)
    links = card_profiles(db, tenant_id, card.id)
    if any(link.profile_id == profile_id for link in links):
        raise TalonOneError(
            400,
            f"Customer profile {profile_id} is already linked to this card",
            pointer="/integrationId",
            title="Invalid value",
        )
    limit = program.users_per_card_limit
    if limit and len(links) >= limit:
        raise TalonOneError(
            400,
            f"The card user limit ({limit}) has been reached",
            pointer="/integrationId",
            title="Invalid value",
        )
    ensure_profiles(db, tenant_id, [profile_id], now)
    db.add(
        TalonLoyaltyCardProfile(
            tenant_id=tenant_id, card_id=card.id, profile_id=profile_id, timestamp=now
        )
    )
    card.modified = now
    db.add(card)
    db.flush()
    return card


def card_balances(
    db: Store | fastsql.Lease,
    tenant_id: str,
    now: datetime,
    *,
    program_id: int,
    identifier: str,
    end_date: datetime | None = None,
    subledgers: list[str] | None = None,
) -> dict[str, Any]:
    card = card_to_read(db, tenant_id, program_id, identifier)
    owner = Owner(program_id, card_identifier=card.identifier)
    found = balances_at(db, tenant_id, owner, now, end_date)
    body: dict[str, Any] = {}
    if not subledgers:
        body["balance"] = found.get("", Balance()).as_api()
        body["subledgerBalances"] = {k: v.as_api() for k, v in sorted(found.items()) if k != ""}
    else:
        body["subledgerBalances"] = {s: found.get(s, Balance()).as_api() for s in subledgers}
    body["profiles"] = [registration_view(link) for link in card_profiles(db, tenant_id, card.id)]
    return body
