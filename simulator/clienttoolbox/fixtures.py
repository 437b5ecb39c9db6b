"""The `clienttoolbox:` section of a fixture document: account, campaigns (with rewards and
buyx items), custom fields, customers with balances, transactions, and undo states.

Customers carry the batch that last wrote them (`last_batch`) and transactions their `batch`;
each undo state keeps its batch's before-image: every customer it touched with the columns the
batch may write, as they were (null: the batch created the customer), and every balance it
touched (balance null: created by the batch). So an exported batch can still be undone in the
copy, restoring what it would have restored in the original, and the undo order rule holds.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)
from sqlalchemy import insert, select

from simulator.clienttoolbox import undo
from simulator.clienttoolbox.generate import COUNTS as GENERATE_COUNTS
from simulator.clienttoolbox.generate import generate
from simulator.clienttoolbox.ledger import CUSTOMERS, PROFILE_COLUMNS, from_json_values
from simulator.clienttoolbox.models import (
    CtAccount,
    CtBalance,
    CtCampaign,
    CtCustomer,
    CtCustomField,
    CtReward,
    CtTransaction,
    CtUndoState,
)
from simulator.core.clock import UtcDateTime, format_instant
from simulator.core.fixtures import FixtureSection, LoadContext, raise_to
from simulator.core.models import Tenant
from simulator.core.store import Store


def _as_text(value: Any) -> Any:
    """YAML reads `4638472975924871` as a number; ids are strings."""
    return str(value) if isinstance(value, int | float) and not isinstance(value, bool) else value


Id = Annotated[str, BeforeValidator(_as_text), Field(min_length=1, max_length=64)]
Text = Annotated[str, BeforeValidator(_as_text), Field(max_length=255)]
CampaignType = Literal["points", "giftcard", "events", "earned", "buyx"]


class Strict(BaseModel):
    model_config = ConfigDict(defer_build=True, extra="forbid")


class AccountFixture(Strict):
    name: str = ""
    unknown_fields: Literal["error", "ignore"] = "error"


class RewardFixture(Strict):
    id: int = Field(ge=1)
    level: float = Field(ge=0)
    description: str = ""
    reward_id: Id | None = None


class ItemFixture(Strict):
    id: Id
    description: str = Field(min_length=1, max_length=255)
    buy_x: int | None = Field(default=None, ge=1)


class CampaignFixture(Strict):
    id: Id
    name: str = ""
    type: CampaignType
    points_ratio: float | None = Field(default=None, gt=0)
    reward_ratio: float | None = Field(default=None, gt=0)
    earned_per_event: float | None = Field(default=None, gt=0)
    buy_x: int | None = Field(default=None, ge=1)
    currency: str = Field(default="", max_length=8)
    glyph: str = Field(default="", max_length=8)
    created: datetime | None = None
    rewards: list[RewardFixture] = []
    items: list[ItemFixture] = []


class CustomFieldFixture(Strict):
    name: str = Field(pattern=r"^custom_field_[1-9]\d*$")
    label: str = ""
    type: Literal["Text", "List", "Date", "Number"] = "Text"
    show: bool = True
    required: bool = False
    choices: list[str] = []


class BalanceFixture(Strict):
    campaign: Id
    balance: float = 0
    item: Text = ""


class ProfileColumns(Strict):
    """The customer columns a batch may write."""

    card_number: Id | None = None
    first_name: Text = ""
    last_name: Text = ""
    email: Text = ""
    phone: Text = ""
    custom_date: Text = ""
    street1: Text = ""
    street2: Text = ""
    city: Text = ""
    state: Text = ""
    postal_code: Text = ""
    country: Text = ""
    customer_username: Text = ""
    customer_password: Text = ""
    customer_pin: Text = ""
    custom_fields: dict[str, Text] = Field(default_factory=dict)
    last_batch: int = Field(default=0, ge=0)  # the batch that last wrote it (0: fixtures)


class CustomerFixture(ProfileColumns):
    code: Id
    custom_date: str = Field(default="", pattern=r"^(\d{4}-\d{2}-\d{2})?$")
    balances: list[BalanceFixture] = []

    @field_validator("custom_fields")
    @classmethod
    def custom_field_names(cls, value: dict[str, str]) -> dict[str, str]:
        for name in value:
            if not re.match(r"^custom_field_[1-9]\d*$", name):
                raise ValueError(f"'{name}' is not a custom_field_N name")
        return value


class TransactionFixture(Strict):
    campaign: Id
    code: Id
    redeemed: bool = False
    amount: Text = ""
    value: float
    item: Text = ""
    date: str = Field(pattern=r"^\d{4}-\d{2}-\d{2}$")
    authorization: Text = ""
    promo_id: Text = ""
    send_email: bool = False
    custom_fields: dict[str, Text] = {}
    batch: int = Field(default=0, ge=0)  # the batch that wrote it (0: fixtures)
    created: UtcDateTime | None = None  # as exported (default: when the document is loaded)


# --- undo states: a batch's before-image, so an exported batch can be undone in a copy -------


class CustomerImage(ProfileColumns):
    """The columns a batch may write, as they were before it; only the given ones are restored
    (an export gives them all)."""

    created_at: UtcDateTime | None = None
    updated_at: UtcDateTime | None = None

    def columns(self) -> list[str]:
        """The given columns, in the table's order."""
        return [c.name for c in CUSTOMERS.c if c.name in self.model_fields_set]

    def values(self, columns: list[str]) -> list[Any]:
        """The stored form of the before-image row (JSON text, ISO instants)."""
        values = []
        for name in columns:
            value = getattr(self, name)
            if name == "custom_fields":
                value = json.dumps(value, sort_keys=True)
            elif isinstance(value, datetime):
                value = value.isoformat()
            values.append(value)
        return values


