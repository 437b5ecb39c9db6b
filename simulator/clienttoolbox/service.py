"""ClientToolbox domain shared by the calls: the tenant's catalog (account, campaigns, rewards,
custom fields), the undo switch, and the read-back calls (fields, campaigns, rewards, customers,
balances report). Plain functions over a session and a tenant; no HTTP here."""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from sqlalchemy import and_, bindparam, func, or_, select

from simulator.clienttoolbox.errors import KeptView
from simulator.clienttoolbox.ledger import CHUNK, PROFILE_COLUMNS, chunks
from simulator.clienttoolbox.models import (
    CtAccount,
    CtBalance,
    CtCampaign,
    CtCustomer,
    CtCustomField,
    CtReward,
)
from simulator.clienttoolbox.parsing import bad_request, flag, id_list
from simulator.core import caches, fastsql
from simulator.core.db import contains_bound, like_escaped
from simulator.core.formats import number
from simulator.core.models import Tenant
from simulator.core.storable import ROW_COUNT, parse_int
from simulator.core.store import Store

CAMPAIGN_TYPES = ("points", "giftcard", "events", "earned", "buyx")

# The read calls take a bare read lease (no Session: the cheapest way to the store,
# routes.READS); the batches' code takes a Session.
Reader = Store | fastsql.Lease

# The standard customer fields, as `manage_fields`/`list` describes them.
STANDARD_FIELDS = (
    ("card_number", "Card #", "Text"),
    ("code", "Customer UID", "Text"),
    ("first_name", "First Name", "Text"),
    ("last_name", "Last Name", "Text"),
    ("email", "Email", "Text"),
    ("phone", "Phone", "Text"),
    ("custom_date", "Date", "Date"),
    ("street1", "Street 1", "Text"),
    ("street2", "Street 2", "Text"),
    ("city", "City", "Text"),
    ("state", "State", "Text"),
    ("postal_code", "Postal Code", "Text"),
    ("country", "Country", "Text"),
    ("customer_username", "Username", "Text"),
    ("customer_password", "Password", "Text"),
    ("customer_PIN", "PIN", "Text"),
)

# Their `manage_fields` entries: the same for every tenant and call, so kept with their XML.
STANDARD_FIELD_VIEWS = tuple(
    KeptView(
        {
            "name": name,
            "label": label,
            "show": "Y",
            "required": "Y" if name == "card_number" else "N",
            "type": kind,
        }
    )
    for name, label, kind in STANDARD_FIELDS
)


@dataclass
class Item:
    id: str
    description: str
    buy_x: int | None


@dataclass(eq=False)  # hashed by identity: a key of the listed views
class Campaign:
    row: CtCampaign  # or a row of CAMPAIGN_ROWS (the same attributes, read only)
    rewards: list[CtReward] = field(default_factory=list)
    items: list[Item] = field(default_factory=list)

    @property
    def id(self) -> str:
        return self.row.id

    @property
    def type(self) -> str:
        return self.row.type

    def reward(self, reference: str) -> CtReward | None:
        """A reward by its unique id (`<id>`) or, failing that, its `reward_id`."""
        ref = reference.strip()
        for reward in self.rewards:
            if ref.isdigit() and reward.id == int(ref):
                return reward
        for reward in self.rewards:
            if reward.reward_id and reward.reward_id == ref:
                return reward
        return None

    def item(self, reference: str) -> Item | None:
        ref = reference.strip().lower()
        for item in self.items:
            if item.id.lower() == ref or item.description.lower() == ref:
                return item
        return None


def account_of(session: Store, tenant: Tenant) -> CtAccount:
    return session.get(CtAccount, tenant.id) or CtAccount(tenant_id=tenant.id)


def campaigns_by_id(session: Store, tenant: Tenant, ids: list[str] | None) -> dict[str, Campaign]:
    """The tenant's campaigns (all, or those of `ids`), with their rewards and buyx items."""
    statement = select(CtCampaign).where(CtCampaign.tenant_id == tenant.id).order_by(CtCampaign.id)
    if ids is not None and len(ids) <= CHUNK:
        statement = statement.where(CtCampaign.id.in_(ids))
    # More ids than one IN list takes (`campaigns_to_include` has no maximum): all campaigns,
    # those not asked for dropped below.
    wanted = set(ids) if ids is not None else None
    campaigns: dict[str, Campaign] = {}
    for row in session.execute(statement).scalars():
        if wanted is not None and row.id not in wanted:
            continue
        campaigns[row.id] = Campaign(row, items=items_of(row.items))
    if campaigns:
        rewards = session.execute(
            select(CtReward)
            .where(CtReward.tenant_id == tenant.id, CtReward.campaign_id.in_(list(campaigns)))
            .order_by(CtReward.id)
        ).scalars()
        for reward in rewards:
            campaigns[reward.campaign_id].rewards.append(reward)
    return campaigns


