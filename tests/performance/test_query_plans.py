"""The hot statements use an index that fits them, with and without the planner's statistics.

The statements are the real ones: every statement the store runs while the app serves one
request of each hot kind (a Talon.One session update, close and read, a profile update, the
inventory, loyalty balances, an event; ECDP's upsert and lookups; ClientToolbox's batches and a
read) is captured at the DBAPI level (SQLite's trace callback, psycopg's cursor), then planned
(`EXPLAIN QUERY PLAN` on SQLite, `EXPLAIN` on PostgreSQL when SIM_TEST_DATABASE_URL is set).

A plan fails when it scans a table whole, or (SQLite) searches a per-tenant table on
`tenant_id` alone: both walk rows of other profiles, a cost that grows with the store (the
audience lookup of a session update walked every membership of the tenant: 1.06 ms against
0.005 ms at 20,000 memberships). Named statements must use their named index.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError

from tests.conftest import DEFAULT_CREDENTIALS, POSTGRES_URL

CT_CAMPAIGN = "4638472975924871"

# Written by background work, not by a request (the journal's writer, the upload worker).
BACKGROUND_TABLES = ("journal_entry", "cg_upload")
# Read whole for a tenant on purpose: a tenant's configuration, a handful of rows each.
CONFIGURATION_TABLES = {
    "ecdp_settings",
    "ecdp_attribute",
    "ecdp_consent",
    "ct_reward",
    "ct_custom_field",
    "ct_campaign",
    "ct_account",
    "talonone_config",
    "talonone_campaign",
    "talonone_audience",
    "talonone_loyalty_program",
    "talonone_catalog",
    "talonone_achievement",  # declared by the tenant's campaigns, read whole like them
}
# Statements (a pattern of their SQL) and the index each must be planned on.
NAMED_INDEXES = {
    r"SELECT talonone_audience_membership\.audience_id\s+FROM talonone_audience_membership\s+"
    r"WHERE": "ix_talonone_audience_membership_profile",
    r"FROM talonone_referral\s+(LEFT OUTER JOIN talonone_referral_redemption .*)?WHERE "
    r".*advocate_profile_integration_id": "ix_talonone_referral_advocate",
    r"FROM talonone_loyalty_ledger\s+WHERE .*profile_id .* GROUP BY": (
        "ix_talonone_loyalty_ledger_profile"
    ),
    # the balance aggregate, covered: never on the lot owner index that ends in id
    r"FROM talonone_loyalty_lot\s+WHERE .* GROUP BY talonone_loyalty_lot\.subledger_id": (
        "ix_talonone_loyalty_lot_owner"
    ),
}


@dataclass
class Keys:
    """A tenant's credentials as each API's requests carry them."""

    talonone: dict[str, str]
    ecdp: dict[str, str]
    clienttoolbox: dict[str, str]
    customergauge: dict[str, str]

    @classmethod
    def default(cls) -> Keys:
        return cls(
            DEFAULT_CREDENTIALS["talonone"],
            DEFAULT_CREDENTIALS["ecdp"],
            DEFAULT_CREDENTIALS["clienttoolbox"],
            DEFAULT_CREDENTIALS["customergauge"],
        )

    @classmethod
    def of(cls, credentials: dict[str, dict[str, str]]) -> Keys:
        return cls(
            {"Authorization": f"ApiKey-v1 {credentials['talonone']['api_key']}"},
            {"x-api-key": credentials["ecdp"]["api_key"]},
            {"API": "1.5", **credentials["clienttoolbox"]},
            {"Authorization": f"api_key {credentials['customergauge']['api_key']}"},
        )


@dataclass
class Captured:
    """Statements the store ran, by the flow that ran them."""

    flow: str | None = None
    statements: list[tuple[str, str, Any]] = field(default_factory=list)

    def during(self, flow: str, request: Callable[[], Any]) -> Any:
        """The answer to `request`, its statements recorded under `flow`."""
        self.flow = flow
        try:
            return request()
        finally:
            self.flow = None

    def add(self, sql: str, params: Any = None) -> None:
        if self.flow is None or any(table in sql for table in BACKGROUND_TABLES):
            return
        if sql.lstrip().split(None, 1)[0].upper() in ("SELECT", "UPDATE", "DELETE", "WITH"):
            self.statements.append((self.flow, sql, params))


@pytest.fixture
def captured(monkeypatch: pytest.MonkeyPatch) -> Iterator[Captured]:
    capture = Captured()

    def trace(dbapi_connection: Any, _record: Any) -> None:
        if isinstance(dbapi_connection, sqlite3.Connection):
            dbapi_connection.set_trace_callback(capture.add)

    event.listen(Engine, "connect", trace)
    if POSTGRES_URL:
        import psycopg

        execute = psycopg.Cursor.execute

        def recording(self: Any, query: Any, params: Any = None, **kwargs: Any) -> Any:
            capture.add(query if isinstance(query, str) else str(query), params)
            return execute(self, query, params, **kwargs)

        monkeypatch.setattr(psycopg.Cursor, "execute", recording)
    try:
        yield capture
    finally:
        event.remove(Engine, "connect", trace)


def session_body(state: str = "open", **extra: Any) -> dict:
    items = [
        {"sku": sku, "quantity": 1 + i % 2, "price": 10 + i, "name": f"Item {i}"}
        for i, sku in enumerate(["SKU-SHOE-1", "SKU-SHIRT-1", "SKU-OTHER"])
    ]
    session = {"profileId": "customer-1", "state": state, "cartItems": items, **extra}
    session["attributes"] = {"Channel": "web"}
    return {"customerSession": session}


def flows(http: TestClient, keys: Keys) -> Iterator[tuple[str, Callable[[], Any]]]:
    """(name, request) of every hot request kind; each must answer 2xx."""
    TALON, ECDP = keys.talonone, keys.ecdp  # noqa: N806

    def ct_form(kind: str, **fields: str) -> dict:
        return {**keys.clienttoolbox, "type": kind, "delimiter": "pipe", **fields}

    inventory = (
        "?profile=true&loyalty=true&referrals=true&achievements=true&giveaways=true&coupons=true"
    )
    yield (
        "new session",
        lambda: http.put("/v2/customer_sessions/s-1", json=session_body(), headers=TALON),
    )
    yield (
        "session again",
        lambda: http.put(
            "/v2/customer_sessions/s-1", json=session_body(couponCodes=["WELCOME-5"]), headers=TALON
        ),
    )
    yield (
        "session close",
        lambda: http.put("/v2/customer_sessions/s-1", json=session_body("closed"), headers=TALON),
    )
    yield "session read", lambda: http.get("/v2/customer_sessions/s-1", headers=TALON)
    yield (
        "profile update",
        lambda: http.put(
            "/v2/customer_profiles/customer-1", json={"attributes": {}}, headers=TALON
        ),
    )
    yield (
        "inventory",
        lambda: http.get(f"/v1/customer_profiles/customer-1/inventory{inventory}", headers=TALON),
    )
    yield (
        "balances",
        lambda: http.get("/v1/loyalty_programs/1/profile/customer-1/balances", headers=TALON),
    )
    # the ledger's lists and a card's reads (prepared statements on a read lease)
    for name, path in (
        ("points", "/v1/loyalty_programs/1/profile/loyalty-demo-1/points?sort=-expiryDate"),
        ("transactions", "/v1/loyalty_programs/1/profile/loyalty-demo-1/transactions"),
        ("card balances", "/v1/loyalty_programs/3/cards/CARD-0001/balances"),
        ("card points", "/v1/loyalty_programs/3/cards/CARD-0001/points?subledgerId=x"),
        ("card transactions", "/v1/loyalty_programs/3/cards/CARD-0001/transactions?skip=1"),
        ("achievements", "/v1/customer_profiles/customer-1/achievements"),
        ("reserved customers", "/v1/coupon_reservations/customerprofiles/WALLET-5"),
    ):
        yield name, lambda p=path: http.get(p, headers=TALON)
    for name, path in (
        ("ecdp attributes", "/customerattributes"),
        ("ecdp consents", "/customerconsents"),
    ):
        yield name, lambda p=path: http.get(p, headers=ECDP)
    yield (
        "cg file status",
        lambda: http.get("/v4.1/file/transactional.json?id=1", headers=keys.customergauge),
    )
    yield (
        "event",
        lambda: http.post(
            "/v2/events", json={"profileId": "customer-1", "type": "pageview"}, headers=TALON
        ),
    )
    upsert = {
        "mode": "AddOrUpdate",
        "matchBy": "Email",
        "data": [
            {"email": "adam@example.com", "firstName": "Adam"},
            {"email": "new@example.com", "crmId": "NEW-1", "phone": "48111222333"},
        ],
    }
    yield "ecdp upsert", lambda: http.post("/customers", json=upsert, headers=ECDP)
    for kind, value in (("email", "adam@example.com"), ("crmId", "NEW-1"), ("id", "1")):
        yield (
            f"ecdp by {kind}",
            lambda k=kind, v=value: http.get(f"/customers/{k}/{v}", headers=ECDP),
        )
    yield (
        "ct customers_batch",
        lambda: http.post(
            "/",
            data=ct_form(
                "customers_batch",
                overwrite_duplicates="update",
                campaigns_to_include=CT_CAMPAIGN,
                profiles_header_1="code",
                profiles_header_2="first_name",
                profiles_header_3="email",
                profiles_data="B1|Ann|ann@example.com\nB2|Bob|bob@example.com",
            ),
        ),
    )
    yield (
        "ct batch_transactions",
        lambda: http.post(
            "/",
            data=ct_form(
                "batch_transactions",
                visits_header_1="campaign_id",
                visits_header_2="code",
                visits_header_3="redeemed",
                visits_header_4="amount",
                visits_header_5="date",
                Visits_Data=f"{CT_CAMPAIGN}|B1|N|5,00|2010-03-15",
            ),
        ),
    )
    yield (
        "ct campaign_rewards",
        lambda: http.post("/", data=ct_form("campaign_rewards", campaign_id=CT_CAMPAIGN)),
    )


def run_flows(client: TestClient, capture: Captured, keys: Keys) -> None:
    warm = session_body()
    client.put("/v2/customer_sessions/warm", json=warm, headers=keys.talonone)  # caches warm
    for name, request in flows(client, keys):
        response = capture.during(name, request)
        assert response.status_code < 300, (name, response.status_code, response.text[:300])
        if name.startswith("ct "):
            assert 'status="success"' in response.text, (name, response.text[:300])


# --- SQLite -----------------------------------------------------------------------------------

SMALL_TABLE = 1000
# A scan, or a search on the tenant (or the tenant's loyalty program) alone: every profile's rows.
SQLITE_WALK = re.compile(
    r"^SCAN (?!CONSTANT ROW)(\w+)|^SEARCH (\w+) .*\(tenant_id=\?(?: AND program_id=\?)?\)$"
)


def sqlite_store(
    make_client: Callable[..., TestClient], tmp_path: Path, name: str
) -> tuple[TestClient, str]:
    """An app on an SQLite store of its own, even when the suite runs on PostgreSQL, and the
    store's path."""
    path = str(tmp_path / f"{name}.db")
    return make_client(database_url=f"sqlite:///{path}"), path


