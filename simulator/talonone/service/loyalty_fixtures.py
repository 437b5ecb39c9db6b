"""The loyalty part of the `talonone` fixture section: `loyaltyPrograms`, each with its tiers,
cards and an optional starting ledger (`transactions`, posted as `import` rows in order)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator
from sqlalchemy import insert, select

from simulator.core.clock import format_instant
from simulator.core.fixtures import LoadContext, Strict
from simulator.core.ids import next_value
from simulator.core.models import Tenant, fresh_token
from simulator.core.store import Store
from simulator.talonone.models.loyalty import (
    TalonLoyaltyCard,
    TalonLoyaltyCardProfile,
    TalonLoyaltyLedger,
    TalonLoyaltyLot,
    TalonLoyaltyProgram,
    TalonLoyaltySpend,
    TalonLoyaltyTransaction,
)
from simulator.talonone.service.loyalty_ledger import (
    DURATION,
    EPSILON,
    LEDGERS,
    RESERVED,
    TRANSACTION_IDS,
    BulkAdditions,
    LedgerInputError,
    Origin,
    Owner,
    add_points,
    deduct_points,
    ensure_ledger,
    lot_dates,
    new_transaction,
    reserve_ids,
)

CARD_PATTERN = r"^[A-Za-z0-9_-]{4,108}$"


class TierFixture(Strict):
    id: int
    name: str = Field(min_length=1)
    minPoints: float = Field(ge=0)


class CardCodeSettings(Strict):
    validCharacters: list[str] | None = None
    couponPattern: str | None = Field(default=None, min_length=4, max_length=108)


class CardProfileFixture(Strict):
    """A profile linked to a card, as the card's `profiles` show it (an export writes these)."""

    integrationId: str = Field(min_length=1)
    timestamp: datetime | None = None  # when it was linked (default: when the document loads)


class CardFixture(Strict):
    identifier: str = Field(pattern=CARD_PATTERN)
    status: Literal["active", "inactive"] = "active"
    blockReason: str | None = None
    # Integration ids, or {integrationId, timestamp} as exported.
    profiles: list[str | CardProfileFixture] = Field(default_factory=list)
    batchId: str | None = None
    created: datetime | None = None  # as exported (default: when the document is loaded)
    modified: datetime | None = None  # as exported: the last change of status or profiles

    def links(self) -> dict[str, datetime | None]:
        """Each linked profile once, with the time it was linked when the document says."""
        linked: dict[str, datetime | None] = {}
        for entry in self.profiles:
            if isinstance(entry, str):
                linked.setdefault(entry, None)
            else:
                linked.setdefault(entry.integrationId, entry.timestamp)
        return linked


class SpendFixture(Strict):
    """Which lot (the addition's id) a subtraction took points from; none: the debt part."""

    lotId: int | None = Field(default=None, ge=1)
    amount: float = Field(gt=0)


class LedgerEntryFixture(Strict):
    profileId: str | None = None
    cardIdentifier: str | None = None
    subledgerId: str = ""
    type: Literal["addition", "subtraction"] = "addition"
    amount: float = Field(gt=0)
    name: str = "Imported points"
    startDate: str | None = None  # immediate | on_action | a timestamp | a duration
    expiryDate: str | None = None  # unlimited | a timestamp | a duration
    created: datetime | None = None
    loyaltyTransactionType: Literal["manual", "session", "import"] = "import"
    customerSessionId: str | None = Field(default=None, max_length=255)
    transactionUUID: str | None = Field(default=None, max_length=64)
    # As exported: the row's id and the rule that made it, so a loaded export reads the same.
    id: int | None = Field(default=None, ge=1)
    campaignId: int | None = None
    rulesetId: int | None = None
    ruleIndex: int | None = None
    ruleName: str | None = None
    # As exported: `applied: false` records the row without moving points (its effect is in the
    # additions' `remaining` / `revoked` and the program's `debts`).
    applied: bool = True
    remaining: float | None = Field(default=None, ge=0)
    revoked: float = Field(default=0, ge=0)
    # As exported, for rows recorded as history: the row a rollback undid (its transactionUUID),
    # the lots a subtraction spent (so a cancel gives them back) and the negative-balance flag.
    rollbackOf: str | None = Field(default=None, min_length=1, max_length=64)
    spends: list[SpendFixture] = Field(default_factory=list)
    createsNegativeBalance: bool = False

    @model_validator(mode="after")
    def amounts_fit(self) -> LedgerEntryFixture:
        if self.type == "subtraction" and (self.remaining is not None or self.revoked):
            raise ValueError("remaining and revoked belong to additions")
        if (self.remaining or 0) + self.revoked > self.amount + 1e-9:
            raise ValueError("remaining + revoked cannot exceed amount")
        if self.applied and (self.rollbackOf or self.spends or self.createsNegativeBalance):
            raise ValueError(
                "rollbackOf, spends and createsNegativeBalance describe rows recorded as "
                "history (applied: false); an applied row computes them"
            )
        if self.spends and (self.type != "subtraction" or self.id is None):
            raise ValueError("spends: only a subtraction with its id spends points")
        return self

    def history_action(self) -> str:
        """What a row recorded as history did, so cancels and returns find what to undo."""
        if self.rollbackOf:
            return "rollback_add" if self.type == "subtraction" else "rollback_deduct"
        return "deduct" if self.type == "subtraction" else "history"


