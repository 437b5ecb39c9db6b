"""Tenants: credentials -> tenant, creation with fixtures, deletion, reset."""

from __future__ import annotations

import json
import logging
import secrets
from typing import Any

from sqlalchemy import bindparam, delete, func, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col

from simulator.config import Settings
from simulator.core import caches, fastsql, fixtures, journal, offloop, quotas
from simulator.core.clock import real_now, tenant_now
from simulator.core.db import (
    LARGE_LOAD_BYTES,
    LARGE_LOAD_ROWS,
    analyze,
    new_session,
    table_of,
    tenant_tables,
)
from simulator.core.fixtures import FixtureError
from simulator.core.ids import random_secret
from simulator.core.models import Tenant, TenantFixtures, fresh_token
from simulator.core.requestinfo import note
from simulator.core.store import Store, Transaction, end_reads, unit_of_work

log = logging.getLogger("simulator.tenants")

DEFAULT_TENANT_ID = "default"

# Which Tenant column holds each API's lookup credential.
CREDENTIAL_COLUMNS = {
    "customergauge": col(Tenant.customergauge_api_key),
    "clienttoolbox": col(Tenant.clienttoolbox_user_api_key),
    "talonone": col(Tenant.talonone_api_key),
    "ecdp": col(Tenant.ecdp_api_key),
}

# Rows kept when a tenant is reset to its fixtures: the journal is history and fault rules are
# test set-up, not state.
KEPT_ON_RESET = {"journal_entry", "fault_rule", "tenant_fixtures"}


# The hot path of every API request: one row (no ORM object) compared with
# the row this process saw last for the credential; the same row gives back the same detached,
# read-only Tenant, so a request pays one indexed SELECT and nothing else. Any change to the row
# (clock, quotas, keys) builds a fresh object, so every process sees it at once. A grouped write
# lease and a read lease on the pinned connection (SQLite) skip even the SELECT while their
# store version (fastsql `store_version`: data_version and the connection's own changes) says
# nothing was committed since the row was read.
_LOOKUP_COLUMNS = list(table_of(Tenant).c)
_BY_CREDENTIAL = {
    api: fastsql.prepared(select(*_LOOKUP_COLUMNS).where(column == bindparam("credential")))
    for api, column in CREDENTIAL_COLUMNS.items()
}
_TENANT_CACHE_LIMIT = 10_000
# (api, credential) -> (the row as stored, its Tenant, the store version it was read at)
_tenant_cache: dict[tuple[str, str], tuple[tuple, Tenant, Any]] = {}
caches.register(
    "tenants.by_credential",
    "(api, credential) -> the tenant row as read and its Tenant; right because every lookup "
    "reads the row again and compares it (a grouped write lease, or a read lease on the "
    "pinned SQLite connection, skips the read while its store version is unchanged); cleared "
    "at 10,000 entries",
    clear=_tenant_cache.clear,
    forget_tenant=lambda tenant_id: caches.drop_keys(
        _tenant_cache, lambda _key, hit: hit[1].id != tenant_id
    ),
)


def by_credential(db: Store | fastsql.Lease, api: str, value: str) -> Tenant | None:
    """The tenant a credential selects (shared and detached: read it, never change it).

    Its fixture document is a row of its own (`TenantFixtures`), read by what resets it.
    """
    if not value:
        return None
    key = (api, value)
    hit = _tenant_cache.get(key)
    version = db.store_version() if isinstance(db, fastsql.Lease) else None
    if version is not None and hit is not None and hit[2] == version:
        return hit[1]
    statement, parameters = _BY_CREDENTIAL[api], {"credential": value}
    stored = fastsql.execute(db, statement, parameters, raw=True).first()
    if stored is None:
        return None
    values = tuple(stored)  # as stored: compared without converting a column
    if hit is not None and hit[0] == values:
        _tenant_cache[key] = (values, hit[1], version)
        return hit[1]
    row = fastsql.execute(db, statement, parameters).first()
    if row is None:  # deleted between the two reads
        return None
    tenant = Tenant(**row._asdict())
    if len(_tenant_cache) >= _TENANT_CACHE_LIMIT:
        _tenant_cache.clear()
    _tenant_cache[key] = (values, tenant, version)
    return tenant