def sqlite_plan(connection: Any, sql: str, values: Any = ()) -> list[str]:
    """SQLite's plan of `sql`, a step a line."""
    return [str(row[3]) for row in connection.execute(f"EXPLAIN QUERY PLAN {sql}", values)]


def sqlite_walks(plan: list[str], tables: set[str]) -> list[str]:
    """The plan's steps that walk a store table beyond the rows the statement asks for."""
    walks = []
    for step in plan:
        found = SQLITE_WALK.match(step)
        if found and (found.group(1) or found.group(2)) in tables:
            walks.append(step)
    return walks


def store_tables(connection: Any) -> set[str]:
    rows = connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
    return {name for (name,) in rows} - CONFIGURATION_TABLES


def check_named(sql: str, plan_text: str) -> list[str]:
    problems = []
    for pattern, index in NAMED_INDEXES.items():
        if re.search(pattern, sql, re.S) and not re.search(rf"\b{index}\b", plan_text):
            problems.append(f"not on {index}")
    return problems


def small_by_statistics(connection: sqlite3.Connection) -> set[str]:
    """Tables the statistics know as small (under SMALL_TABLE rows): a scan of one is the
    planner's right choice, and PRAGMA optimize gathers them again once they grow."""
    if not connection.execute("SELECT 1 FROM sqlite_master WHERE name = 'sqlite_stat1'").fetchone():
        return set()
    rows = connection.execute("SELECT tbl, stat FROM sqlite_stat1").fetchall()
    return {table for table, stat in rows if int((stat or "0").split()[0]) < SMALL_TABLE}