class DebtFixture(Strict):
    """A negative balance carried over (exports of programs that allow negative balances)."""

    profileId: str | None = None
    cardIdentifier: str | None = None
    subledgerId: str = ""
    amount: float = Field(gt=0)


def check_period(value: str | None, keywords: tuple[str, ...]) -> str | None:
    if value is None or value in keywords or DURATION.match(value):
        return value
    try:
        datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as error:
        raise ValueError(
            f"expected one of {', '.join(keywords)}, a duration or a timestamp"
        ) from error
    return value


class ProgramFixture(Strict):
    id: int = Field(ge=1)
    name: str = Field(min_length=1)
    title: str | None = None
    description: str = ""
    cardBased: bool = False
    subledgers: list[str] = Field(default_factory=list)
    defaultPending: str = "immediate"
    defaultValidity: str = "unlimited"
    allowNegativeBalance: bool = False
    activePointsDeduction: bool = True
    usersPerCardLimit: int = Field(default=0, ge=0)
    cardDefaultStatus: Literal["active", "inactive"] = "active"
    cardCodeSettings: CardCodeSettings | None = None
    tiers: list[TierFixture] = Field(default_factory=list)
    tiersDowngradePolicy: Literal["one_down", "balance_based"] = "one_down"
    programJoinPolicy: Literal["not_join", "points_activated", "points_earned"] = "not_join"
    cards: list[CardFixture] = Field(default_factory=list)
    transactions: list[LedgerEntryFixture] = Field(default_factory=list)
    debts: list[DebtFixture] = Field(default_factory=list)

    @field_validator("defaultPending")
    @classmethod
    def pending_known(cls, value: str) -> str:
        if value in ("immediate", "on_action") or DURATION.match(value):
            return value
        raise ValueError("expected immediate, on_action or a duration like 7D")

    @field_validator("defaultValidity")
    @classmethod
    def validity_known(cls, value: str) -> str:
        if value == "unlimited" or DURATION.match(value):
            return value
        raise ValueError("expected unlimited or a duration like 30D")

    @field_validator("subledgers")
    @classmethod
    def subledgers_valid(cls, value: list[str]) -> list[str]:
        for item in value:
            if not item or len(item) > 64:
                raise ValueError(
                    "subledger IDs are 1 to 64 characters (the main ledger is implicit)"
                )
        return value

    @model_validator(mode="after")
    def consistent(self) -> ProgramFixture:
        identifiers = [card.identifier for card in self.cards]
        if len(set(identifiers)) != len(identifiers):
            raise ValueError("card identifiers must be unique within a program")
        if self.cards and not self.cardBased:
            raise ValueError("cards need a card-based program (cardBased: true)")
        limit = self.usersPerCardLimit
        for card in self.cards:
            if limit and len(card.links()) > limit:
                raise ValueError(f"card {card.identifier} has more profiles than usersPerCardLimit")
        check_spends(self.transactions)
        for entry in self.transactions:
            check_period(entry.startDate, ("immediate", "on_action"))
            check_period(entry.expiryDate, ("unlimited",))
            if entry.subledgerId and entry.subledgerId not in self.subledgers:
                raise ValueError(f"unknown subledger {entry.subledgerId!r} in transactions")
            if self.cardBased:
                if not entry.cardIdentifier or entry.cardIdentifier not in identifiers:
                    raise ValueError("transactions of a card-based program name a listed card")
            elif not entry.profileId:
                raise ValueError("transactions of a profile-based program need profileId")
        return self


