"""Validate raw Talon.One responses against the OpenAPI document of the real API.

`validate_response(operation_id, status, body)` finds the operation in the spec (path from
SIM_TALON_SPEC, default ../shared/api/talon_one_openapi.json next to the project), takes the
JSON schema of that status's response and validates `body` with jsonschema, resolving `$ref`s
against the document. The test is skipped with a clear reason when the spec is absent.
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

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_SPEC = Path("/work/shared/api/talon_one_openapi.json")
SPEC_URI = "urn:talon-one-openapi"


def spec_path() -> Path:
    configured = os.environ.get("SIM_TALON_SPEC")
    if configured:
        return Path(configured)
    relative = ROOT.parent / "shared" / "api" / "talon_one_openapi.json"
    return relative if relative.is_file() else DEFAULT_SPEC


@lru_cache(maxsize=1)
def load_spec() -> dict[str, Any] | None:
    path = spec_path()
    if not path.is_file():
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


def _rebase_refs(node: Any) -> Any:
    """'#/components/...' -> 'urn:talon-one-openapi#/components/...' so refs resolve anywhere."""
    if isinstance(node, dict):
        rebased = {}
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str) and value.startswith("#"):
                rebased[key] = SPEC_URI + value
            else:
                rebased[key] = _rebase_refs(value)
        return rebased
    if isinstance(node, list):
        return [_rebase_refs(item) for item in node]
    return node


def validate_response(operation_id: str, status: int, body: Any) -> None:
    """Fail the test when `body` does not match the documented schema of (operation, status)."""
    if load_spec() is None:
        pytest.skip(f"Talon.One OpenAPI document not found at {spec_path()} (set SIM_TALON_SPEC)")
    schema = response_schema(operation_id, status)
    if schema is None:
        assert body in (None, b"", ""), f"{operation_id} {status} documents no body, got {body!r}"
        return
    if isinstance(body, (bytes, str)):
        body = json.loads(body)
    validator = Draft202012Validator(_rebase_refs(schema), registry=registry())
    errors = sorted(validator.iter_errors(body), key=lambda e: list(e.absolute_path))
    if errors:
        lines = [f"{'/'.join(map(str, e.absolute_path)) or '<root>'}: {e.message}" for e in errors]
        raise AssertionError(
            f"{operation_id} {status} response does not match the spec:\n" + "\n".join(lines[:20])
        )