def renew_cache_revision(db: Store | fastsql.Lease, tenant_id: str) -> None:
    """Tell every process that what it keeps of this tenant between requests is out of date
    (in the caller's transaction: the change and the new revision commit together)."""
    statement = update(Tenant).where(col(Tenant.id) == tenant_id)
    fastsql.execute(db, statement.values(cache_revision=fresh_token()))


def admit(request: Any, db: Store | fastsql.Lease, tenant: Tenant, release: bool = True) -> Tenant:
    """What every API's auth does once it has found the tenant: tell the journal, and check the
    tenant's quotas (QuotaExceeded is answered 429 in the API's own shape). The quotas'
    bookkeeping is a unit of work of its own (core/quotas): nothing is written, let alone
    committed, in the request's transaction.

    A request's session is then handed back to the pool (`store.end_reads`: the auth only
    read): handlers await (bodies, sleeps) before their next query, and a request must not hold
    a connection while it waits. `release=False`: the caller goes on with the same transaction
    without awaiting anything first, so the connection need not go back in between.
    """
    note(request, tenant_id=tenant.id)
    if isinstance(db, fastsql.Lease):
        in_group = fastsql.group_of(db) is not None
        quotas.admit(db.engine, tenant, request.method, in_group)
        return tenant
    quotas.admit(db.get_bind(), tenant, request.method)
    if release and isinstance(db, Session) and db.in_transaction():
        end_reads(db)
    return tenant


def admit_found(request: Any, tenant_id: str, requests_per_second: int | None) -> None:
    """`admit` for a read that found its tenant inside its own query (the row carries the
    tenant's id and rate quota): tell the journal, check the rate quota. Reads only: the
    stored-records quota limits writes."""
    note(request, tenant_id=tenant_id)
    quotas.admit_light(request.app.state.engine, tenant_id, requests_per_second)


def credentials(tenant: Tenant) -> dict[str, dict[str, str]]:
    return {
        "customergauge": {"api_key": tenant.customergauge_api_key},
        "clienttoolbox": {
            "user_id": tenant.clienttoolbox_user_id,
            "user_api_key": tenant.clienttoolbox_user_api_key,
            "account_id": tenant.clienttoolbox_account_id,
        },
        "talonone": {"api_key": tenant.talonone_api_key},
        "ecdp": {"api_key": tenant.ecdp_api_key},
    }


def describe(tenant: Tenant) -> dict[str, Any]:
    from simulator.core.clock import format_instant

    return {
        "id": tenant.id,
        "name": tenant.name,
        "credentials": credentials(tenant),
        "fixtures": fixtures.public_label(tenant.fixtures_source),
        "clock": {"now": format_instant(tenant_now(tenant)), "frozen": tenant.clock_frozen},
        "created": format_instant(tenant.created_at),
        "quotas": {
            "requestsPerSecond": tenant.quota_requests_per_second,
            "records": tenant.quota_records,
            "journalEntries": tenant.quota_journal_entries,
        },
    }


def fresh_tenant(tenant_id: str | None, name: str | None) -> Tenant:
    tenant_id = tenant_id or f"t-{secrets.token_hex(6)}"
    return Tenant(
        id=tenant_id,
        name=name or tenant_id,
        customergauge_api_key=random_secret("cg-"),
        clienttoolbox_user_id=random_secret("u-", 6),
        clienttoolbox_user_api_key=random_secret("ct-"),
        clienttoolbox_account_id=random_secret("a-", 6),
        talonone_api_key=random_secret("talon-"),
        ecdp_api_key=random_secret("ecdp-"),
        created_at=real_now(),
    )


def default_tenant(settings: Settings) -> Tenant:
    return Tenant(
        id=DEFAULT_TENANT_ID,
        name=DEFAULT_TENANT_ID,
        customergauge_api_key=settings.default_customergauge_api_key,
        clienttoolbox_user_id=settings.default_clienttoolbox_user_id,
        clienttoolbox_user_api_key=settings.default_clienttoolbox_user_api_key,
        clienttoolbox_account_id=settings.default_clienttoolbox_account_id,
        talonone_api_key=settings.default_talonone_api_key,
        ecdp_api_key=settings.default_ecdp_api_key,
        created_at=real_now(),
    )