def sqlite_problems(path: str, capture: Captured) -> list[str]:
    connection = sqlite3.connect(path)
    try:
        tables = store_tables(connection) - small_by_statistics(connection)
        problems = []
        for flow, sql, _params in capture.statements:
            plan = sqlite_plan(connection, sql)
            found = sqlite_walks(plan, tables) + check_named(sql, "\n".join(plan))
            if found:
                shown = " ".join(sql.split())
                shown = shown[max(shown.find(" FROM "), 0) :][:300]  # the table and conditions
                problems.append(f"[{flow}] ...{shown}\n    {found}\n    {plan}")
        return problems
    finally:
        connection.close()


def drop_statistics(path: str) -> None:
    connection = sqlite3.connect(path)
    with connection:
        connection.execute("DROP TABLE IF EXISTS sqlite_stat1")
        connection.execute("DROP TABLE IF EXISTS sqlite_stat4")
    connection.close()


def named_statements_seen(capture: Captured) -> set[str]:
    return {
        index
        for pattern, index in NAMED_INDEXES.items()
        for _flow, sql, _params in capture.statements
        if re.search(pattern, sql, re.S)
    }


LARGE_CUSTOMERS = 2_500


def load_large_tenant(client: TestClient) -> Keys:
    """Another tenant with 2,500 customers per API and as many sessions: a load large enough
    to be analyzed, and tables with volume."""
    sessions = [
        {"integrationId": f"large-{n}", "profileId": f"large-profile-{n % 500}", "state": "closed"}
        for n in range(LARGE_CUSTOMERS)
    ]
    document = {
        "extends": "default",
        "generate": {"seed": 1, "customers": LARGE_CUSTOMERS},
        "talonone": {"sessions": sessions},
    }
    response = client.post("/__admin/tenants", json={"fixtures": document})
    assert response.status_code == 201, response.text
    return Keys.of(response.json()["credentials"])


