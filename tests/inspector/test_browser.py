"""The Inspector in a real browser (Chromium through Playwright), against `simulator serve`."""

from __future__ import annotations

import re
import time
from typing import Any

import httpx
import pytest

from tests.conftest import DEFAULT_CREDENTIALS
from tests.inspector.conftest import ADMIN_TOKEN, Page

SECTIONS = ("tenants", "traffic", "customergauge", "clienttoolbox", "talonone", "ecdp", "faults")

# One request per API, each with something only it holds (the marker the page must show).
API_CALLS: dict[str, dict[str, Any]] = {
    "talonone": {
        "method": "PUT",
        "url": "/v2/customer_sessions/inspector-talon-1",
        "headers": {**DEFAULT_CREDENTIALS["talonone"], "content-type": "application/json"},
        "content": '{"customerSession":{"profileId":"inspector-profile-1","cartItems":[]}}',
        "marker": "inspector-profile-1",
    },
    "ecdp": {
        "method": "POST",
        "url": "/customers",
        "headers": {**DEFAULT_CREDENTIALS["ecdp"], "content-type": "application/json"},
        "content": '{"mode":"AddOrUpdate","matchBy":"Email","data":[{"email":"inspector-ecdp@example.com"}]}',
        "marker": "inspector-ecdp@example.com",
    },
    "customergauge": {
        "method": "POST",
        "url": "/v4.1/stream/transactional.json",
        "headers": DEFAULT_CREDENTIALS["customergauge"],
        "content": "<records><record><Email>inspector-cg@example.com</Email></record></records>",
        "marker": "inspector-cg@example.com",
    },
    "clienttoolbox": {
        "method": "POST",
        "url": "/api.php",
        "headers": {"content-type": "application/x-www-form-urlencoded"},
        "content": "API=1.5&user_id=sandbox&user_api_key=ct-sandbox-key&account_id=sandbox"
        "&type=customer_find&code=inspector-ct-42&output=JSON",
        "marker": "inspector-ct-42",
    },
}


@pytest.mark.parametrize("section", SECTIONS)
def test_each_page_loads_without_console_errors(tab: Page, section: str) -> None:
    response = tab.open(f"/__admin/ui/{section}?tenant=default")
    assert response.status == 200
    assert tab.page.locator("nav a[aria-current=page]").count() == 1
    tab.page.wait_for_load_state("networkidle")
    tab.screenshot(f"page-{section}")
    assert tab.errors == []


@pytest.mark.parametrize("api", sorted(API_CALLS))
def test_a_request_to_each_api_appears_in_traffic_within_2_s_with_its_body(
    tab: Page, server: Any, api: str
) -> None:
    call = API_CALLS[api]
    tab.open("/__admin/ui/traffic?tenant=default")
    httpx.request(
        call["method"], server.url + call["url"], headers=call["headers"], content=call["content"]
    )
    sent = time.monotonic()
    row = tab.page.locator("#traffic-table tr", has_text=call["url"]).first
    row.wait_for(timeout=2000)
    assert time.monotonic() - sent < 2.0
    row.click()
    detail = tab.page.locator("#traffic-detail")
    assert call["marker"] in detail.locator(".request-body").inner_text()
    assert detail.locator(".response-body").inner_text().strip() != "(no body)"
    assert "x-request-id" in detail.inner_text()  # the answer's headers are shown
    assert "null" not in [text.strip() for text in detail.locator("p").all_inner_texts()]
    tab.screenshot(f"traffic-{api}")
    assert tab.errors == []


def test_adding_a_fault_makes_the_next_call_fail_and_the_page_shows_it(
    tab: Page, server: Any
) -> None:
    tab.open("/__admin/ui/faults?tenant=default")
    form = tab.page.locator("#fault-add")
    form.locator("[name=api]").select_option("ecdp")
    form.locator("[name=operation]").fill("GetCustomerConsents")
    form.locator("[name=error]").fill("503")
    form.locator("button[type=submit]").click()
    rule = tab.page.locator("#faults-table tr", has_text="GetCustomerConsents")
    rule.wait_for()
    tab.screenshot("faults-added")
    answer = httpx.get(server.url + "/customerconsents", headers=DEFAULT_CREDENTIALS["ecdp"])
    assert answer.status_code == 503
    tab.open("/__admin/ui/traffic?tenant=default")
    row = tab.page.locator("#traffic-table tr", has_text="/customerconsents").first
    row.wait_for(timeout=2000)
    assert "503" in row.inner_text()
    assert re.search(r"fault \d+", row.inner_text())
    row.click()
    assert "Fault injected" in tab.page.locator("#traffic-detail").inner_text()
    tab.screenshot("faults-traffic")
    tab.open("/__admin/ui/faults?tenant=default")
    tab.page.locator("#faults-table tr", has_text="GetCustomerConsents").get_by_role(
        "button", name="Remove"
    ).click()
    rule.wait_for(state="detached")
    assert (
        httpx.get(server.url + "/customerconsents", headers=DEFAULT_CREDENTIALS["ecdp"]).status_code
        == 200
    )
    assert tab.errors == []


