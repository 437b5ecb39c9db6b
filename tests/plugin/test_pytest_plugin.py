"""The pytest plugin, run the way a user's suite runs it: pytester sessions (in this process)
whose tests ask for `simulator_tenant` and `simulator_server`. Most point SIM_URL at this
session's live server (a few seconds saved per run); one starts its own server."""

from __future__ import annotations

import httpx
import pytest

from simulator import testing
from tests.conftest import LiveServer, live_database_url, start_server, stop_server

pytest_plugins = ["pytester"]


@pytest.fixture
def sim_url(live_server: LiveServer, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("SIM_URL", live_server.url)
    monkeypatch.delenv("SIM_ADMIN_TOKEN", raising=False)
    return live_server.url


def tenant_names(url: str) -> set[str]:
    return {t["name"] for t in httpx.get(f"{url}/__admin/tenants").json()["tenants"]}


SEPARATE_TENANTS = """
import pytest

SEEN = []
EMAIL = "shared@example.com"
BODY = {"mode": "AddOrUpdate", "matchBy": "Email", "data": [{"email": EMAIL}]}


@pytest.mark.parametrize("n", range(4))
def test_each_test_has_a_tenant_of_its_own(simulator_tenant, n):
    assert simulator_tenant.id not in SEEN
    SEEN.append(simulator_tenant.id)
    # What an earlier test wrote in its tenant is not in this one.
    assert simulator_tenant.ecdp.get(f"/customers/email/{EMAIL}").status_code == 404
    assert simulator_tenant.ecdp.post("/customers", json=BODY).status_code == 201
    assert simulator_tenant.ecdp.get(f"/customers/email/{EMAIL}").status_code == 200


def test_the_default_tenant_is_untouched(simulator_server):
    import httpx

    response = httpx.get(
        f"{simulator_server.url}/customers/email/shared@example.com",
        headers={"x-api-key": "ecdp-sandbox-key"},
    )
    assert response.status_code == 404


def test_four_tenants_were_seen():
    assert len(set(SEEN)) == 4
"""


def test_each_test_gets_its_own_tenant_and_they_are_deleted(
    pytester: pytest.Pytester, sim_url: str
) -> None:
    pytester.makepyfile(SEPARATE_TENANTS)
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(passed=6)
    names = tenant_names(sim_url)
    assert not any("test_each_test_has_a_tenant_of_its_own" in name for name in names)


FIXTURE_MARKERS = """
from pathlib import Path

import pytest

pytestmark = pytest.mark.simulator_fixtures("empty")


def adam(tenant):
    return tenant.ecdp.get("/customers/email/adam@example.com").status_code


def test_module_marker_applies(simulator_tenant):
    assert adam(simulator_tenant) == 404
    assert simulator_tenant.describe()["fixtures"] == "empty"


@pytest.mark.simulator_fixtures("default")
def test_the_nearest_marker_wins(simulator_tenant):
    assert adam(simulator_tenant) == 200


@pytest.mark.simulator_fixtures({"ecdp": {"customers": [{"email": "inline@example.com"}]}})
def test_an_inline_document(simulator_tenant):
    response = simulator_tenant.ecdp.get("/customers/email/inline@example.com")
    assert response.status_code == 200


@pytest.mark.simulator_fixtures(Path(__file__).parent / "world.yaml")
def test_a_local_file(simulator_tenant):
    assert simulator_tenant.ecdp.get("/customers/email/file@example.com").status_code == 200
    assert adam(simulator_tenant) == 200  # the file extends the default set


@pytest.mark.simulator_fixtures(None)
def test_none(simulator_tenant):
    assert adam(simulator_tenant) == 404
"""


def test_the_marker_chooses_the_fixtures(pytester: pytest.Pytester, sim_url: str) -> None:
    pytester.makepyfile(FIXTURE_MARKERS)
    pytester.makefile(
        ".yaml", world="extends: default\necdp:\n  customers:\n    - email: file@example.com\n"
    )
    pytester.runpytest("-p", "no:cacheprovider").assert_outcomes(passed=5)


def test_a_refused_document_fails_the_test_at_setup(
    pytester: pytest.Pytester, sim_url: str
) -> None:
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.simulator_fixtures({"ecdp": {"customers": [{"email": "no(at)x.com"}]}})
        def test_bad(simulator_tenant):
            pass
        """
    )
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*ecdp.customers[[]0[]].email*"])


HELPERS = """
from datetime import datetime, timedelta, timezone

import pytest


def test_journal(simulator_tenant):
    simulator_tenant.ecdp.get("/customers/email/nobody@example.com")
    simulator_tenant.ecdp.get("/customers/email/adam@example.com")
    simulator_tenant.talonone.get("/v2/customer_sessions/none")
    missing = simulator_tenant.requests(api="ecdp", status=404)
    assert [e["path"] for e in missing] == ["/customers/email/nobody@example.com"]
    assert all(e["tenant"] == simulator_tenant.id for e in simulator_tenant.requests())
    assert len(simulator_tenant.requests(api="ecdp")) == 2
    by_operation = simulator_tenant.requests(operation="GetCustomerByEmail")
    assert {e["operation"] for e in by_operation} == {"GetCustomerByEmail"}
    assert len(by_operation) == 2
    assert simulator_tenant.clear_requests() == 3
    assert simulator_tenant.requests() == []


def test_clock(simulator_tenant):
    start = datetime(2030, 1, 1, tzinfo=timezone.utc)
    view = simulator_tenant.clock.freeze(start)
    assert view["frozen"] is True and view["now"] == "2030-01-01T00:00:00Z"
    simulator_tenant.clock.advance(days=30)
    simulator_tenant.clock.advance(timedelta(hours=1))
    assert simulator_tenant.clock.now() == start + timedelta(days=30, hours=1)
    assert simulator_tenant.clock.unfreeze()["frozen"] is False


def test_faults_touch_this_tenant_only(simulator_tenant, simulator_server):
    rules = simulator_tenant.faults.add(api="ecdp", error=503)
    assert rules[0]["tenant"] == simulator_tenant.id
    assert simulator_tenant.ecdp.get("/customers/id/1").status_code == 503
    other = simulator_server.create_tenant("default")
    try:
        assert other.ecdp.get("/customers/id/1").status_code == 200
    finally:
        other.delete()
    assert len(simulator_tenant.faults.list()) == 1
    assert simulator_tenant.faults.clear() == 1
    assert simulator_tenant.ecdp.get("/customers/id/1").status_code == 200
    with pytest.raises(ValueError):
        simulator_tenant.faults.add(tenant="someone-else", error=500)


def test_reset(simulator_tenant):
    body = {"mode": "AddOrUpdate", "matchBy": "Email", "data": [{"email": "new@example.com"}]}
    assert simulator_tenant.ecdp.post("/customers", json=body).status_code == 201
    simulator_tenant.reset()
    assert simulator_tenant.ecdp.get("/customers/email/new@example.com").status_code == 404
    assert simulator_tenant.ecdp.get("/customers/email/adam@example.com").status_code == 200


def test_each_api_client_carries_its_credentials(simulator_tenant):
    assert simulator_tenant.customergauge.get("/v4.1/lists/unsubscribe.json").status_code == 200
    assert simulator_tenant.talonone.get("/v1/loyalty_programs/1/profile/loyalty-demo-1/balances").status_code == 200
    assert simulator_tenant.ecdp.get("/customerconsents").status_code == 200
    # ClientToolbox: credentials added to the form, or to the query of a GET.
    posted = simulator_tenant.clienttoolbox.post("/api.php", data={"type": "campaigns_list", "output": "JSON"})
    assert posted.status_code == 200 and posted.json()["status"] == "success", posted.text
    got = simulator_tenant.clienttoolbox.get("/", params={"type": "campaigns_list", "output": "JSON"})
    assert got.json()["status"] == "success", got.text
    # A credential given explicitly is the one sent.
    wrong = simulator_tenant.clienttoolbox.post("/", data={"type": "campaigns_list", "user_api_key": "x"})
    assert "error" in wrong.text
    fields = simulator_tenant.clienttoolbox_fields(type="campaigns_list")
    assert fields["user_id"] == simulator_tenant.credentials["clienttoolbox"]["user_id"]


def test_the_official_talon_one_client(simulator_tenant):
    talon_one = pytest.importorskip("talon_one")
    request = talon_one.IntegrationRequest(
        customer_session=talon_one.NewCustomerSessionV2(
            profile_id="customer-1",
            cart_items=[talon_one.CartItem(sku="SKU-SHOE-1", quantity=2, price=80)],
        )
    )
    response = simulator_tenant.talonone_api.update_customer_session_v2("sdk-1", request)
    assert any(effect.effect_type == "setDiscount" for effect in response.effects)
    assert simulator_tenant.requests(api="talonone")[0]["path"] == "/v2/customer_sessions/sdk-1"
"""


def test_the_tenant_helpers(pytester: pytest.Pytester, sim_url: str) -> None:
    pytester.makepyfile(HELPERS)
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(passed=6)


def test_a_failing_test_still_deletes_its_tenant(pytester: pytest.Pytester, sim_url: str) -> None:
    pytester.makepyfile(
        """
        def test_fails_midway(simulator_tenant):
            assert False, simulator_tenant.id
        """
    )
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(failed=1)
    assert not any("test_fails_midway" in name for name in tenant_names(sim_url))


def test_a_session_without_the_fixtures_starts_nothing(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The plugin is loaded wherever the package is (this suite too): a test that asks for
    none of its fixtures starts no simulator."""
    monkeypatch.delenv("SIM_URL", raising=False)
    pytester.makepyfile(
        """
        def test_plain(request):
            assert request.config.pluginmanager.hasplugin("simulator")
        """
    )
    before = testing.servers_started
    pytester.runpytest("-p", "no:cacheprovider").assert_outcomes(passed=1)
    assert testing.servers_started == before


def test_without_sim_url_the_session_starts_one_server(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SIM_URL", raising=False)
    monkeypatch.delenv("SIM_ADMIN_TOKEN", raising=False)
    pytester.makepyfile(
        """
        URLS = []

        def test_one(simulator_server, simulator_tenant):
            assert simulator_server.process is not None
            URLS.append(simulator_server.url)
            assert simulator_tenant.ecdp.get("/customers/id/1").status_code == 200

        def test_two(simulator_server, simulator_tenant):
            URLS.append(simulator_server.url)
            assert len(set(URLS)) == 1  # one server for the session
        """
    )
    before = testing.servers_started
    result = pytester.runpytest("-p", "no:cacheprovider", "-o", "simulator_start_timeout=60")
    result.assert_outcomes(passed=2)
    assert testing.servers_started == before + 1


@pytest.fixture(scope="module")
def guarded_server(tmp_path_factory: pytest.TempPathFactory):
    url = live_database_url(tmp_path_factory.mktemp("guarded"), "sim_plugin_guarded")
    server = start_server(url, extra_env={"SIM_ADMIN_TOKEN": "plugin-token"})
    yield server
    stop_server(server)


def test_the_admin_token_is_sent_on_admin_calls(
    pytester: pytest.Pytester, guarded_server: LiveServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SIM_URL", guarded_server.url)
    pytester.makepyfile(
        """
        def test_guarded(simulator_tenant):
            simulator_tenant.clock.advance(days=1)
            assert simulator_tenant.requests() == []
        """
    )
    monkeypatch.setenv("SIM_ADMIN_TOKEN", "plugin-token")
    pytester.runpytest("-p", "no:cacheprovider").assert_outcomes(passed=1)
    monkeypatch.setenv("SIM_ADMIN_TOKEN", "wrong")
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*POST /__admin/tenants: 401*"])