def statistics_rows(path: str, table: str) -> int:
    connection = sqlite3.connect(path)
    try:
        if not connection.execute(
            "SELECT 1 FROM sqlite_master WHERE name = 'sqlite_stat1'"
        ).fetchone():
            return 0
        query = "SELECT count(*) FROM sqlite_stat1 WHERE tbl = ?"
        return connection.execute(query, (table,)).fetchone()[0]
    finally:
        connection.close()


@pytest.mark.parametrize("statistics", ["none (a new store)", "after a large load"])
def test_sqlite_hot_statements_use_their_index(
    make_client: Callable[..., TestClient], captured: Captured, tmp_path: Path, statistics: str
) -> None:
    client, path = sqlite_store(make_client, tmp_path, "plans")
    if statistics == "after a large load":
        keys = load_large_tenant(client)
        assert statistics_rows(path, "talonone_profile") >= 1
    else:
        keys = Keys.default()
        assert statistics_rows(path, "talonone_profile") == 0
    run_flows(client, captured, keys)
    assert named_statements_seen(captured) == set(NAMED_INDEXES.values())
    problems = sqlite_problems(path, captured)
    assert not problems, "\n".join(problems)


# --- PostgreSQL -------------------------------------------------------------------------------

PG_SCAN = re.compile(r"Seq Scan on (\w+)")
PG_TABLE = re.compile(r"Scan (?:using \w+ )?on (\w+)")


