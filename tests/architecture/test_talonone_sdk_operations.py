"""Every operation of the official Talon.One SDK the contract tests use (talon-one-sdk 26.2)
is one the simulator declares and serves: an integrator on that SDK finds no 404."""

from __future__ import annotations

import talon_one

from simulator.talonone.operations import OPERATIONS

SUFFIXES = ("_with_http_info", "_without_preload_content")


def sdk_operations() -> list[str]:
    return sorted(
        name
        for name in dir(talon_one.IntegrationApi)
        if not name.startswith("_") and not name.endswith(SUFFIXES)
    )


def test_every_sdk_operation_is_declared() -> None:
    declared = {operation.name.casefold() for operation in OPERATIONS}
    sdk = sdk_operations()
    assert len(sdk) == 35
    assert [name for name in sdk if name.replace("_", "") not in declared] == []