def check_spends(entries: list[LedgerEntryFixture]) -> None:
    """Spends name rows by id: they need a program whose rows all keep their ids (an export's),
    and each lot they name is an addition of the program."""
    lots = {e.id for e in entries if e.type == "addition" and e.applied and e.id}
    all_given = all(e.id for e in entries)
    for index, entry in enumerate(entries):
        if entry.spends and not all_given:
            raise ValueError(
                f"transactions[{index}].spends: spends need an id on every transaction of the "
                "program"
            )
        for number, spend in enumerate(entry.spends):
            if spend.lotId is not None and spend.lotId not in lots:
                raise ValueError(
                    f"transactions[{index}].spends[{number}].lotId: no addition with id "
                    f"{spend.lotId} in this program"
                )


class FixtureModel(Strict):
    loyaltyPrograms: list[ProgramFixture] = Field(default_factory=list)

    @field_validator("loyaltyPrograms")
    @classmethod
    def unique_program_ids(cls, value: list[ProgramFixture]) -> list[ProgramFixture]:
        ids = [program.id for program in value]
        if len(set(ids)) != len(ids):
            raise ValueError("loyalty program ids must be unique")
        return value


def skip_given_ids(db: Store, tenant_id: str, programs: list[ProgramFixture]) -> None:
    """Move the transaction counter past every id the document gives, so rows without one
    (and later API calls) never take an id an exported row keeps."""
    highest = max((e.id or 0 for p in programs for e in p.transactions), default=0)
    if highest:
        next_value(db, tenant_id, TRANSACTION_IDS, highest)


def load_fixtures(db: Store, tenant: Tenant, fixture: Any, context: LoadContext) -> None:
    """Write this part's rows from the validated section (the caller commits)."""
    skip_given_ids(db, tenant.id, getattr(fixture, "loyaltyPrograms", []) or [])
    for spec in getattr(fixture, "loyaltyPrograms", []) or []:
        program = TalonLoyaltyProgram(
            tenant_id=tenant.id,
            id=spec.id,
            name=spec.name,
            title=spec.title or spec.name,
            description=spec.description,
            card_based=spec.cardBased,
            subledgers=list(spec.subledgers),
            default_pending=spec.defaultPending,
            default_validity=spec.defaultValidity,
            allow_negative_balance=spec.allowNegativeBalance,
            active_points_deduction=spec.activePointsDeduction,
            users_per_card_limit=spec.usersPerCardLimit,
            card_default_status=spec.cardDefaultStatus,
            card_code_settings=spec.cardCodeSettings.model_dump(exclude_none=True)
            if spec.cardCodeSettings
            else {},
            tiers=[tier.model_dump() for tier in spec.tiers],
            tiers_downgrade_policy=spec.tiersDowngradePolicy,
            join_policy=spec.programJoinPolicy,
            created=context.now,
        )
        db.add(program)
        first_card = 1
        if spec.cards:  # one counter update for all the program's cards
            first_card = next_value(db, tenant.id, "talonone.loyalty_card", len(spec.cards))
            first_card -= len(spec.cards) - 1
        cards, links = [], []
        for card_id, card_spec in enumerate(spec.cards, start=first_card):
            cards.append(
                {
                    "tenant_id": tenant.id,
                    "id": card_id,
                    "program_id": spec.id,
                    "identifier": card_spec.identifier,
                    "status": card_spec.status,
                    "block_reason": card_spec.blockReason,
                    "batch_id": card_spec.batchId,
                    "created": card_spec.created or context.now,
                    "modified": card_spec.modified,
                }
            )
            links.extend(
                {
                    "tenant_id": tenant.id,
                    "card_id": card_id,
                    "profile_id": profile_id,
                    "timestamp": linked_at or context.now,
                }
                for profile_id, linked_at in card_spec.links().items()
            )
        db.flush()
        if cards:
            db.execute(insert(TalonLoyaltyCard.__table__), cards)
        if links:
            db.execute(insert(TalonLoyaltyCardProfile.__table__), links)
        db.flush()
        given = [entry.id for entry in spec.transactions]
        if given and all(given):
            # Exported rows keep their ids (ids run across programs in posting order).
            db.info.setdefault(RESERVED, {})[(tenant.id, TRANSACTION_IDS)] = iter(given)
        else:
            reserve_ids(db, tenant.id, TRANSACTION_IDS, len(spec.transactions))
        prepare_ledgers(db, tenant.id, program, spec.transactions, context.now)
        bulk = BulkAdditions()
        for entry in spec.transactions:
            post_entry(db, tenant.id, program, entry, context.now, bulk)
        bulk.flush(db)
        load_spends(db, tenant.id, spec.transactions)
        for debt in spec.debts:
            ledger = ensure_ledger(
                db, tenant.id, entry_owner(program, debt), debt.subledgerId, context.now
            )
            ledger.debt += debt.amount