def test_the_clock_can_be_frozen_and_advanced(tab: Page) -> None:
    tab.open("/__admin/ui/faults?tenant=default")
    tab.page.locator("#clock-freeze").click()
    tab.page.locator("#clock-state", has_text="frozen").wait_for()
    before = tab.page.locator("#clock-now").inner_text()
    advance = tab.page.locator("#clock-advance")
    advance.locator("[name=days]").fill("2")
    advance.locator("button[type=submit]").click()
    tab.page.wait_for_function(
        "before => document.querySelector('#clock-now').textContent !== before", arg=before
    )
    assert tab.page.locator("#clock-now").inner_text() > before
    tab.page.locator("#clock-unfreeze").click()
    tab.page.locator("#clock-state", has_text="running").wait_for()
    assert tab.errors == []


def test_tenants_are_created_shown_with_credentials_and_deleted(tab: Page) -> None:
    tab.open("/__admin/ui/tenants")
    form = tab.page.locator("#create-tenant")
    form.locator("[name=name]").fill("inspector-made")
    form.locator("[name=fixtures]").select_option("empty")
    form.locator("button[type=submit]").click()
    row = tab.page.locator("#tenants-table tr", has_text="inspector-made")
    row.wait_for()
    tenant_id = row.locator("td").first.inner_text()
    credentials = tab.page.locator("#credentials")
    assert "ApiKey-v1 talon-" in credentials.inner_text()
    assert "curl -s" in credentials.inner_text()
    tab.screenshot("tenants-created")
    tab.page.once("dialog", lambda dialog: dialog.accept())
    row.get_by_role("button", name="Delete").click()
    tab.page.locator("#tenants-table tr", has_text=tenant_id).wait_for(state="detached")
    assert tab.errors == []


def test_with_a_token_the_page_is_refused_without_it(
    browser: Any, guarded_server: Any, artifacts: Any
) -> None:
    context = browser.new_context()
    try:
        page = context.new_page()
        response = page.goto(guarded_server.url + "/__admin/ui/tenants")
        assert response.status == 401
        assert page.locator("input[name=token]").count() == 1
        assert "sandbox" not in page.content()  # no tenant's data on the refusal
        page.screenshot(path=str(artifacts / "login-refused.png"))
        # The page's own calls are refused too, and so is a wrong token.
        refused = page.evaluate("fetch('/__admin/tenants').then(r => r.status)")
        assert refused == 401
        page.fill("input[name=token]", "wrong")
        page.click("button[type=submit]")
        assert "not accepted" in page.content()
        page.fill("input[name=token]", ADMIN_TOKEN)
        page.click("button[type=submit]")
        page.wait_for_selector("body[data-ready=true]")
        assert page.url.endswith("/__admin/ui/tenants")
        page.locator("#tenants-table tr", has_text="default").wait_for()
        page.screenshot(path=str(artifacts / "login-accepted.png"))
    finally:
        context.close()


CT_BATCH = (
    "API=1.5&user_id=sandbox&user_api_key=ct-sandbox-key&account_id=sandbox"
    "&type=batch_transactions&delimiter=pipe&allow-undo=yes"
    "&visits_header_1=campaign_id&visits_header_2=code&visits_header_3=redeemed"
    "&visits_header_4=amount&visits_header_5=date"
    "&Visits_Data=4638472975924871%7C12121%7CN%7C40%7C2010-03-15"
)