class BalanceImage(Strict):
    code: Id
    campaign: Id
    item: Text = ""
    balance: float | None  # null: created by the batch


class BeforeImage(Strict):
    customers: dict[Id, CustomerImage | None] = Field(default_factory=dict)
    balances: list[BalanceImage] = Field(default_factory=list)

    @model_validator(mode="after")
    def same_columns(self) -> BeforeImage:
        """One batch writes the same columns of every customer it touches."""
        first: list[str] | None = None
        for code, image in self.customers.items():
            if image is None:
                continue
            if first is None:
                first = image.columns()
            elif image.columns() != first:
                raise ValueError(
                    f"customers.{code}: gives other columns than the first customer of this "
                    f"state ({', '.join(first)})"
                )
        return self

    def stored(self) -> str:
        columns = next((c.columns() for c in self.customers.values() if c is not None), [])
        return json.dumps(
            {
                "columns": columns,
                "customers": {
                    code: image.values(columns) if image is not None else None
                    for code, image in self.customers.items()
                },
                "balances": [[b.code, b.campaign, b.item, b.balance] for b in self.balances],
            },
            separators=(",", ":"),
        )


class UndoStateFixture(Strict):
    id: int = Field(ge=1, le=2**31 - 1)  # the batch number
    type: Literal["customers_batch", "batch_transactions"]
    lines: int = Field(default=0, ge=0)
    summary: dict[str, Any] = Field(default_factory=dict)
    status: Literal["available", "undone"] = "available"
    created: UtcDateTime | None = None
    undone: UtcDateTime | None = None
    before: BeforeImage = Field(default_factory=BeforeImage)

    @model_validator(mode="after")
    def undone_time(self) -> UndoStateFixture:
        if self.undone is not None and self.status != "undone":
            raise ValueError("undone: only a state with status undone has an undo time")
        return self


class ClientToolboxFixture(Strict):
    account: AccountFixture = AccountFixture()
    custom_fields: list[CustomFieldFixture] = []
    campaigns: list[CampaignFixture] = []
    customers: list[CustomerFixture] = []
    transactions: list[TransactionFixture] = []
    undo_states: list[UndoStateFixture] = []