def prepare_ledgers(
    db: Store, tenant_id: str, program: TalonLoyaltyProgram, entries: list[Any], now: datetime
) -> None:
    """Create the ledger rows of a new program's entries in one flush and hand them to
    `ensure_ledger`'s per-transaction cache, so posting tens of thousands of entries (generated
    fixtures) does not query once per owner. Each joins at its first entry's time, as before."""
    joined: dict[tuple[Any, ...], datetime] = {}
    for entry in entries:
        owner = entry_owner(program, entry)
        key = (tenant_id, owner.program_id, owner.profile_id, owner.card_identifier)
        joined.setdefault((*key, entry.subledgerId), entry.created or now)
    if not joined:
        return
    rows = [
        {
            "tenant_id": key[0],
            "program_id": key[1],
            "profile_id": key[2],
            "card_identifier": key[3],
            "subledger_id": key[4],
            "debt": 0.0,
            "version": fresh_token(),
            "joined": at,
        }
        for key, at in joined.items()
    ]
    db.flush()
    db.execute(insert(TalonLoyaltyLedger.__table__), rows)
    # Loaded back as ORM objects (far cheaper than constructing them), held by the cache.
    loaded = db.scalars(
        select(TalonLoyaltyLedger).where(
            TalonLoyaltyLedger.tenant_id == tenant_id,
            TalonLoyaltyLedger.program_id == program.id,
        )
    )
    ledgers = {
        (
            ledger.tenant_id,
            ledger.program_id,
            ledger.profile_id,
            ledger.card_identifier,
            ledger.subledger_id,
        ): ledger
        for ledger in loaded
    }
    transaction = db.get_transaction()
    cache = db.info.get(LEDGERS)
    if cache is None or cache[0] is not transaction:
        cache = (transaction, {})
        db.info[LEDGERS] = cache
    cache[1].update(ledgers)


def entry_owner(program: TalonLoyaltyProgram, entry: Any) -> Owner:
    if program.card_based:
        return Owner(program.id, card_identifier=entry.cardIdentifier)
    return Owner(program.id, profile_id=entry.profileId)


def post_entry(
    db: Store,
    tenant_id: str,
    program: TalonLoyaltyProgram,
    entry: Any,
    now: datetime,
    bulk: BulkAdditions,
) -> None:
    owner = entry_owner(program, entry)
    at = entry.created or now
    origin = Origin(
        kind=entry.loyaltyTransactionType,
        name=entry.name,
        created=at,
        session_id=entry.customerSessionId,
        uuid=entry.transactionUUID,
        campaign_id=entry.campaignId,
        ruleset_id=entry.rulesetId,
        rule_index=entry.ruleIndex,
        rule_name=entry.ruleName,
    )
    if not entry.applied:
        ensure_ledger(db, tenant_id, owner, entry.subledgerId, at)
        row = new_transaction(
            db,
            tenant_id,
            owner,
            entry.subledgerId,
            at,
            type_=entry.type,
            action=entry.history_action(),
            amount=entry.amount,
            origin=origin,
            start_text=entry.startDate or "immediate",
            expiry_text=entry.expiryDate or "unlimited",
            related_uuid=entry.rollbackOf,
        )
        row.creates_negative = entry.createsNegativeBalance
        return
    if entry.type == "subtraction":
        bulk.flush(db)
        deduct_points(db, tenant_id, program, owner, entry.subledgerId, entry.amount, at, origin)
        return
    try:
        dates = lot_dates(program, at, entry.startDate, entry.expiryDate)
    except LedgerInputError:  # checked by the schema already
        dates = lot_dates(program, at)
    result = add_points(
        db, tenant_id, program, owner, entry.subledgerId, entry.amount, at, origin, dates, bulk
    )
    if entry.remaining is None and not entry.revoked:
        return
    remaining = entry.amount - entry.revoked if entry.remaining is None else entry.remaining
    if result is None:  # collected in bulk: adjust the row before it is written
        bulk.lots[-1]["remaining"], bulk.lots[-1]["revoked"] = remaining, entry.revoked
    else:
        lot = db.get(TalonLoyaltyLot, (tenant_id, result.transaction.id))
        if lot is not None:
            lot.remaining, lot.revoked = remaining, entry.revoked