def load_fixtures(
    session: Store,
    tenant: Tenant,
    document: dict[str, Any],
    source: str,
    settings: Settings,
    validated: dict[str, Any] | None = None,
) -> None:
    """Validate the whole document (unless given `validated`), then write it (no commit: the
    caller owns the transaction)."""
    if validated is None:
        validated = fixtures.validate(document, source, settings.fixtures_dir)
    session.merge(TenantFixtures(tenant_id=tenant.id, document=fixtures.dump_json(document)))
    tenant.fixtures_source = source
    name = validated.get("tenant")
    if name is not None and name.name and tenant.id != DEFAULT_TENANT_ID:
        tenant.name = tenant.name or name.name
    context = fixtures.LoadContext(seed=settings.seed, now=real_now(), source=source)
    fixtures.apply(session, tenant, validated, context)


def load_checked(
    session: Store,
    tenant: Tenant,
    document: dict[str, Any],
    source: str,
    settings: Settings,
    validated: dict[str, Any],
) -> None:
    """`load_fixtures`, and a key the store keeps unique that two entries of the document share
    (a check the sections missed) refused as a FixtureError like the others, never a 500."""
    try:
        load_fixtures(session, tenant, document, source, settings, validated)
        session.flush()
    except IntegrityError as exc:
        detail = str(exc.orig).splitlines()[0] if exc.orig is not None else ""
        raise FixtureError(
            source, "", f"two entries of the document share a key that must be unique ({detail})"
        ) from None


def create(
    session: Transaction,
    settings: Settings,
    name: str | None = None,
    fixture_reference: str | dict | None = None,
    tenant: Tenant | None = None,
    allow_paths: bool = True,
    records_quota: int | None = None,
) -> Tenant:
    """Create a tenant and load its fixtures in one transaction (raises FixtureError).

    `allow_paths=False` for a reference sent in a request: a set's name or a document only.
    `records_quota`: the tenant's stored-records quota, which its fixtures must fit too
    (quotas.TooManyRecords, nothing written; a `generate:` block is judged before it runs).
    The document is validated (and a `generate:` block expanded) before the transaction, so a
    store's write lock is held only to write it (core/offloop: run it in a worker thread).
    """
    document, source = fixtures.resolve(fixture_reference, settings.fixtures_dir, allow_paths)
    if records_quota is not None:
        from simulator.core.generate import estimated_rows

        asked = estimated_rows(document)
        if asked > records_quota:
            raise quotas.TooManyRecords(asked, records_quota, estimated=True)
    validated = fixtures.validate(document, source, settings.fixtures_dir)
    tenant = tenant or fresh_tenant(None, name)
    tenant.quota_records = records_quota
    with offloop.writing(session.get_bind()), unit_of_work(session):
        session.add(tenant)
        session.flush()
        load_checked(session, tenant, document, source, settings, validated)
        if records_quota is not None:
            session.flush()
            stored = quotas.stored_records(session, tenant.id)
            if stored > records_quota:
                raise quotas.TooManyRecords(stored, records_quota)
    analyze_if_large(session, tenant.id, document)
    return tenant


def analyze_if_large(session: Store, tenant_id: str, document: dict[str, Any]) -> None:
    """The planner's statistics gathered again after a load large enough to change them."""
    from simulator.core.generate import estimated_rows

    large = estimated_rows(document) >= LARGE_LOAD_ROWS
    if large or stored_document_size(session, tenant_id) >= LARGE_LOAD_BYTES:
        analyze(session.get_bind().engine)


def stored_document_size(session: Store, tenant_id: str) -> int:
    statement = select(func.length(TenantFixtures.document)).where(
        col(TenantFixtures.tenant_id) == tenant_id
    )
    return session.execute(statement).scalar() or 0


def stored_document(session: Store, tenant_id: str) -> dict[str, Any]:
    found = session.get(TenantFixtures, tenant_id)
    return json.loads(found.document if found is not None else "{}")