class CustomFieldFields(Protocol):
    """A custom field's definition: a CtCustomField, or a row of CUSTOM_FIELDS."""

    name: str
    label: str
    type: str
    show: bool
    required: bool
    choices: str


# The tenant's custom field definitions (built once, run on a lease or a Session).
CUSTOM_FIELDS = fastsql.prepared(
    select(CtCustomField.__table__).where(
        CtCustomField.__table__.c.tenant_id == bindparam("tenant_id")
    ),
    autoflush=True,
)


def custom_fields_of(db: Reader, tenant: Tenant) -> dict[str, CustomFieldFields]:
    rows = fastsql.execute(db, CUSTOM_FIELDS, {"tenant_id": tenant.id})
    return {f.name: f for f in rows}


def undo_wanted(fields: Mapping[str, str], default: bool) -> bool:
    """Whether a batch records an undo state.

    `no_undo`/`no-undo` = yes wins over everything (an explicit opt-out); otherwise
    `allow_undo`/`allow-undo` decides when given; otherwise the call's default.
    """
    no_undo = flag(fields, "no_undo")
    if no_undo is None:
        no_undo = flag(fields, "no-undo")
    if no_undo:
        return False
    allow = flag(fields, "allow_undo")
    if allow is None:
        allow = flag(fields, "allow-undo")
    if allow is not None:
        return allow
    if no_undo is False:
        return True
    return default


# --- read-back calls ---------------------------------------------------------------------


def list_fields(session: Reader, tenant: Tenant, fields: Mapping[str, str]) -> dict[str, Any]:
    """`type=manage_fields&action=list`: the standard fields, then the custom ones."""
    action = (fields.get("action") or "").strip().lower()
    if action != "list":
        raise bad_request(
            f"Invalid action '{action}' for manage_fields (supported: list)"
            if action
            else "Missing action for manage_fields (supported: list)"
        )
    entries: list[dict[str, Any]] = list(STANDARD_FIELD_VIEWS)
    custom = sorted(custom_fields_of(session, tenant).values(), key=lambda f: custom_number(f.name))
    for f in custom:
        entry: dict[str, Any] = {
            "name": f.name,
            "label": f.label,
            "show": "Y" if f.show else "N",
            "required": "Y" if f.required else "N",
            "type": f.type,
        }
        choices = json.loads(f.choices)
        if choices:
            entry["choices"] = {"choice": choices}
        entries.append(entry)
    return {
        "account": {"account_id": tenant.clienttoolbox_account_id, "fields": {"field": entries}}
    }


def custom_number(name: str) -> int:
    return int(name.rsplit("_", 1)[-1])


def campaign_view(campaign: Campaign) -> dict[str, Any]:
    row = campaign.row
    view: dict[str, Any] = {"id": row.id, "name": row.name, "type": row.type}
    if row.type == "points":
        if row.points_ratio is not None:
            view["points_ratio"] = number(row.points_ratio)
        if row.reward_ratio is not None:
            view["reward_ratio"] = number(row.reward_ratio)
    if row.type == "earned" and row.earned_per_event is not None:
        view["earned_per_event"] = f"{row.earned_per_event:.2f}"
    if row.type == "buyx" and campaign.items:
        view["items"] = {
            "item": [
                {"id": i.id, "description": i.description, "buy_x": i.buy_x or row.buy_x or ""}
                for i in campaign.items
            ]
        }
    if row.currency:
        view["currency"] = row.currency
    if row.glyph:
        view["glyph"] = row.glyph
    view["created_stamp"] = row.created_stamp.strftime("%Y-%m-%d %H:%M:%S")
    return view


SEARCH_FIELDS = {
    "campaign_name": lambda c: c.row.name,
    "campaign_type": lambda c: c.row.type,
    "campaign_id": lambda c: c.row.id,
    "create_date": lambda c: c.row.created_stamp.strftime("%Y-%m-%d %H:%M:%S"),
}