def postgres_small_tables(cursor: Any) -> set[str]:
    """Tables the statistics know as small (as on SQLite, `small_by_statistics`)."""
    cursor.execute(
        "SELECT relname FROM pg_class WHERE relkind = 'r' AND reltuples >= 0 AND reltuples < %s",
        (SMALL_TABLE,),
    )
    return {name for (name,) in cursor.fetchall()}


def postgres_walks(plan: str, exempt: set[str]) -> list[str]:
    """Sequential scans, and index scans on `tenant_id` alone, of a store table."""
    walks = [f"Seq Scan on {t}" for t in PG_SCAN.findall(plan) if t not in exempt]
    table = None
    for line in plan.splitlines():
        found = PG_TABLE.search(line)
        if found:
            table = found.group(1)
        tenant_only = "Index Cond:" in line and "tenant_id" in line and " AND " not in line
        if tenant_only and table not in exempt:
            walks.append(f"{table}: {line.strip()}")
    return walks


@pytest.mark.skipif(not POSTGRES_URL, reason="needs SIM_TEST_DATABASE_URL")
def test_postgres_hot_statements_use_their_index(
    make_client: Callable[..., TestClient], captured: Captured
) -> None:
    """Planned after a large load (analyzed, as the simulator does after one), sequential
    scans priced out: a plan still scanning a table means no index fits the statement. (On
    near-empty tables without statistics PostgreSQL prices every index alike and may pick any;
    with volume, statistics or not, it picks the one that fits.)"""
    client = make_client()
    run_flows(client, captured, load_large_tenant(client))
    assert named_statements_seen(captured) == set(NAMED_INDEXES.values())
    raw = client.app.state.engine.raw_connection()
    problems = []
    try:
        cursor = raw.cursor()
        cursor.execute("SET enable_seqscan = off")
        exempt = CONFIGURATION_TABLES | postgres_small_tables(cursor)
        for flow, sql, params in captured.statements:
            cursor.execute(f"EXPLAIN {sql}", params)
            plan = "\n".join(row[0] for row in cursor.fetchall())
            found = postgres_walks(plan, exempt) + check_named(sql, plan)
            if found:
                problems.append(f"[{flow}] {' '.join(sql.split())[:300]}\n    {found}\n{plan}")
    finally:
        raw.rollback()
        raw.close()
    assert not problems, "\n".join(problems)


def test_the_fixture_document_is_not_in_the_tenant_row(client: TestClient) -> None:
    """Every request reads the tenant row: a large document in it cost each read 15 ms and each
    write of the row 150 ms or more (24 MB)."""
    from sqlalchemy import inspect

    columns = [column["name"] for column in inspect(client.app.state.engine).get_columns("tenant")]
    assert "fixtures_document" not in columns
    reset = client.post("/__admin/tenants/default/reset")
    assert reset.status_code < 300, reset.text


# --- partial indexes ---------------------------------------------------------------------------

PLANNED_INDEX = re.compile(r"USING (?:COVERING )?INDEX (\w+)")


def partial_index_predicates() -> dict[str, str]:
    """Each partial index of the schema by name, with its predicate as SQLite's DDL states it."""
    from sqlmodel import SQLModel

    return {
        index.name: str(index.dialect_options["sqlite"]["where"])
        for table in SQLModel.metadata.tables.values()
        for index in table.indexes
        if index.name and index.dialect_options["sqlite"]["where"] is not None
    }


def prepared_statements() -> list[Any]:
    """Every statement built once for the fast path (core/fastsql `prepared`) that a module of
    the simulator holds, alone or in a dict, once every API package is imported. (Not through
    the garbage collector: a serving process's start freezes its objects out of its view.)"""
    import sys

    from simulator.core import fastsql
    from simulator.core.registry import api_specs

    api_specs()  # imports every API package, and their services with it
    found: dict[int, Any] = {}
    for name, module in list(sys.modules.items()):
        if module is None or not name.startswith("simulator."):
            continue
        for value in vars(module).values():
            for item in value.values() if isinstance(value, dict) else (value,):
                if isinstance(item, fastsql.Prepared):
                    found[id(item)] = item
    return list(found.values())