def check_references(model: ClientToolboxFixture) -> None:
    """Cross-references the schema cannot see; raises ValueError naming the path."""
    campaigns: set[str] = set()
    for i, campaign in enumerate(model.campaigns):
        if campaign.id in campaigns:
            raise ValueError(f"campaigns[{i}].id: duplicate campaign id {campaign.id}")
        campaigns.add(campaign.id)
    fields: set[str] = set()
    for i, field in enumerate(model.custom_fields):
        if field.name in fields:
            raise ValueError(f"custom_fields[{i}].name: duplicate field {field.name}")
        fields.add(field.name)
    rewards: set[int] = set()
    for i, campaign in enumerate(model.campaigns):
        for j, reward in enumerate(campaign.rewards):
            if reward.id in rewards:
                raise ValueError(f"campaigns[{i}].rewards[{j}].id: duplicate reward id {reward.id}")
            rewards.add(reward.id)
    codes: set[str] = set()
    cards: set[str] = set()
    for i, customer in enumerate(model.customers):
        if customer.code in codes:
            raise ValueError(f"customers[{i}].code: duplicate code {customer.code}")
        codes.add(customer.code)
        if customer.card_number:
            if customer.card_number in cards:
                raise ValueError(f"customers[{i}].card_number: duplicate {customer.card_number}")
            cards.add(customer.card_number)
        for name in customer.custom_fields:
            if name not in fields:
                raise ValueError(f"customers[{i}].custom_fields.{name}: not a declared field")
        held: set[tuple[str, str]] = set()
        for j, balance in enumerate(customer.balances):
            if balance.campaign not in campaigns:
                raise ValueError(f"customers[{i}].balances[{j}].campaign: unknown campaign")
            if (balance.campaign, balance.item) in held:
                raise ValueError(
                    f"customers[{i}].balances[{j}]: a second balance in campaign "
                    f"{balance.campaign}" + (f" for item {balance.item}" if balance.item else "")
                )
            held.add((balance.campaign, balance.item))
    for i, transaction in enumerate(model.transactions):
        if transaction.campaign not in campaigns:
            raise ValueError(f"transactions[{i}].campaign: unknown campaign")
        if transaction.code not in codes:
            raise ValueError(f"transactions[{i}].code: unknown customer")
    check_undo_states(model.undo_states, campaigns)


def check_undo_states(states: list[UndoStateFixture], campaigns: set[str]) -> None:
    """Unique batch numbers, and balances of declared campaigns; ValueError naming the path."""
    seen: set[int] = set()
    for i, state in enumerate(states):
        if state.id in seen:
            raise ValueError(f"undo_states[{i}].id: duplicate undo state {state.id}")
        seen.add(state.id)
        for j, balance in enumerate(state.before.balances):
            if balance.campaign not in campaigns:
                raise ValueError(
                    f"undo_states[{i}].before.balances[{j}].campaign: unknown campaign"
                )


class CheckedFixture(ClientToolboxFixture):
    """The section schema: the fields plus the cross-reference checks."""

    @model_validator(mode="after")
    def references(self) -> CheckedFixture:
        check_references(self)
        return self