def search_matches(value: str, oper: str, wanted: str) -> bool:
    v, w = value.lower(), wanted.lower()
    tests = {
        "eq": lambda: v == w,
        "ne": lambda: v != w,
        "bw": lambda: v.startswith(w),
        "bn": lambda: not v.startswith(w),
        "ew": lambda: v.endswith(w),
        "en": lambda: not v.endswith(w),
        "cn": lambda: w in v,
        "nc": lambda: w not in v,
        "nu": lambda: v == "",
        "nn": lambda: v != "",
        "in": lambda: v in [p.strip().lower() for p in wanted.split(",")],
        "ni": lambda: v not in [p.strip().lower() for p in wanted.split(",")],
    }
    if oper not in tests:
        raise bad_request(f"Invalid searchOper '{oper}'")
    return tests[oper]()


_campaign = CtCampaign.__table__.c
# The tenant's campaigns as campaign_view reads them (no rewards: the listing shows none).
CAMPAIGN_ROWS = fastsql.prepared(
    select(
        *[
            _campaign[name]
            for name in (
                "id", "name", "type", "points_ratio", "reward_ratio", "earned_per_event",
                "buy_x", "currency", "glyph", "created_stamp", "items",
            )
        ]
    )
    .where(_campaign.tenant_id == bindparam("tenant_id"))
    .order_by(_campaign.id)  # the key's order: ties of a sort keep it on every store and plan
)  # fmt: skip


def listed_campaigns(session: Reader, tenant: Tenant) -> list[Campaign]:
    """Every campaign of the tenant with its buyx items, by id (as campaigns_by_id gives
    them), without their rewards."""
    rows = fastsql.execute(session, CAMPAIGN_ROWS, {"tenant_id": tenant.id})
    return [Campaign(row, items=items_of(row.items)) for row in rows]


# What this process has listed of each tenant's campaigns: (id(engine), tenant) -> (the tenant's
# cache revision then, the engine, {campaign: its view} by id). Campaigns are
# written only by a fixture load, which renews the revision (core/fixtures).
_listed: caches.RevisionStore = {}
LISTED_TENANTS = 1_000
caches.register_per_tenant(
    "clienttoolbox.campaigns",
    "(store, tenant) -> the tenant's campaigns with their campaigns_list views; right while the "
    "tenant's cache_revision (read with the tenant on each request, renewed when its fixtures "
    "load, the only writer of campaigns) is the one they were read under",
    _listed,
)


def listed_views(session: Reader, tenant: Tenant) -> dict[Campaign, KeptView]:
    """`listed_campaigns` with each campaign's view, as this process last read them under the
    tenant's current cache revision (shared between requests: never change them; each keeps
    its XML once rendered)."""

    def views() -> dict[Campaign, KeptView]:
        return {c: KeptView(campaign_view(c)) for c in listed_campaigns(session, tenant)}

    return caches.kept_under_revision(
        _listed, session.get_bind(), tenant.id, tenant.cache_revision, views, LISTED_TENANTS
    )


def items_of(stored: str) -> list[Item]:
    return [Item(str(i["id"]), i["description"], i.get("buy_x")) for i in json.loads(stored)]


def list_campaigns(session: Reader, tenant: Tenant, fields: Mapping[str, str]) -> dict[str, Any]:
    """`type=campaigns_list`: type_restrict, jqGrid-style search, sort and paging."""
    listed = listed_views(session, tenant)
    campaigns = list(listed)
    restrict = id_list(fields.get("type_restrict") or "")
    for kind in restrict:
        if kind.lower() not in CAMPAIGN_TYPES:
            raise bad_request(
                f"Invalid type_restrict '{kind}' (one of {', '.join(CAMPAIGN_TYPES)})"
            )
    if restrict:
        kinds = {k.lower() for k in restrict}
        campaigns = [c for c in campaigns if c.type in kinds]
    search_field = (fields.get("searchfield") or "").strip()
    if search_field:
        if search_field not in SEARCH_FIELDS:
            raise bad_request(f"Invalid searchField '{search_field}'")
        oper = (fields.get("searchoper") or "eq").strip().lower()
        wanted = fields.get("searchvalue") or ""
        getter = SEARCH_FIELDS[search_field]
        campaigns = [c for c in campaigns if search_matches(getter(c), oper, wanted)]
    sort_field = (fields.get("sortfield") or "campaign_id").strip()
    if sort_field not in SEARCH_FIELDS:
        raise bad_request(f"Invalid sortField '{sort_field}'")
    order = (fields.get("sortorder") or "ASC").strip().upper()
    if order not in ("ASC", "DESC"):
        raise bad_request(f"Invalid sortOrder '{order}' (ASC or DESC)")
    campaigns.sort(key=lambda c: SEARCH_FIELDS[sort_field](c).lower(), reverse=order == "DESC")
    offset = non_negative(fields, "offset", 0)
    length = non_negative(fields, "length", None)
    campaigns = campaigns[offset : offset + length if length is not None else None]
    return {"campaigns": {"campaign": [listed[c] for c in campaigns]}}


