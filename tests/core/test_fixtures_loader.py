"""Fixture documents: named sets, inline documents, refusal with file, path and reason."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from simulator.config import Settings
from simulator.core import fixtures
from simulator.core.fixtures import FixtureError


def test_named_sets_exist() -> None:
    settings = Settings()
    for name in ("default", "empty"):
        document, source = fixtures.resolve(name, settings.fixtures_dir)
        assert isinstance(document, dict)
        assert source == name
        fixtures.validate(document, source)


def test_malformed_yaml_is_refused_with_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text("tenant:\n  name: [unclosed\n")
    with pytest.raises(FixtureError) as error:
        fixtures.resolve(str(path), tmp_path)
    assert error.value.source == str(path)
    assert "line" in error.value.path


def test_unknown_section_is_refused_with_its_path() -> None:
    with pytest.raises(FixtureError) as error:
        fixtures.validate({"tenant": {"name": "x"}, "mailchimp": {}}, "doc.yaml")
    assert error.value.path == "mailchimp"
    assert "unknown section" in error.value.reason
    assert str(error.value).startswith("doc.yaml: mailchimp:")


def test_wrong_type_inside_a_section_names_the_path() -> None:
    with pytest.raises(FixtureError) as error:
        fixtures.validate({"clock": {"now": "not a date"}}, "doc.yaml")
    assert error.value.path == "clock.now"
    with pytest.raises(FixtureError) as error:
        fixtures.validate({"tenant": {"nme": "x"}}, "doc.yaml")
    assert error.value.path == "tenant.nme"


def test_top_level_must_be_a_mapping() -> None:
    with pytest.raises(FixtureError):
        fixtures.parse_document("- a\n- b\n", "list.yaml")


def test_error_path_format() -> None:
    assert (
        fixtures.error_path("talonone", ("campaigns", 2, "effects", 0, "points"))
        == "talonone.campaigns[2].effects[0].points"
    )


def test_admin_refuses_a_bad_inline_document_and_creates_nothing(client: TestClient) -> None:
    before = len(client.get("/__admin/tenants").json()["tenants"])
    response = client.post(
        "/__admin/tenants", json={"name": "x", "fixtures": {"clock": {"frozen": "maybe"}}}
    )
    assert response.status_code == 400
    body = response.json()
    assert body["file"] == "inline"
    assert body["path"] == "clock.frozen"
    assert body["reason"]
    assert len(client.get("/__admin/tenants").json()["tenants"]) == before


def test_admin_refuses_an_unknown_set_name(client: TestClient) -> None:
    response = client.post("/__admin/tenants", json={"fixtures": "no-such-set"})
    assert response.status_code == 400
    assert response.json()["file"] == "no-such-set"


def test_start_with_a_malformed_file_fails_with_its_path(make_settings, tmp_path: Path) -> None:
    from simulator.app import create_app

    path = tmp_path / "bad.yaml"
    path.write_text("clock:\n  frozen: perhaps\n")
    with pytest.raises(FixtureError) as error:
        create_app(make_settings(fixtures=str(path)))
    assert error.value.path == "clock.frozen"


def test_export_round_trip_of_the_foundation_sections(client: TestClient, new_tenant) -> None:
    tenant = new_tenant(fixtures={"clock": {"now": "2030-03-03T00:00:00Z", "frozen": True}})
    exported = client.get(f"/__admin/tenants/{tenant['id']}/fixtures").json()
    assert exported["clock"] == {"now": "2030-03-03T00:00:00Z", "frozen": True}
    copy = new_tenant(fixtures=exported)
    assert client.get(f"/__admin/tenants/{copy['id']}/clock").json()["now"] == (
        "2030-03-03T00:00:00Z"
    )


def test_a_section_wide_check_reports_the_path_it_names() -> None:
    from pydantic import BaseModel, model_validator

    class Section(BaseModel):
        items: list[int] = []

        @model_validator(mode="after")
        def check(self):
            raise ValueError("items[1].campaign: unknown campaign")

    try:
        Section.model_validate({"items": [1, 2]})
    except Exception as exc:
        error = fixtures.first_validation_error("clienttoolbox", "doc.yaml", exc)
    assert error.path == "clienttoolbox.items[1].campaign"
    assert error.reason == "unknown campaign"


def test_generate_cli_takes_per_entity_counts(tmp_path: Path) -> None:
    import subprocess
    import sys

    import yaml

    out = tmp_path / "world.yaml"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "simulator",
            "fixtures",
            "generate",
            "--seed",
            "3",
            "--customers",
            "2",
            "--count",
            "customergauge.bounce=5",
            "--out",
            str(out),
        ],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    document = yaml.safe_load(out.read_text())
    assert len(document["customergauge"]["bounce"]) == 5
    bad = subprocess.run(
        [sys.executable, "-m", "simulator", "fixtures", "generate", "--count", "x"],
        capture_output=True,
        text=True,
    )
    assert bad.returncode != 0 and "NAME=N" in bad.stderr


def test_extends_merges_a_named_set_under_the_document(client: TestClient, new_tenant) -> None:
    document = {"extends": "default", "clock": {"now": "2031-01-01T00:00:00Z", "frozen": True}}
    tenant = new_tenant(fixtures=document)
    assert client.get(f"/__admin/tenants/{tenant['id']}/clock").json()["frozen"] is True
    key = tenant["credentials"]["ecdp"]["api_key"]
    attributes = client.get("/customerattributes", headers={"x-api-key": key}).json()["data"]
    assert attributes  # the default world's ECDP definitions came with it
    with pytest.raises(FixtureError) as error:
        fixtures.validate({"extends": "no-such-set"}, "doc.yaml")
    assert error.value.source == "no-such-set"
    with pytest.raises(FixtureError) as error:
        fixtures.validate({"extends": 5}, "doc.yaml")
    assert error.value.path == "extends"