def load_spends(db: Store, tenant_id: str, entries: list[LedgerEntryFixture]) -> None:
    """The exported spends of history rows, in their order (a rollback gives the latest back
    first): one multi-row INSERT per program."""
    rows = [
        {
            "tenant_id": tenant_id,
            "transaction_id": entry.id,
            "lot_id": spend.lotId,
            "amount": spend.amount,
        }
        for entry in entries
        for spend in entry.spends
    ]
    if rows:
        db.flush()
        db.execute(insert(TalonLoyaltySpend.__table__), rows)


def export_fixtures(db: Store, tenant: Tenant) -> dict[str, Any]:
    """Programs, cards and the ledger replayed as transactions (rollbacks become plain rows)."""
    programs = list(
        db.scalars(
            select(TalonLoyaltyProgram)
            .where(TalonLoyaltyProgram.tenant_id == tenant.id)
            .order_by(TalonLoyaltyProgram.id)
        )
    )
    if not programs:
        return {}
    documents = []
    for program in programs:
        documents.append(program_document(db, tenant.id, program))
    return {"loyaltyPrograms": documents}


def program_document(db: Store, tenant_id: str, program: TalonLoyaltyProgram) -> dict[str, Any]:
    document: dict[str, Any] = {
        "id": program.id,
        "name": program.name,
        "title": program.title,
        "description": program.description,
        "cardBased": program.card_based,
        "subledgers": list(program.subledgers),
        "defaultPending": program.default_pending,
        "defaultValidity": program.default_validity,
        "allowNegativeBalance": program.allow_negative_balance,
        "activePointsDeduction": program.active_points_deduction,
        "usersPerCardLimit": program.users_per_card_limit,
        "cardDefaultStatus": program.card_default_status,
        "tiers": list(program.tiers),
        "tiersDowngradePolicy": program.tiers_downgrade_policy,
        "programJoinPolicy": program.join_policy,
    }
    if program.card_code_settings:
        document["cardCodeSettings"] = dict(program.card_code_settings)
    cards = list(
        db.scalars(
            select(TalonLoyaltyCard)
            .where(
                TalonLoyaltyCard.tenant_id == tenant_id, TalonLoyaltyCard.program_id == program.id
            )
            .order_by(TalonLoyaltyCard.id)
        )
    )
    card_documents = []
    for card in cards:
        links = db.scalars(
            select(TalonLoyaltyCardProfile)
            .where(
                TalonLoyaltyCardProfile.tenant_id == tenant_id,
                TalonLoyaltyCardProfile.card_id == card.id,
            )
            .order_by(TalonLoyaltyCardProfile.timestamp, TalonLoyaltyCardProfile.profile_id)
        )
        card_document: dict[str, Any] = {
            "identifier": card.identifier,
            "status": card.status,
            "created": format_instant(card.created),
            "profiles": [
                {"integrationId": link.profile_id, "timestamp": format_instant(link.timestamp)}
                for link in links
            ],
        }
        if card.block_reason:
            card_document["blockReason"] = card.block_reason
        if card.batch_id:
            card_document["batchId"] = card.batch_id
        if card.modified is not None:
            card_document["modified"] = format_instant(card.modified)
        card_documents.append(card_document)
    document["cards"] = card_documents
    rows = db.scalars(
        select(TalonLoyaltyTransaction)
        .where(
            TalonLoyaltyTransaction.tenant_id == tenant_id,
            TalonLoyaltyTransaction.program_id == program.id,
        )
        .order_by(TalonLoyaltyTransaction.id)
    )
    lots = {
        lot.transaction_id: lot
        for lot in db.scalars(
            select(TalonLoyaltyLot).where(
                TalonLoyaltyLot.tenant_id == tenant_id, TalonLoyaltyLot.program_id == program.id
            )
        )
    }
    spends = program_spends(db, tenant_id, program.id)
    document["transactions"] = [
        transaction_document(program, row, lots.get(row.id), spends.get(row.id, [])) for row in rows
    ]
    debts = db.scalars(
        select(TalonLoyaltyLedger)
        .where(
            TalonLoyaltyLedger.tenant_id == tenant_id,
            TalonLoyaltyLedger.program_id == program.id,
            TalonLoyaltyLedger.debt > 0,
        )
        .order_by(TalonLoyaltyLedger.profile_id, TalonLoyaltyLedger.card_identifier)
    )
    document["debts"] = [
        {
            ("cardIdentifier" if program.card_based else "profileId"): (
                ledger.card_identifier if program.card_based else ledger.profile_id
            ),
            "subledgerId": ledger.subledger_id,
            "amount": ledger.debt,
        }
        for ledger in debts
    ]
    return document