def non_negative(fields: Mapping[str, str], name: str, default: int | None) -> Any:
    raw = (fields.get(name) or "").strip()
    if not raw:
        return default
    number = parse_int(raw)
    if number is None or number < 0:
        raise bad_request(f"Invalid {name} '{raw}' (a whole number)")
    if not ROW_COUNT.holds(number):
        raise bad_request(f"Invalid {name} '{raw}' (at most {ROW_COUNT.high})")
    return number


class CampaignKind(Protocol):
    """A row of CAMPAIGN_KIND."""

    id: str
    type: str


def known_campaign(db: Reader, tenant: Tenant, fields: Mapping[str, str]) -> CampaignKind:
    """The `campaign_id` field's campaign (its id and type); 400 when missing or unknown."""
    campaign_id = (fields.get("campaign_id") or "").strip()
    if not campaign_id:
        raise bad_request("Missing campaign_id")
    wanted = {"tenant_id": tenant.id, "campaign_id": campaign_id}
    campaign = fastsql.execute(db, CAMPAIGN_KIND, wanted).first()
    if campaign is None:
        raise bad_request(f"Unknown campaign_id '{campaign_id}'")
    return campaign


_reward = CtReward.__table__.c
CAMPAIGN_KIND = fastsql.prepared(
    select(_campaign.id, _campaign.type).where(
        _campaign.tenant_id == bindparam("tenant_id"), _campaign.id == bindparam("campaign_id")
    )
)
CAMPAIGN_REWARDS = fastsql.prepared(
    select(_reward.id, _reward.level, _reward.description, _reward.reward_id)
    .where(
        _reward.tenant_id == bindparam("tenant_id"),
        _reward.campaign_id == bindparam("campaign_id"),
    )
    .order_by(_reward.id)
)


def campaign_rewards(session: Reader, tenant: Tenant, fields: Mapping[str, str]) -> dict[str, Any]:
    """`type=campaign_rewards`: two prepared statements (a hot read path)."""
    campaign = known_campaign(session, tenant, fields)
    wanted = {"tenant_id": tenant.id, "campaign_id": campaign.id}
    rewards = []
    for reward_id, level, description, sku in fastsql.execute(session, CAMPAIGN_REWARDS, wanted):
        entry: dict[str, Any] = {
            "id": reward_id,
            "level": number(level),
            "description": description,
        }
        if sku:
            entry["reward_id"] = sku
        rewards.append(entry)
    return {"campaign": {"id": campaign.id}, "rewards": {"reward": rewards}}


# --- customers ---------------------------------------------------------------------------


def customer_view(row: Any, balances: list[Any] | None) -> dict[str, Any]:
    view: dict[str, Any] = {"code": row.code, "card_number": row.card_number or ""}
    for name in PROFILE_COLUMNS:
        view["customer_PIN" if name == "customer_pin" else name] = getattr(row, name)
    custom = json.loads(row.custom_fields)
    for name in sorted(custom, key=custom_number):
        view[name] = custom[name]
    if balances is not None:
        view["balances"] = {
            "balance": [
                {
                    "campaign_id": b.campaign_id,
                    **({"item": b.item} if b.item else {}),
                    "balance": number(b.balance),
                }
                for b in balances
            ]
        }
    return view