def indexes_planned(connection: Any, dialect: Any, prepared: Any) -> tuple[str, set[str]] | None:
    """(the SQL the fast path runs, the indexes SQLite plans it on), the caller's values all
    NULL; None for a statement only its caller can bind (an INSERT's column defaults)."""
    from simulator.core import fastsql

    try:
        statement = prepared.statement_for(dialect)
        names = tuple(name for name, bind in statement.compile().binds.items() if bind.required)
        plan = prepared.plan(dialect, names)
        if plan is None:
            return None
        sql, values = plan.bound(
            {name: [None] if name in plan.expanding else None for name in names}
        )
        rows = connection.execute(f"EXPLAIN QUERY PLAN {sql}", values).fetchall()
    except (sqlite3.Error, SQLAlchemyError, fastsql.NotFast, TypeError, ValueError, KeyError):
        return None
    return sql, set(PLANNED_INDEX.findall(" ".join(str(row[-1]) for row in rows)))


def test_a_statement_planned_on_a_partial_index_states_its_predicate(
    make_client: Callable[..., TestClient], tmp_path: Path
) -> None:
    """A partial index is usable only where the statement implies its predicate. Given the
    predicate's value as a bound parameter, SQLite reads the value to prove it, and so prepares
    the statement again at every execution (the card's open-session lookup: 9.4 µs a run
    against 1.5 with `!= ''` written in the SQL); PostgreSQL's generic plan cannot prove it."""
    # an SQLite store even when the suite runs on PostgreSQL
    engine = sqlite_store(make_client, tmp_path, "partial")[0].app.state.engine
    predicates = partial_index_predicates()
    assert predicates, "the schema has partial indexes"
    connection = engine.raw_connection()
    try:
        planned = [
            found
            for prepared in prepared_statements()
            if (found := indexes_planned(connection, engine.dialect, prepared)) is not None
        ]
    finally:
        connection.close()
    assert len(planned) > 40
    problems = [
        f"{index} ({predicates[index]}): {' '.join(sql.split())}"
        for sql, used in planned
        for index in used & set(predicates)
        if predicates[index] not in " ".join(sql.split())
    ]
    assert not problems, "\n".join(problems)


OWNER_LOT_INDEXES = {"ix_talonone_loyalty_lot_owner", "ix_talonone_loyalty_lot_owner_id"}


def planned_text(connection: Any, sql: str) -> str:
    """SQLite's plan of `sql`, every value NULL, as one line of text."""
    return " | ".join(sqlite_plan(connection, sql, [None] * sql.count("?")))


def test_points_lists_are_planned_on_the_owner_index(
    make_client: Callable[..., TestClient], tmp_path: Path
) -> None:
    """GetLoyaltyProgramProfilePoints and GetLoyaltyCardPoints read one owner's lots a page at a
    time: planned on the owner index, not on the primary key's tenant_id alone in id order (a
    walk through every other owner's lots, which made the member's page 0.7 ms once 200 other
    profiles had 4,000 lots)."""
    from simulator.talonone.routes.loyalty import POINT_STATUSES
    from simulator.talonone.service.loyalty.history import points_statement

    engine = sqlite_store(make_client, tmp_path, "points")[0].app.state.engine
    connection = engine.raw_connection()
    try:
        for status in POINT_STATUSES:
            for sort in ("", "startDate", "-expiryDate"):
                prepared = points_statement(status, frozenset(), sort)
                found = indexes_planned(connection, engine.dialect, prepared)
                assert found is not None, (status, sort)
                assert found[1] & OWNER_LOT_INDEXES, (status, sort, found)
                if sort:
                    continue
                # The default order is the owner's lots in id order: read off the index that
                # ends in id, so a page stops after `limit` rows however many lots it has.
                plan = planned_text(connection, found[0])
                assert "ix_talonone_loyalty_lot_owner_id" in plan, (status, plan)
                assert "TEMP B-TREE" not in plan, (status, plan)
    finally:
        connection.close()