def load(session: Store, tenant: Tenant, model: ClientToolboxFixture, ctx: LoadContext) -> None:
    tid = tenant.id
    session.add(
        CtAccount(
            tenant_id=tid, name=model.account.name, unknown_fields=model.account.unknown_fields
        )
    )
    for field in model.custom_fields:
        session.add(
            CtCustomField(
                tenant_id=tid,
                name=field.name,
                label=field.label,
                type=field.type,
                show=field.show,
                required=field.required,
                choices=json.dumps(field.choices),
            )
        )
    for campaign in model.campaigns:
        created = campaign.created or ctx.now
        session.add(
            CtCampaign(
                tenant_id=tid,
                id=campaign.id,
                name=campaign.name,
                type=campaign.type,
                points_ratio=campaign.points_ratio,
                reward_ratio=campaign.reward_ratio,
                earned_per_event=campaign.earned_per_event,
                buy_x=campaign.buy_x,
                currency=campaign.currency,
                glyph=campaign.glyph,
                created_stamp=created if created.tzinfo else created.replace(tzinfo=UTC),
                items=json.dumps([i.model_dump() for i in campaign.items]),
            )
        )
        for reward in campaign.rewards:
            session.add(CtReward(tenant_id=tid, campaign_id=campaign.id, **reward.model_dump()))
    session.flush()
    customers, balances = [], []
    for customer in model.customers:
        row = customer.model_dump(exclude={"balances", "custom_fields"})
        row.update(
            tenant_id=tid,
            custom_fields=json.dumps(customer.custom_fields, sort_keys=True),
            created_at=ctx.now,
            updated_at=ctx.now,
        )
        customers.append(row)
        for balance in customer.balances:
            balances.append(
                {
                    "tenant_id": tid,
                    "customer_code": customer.code,
                    "campaign_id": balance.campaign,
                    "item": balance.item,
                    "balance": balance.balance,
                }
            )
    if customers:
        session.execute(insert(CtCustomer.__table__), customers)
    if balances:
        session.execute(insert(CtBalance.__table__), balances)
    transactions = []
    for transaction in model.transactions:
        row = transaction.model_dump(
            exclude={"campaign", "code", "custom_fields", "batch", "created"}
        )
        row.update(
            tenant_id=tid,
            customer_code=transaction.code,
            campaign_id=transaction.campaign,
            custom_fields=json.dumps(transaction.custom_fields, sort_keys=True),
            batch_id=transaction.batch,
            created_at=transaction.created or ctx.now,
        )
        transactions.append(row)
    if transactions:
        session.execute(insert(CtTransaction.__table__), transactions)
    load_undo_states(session, tid, model.undo_states, ctx.now)
    # The next batch is numbered after every batch the document names.
    raise_to(session, tid, "ct_batch", highest_batch(model))


def highest_batch(model: ClientToolboxFixture) -> int:
    return max(
        [0]
        + [state.id for state in model.undo_states]
        + [customer.last_batch for customer in model.customers]
        + [transaction.batch for transaction in model.transactions]
    )


def export(session: Store, tenant: Tenant) -> dict[str, Any]:
    tid = tenant.id
    account = session.get(CtAccount, tid)
    document: dict[str, Any] = {
        "account": {
            "name": account.name if account else "",
            "unknown_fields": account.unknown_fields if account else "error",
        }
    }
    document["custom_fields"] = [
        {
            "name": f.name,
            "label": f.label,
            "type": f.type,
            "show": f.show,
            "required": f.required,
            "choices": json.loads(f.choices),
        }
        for f in session.execute(
            select(CtCustomField).where(CtCustomField.tenant_id == tid).order_by(CtCustomField.name)
        ).scalars()
    ]
    rewards: dict[str, list[dict[str, Any]]] = {}
    for reward in session.execute(
        select(CtReward).where(CtReward.tenant_id == tid).order_by(CtReward.id)
    ).scalars():
        entry = {"id": reward.id, "level": reward.level, "description": reward.description}
        if reward.reward_id:
            entry["reward_id"] = reward.reward_id
        rewards.setdefault(reward.campaign_id, []).append(entry)
    campaigns = []
    for c in session.execute(
        select(CtCampaign).where(CtCampaign.tenant_id == tid).order_by(CtCampaign.id)
    ).scalars():
        entry = {
            "id": c.id,
            "name": c.name,
            "type": c.type,
            "currency": c.currency,
            "glyph": c.glyph,
            "created": c.created_stamp.isoformat(),
            "rewards": rewards.get(c.id, []),
            "items": json.loads(c.items),
        }
        for key in ("points_ratio", "reward_ratio", "earned_per_event", "buy_x"):
            if getattr(c, key) is not None:
                entry[key] = getattr(c, key)
        campaigns.append(entry)
    document["campaigns"] = campaigns
    balances: dict[str, list[dict[str, Any]]] = {}
    for b in session.execute(
        select(CtBalance)
        .where(CtBalance.tenant_id == tid)
        .order_by(CtBalance.customer_code, CtBalance.campaign_id, CtBalance.item)
    ).scalars():
        entry = {"campaign": b.campaign_id, "balance": b.balance}
        if b.item:
            entry["item"] = b.item
        balances.setdefault(b.customer_code, []).append(entry)
    customers = []
    for c in session.execute(
        select(CtCustomer).where(CtCustomer.tenant_id == tid).order_by(CtCustomer.code)
    ).scalars():
        entry = {"code": c.code}
        if c.card_number:
            entry["card_number"] = c.card_number
        for name in PROFILE_COLUMNS:
            if getattr(c, name):
                entry[name] = getattr(c, name)
        custom = json.loads(c.custom_fields)
        if custom:
            entry["custom_fields"] = custom
        entry["balances"] = balances.get(c.code, [])
        if c.last_batch:
            entry["last_batch"] = c.last_batch
        customers.append(entry)
    document["customers"] = customers
    transactions = []
    for t in session.execute(
        select(CtTransaction).where(CtTransaction.tenant_id == tid).order_by(CtTransaction.id)
    ).scalars():
        entry = {
            "campaign": t.campaign_id,
            "code": t.customer_code,
            "redeemed": t.redeemed,
            "amount": t.amount,
            "value": t.value,
            "item": t.item,
            "date": t.date,
            "authorization": t.authorization,
            "promo_id": t.promo_id,
            "send_email": t.send_email,
        }
        custom = json.loads(t.custom_fields)
        if custom:
            entry["custom_fields"] = custom
        if t.batch_id:
            entry["batch"] = t.batch_id
        entry["created"] = format_instant(t.created_at)
        transactions.append(entry)
    document["transactions"] = transactions
    document["undo_states"] = export_undo_states(session, tid)
    return document