_balance = CtBalance.__table__.c
CUSTOMERS_BALANCES = fastsql.prepared(
    select(_balance.customer_code, _balance.campaign_id, _balance.item, _balance.balance)
    .where(
        _balance.tenant_id == bindparam("tenant_id"),
        _balance.customer_code.in_(bindparam("codes", expanding=True)),
    )
    .order_by(_balance.campaign_id, _balance.item)
)


def customers_response(
    db: Reader, tenant: Tenant, rows: list[Any], include_balances: bool
) -> dict[str, Any]:
    balances: dict[str, list[Any]] = {}
    if include_balances and rows:
        for part in chunks([r.code for r in rows]):
            found = fastsql.execute(db, CUSTOMERS_BALANCES, {"tenant_id": tenant.id, "codes": part})
            for b in found:
                balances.setdefault(b.customer_code, []).append(b)
    customers = [
        customer_view(r, balances.get(r.code, []) if include_balances else None) for r in rows
    ]
    return {"count": len(customers), "customers": {"customer": customers}}


SEARCHABLE = ("code", "card_number", *PROFILE_COLUMNS, "custom_fields")


_customer = CtCustomer.__table__.c
# What customer_view reads of a customer.
CUSTOMER_VIEW_COLUMNS = ("code", "card_number", *PROFILE_COLUMNS, "custom_fields")


@functools.lru_cache(maxsize=64)
def find_statement(shape: tuple[int, ...]) -> fastsql.Prepared:
    """customer_find's statement for comma groups of `shape[i]` terms each, built once per
    shape (building it per call cost more than running it): term k is bound as `term_k`,
    lower-cased and `like_escaped` (core/db.contains_bound)."""
    alternatives = []
    number = 0
    for size in shape:
        terms = []
        for _ in range(size):
            name = f"term_{number}"
            number += 1
            terms.append(or_(*[contains_bound(searched(column), name) for column in SEARCHABLE]))
        alternatives.append(and_(*terms))
    return fastsql.prepared(
        select(*[_customer[name] for name in CUSTOMER_VIEW_COLUMNS])
        .where(_customer.tenant_id == bindparam("tenant_id"), or_(*alternatives))
        .order_by(_customer.code)
    )


def searched(name: str) -> Any:
    """A customer column as customer_find searches it: lower-cased, NULL as ''."""
    return func.lower(func.coalesce(_customer[name], ""))


def find_customers(session: Reader, tenant: Tenant, fields: Mapping[str, str]) -> dict[str, Any]:
    """`type=customer_find`: space = AND, comma = OR (AND binds tighter), partial and
    case-insensitive across every customer field."""
    query = (fields.get("find_customer") or "").strip()
    if not query:
        raise bad_request("Missing find_customer")
    groups = [terms for terms in (group.split() for group in query.split(",")) if terms]
    if not groups:
        raise bad_request("Missing find_customer")
    terms = [term for group in groups for term in group]
    parameters = {f"term_{k}": like_escaped(term.lower()) for k, term in enumerate(terms)}
    parameters["tenant_id"] = tenant.id
    statement = find_statement(tuple(len(group) for group in groups))
    rows = fastsql.execute(session, statement, parameters).all()
    return customers_response(session, tenant, rows, flag(fields, "include_balances") or False)


SEARCH_FILTERS = {"code", "card_number", *PROFILE_COLUMNS}


def search_customers(db: Reader, tenant: Tenant, fields: Mapping[str, str]) -> dict[str, Any]:
    """`type=customer_search`: per-field filters; partial by default, or `exact_match`
    `sensitive` / `insensitive`; no filter returns every customer."""
    exact = (fields.get("exact_match") or "").strip().lower()
    if exact not in ("", "sensitive", "insensitive"):
        raise bad_request(f"Invalid exact_match '{exact}' (sensitive or insensitive)")
    custom = custom_fields_of(db, tenant)
    filters: dict[str, str] = {}
    custom_filters: dict[str, str] = {}
    for key, raw in fields.items():
        value = raw.strip()
        name = key  # field names arrive lower-cased: customer_PIN -> customer_pin
        if not value:
            continue
        if name in SEARCH_FILTERS:
            filters[name] = value
        elif name in custom:
            custom_filters[name] = value
    names = tuple(sorted(filters))
    parameters = {f"value_{name}": searched_value(exact, filters[name]) for name in names}
    parameters["tenant_id"] = tenant.id
    rows = fastsql.execute(db, search_statement(exact, names), parameters).all()
    if custom_filters:
        rows = [r for r in rows if custom_match(json.loads(r.custom_fields), custom_filters, exact)]
    return customers_response(db, tenant, rows, flag(fields, "include_balances") or False)


