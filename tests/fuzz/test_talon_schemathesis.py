"""schemathesis against the Talon.One OpenAPI document, for the operations the simulator serves:
requests generated from the spec (valid ones and, as schemathesis builds them, invalid ones) to a
real `simulator serve`; no answer is a 5xx, and each is valid against the spec's own response
(status documented, content type, body schema), except for the spec's known quirks below.

The document's path comes from SIM_TALON_SPEC (CI sets it); without it the test is skipped
locally and fails under CI=true.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from simulator.talonone.operations import OPERATIONS as TALONONE_OPERATIONS
from tests.conftest import LiveServer, live_database_url, start_server, stop_server
from tests.fuzz.conftest import TRIED

schemathesis = pytest.importorskip("schemathesis")
from schemathesis import GenerationMode  # noqa: E402
from schemathesis.checks import CHECKS  # noqa: E402

AUTH = {"Authorization": "ApiKey-v1 talon-sandbox-key"}
OPERATIONS = sorted(operation.name for operation in TALONONE_OPERATIONS)
# Bounded so that this part stays within 2-3 minutes on 2 cores, both stores alike.
EXAMPLES = int(os.environ.get("SIM_SCHEMATHESIS_EXAMPLES", "40"))

# The checks run on every answer. Left out, each for a reason of the spec's or the simulator's:
# - positive_data_acceptance: a request valid by the spec may still be refused by the API's own
#   rules, which the spec does not carry (an attribute must be declared for its entity, a
#   coupon must exist, a session state change must be a documented transition, ...);
# - negative_data_rejection: the spec leaves many fields unconstrained that the simulator
#   checks, and constrains some the real API (and so the simulator) accepts beyond (the SDKs
#   send `"state": "open"` on any update; unknown query parameters are ignored);
# - the stateful and authentication checks (ignored_auth, use_after_free, ...): this test sends
#   the default tenant's valid key and runs no sequences.
CHECKED = (
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_schema_conformance",
)

# The spec's own quirks (docs/coverage.md, "The Talon.One document's known defects"; the official SDK, the judge of the contract tests,
# agrees with the simulator), relaxed in the document before any request is generated:
# - `oneOf` is read as `anyOf`: the Effect `props` alternatives overlap (setDiscount and
#   rollbackDiscount have the same shape), so no real body can match exactly one;
# - CustomerSessionV2 requires `coupon` and `referral`, legacy names it does not define;
# - Event `effects` items are typed as arrays; the SDKs and the docs use effect objects.
LEGACY_REQUIRED = {"coupon", "referral"}
ARRAY_OF_ANYTHING = {"type": "array", "items": {}}


def relax_quirks(node: Any) -> Any:
    if isinstance(node, dict):
        relaxed: dict[str, Any] = {}
        for key, value in node.items():
            if key == "oneOf":
                relaxed["anyOf"] = relax_quirks(value)
            elif key == "required" and isinstance(value, list):
                relaxed[key] = [name for name in value if name not in LEGACY_REQUIRED]
            elif key == "items" and value == ARRAY_OF_ANYTHING:
                relaxed[key] = {}
            else:
                relaxed[key] = relax_quirks(value)
        return relaxed
    if isinstance(node, list):
        return [relax_quirks(item) for item in node]
    return node


# Statuses the document does not list for an operation, answered as the real API answers
# (each a choice in docs/behaviour.md).
MALFORMED = 400  # a malformed id, flag or body is a 400, as on the API's other operations
UNKNOWN = 404  # an unknown program, session or audience named by the request
SPEC_QUIRKS: dict[str, set[int]] = {
    "UpdateAudienceV2": {MALFORMED},  # a non-integer audienceId, a body without `name`
    "DeleteAudienceMembershipsV2": {MALFORMED},  # a non-integer audienceId
    "UpdateAudienceCustomersAttributes": {MALFORMED},  # undeclared or mistyped attributes
    "GetCustomerInventory": {MALFORMED},  # a flag other than true/false
    "GenerateLoyaltyCard": {UNKNOWN},  # an unknown loyalty program
    "GetCustomerSession": {UNKNOWN},  # an unknown session (the SDKs' NotFoundException)
    "ReopenCustomerSession": {UNKNOWN},
    "ReturnCartItems": {UNKNOWN},
    "UpdateCustomerProfileV2": {UNKNOWN},  # an unknown audience in `audiencesChanges`
    "BestPriorPrice": {MALFORMED},  # an empty SKU or timeframe, a timeframe not in days
    # The API key is checked before anything else: a 401 is possible on every operation.
    "*": {401},
}


def spec_path() -> Path | None:
    configured = os.environ.get("SIM_TALON_SPEC")
    return Path(configured) if configured else None


@pytest.fixture(scope="module")
def talon_schema() -> Any:
    path = spec_path()
    if path is None or not path.is_file():
        reason = f"SIM_TALON_SPEC is {'unset' if path is None else f'{path}, not a file'}"
        if os.environ.get("CI") == "true":
            pytest.fail(f"{reason}: CI must run the schemathesis tests against the spec")
        pytest.skip(f"{reason}: no Talon.One OpenAPI document to generate requests from")
    document = relax_quirks(json.loads(path.read_text(encoding="utf-8")))
    schema = schemathesis.openapi.from_dict(document)
    return schema.include(operation_id=[spec_id(name) for name in OPERATIONS])


def spec_id(name: str) -> str:
    """The document's operationId of an operation (`GetCustomerSession` -> `getCustomerSession`)."""
    return name[0].lower() + name[1:]


@pytest.fixture(scope="module")
def talon_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    database_url = live_database_url(tmp_path_factory.mktemp("schemathesis"), "sim_schemathesis")
    server = start_server(database_url, {"SIM_FIXTURES": "default"})
    yield server
    stop_server(server)


def documented(operation_id: str, status: int) -> bool:
    return status in SPEC_QUIRKS.get(operation_id, set()) | SPEC_QUIRKS["*"]


@pytest.mark.parametrize("operation_id", OPERATIONS)
def test_talon_operation_against_the_spec(
    operation_id: str, talon_schema: Any, talon_server: LiveServer
) -> None:
    operation = talon_schema.find_operation_by_id(spec_id(operation_id))
    checks = [check for check in CHECKS.get_all() if check.__name__ in CHECKED]
    cases = st.one_of(
        operation.as_strategy(GenerationMode.POSITIVE, headers=AUTH),
        operation.as_strategy(GenerationMode.NEGATIVE, headers=AUTH),
    )

    @settings(
        settings.get_profile("fuzz"),
        max_examples=EXAMPLES,
        suppress_health_check=list(HealthCheck),
    )
    @given(case=cases)
    def call(case: Any) -> None:
        response = case.call(base_url=talon_server.url, headers=AUTH, timeout=30)
        TRIED["talonone (schemathesis)"] += 1
        assert response.status_code < 500, f"{response.status_code}: {response.text[:500]}"
        if documented(operation_id, response.status_code):
            return
        if response.status_code == 204:
            # Quirk: the document gives "204 No content" a JSON string body; HTTP (and the
            # real API) send none.
            assert not response.content
            return
        case.validate_response(response, checks=checks, headers=AUTH)

    call()