def load_undo_states(
    session: Store, tenant_id: str, states: list[UndoStateFixture], now: datetime
) -> None:
    if not states:
        return
    session.execute(
        insert(CtUndoState.__table__),
        [
            {
                "tenant_id": tenant_id,
                "id": state.id,
                "batch_type": state.type,
                "lines": state.lines,
                "summary": json.dumps(state.summary),
                "before": state.before.stored(),
                "status": state.status,
                "created_at": state.created or now,
                "undone_at": state.undone,
            }
            for state in states
        ],
    )


def export_undo_states(session: Store, tenant_id: str) -> list[dict[str, Any]]:
    states = session.execute(
        select(CtUndoState).where(CtUndoState.tenant_id == tenant_id).order_by(CtUndoState.id)
    ).scalars()
    return [state_document(state) for state in states]


def state_document(state: CtUndoState) -> dict[str, Any]:
    """The admin view of the state (without a null `undone`) and its batch's before-image."""
    document = {k: v for k, v in undo.state_view(state).items() if v is not None}
    before = json.loads(state.before)
    columns = before.get("columns", [])
    document["before"] = {
        "customers": {
            code: image_document(columns, values) if values is not None else None
            for code, values in before.get("customers", {}).items()
        },
        "balances": [
            {"code": code, "campaign": campaign, "item": item, "balance": balance}
            for code, campaign, item, balance in before.get("balances", [])
        ],
    }
    return document


def image_document(columns: list[str], values: list[Any]) -> dict[str, Any]:
    image = from_json_values(columns, values)
    if "custom_fields" in image:
        image["custom_fields"] = json.loads(image["custom_fields"])
    for key in ("created_at", "updated_at"):
        if isinstance(image.get(key), datetime):
            image[key] = format_instant(image[key])
    return image


SECTION = FixtureSection(
    name="clienttoolbox",
    schema=CheckedFixture,
    load=load,
    export=export,
    generate=generate,
    counts=GENERATE_COUNTS,
    list_keys={
        "custom_fields": ("name",),
        "campaigns": ("id",),
        "campaigns[].rewards": ("id",),
        "campaigns[].items": ("id",),
        "customers": ("code",),
        "undo_states": ("id",),
    },
)
