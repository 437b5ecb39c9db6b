"""Validate raw Talon.One responses against the OpenAPI document of the real API.

`validate_response(operation_id, status, body)` finds the operation in the spec (its path from
SIM_TALON_SPEC only: `.ci/run` sets it; nothing outside the repository is looked for), takes
the JSON schema of that status's response and validates `body` with jsonschema, resolving
`$ref`s against the document. Without the document the test is skipped with a clear reason,
and fails under CI=true (CI must check the contract).
"""

from __future__ import annotations

import json
import os
from functools import lru_cache
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

SPEC_URI = "urn:talon-one-openapi"


def spec_path() -> Path | None:
    """The document SIM_TALON_SPEC names, or None when it is unset."""
    configured = os.environ.get("SIM_TALON_SPEC")
    return Path(configured) if configured else None


@lru_cache(maxsize=1)
def load_spec() -> dict[str, Any] | None:
    path = spec_path()
    if path is None or not path.is_file():
        return None
    return json.loads(path.read_text(encoding="utf-8"))


@lru_cache(maxsize=1)
def operations() -> dict[str, dict[str, Any]]:
    spec = load_spec() or {}
    found: dict[str, dict[str, Any]] = {}
    for path_item in spec.get("paths", {}).values():
        for operation in path_item.values():
            if isinstance(operation, dict) and "operationId" in operation:
                found[operation["operationId"].lower()] = operation
    return found


@lru_cache(maxsize=1)
def registry() -> Registry:
    resource = Resource.from_contents(load_spec() or {}, default_specification=DRAFT202012)
    return Registry().with_resource(SPEC_URI, resource)


def response_schema(operation_id: str, status: int) -> dict[str, Any] | None:
    """The JSON schema of one response, or None when that status has no JSON body."""
    operation = operations().get(operation_id.lower())
    if operation is None:
        raise AssertionError(f"operation {operation_id!r} is not in the Talon.One spec")
    responses = operation.get("responses", {})
    response = responses.get(str(status)) or responses.get("default")
    if response is None:
        raise AssertionError(
            f"{operation_id}: status {status} is not documented (documented: {sorted(responses)})"
        )
    content = response.get("content") or {}
    media = content.get("application/json") or next(iter(content.values()), None)
    return None if media is None else media.get("schema")


LEGACY_REQUIRED = {"coupon", "referral"}
ARRAY_OF_ANYTHING = {"type": "array", "items": {}}


def _prepare(node: Any) -> Any:
    """Rebase `$ref`s onto the document and relax the spec's known defects where the
    SDK (the judge) disagrees with the document (docs/coverage.md, "The Talon.One document's
    known defects"):

    - `oneOf` -> `anyOf`: the Effect `props` alternatives overlap (setDiscount and
      rollbackDiscount have the same shape), so no real body can match exactly one;
    - CustomerSessionV2 requires `coupon` and `referral`, legacy names it does not define;
    - Event `effects` items are typed as arrays; the SDKs and the docs use effect objects.
    """
    if isinstance(node, dict):
        prepared: dict[str, Any] = {}
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str) and value.startswith("#"):
                prepared[key] = SPEC_URI + value
            elif key == "oneOf":
                prepared["anyOf"] = _prepare(value)
            elif key == "required" and isinstance(value, list):
                prepared[key] = [name for name in value if name not in LEGACY_REQUIRED]
            elif key == "items" and value == ARRAY_OF_ANYTHING:
                prepared[key] = {}
            else:
                prepared[key] = _prepare(value)
        return prepared
    if isinstance(node, list):
        return [_prepare(item) for item in node]
    return node


def validate_response(operation_id: str, status: int, body: Any) -> None:
    """Fail the test when `body` does not match the documented schema of (operation, status)."""
    if load_spec() is None:
        path = spec_path()
        reason = f"SIM_TALON_SPEC is {'unset' if path is None else f'{path}, not a file'}"
        if os.environ.get("CI") == "true":
            pytest.fail(f"{reason}: CI must validate the responses against the Talon.One spec")
        pytest.skip(
            f"{reason}: no Talon.One OpenAPI document to validate against "
            "(set SIM_TALON_SPEC to the Integration API's OpenAPI JSON to run this check)"
        )
    schema = response_schema(operation_id, status)
    if schema is None:
        assert body in (None, b"", ""), f"{operation_id} {status} documents no body, got {body!r}"
        return
    if isinstance(body, (bytes, str)):
        body = json.loads(body)
    validator = Draft202012Validator(_prepare(schema), registry=registry())
    errors = sorted(validator.iter_errors(body), key=lambda e: list(e.absolute_path))
    if errors:
        lines = [
            f"{'/'.join(map(str, e.absolute_path)) or '<root>'}: {e.message[:300]}" for e in errors
        ]
        raise AssertionError(
            f"{operation_id} {status} response does not match the spec:\n" + "\n".join(lines[:20])
        )