ON_ACTION_FIXTURES: dict[str, Any] = {
    "talonone": {
        "campaigns": [
            {
                "id": 1,
                "name": "Earn once the order ships",
                "features": ["loyalty"],
                "rules": [
                    {
                        "title": "10 points on action",
                        "conditions": [{"cartTotal": {"gt": 0}}],
                        "effects": [
                            {"addLoyaltyPoints": {"programId": 1, "value": 10}},
                            {
                                "addLoyaltyPoints": {
                                    "programId": 1,
                                    "value": 5,
                                    "startDate": "on_action",
                                }
                            },
                        ],
                    }
                ],
            }
        ],
        "loyaltyPrograms": [{"id": 1, "name": "points"}],
    },
}


def loyalty_action_flows(
    http: TestClient, talon: dict[str, str]
) -> Iterator[tuple[str, Callable[[], Any]]]:
    """Activating waiting points by session and by transaction, a closed session cancelled
    (its additions rolled back) and one returned: each finds its rows among every profile's."""

    def close(session_id: str, state: str = "closed") -> Any:
        session = {
            "profileId": "ann",
            "state": state,
            "cartItems": [{"sku": "B", "quantity": 1, "price": 20}],
        }
        return http.put(
            f"/v2/customer_sessions/{session_id}", json={"customerSession": session}, headers=talon
        )

    def waiting_uuids(session_id: str) -> list[str]:
        path = "/v1/loyalty_programs/1/profile/ann/transactions?awaitsActivation=true"
        data = http.get(path, headers=talon).json()["data"]
        return [t["transactionUUID"] for t in data if t["customerSessionId"] == session_id]

    for session_id in ("a-1", "a-2", "a-3", "a-4", "a-5"):
        close(session_id)
    yield (
        "activate by session",
        lambda: http.post(
            "/v1/loyalty_programs/1/activate_points", json={"sessionId": "a-1"}, headers=talon
        ),
    )
    uuids = waiting_uuids("a-2") + waiting_uuids("a-4")
    assert len(uuids) == 2  # more than one: SQLite plans an IN list of one as an equality
    yield (
        "activate by transaction",
        lambda: http.post(
            "/v1/loyalty_programs/1/activate_points",
            json={"transactionUUIDs": uuids},
            headers=talon,
        ),
    )
    yield "cancel a closed session", lambda: close("a-3", "cancelled")
    returned = {
        "return": {"returnedCartItems": [{"position": 0, "quantity": 1}]},
        "responseContent": ["previousReturns"],
    }
    yield (
        "return with previous returns",
        lambda: http.post("/v2/customer_sessions/a-5/returns", json=returned, headers=talon),
    )


def test_loyalty_actions_and_returns_find_their_rows_on_an_index(
    make_client: Callable[..., TestClient], captured: Captured, tmp_path: Path
) -> None:
    """ActivateLoyaltyPoints, a rollback and a return look rows up by session, transaction
    UUID or transaction: on the primary key (tenant_id, id) each walked every row of the
    tenant, as SQLite without statistics prefers an index that gives ORDER BY id for free."""
    client, path = sqlite_store(make_client, tmp_path, "actions")
    tenant = client.post("/__admin/tenants", json={"fixtures": ON_ACTION_FIXTURES})
    assert tenant.status_code == 201, tenant.text
    talon = Keys.of(tenant.json()["credentials"]).talonone
    for name, request in loyalty_action_flows(client, talon):
        response = captured.during(name, request)
        assert response.status_code == 200, (name, response.text[:300])
    lot_statements = [s for s in captured.statements if "FROM talonone_loyalty_lot" in s[1]]
    assert {flow for flow, _sql, _params in lot_statements} == {
        "activate by session",
        "activate by transaction",
        "cancel a closed session",
        "return with previous returns",
    }
    assert any("FROM talonone_return" in sql for _flow, sql, _params in captured.statements)
    problems = sqlite_problems(path, captured)
    assert not problems, "\n".join(problems)


