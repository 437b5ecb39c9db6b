"""The process-wide caches have one owner (core/caches): a tenant reset or deleted leaves nothing
of it in any of them, `clear()` empties them all, and docs/architecture.md lists each."""

from __future__ import annotations

from fastapi.testclient import TestClient

from simulator.core import caches, quotas, tenants
from simulator.talonone.service import campaigns, catalogs, inventory, loyalty_ledger
from tests.conftest import ROOT

SESSION = {
    "customerSession": {
        "profileId": "customer-1",
        "state": "closed",
        "cartItems": [{"sku": "SKU-SHOE-1", "quantity": 1, "price": 80}],
    }
}


def kept_of(tenant_id: str) -> dict[str, int]:
    """How many entries each data cache holds for the tenant."""
    return {
        "tenants": sum(hit[1].id == tenant_id for hit in tenants._tenant_cache.values()),
        "config": sum(k[1] == tenant_id for k in campaigns._cache),
        "programs": sum(k[1] == tenant_id for k in campaigns._programs),
        "catalog": sum(k[1] == tenant_id for k in catalogs._catalog_items.store),
        "extras": sum(k[1] == tenant_id for k in inventory._declared_extras.store),
        "lots": sum(k[1] == tenant_id for k in loyalty_ledger._totals_cache),
        "records": int(tenant_id in quotas._record_counts),
    }


def use(client: TestClient, tenant: dict) -> None:
    talon = {"Authorization": f"ApiKey-v1 {tenant['credentials']['talonone']['api_key']}"}
    response = client.put("/v2/customer_sessions/cache-1", headers=talon, json=SESSION)
    assert response.status_code == 200, response.text
    balances = "/v1/loyalty_programs/1/profile/customer-1/balances"
    assert client.get(balances, headers=talon).status_code == 200
    gifts = "/v1/customer_profiles/customer-1/inventory?giveaways=true"
    assert client.get(gifts, headers=talon).json()["giveaways"]
    client.put(f"/__admin/tenants/{tenant['id']}/quotas", json={"records": 100_000})
    ecdp = {"x-api-key": tenant["credentials"]["ecdp"]["api_key"]}
    client.post("/customers", headers=ecdp, json={"mode": "Add", "matchBy": "Email", "data": []})


def test_a_deleted_tenant_leaves_nothing_in_any_cache(client: TestClient, new_tenant) -> None:
    tenant = new_tenant()
    use(client, tenant)
    assert kept_of(tenant["id"])["tenants"] and kept_of(tenant["id"])["config"]
    assert kept_of(tenant["id"])["extras"]
    assert client.delete(f"/__admin/tenants/{tenant['id']}").status_code == 204
    assert set(kept_of(tenant["id"]).values()) == {0}


def test_a_reset_tenant_is_read_again(client: TestClient, new_tenant) -> None:
    tenant, other = new_tenant(), new_tenant()
    use(client, tenant)
    use(client, other)
    assert client.post(f"/__admin/tenants/{tenant['id']}/reset").status_code == 200
    assert kept_of(tenant["id"])["config"] == 0 and kept_of(tenant["id"])["lots"] == 0
    assert kept_of(tenant["id"])["extras"] == 0
    assert kept_of(other["id"])["config"]  # another tenant's entries stay


def test_clear_empties_every_cache(client: TestClient, new_tenant) -> None:
    use(client, new_tenant())
    caches.clear()
    assert not tenants._tenant_cache and not campaigns._cache and not catalogs._catalog_items.store
    assert not inventory._declared_extras.store
    assert not loyalty_ledger._totals_cache and not quotas._record_counts


def test_the_architecture_page_lists_every_cache() -> None:
    page = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    missing = [cache.name for cache in caches.registered() if f"`{cache.name}`" not in page]
    assert missing == []


def test_known_under_revision_reads_only_what_it_has_not_seen_under_the_revision() -> None:
    """The store is asked for the keys not seen since (those it has none of are remembered as
    None); a new revision, another engine or too many keys start afresh."""

    class Engine:  # what the store keeps a weak reference to
        pass

    store: caches.RevisionStore = {}
    engine, other_engine = Engine(), Engine()
    asked: list[set[str]] = []

    def read(keys: set[str]) -> dict[str, int]:
        asked.append(set(keys))
        return {key: len(key) for key in keys if key != "none"}

    def known(keys: set[str], revision: int = 1, on: object = engine) -> dict:
        return caches.known_under_revision(store, on, "t", revision, keys, read, (10, 3))

    assert known({"a", "none"}) == {"a": 1, "none": None}
    assert known({"a", "none", "bb"}) == {"a": 1, "none": None, "bb": 2}
    assert asked == [{"a", "none"}, {"bb"}]
    assert known({"a"}, revision=2) == {"a": 1} and asked[-1] == {"a"}
    assert known({"a"}, revision=2, on=other_engine) == {"a": 1} and len(asked) == 4
    assert known({"cc", "ddd", "e"}, revision=2, on=other_engine)["ddd"] == 3
    assert known({"a"}, revision=2, on=other_engine) == {"a": 1} and asked[-1] == {"a"}
