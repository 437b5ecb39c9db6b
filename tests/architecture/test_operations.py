"""Each API declares its operations once (`simulator/<api>/operations.py`); its routes are made
from that declaration. A route nobody declared, or a declared operation nobody serves, fails
here."""

from __future__ import annotations

import re

import pytest

from simulator.core.operations import Operation
from simulator.core.registry import api_specs

SPECS = {spec.name: spec for spec in api_specs()}


def routes_of(spec) -> list:
    return [route for router in spec.routers for route in router.routes]


@pytest.mark.parametrize("api", sorted(SPECS))
def test_every_route_serves_a_declared_operation(api: str) -> None:
    spec = SPECS[api]
    undeclared = [
        f"{sorted(route.methods)} {route.path}"
        for route in routes_of(spec)
        if spec.operations.entry_of(route) is None
    ]
    assert undeclared == []


@pytest.mark.parametrize("api", sorted(SPECS))
def test_every_declared_operation_has_a_route(api: str) -> None:
    spec = SPECS[api]
    served = {
        (method, route.path)
        for route in routes_of(spec)
        if spec.operations.entry_of(route) is not None
        for method in route.methods
    }
    missing = [
        f"{operation.name}: {operation.method} {path}"
        for operation in spec.operations
        for path in operation.paths
        if (operation.method, path) not in served
    ]
    assert missing == []
    calls = {op.call for op in spec.operations if op.call is not None}
    assert calls == spec.operations.handled_calls


@pytest.mark.parametrize("api", sorted(SPECS))
def test_names_are_unique_and_name_their_api(api: str) -> None:
    """An alias may name several operations (CustomerGauge's `lists/unsubscribe` answers GET
    and POST), never another operation's own name."""
    table = SPECS[api].operations
    assert table.api == api
    names = [op.name.casefold() for op in table]
    assert len(names) == len(set(names))
    assert not {alias.casefold() for op in table for alias in op.aliases} & set(names)
    assert all(isinstance(op, Operation) and op.api == api for op in table)
    assert all(op.method in {"GET", "POST", "PUT", "DELETE", "PATCH"} for op in table)


def test_each_api_serves_what_its_documentation_lists() -> None:
    counts = {api: len(spec.operations) for api, spec in SPECS.items()}
    assert counts == {"customergauge": 6, "clienttoolbox": 8, "talonone": 38, "ecdp": 7}


def test_ecdp_post_customers_has_one_name_everywhere() -> None:
    """The journal, the fault rules and the docs all say PostCustomers: the real API calls it
    "POST method" of /customers, whose `mode` chooses Add, Update or AddOrUpdate; the old
    AddOrUpdateCustomers named one mode and stays an alias for fault rules written with it."""
    operation = SPECS["ecdp"].operations.find("PostCustomers")
    assert operation is not None and (operation.method, operation.paths) == (
        "POST",
        ("/customers",),
    )
    assert SPECS["ecdp"].operations.find("AddOrUpdateCustomers") is operation


def test_templates_are_fastapi_paths_with_named_parameters() -> None:
    for spec in SPECS.values():
        for operation in spec.operations:
            for path in operation.paths:
                assert path.startswith("/"), path
                assert re.fullmatch(r"(/[^{}/]*|/\{[A-Za-z_]+(:path)?\}[^{}/]*)+/?", path), path