def test_an_upload_finds_listed_addresses_on_the_list_key(
    make_client: Callable[..., TestClient], tmp_path: Path
) -> None:
    """The upload worker asks which of up to 500 addresses are on the unsubscribe or bounce
    list: a lookup of each on the key (tenant_id, kind, email_key), not a walk through the
    tenant's whole list."""
    from simulator.customergauge.service import blocked_statement

    engine = sqlite_store(make_client, tmp_path, "lists")[0].app.state.engine
    statement = blocked_statement().compile(dialect=engine.dialect)
    sql = re.sub(r"\(__\[POSTCOMPILE_\w+\]\)", "(?, ?)", str(statement))  # two of each list
    connection = engine.raw_connection()
    try:
        plan = planned_text(connection, sql)
    finally:
        connection.close()
    assert "(tenant_id=? AND kind=? AND email_key=?)" in plan, plan


def test_delete_customer_data_finds_the_profiles_rows_on_an_index(
    make_client: Callable[..., TestClient], captured: Captured, tmp_path: Path
) -> None:
    """DeleteCustomerData removes one profile's rows from every table. The loyalty tables, the
    largest, are read on their owner indexes (by naming the programs), not walked. The tables
    of DELETE_WALKS_ACCEPTED are walked: an index for each would tax every session close for
    an operation integrators call rarely."""
    client, path = sqlite_store(make_client, tmp_path, "delete")
    talon = Keys.default().talonone
    for session_id in ("d-1", "d-2"):
        body = session_body("closed", couponCodes=["WELCOME-5"])
        response = client.put(f"/v2/customer_sessions/{session_id}", json=body, headers=talon)
        assert response.status_code == 200, response.text
    response = captured.during(
        "delete customer data",
        lambda: client.delete("/v1/customer_data/customer-1", headers=talon),
    )
    assert response.status_code == 204, response.text
    tables = {
        found.group(1)
        for _flow, sql, _params in captured.statements
        if (found := re.search(r"(?:FROM|UPDATE) (\w+)", sql))
    }
    assert {"talonone_loyalty_lot", "talonone_referral", "talonone_session"} <= tables
    accepted = re.compile(rf"(?:FROM|UPDATE) (?:{'|'.join(DELETE_WALKS_ACCEPTED)})\b")
    captured.statements = [s for s in captured.statements if not accepted.search(s[1])]
    problems = sqlite_problems(path, captured)
    assert not problems, "\n".join(problems)


# Found by profile only on DeleteCustomerData, and written on every session close that redeems
# or progresses (or every idempotent request): walked on that rare call rather than indexed.
DELETE_WALKS_ACCEPTED = (
    "talonone_coupon_redemption",
    "talonone_referral",  # the codes addressed to the profile as a friend (advocate: indexed)
    "talonone_referral_redemption",
    "talonone_achievement_contribution",
    "talonone_idempotent_response",
)


def test_a_profiles_newest_sessions_and_events_come_off_its_index(
    make_client: Callable[..., TestClient], captured: Captured, tmp_path: Path
) -> None:
    """The admin API lists a profile's newest sessions and events: read in order off the
    profile index, which ends in id, not by walking the tenant's every session or event
    backwards from the newest until a page of the profile's is found."""
    client, path = sqlite_store(make_client, tmp_path, "admin")
    talon = Keys.default().talonone
    response = client.put("/v2/customer_sessions/n-1", json=session_body(), headers=talon)
    assert response.status_code == 200, response.text
    event = {"profileId": "customer-1", "type": "pageview"}
    response = client.post("/v2/events", json=event, headers=talon)
    assert response.status_code in (200, 204), response.text
    admin = "/__admin/tenants/default/talonone"
    for name, path_and_query in (
        ("sessions of a profile", f"{admin}/sessions?profileId=customer-1"),
        ("open sessions of a profile", f"{admin}/sessions?profileId=customer-1&state=open"),
        ("events of a profile", f"{admin}/events?profileId=customer-1"),
    ):
        response = captured.during(name, lambda p=path_and_query: client.get(p))
        assert response.status_code == 200 and response.json(), (name, response.text[:300])
    listed = [s for s in captured.statements if re.search(r"FROM talonone_(session|event)\b", s[1])]
    assert len(listed) >= 3
    problems = sqlite_problems(path, captured)
    assert not problems, "\n".join(problems)
