"""The process-wide caches of what the store holds, under one owner.

Each cache keeps its own rule for staying right (docs/architecture.md lists them: a row compared
on every read, a revision or version read with the request, a time-to-live, ...), because each
process of a deployment has its own and must notice what other processes write. What they share
is registered here: `forget_tenant(id)` drops one tenant's entries in this process (a tenant reset
to its fixtures or deleted: its next request reads the store again), and `clear()` empties them
all (a test that starts from a fresh store).

A module registers its cache where it defines it:

    caches.register("talonone.config", "...", clear=_cache.clear, forget_tenant=forget_config)
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, MutableMapping
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

T = TypeVar("T")


@dataclass(frozen=True)
class Cache:
    name: str
    holds: str
    clear: Callable[[], None]
    forget_tenant: Callable[[str], object]


_caches: dict[str, Cache] = {}


def register(
    name: str,
    holds: str,
    clear: Callable[[], None],
    forget_tenant: Callable[[str], object] | None = None,
) -> None:
    """Add a cache (a module imported again replaces its own entry). Without `forget_tenant`,
    forgetting a tenant clears the whole cache."""
    _caches[name] = Cache(name, holds, clear, forget_tenant or (lambda _tenant_id: clear()))


def register_per_tenant(name: str, holds: str, store: MutableMapping[tuple, Any]) -> None:
    """Add a cache whose keys are `(id(engine), tenant_id, ...)`: forgetting a tenant drops
    the keys naming it."""
    register(
        name,
        holds,
        clear=store.clear,
        forget_tenant=lambda tenant_id: drop_keys(store, lambda key, _v: key[1] != tenant_id),
    )


# (id(engine), tenant_id) -> (the tenant's cache revision, a weak reference to the engine, what
# was kept under that revision).
RevisionStore = MutableMapping[tuple[int, str], tuple[int, weakref.ref, Any]]


def kept_under_revision(
    store: RevisionStore,
    engine: Any,
    tenant_id: str,
    revision: int,
    make: Callable[[], T],
    limit: int,
) -> T:
    """What `store` keeps for the tenant on this engine while its `cache_revision` is still
    `revision`, else `make()`'s, kept in its place. The weak reference makes sure a new engine
    that happens to get the address of a dropped one never sees its entries; past `limit`
    tenants the store starts afresh."""
    key = (id(engine), tenant_id)
    entry = store.get(key)
    if entry is not None and entry[0] == revision and entry[1]() is engine:
        return entry[2]
    value = make()
    if len(store) >= limit:
        store.clear()
    store[key] = (revision, weakref.ref(engine), value)
    return value


K = TypeVar("K")
V = TypeVar("V")


def known_under_revision(
    store: RevisionStore,
    engine: Any,
    tenant_id: str,
    revision: int,
    keys: set[K],
    read: Callable[[set[K]], dict[K, V]],
    limits: tuple[int, int],
) -> dict[K, V | None]:
    """Each of `keys` as this process read it under the tenant's `revision` (None: the store
    has none), asking `read` only for the keys not seen since; what `read` leaves out is kept
    as None. `limits`: (tenants, keys a tenant) kept before starting afresh. For rows whose
    every writer renews the tenant's cache revision."""
    known: dict[K, V | None] = kept_under_revision(
        store, engine, tenant_id, revision, dict, limits[0]
    )
    missing = {key for key in keys if key not in known}
    found = read(missing) if missing else {}
    answer = {key: found.get(key) if key in missing else known[key] for key in keys}
    if len(known) + len(missing) > limits[1]:
        known.clear()
    for key in missing:
        known[key] = found.get(key)
    return answer


class KnownUnderRevision(Generic[K, V]):
    """A registered per-tenant cache of values by key, each right while the tenant's
    `cache_revision` is the one it was read under: for rows whose every writer renews it.
    `limits`: (tenants, keys a tenant) kept before starting afresh."""

    def __init__(self, name: str, holds: str, limits: tuple[int, int] = (1_000, 10_000)) -> None:
        self.store: RevisionStore = {}
        self.limits = limits
        register_per_tenant(name, holds, self.store)

    def lookup(
        self,
        engine: Any,
        tenant_id: str,
        revision: int,
        keys: set[K],
        read: Callable[[set[K]], dict[K, V]],
    ) -> dict[K, V | None]:
        """`known_under_revision` on this cache."""
        return known_under_revision(
            self.store, engine, tenant_id, revision, keys, read, self.limits
        )


def registered() -> list[Cache]:
    return list(_caches.values())


def clear() -> None:
    """Empty every registered cache of this process."""
    for cache in list(_caches.values()):
        cache.clear()


def forget_tenant(tenant_id: str) -> None:
    """Drop what every registered cache of this process keeps of one tenant."""
    for cache in list(_caches.values()):
        cache.forget_tenant(tenant_id)


def drop_keys(store: MutableMapping[Any, Any], keep: Callable[[Any, Any], bool]) -> None:
    """Remove the entries of `store` that `keep(key, value)` refuses (safe while others read:
    the keys are listed first, and one already gone is skipped)."""
    for key in [key for key, value in list(store.items()) if not keep(key, value)]:
        store.pop(key, None)