def test_the_undo_button_undoes_a_clienttoolbox_batch_and_the_balance_changes(
    tab: Page, server: Any
) -> None:
    answer = httpx.post(
        server.url + "/api.php",
        content=CT_BATCH,
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert "<undo_state>" in answer.text, answer.text
    batch = re.search(r"<undo_state>(\d+)</undo_state>", answer.text).group(1)
    tab.open("/__admin/ui/clienttoolbox?tenant=default")
    search = tab.page.locator("#ct-search")
    search.locator("[name=q]").fill("12121")
    search.locator("button[type=submit]").click()
    customer = tab.page.locator("#ct-customers tr", has_text="12121").first
    customer.wait_for()
    tab.page.wait_for_function(
        "() => document.querySelectorAll('#ct-customers tbody tr').length === 1"
    )
    before = customer.locator(".balances").inner_text()
    tab.screenshot("clienttoolbox-before-undo")
    tab.page.locator(f"button[data-undo='{batch}']").click()
    tab.page.locator("#flash", has_text=f"Batch {batch} undone").wait_for()
    tab.page.wait_for_function(
        "before => document.querySelector('#ct-customers .balances').textContent !== before",
        arg=before,
    )
    after = customer.locator(".balances").inner_text()
    assert after != before
    tab.screenshot("clienttoolbox-after-undo")
    assert tab.errors == []


def test_undo_out_of_order_is_refused_with_the_reason(tab: Page, server: Any) -> None:
    states = []
    for _ in range(2):
        answer = httpx.post(
            server.url + "/api.php",
            content=CT_BATCH,
            headers={"content-type": "application/x-www-form-urlencoded"},
        )
        states.append(re.search(r"<undo_state>(\d+)</undo_state>", answer.text).group(1))
    tab.open("/__admin/ui/clienttoolbox?tenant=default")
    tab.page.locator(f"button[data-undo='{states[0]}']").click()
    refusal = tab.page.locator("#flash .error")
    refusal.wait_for()
    assert states[1] in refusal.inner_text()  # names the later batch in the way
    tab.screenshot("clienttoolbox-undo-refused")
    # The browser logs the refused call itself; the page's script raised nothing.
    assert all(error.startswith("Failed to load resource") for error in tab.errors), tab.errors


def test_clock_advance_moves_a_pending_lot_to_active_in_the_ledger_view(
    tab: Page, server: Any
) -> None:
    profile = "inspector-lot-profile"
    with server.admin() as admin:
        added = admin.post(
            "/__admin/tenants/default/talonone/loyalty/programs/1/points",
            json={"profileId": profile, "amount": 25, "name": "later", "startDate": "2D"},
        )
        assert added.status_code in (200, 201), added.text
    ledger = f"/__admin/ui/talonone?tenant=default&program=1&profileId={profile}"
    tab.open(ledger)
    status = tab.page.locator("#ledger .lot-status").first
    status.wait_for()
    assert status.inner_text() == "pending"
    assert "pending 25" in tab.page.locator("#ledger-totals").inner_text()
    assert tab.page.locator("#ledger svg.chart").count() == 1
    tab.screenshot("talonone-ledger-pending")
    tab.open("/__admin/ui/faults?tenant=default")
    advance = tab.page.locator("#clock-advance")
    advance.locator("[name=days]").fill("3")
    advance.locator("button[type=submit]").click()
    tab.page.locator("#flash", has_text="Clock advanced").wait_for()
    tab.open(ledger)
    status = tab.page.locator("#ledger .lot-status").first
    status.wait_for()
    assert status.inner_text() == "active"
    assert "active 25" in tab.page.locator("#ledger-totals").inner_text()
    tab.screenshot("talonone-ledger-active")
    assert tab.errors == []


def test_customergauge_queue_is_processed_paused_and_fed_from_the_page(
    tab: Page, server: Any
) -> None:
    tab.open("/__admin/ui/customergauge?tenant=default")
    tab.page.locator("#cg-pause").click()
    tab.page.locator("#cg-worker", has_text="paused").wait_for()
    upload = "<records><record><Email>inspector-queue@example.com</Email></record></records>"
    answer = httpx.post(
        server.url + "/v4.1/stream/transactional.json",
        content=upload,
        headers=DEFAULT_CREDENTIALS["customergauge"],
    )
    assert answer.status_code == 200
    tab.page.locator("#cg-process").click()
    tab.page.locator("#flash", has_text="Processed").wait_for()
    tab.page.locator("#cg-mails tr", has_text="inspector-queue@example.com").wait_for()
    tab.page.locator("#cg-resume").click()
    tab.page.locator("#cg-worker", has_text="running").wait_for()
    form = tab.page.locator("#cg-list-add")
    form.locator("[name=email]").fill("inspector-bounce@example.com")
    form.locator("button[type=submit]").click()
    tab.page.locator("#flash", has_text="inspector-bounce@example.com added").wait_for()
    listed = httpx.get(
        server.url + "/v4.1/lists/bounce.json", headers=DEFAULT_CREDENTIALS["customergauge"]
    )
    assert "inspector-bounce@example.com" in listed.text
    tab.screenshot("customergauge-processed")
    assert tab.errors == []


def test_ecdp_customers_are_found_by_email_with_their_consents(tab: Page, server: Any) -> None:
    httpx.post(
        server.url + "/customers",
        headers={**DEFAULT_CREDENTIALS["ecdp"], "content-type": "application/json"},
        content='{"mode":"AddOrUpdate","matchBy":"Email","data":[{"email":"inspector-find@example.com",'
        '"consentsData":{"consents":[{"id":1,"value":"AwaitingConfirmation"}]}}]}',
    )
    tab.open("/__admin/ui/ecdp?tenant=default")
    search = tab.page.locator("#ecdp-search")
    search.locator("[name=email]").fill("INSPECTOR-FIND")
    search.locator("button[type=submit]").click()
    row = tab.page.locator("#ecdp-customers tr", has_text="inspector-find@example.com")
    row.wait_for()
    assert "AwaitingConfirmation" in row.inner_text()
    tab.page.locator("#ecdp-confirmations tr", has_text="inspector-find@example.com").wait_for()
    tab.screenshot("ecdp-found")
    assert tab.errors == []