def program_spends(db: Store, tenant_id: str, program_id: int) -> dict[int, list[dict]]:
    """{transaction id: its spends still holding points, oldest first}."""
    spends: dict[int, list[dict]] = {}
    rows = db.execute(
        select(TalonLoyaltySpend.transaction_id, TalonLoyaltySpend.lot_id, TalonLoyaltySpend.amount)
        .join(
            TalonLoyaltyTransaction,
            (TalonLoyaltyTransaction.tenant_id == TalonLoyaltySpend.tenant_id)
            & (TalonLoyaltyTransaction.id == TalonLoyaltySpend.transaction_id),
        )
        .where(
            TalonLoyaltySpend.tenant_id == tenant_id,
            TalonLoyaltyTransaction.program_id == program_id,
            TalonLoyaltySpend.amount > EPSILON,
        )
        .order_by(TalonLoyaltySpend.pk)
    )
    for transaction_id, lot_id, amount in rows:
        spend: dict[str, Any] = {"amount": amount}
        if lot_id is not None:
            spend["lotId"] = lot_id
        spends.setdefault(transaction_id, []).append(spend)
    return spends


def transaction_document(
    program: TalonLoyaltyProgram,
    row: TalonLoyaltyTransaction,
    lot: TalonLoyaltyLot | None,
    spends: list[dict[str, Any]],
) -> dict:
    """One ledger row as a fixture entry. Additions that made a lot carry its `remaining` and
    `revoked`; every other row (deductions, rollbacks) is history (`applied: false`), its effect
    being already in those amounts and the program's `debts`, with what a later rollback of it
    reads: the row it rolled back, the lots it spent, its negative-balance flag."""
    entry: dict[str, Any] = {
        "subledgerId": row.subledger_id,
        "type": row.type,
        "amount": row.amount,
        "name": row.name,
        "created": format_instant(row.created),
        "loyaltyTransactionType": row.kind,
        "transactionUUID": row.uuid,
        "id": row.id,
    }
    for key, value in (
        ("campaignId", row.campaign_id),
        ("rulesetId", row.ruleset_id),
        ("ruleIndex", row.rule_index),
        ("ruleName", row.rule_name),
    ):
        if value is not None:
            entry[key] = value
    if row.session_id:
        entry["customerSessionId"] = row.session_id
    if program.card_based:
        entry["cardIdentifier"] = row.card_identifier
    else:
        entry["profileId"] = row.profile_id
    if lot is None:
        entry["applied"] = False
        if row.related_uuid:
            entry["rollbackOf"] = row.related_uuid
        if spends:
            entry["spends"] = spends
        if row.creates_negative:
            entry["createsNegativeBalance"] = True
        return entry
    entry["startDate"] = lot.start_text
    entry["expiryDate"] = (
        lot.validity_duration
        if lot.start_text == "on_action" and lot.validity_duration
        else lot.expiry_text
    )
    entry["remaining"] = lot.remaining
    entry["revoked"] = lot.revoked
    return entry
