"""campaigns_list answers from what the process keeps of a tenant's campaigns (the
`clienttoolbox.campaigns` cache): kept while the tenant's cache revision is the one they were read
under, read again once another process renews it (as a fixture load does)."""

from __future__ import annotations

from sqlalchemy import text

from simulator.clienttoolbox import service
from simulator.core import tenants
from simulator.core.store import session_unit
from tests.clienttoolbox.helpers import post, xml


def names(client) -> list[str]:
    body = xml(post(client, type="campaigns_list", sortField="campaign_id"))
    assert body["@status"] == "success", body
    campaigns = body["campaigns"]["campaign"]
    return [c["name"] for c in (campaigns if isinstance(campaigns, list) else [campaigns])]


def kept_for(tenant_id: str) -> int:
    return sum(key[1] == tenant_id for key in service._listed)


def test_a_campaign_change_by_another_process_is_seen_at_once(make_client) -> None:
    """Two apps on one store stand for two processes: the second changes a campaign and renews
    the tenant's revision in one transaction, as a fixture load does."""
    first, second = make_client(), make_client()
    before = names(first)
    assert kept_for("default") == 1
    assert names(first) == before  # answered from what the first keeps
    renamed = before[0] + " (renamed)"
    with session_unit(second.app.state.engine) as session:
        session.execute(
            text("UPDATE ct_campaign SET name = :name WHERE tenant_id = 'default' AND name = :old"),
            {"name": renamed, "old": before[0]},
        )
        tenants.renew_cache_revision(session, "default")
    assert names(first) == [renamed, *before[1:]]


def test_a_reset_tenant_lists_its_fixture_campaigns_again(client) -> None:
    before = names(client)
    assert client.post("/__admin/tenants/default/reset").status_code == 200
    assert kept_for("default") == 0
    assert names(client) == before
    assert kept_for("default") == 1


def test_one_answer_cannot_change_what_the_next_one_sees(client) -> None:
    """Filtered, sorted and paged answers are cut from the kept list, never into it."""
    everything = names(client)
    first_only = xml(post(client, type="campaigns_list", length="1", sortorder="DESC"))
    assert first_only["@status"] == "success"
    restricted = xml(post(client, type="campaigns_list", type_restrict="points"))
    assert restricted["@status"] == "success"
    assert names(client) == everything