def trial_load(reference: str | dict, settings: Settings) -> str:
    """Load a document (a set's name, a file path or a document) into a new tenant of a
    throwaway store, exactly as `serve` and `POST /__admin/tenants` load one: every check of
    the validation and of each API's loader runs. Returns its source label; raises
    FixtureError. (`simulator fixtures validate`.)"""
    import tempfile

    from sqlmodel import SQLModel

    import simulator.models_index  # noqa: F401
    from simulator.core.db import make_engine

    with tempfile.TemporaryDirectory(prefix="simulator-validate-") as folder:
        engine = make_engine(f"sqlite:///{folder}/trial.db")
        try:
            SQLModel.metadata.create_all(engine)
            with new_session(engine) as session:
                tenant = create(session, settings, None, reference)
                return tenant.fixtures_source
        finally:
            engine.dispose()


def apply_given_fixtures(session: Transaction, tenant: Tenant, settings: Settings) -> None:
    """The default tenant of an existing store, started with fixtures named explicitly: the
    same ones keep its state (a restart), others replace it."""
    _, source = fixtures.resolve(settings.fixtures, settings.fixtures_dir)
    if source == tenant.fixtures_source:
        return
    log.warning(
        "tenant 'default' held fixtures %r; --fixtures/SIM_FIXTURES %r replaces them: its data "
        "is reloaded from %r (other tenants are untouched)",
        fixtures.public_label(tenant.fixtures_source or ""),
        settings.fixtures,
        settings.fixtures,
    )
    reset(session, tenant, settings, settings.fixtures)


def delete_data(session: Store, tenant_id: str, keep: set[str] | None = None) -> None:
    for table in tenant_tables():
        if keep and table.name in keep:
            continue
        session.execute(delete(table).where(table.c.tenant_id == tenant_id))


def remove(session: Transaction, tenant: Tenant) -> None:
    """Delete the tenant and every row of it: one unit of work, then the journal's own file
    and the caches."""
    with unit_of_work(session):
        delete_data(session, tenant.id)
        session.delete(tenant)
    journal.clear(session.get_bind(), tenant.id)  # where the journal has a file of its own
    caches.forget_tenant(tenant.id)


def current_document(
    session: Store, tenant: Tenant, settings: Settings
) -> tuple[dict[str, Any], str]:
    """What a reset loads: a named set's file as it is now (edited since: the edit is loaded),
    the operator's file (`--fixtures PATH`: the default tenant only) read again, an inline
    document as it was stored."""
    source = tenant.fixtures_source or "<stored>"
    if source in fixtures.SENT_IN_A_REQUEST or source == "<stored>":
        return stored_document(session, tenant.id), source
    if source == fixtures.NO_FIXTURES:
        return {}, source
    # Tenants created through HTTP name sets only: never a file of the server for them.
    allow_paths = tenant.id == DEFAULT_TENANT_ID
    return fixtures.resolve(source, settings.fixtures_dir, allow_paths=allow_paths)


def reset(
    session: Transaction,
    tenant: Tenant,
    settings: Settings,
    reference: str | dict | None = None,
) -> None:
    """Back to the tenant's fixtures, clock included (validated before the transaction, as in
    `create`): its set or file as it reads now, or an inline document as stored. `reference`:
    load that one instead (and keep it as the tenant's from now on)."""
    if reference is None:
        document, source = current_document(session, tenant, settings)
    else:
        document, source = fixtures.resolve(reference, settings.fixtures_dir)
    validated = fixtures.validate(document, source, settings.fixtures_dir)
    with offloop.writing(session.get_bind()), unit_of_work(session):
        delete_data(session, tenant.id, keep=KEPT_ON_RESET)
        load_checked(session, tenant, document, source, settings, validated)
    analyze_if_large(session, tenant.id, document)
    caches.forget_tenant(tenant.id)


def ensure_default(engine: Engine, settings: Settings) -> None:
    """Create the `default` tenant with its fixtures on first start; keep it as it is after,
    unless the fixtures were given (`--fixtures`, SIM_FIXTURES) and differ from those it was
    loaded from: then it is reset to the given ones (and a warning says so)."""
    with new_session(engine) as session:
        existing = session.get(Tenant, DEFAULT_TENANT_ID)
        if existing is not None:
            if "fixtures" in settings.model_fields_set:
                apply_given_fixtures(session, existing, settings)
            return
        try:
            create(session, settings, None, settings.fixtures, default_tenant(settings))
            log.info("created tenant 'default' with fixtures %s", settings.fixtures)
        except IntegrityError:  # another worker created it first (create rolled back)
            log.info("tenant 'default' was created by another process")
