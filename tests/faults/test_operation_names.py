"""A rule names operations as the journal shows them (each API's declaration): a name no API
declares is refused when the rule is stored, not silently never matched."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from fastapi.testclient import TestClient

from simulator.core import faults
from simulator.core.faults import FaultError
from tests.conftest import ROOT

FAULT_FILES = sorted((ROOT / "fixtures" / "faults").glob("*.yaml"))


@pytest.mark.parametrize("path", FAULT_FILES, ids=lambda p: p.name)
def test_the_shipped_fault_files_name_only_declared_operations(path: Path) -> None:
    rules = faults.parse_document(yaml.safe_load(path.read_text(encoding="utf-8")))
    assert rules


@pytest.mark.parametrize(
    ("rule", "where"),
    [
        ({"api": "clienttoolbox", "operation": "transactions_batch", "error": 503}, "operation"),
        ({"api": "ecdp", "operation": "UpdateCustomerSessionV2", "error": 503}, "operation"),
        ({"operation": "NoSuchThing", "error": 503}, "operation"),
        ({"api": "stripe", "error": 503}, "api"),
    ],
)
def test_a_rule_naming_what_no_api_declares_is_refused(rule: dict, where: str) -> None:
    with pytest.raises(FaultError) as caught:
        faults.parse_rule(rule)
    assert caught.value.path == where


@pytest.mark.parametrize(
    "rule",
    [
        {"api": "ecdp", "operation": "PostCustomers", "error": 503},
        {"api": "ecdp", "operation": "AddOrUpdateCustomers", "error": 503},  # the former name
        {"api": "customergauge", "operation": "stream/transactional", "error": 503},
        {"api": "customergauge", "operation": "stream.process", "error": 503},
        {"api": "clienttoolbox", "operation": "BATCH_TRANSACTIONS", "error": 503},
        {"operation": "GetCustomerById", "error": 503},  # no api: any API that declares it
    ],
)
def test_declared_names_and_aliases_are_accepted(rule: dict) -> None:
    assert faults.parse_rule(rule).operation == rule["operation"]


def test_the_journal_name_of_ecdp_post_customers_works_in_a_rule(client: TestClient) -> None:
    """It was PostCustomers in the journal and AddOrUpdateCustomers in rules."""
    body = {"mode": "AddOrUpdate", "matchBy": "Email", "data": [{"email": "n@example.com"}]}
    headers = {"x-api-key": "ecdp-sandbox-key"}
    assert client.post("/customers", headers=headers, json=body).status_code == 201
    (entry,) = client.get("/__admin/requests", params={"api": "ecdp"}).json()["requests"]
    rule = {"api": "ecdp", "operation": entry["operation"], "error": 503}
    assert client.post("/__admin/faults", json=rule).status_code == 201
    assert client.post("/customers", headers=headers, json=body).status_code == 503


def test_the_renamed_clienttoolbox_type_in_the_retries_file_fires(client: TestClient) -> None:
    """fixtures/faults/retries.yaml named `transactions_batch`, a type ClientToolbox does not
    have, so its lost-reply rule never fired."""
    document = yaml.safe_load((ROOT / "fixtures/faults/retries.yaml").read_text())
    (rule,) = [r for r in document["faults"] if r["api"] == "clienttoolbox"]
    assert rule["operation"] == "batch_transactions"
