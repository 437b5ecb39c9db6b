"""The README's pytest example (a ```python block defining a `test_` function) runs as a user's
suite would run it: a pytester session with the plugin, on this session's live server."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.conftest import LiveServer

pytest_plugins = ["pytester"]

ROOT = Path(__file__).resolve().parents[2]
PYTHON_BLOCK = re.compile(r"^```python\n(.*?)^```$", re.MULTILINE | re.DOTALL)


def readme_tests() -> list[str]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    return [block for block in PYTHON_BLOCK.findall(text) if "def test_" in block]


def test_the_readme_has_a_pytest_example() -> None:
    assert readme_tests()


@pytest.mark.parametrize("source", readme_tests())
def test_the_readme_pytest_example_passes(
    source: str, pytester: pytest.Pytester, live_server: LiveServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SIM_URL", live_server.url)
    monkeypatch.delenv("SIM_ADMIN_TOKEN", raising=False)
    pytester.makepyfile(source)
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(passed=source.count("def test_"))
