"""`core/formats.number`: the one rounding rule of the figures every API answers."""

from __future__ import annotations

import pytest

from simulator.core.formats import number


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (5.0, 5),
        (0.0, 0),
        (-0.0, 0),
        (-0.001, 0),  # rounds to -0.0: answered as 0, never -0
        (12.5, 12.5),
        (0.1 + 0.2, 0.3),  # a float sum's noise is rounded away
        (2.675, 2.67),  # Python's round: the binary value, as every API printed it before
        (1e15, 1_000_000_000_000_000),
        (7, 7),
    ],
)
def test_figures_round_to_cents_and_whole_values_are_integers(value, expected) -> None:
    result = number(value)
    assert result == expected and type(result) is type(expected)
    assert str(result) != "-0"


def test_places_none_keeps_the_stored_decimals() -> None:
    assert number(12.3456, places=None) == 12.3456
    assert number(3.0, places=None) == 3 and isinstance(number(3.0, places=None), int)