@functools.lru_cache(maxsize=256)
def search_statement(exact: str, names: tuple[str, ...]) -> fastsql.Prepared:
    """customer_search's statement for filters on the columns `names`, built once per shape:
    each value bound as `value_<name>` (`searched_value`), equal as sent (`sensitive`),
    equal lower-cased (`insensitive`), or contained, case-insensitive (by default)."""
    conditions = [_customer.tenant_id == bindparam("tenant_id")]
    for name in names:
        bound = f"value_{name}"
        if exact == "sensitive":
            conditions.append(_customer[name] == bindparam(bound))
        elif exact == "insensitive":
            conditions.append(func.lower(_customer[name]) == bindparam(bound))
        else:
            conditions.append(contains_bound(searched(name), bound))
    return fastsql.prepared(
        select(*[_customer[name] for name in CUSTOMER_VIEW_COLUMNS])
        .where(*conditions)
        .order_by(_customer.code)
    )


def searched_value(exact: str, value: str) -> str:
    """A filter's bound value in `search_statement`."""
    if exact == "sensitive":
        return value
    if exact == "insensitive":
        return value.lower()
    return like_escaped(value.lower())


def custom_match(values: dict[str, str], filters: dict[str, str], exact: str) -> bool:
    for name, wanted in filters.items():
        value = values.get(name, "")
        if exact == "sensitive":
            ok = value == wanted
        elif exact == "insensitive":
            ok = value.lower() == wanted.lower()
        else:
            ok = wanted.lower() in value.lower()
        if not ok:
            return False
    return True


def customers_balances(db: Reader, tenant: Tenant, fields: Mapping[str, str]) -> dict[str, Any]:
    """`type=reports&report=customers_balances`: one campaign, paged by offset/limit."""
    report = (fields.get("report") or "").strip().lower()
    if report != "customers_balances":
        raise bad_request(
            f"Invalid report '{report}' (supported: customers_balances)"
            if report
            else "Missing report (supported: customers_balances)"
        )
    campaign = known_campaign(db, tenant, fields)
    offset = non_negative(fields, "offset", 0)
    limit = non_negative(fields, "limit", None)
    wanted = {"tenant_id": tenant.id, "campaign_id": campaign.id}
    total = fastsql.execute(db, BALANCE_HOLDERS, wanted).scalar_one()
    page = {**wanted, "offset": offset}
    if limit is not None:
        page["limit"] = limit
    customers = [
        {
            "code": row.code,
            "card_number": row.card_number or "",
            "first_name": row.first_name,
            "last_name": row.last_name,
            "email": row.email,
            "balance": number(row.balance or 0),
        }
        for row in fastsql.execute(db, balances_report(limit is not None), page)
    ]
    return {
        "campaign": {"id": campaign.id, "type": campaign.type},
        "total": total,
        "customers": {"customer": customers},
    }


# Each customer's balance in one campaign (the report's rows), and how many customers hold one.
BALANCE_TOTALS = (
    select(_balance.customer_code, func.sum(_balance.balance).label("balance"))
    .where(
        _balance.tenant_id == bindparam("tenant_id"),
        _balance.campaign_id == bindparam("campaign_id"),
    )
    .group_by(_balance.customer_code)
    .subquery()
)
BALANCE_HOLDERS = fastsql.prepared(select(func.count()).select_from(BALANCE_TOTALS))


@functools.lru_cache(maxsize=2)
def balances_report(limited: bool) -> fastsql.Prepared:
    """The report's page: customers by code with their balance, from the bound `offset`, at
    most `limit` of them if `limited`."""
    columns = [_customer[name] for name in ("code", "card_number", "first_name", "last_name")]
    statement = (
        select(*columns, _customer.email, BALANCE_TOTALS.c.balance)
        .join(
            BALANCE_TOTALS,
            and_(
                _customer.tenant_id == bindparam("tenant_id"),
                _customer.code == BALANCE_TOTALS.c.customer_code,
            ),
        )
        .order_by(_customer.code)
        .offset(bindparam("offset"))
    )
    if limited:
        statement = statement.limit(bindparam("limit"))
    return fastsql.prepared(statement)
