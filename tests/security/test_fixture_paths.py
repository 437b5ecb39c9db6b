"""Fixtures through HTTP: a set's name or an inline document, never a file of the server.

Whatever path is sent (as `fixtures`, or as `extends` inside an inline document), the answer
is the same 400, it never says whether the file exists or what it holds, and no response carries
a server path. File paths stay for the operator (`--fixtures`, `SIM_FIXTURES`, the CLI).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from simulator.config import Settings
from simulator.core import fixtures
from simulator.core.db import new_session
from simulator.core.models import Tenant
from tests.conftest import ROOT
from tests.security.conftest import TOKEN, store_snapshot

FIXTURES_DIR = Settings().fixtures_dir

PATH_LIKE = [
    "/etc/passwd",
    "/etc/no-such-file",
    "/proc/self/status",
    "/bin/true",
    "/",
    "/tmp",
    str(FIXTURES_DIR / "default.yaml"),  # a real fixture file, named by its path
    "fixtures/default.yaml",
    "../fixtures/default.yaml",
    "./default",
    "default.yaml",
    "default/../default",
    "..",
    ".",
    "~",
    "~root/.profile",
    "\\etc\\passwd",
    "C:\\Windows\\win.ini",
    "file:///etc/passwd",
    "default\x00",
    " default",
    "a" * 65,
    "a" * 300,
    "a" * 5_000,
]


def refused_bodies(client: Any, values: list[str], inline: bool) -> list[str]:
    bodies = []
    for value in values:
        fixtures_field: Any = {"extends": value} if inline else value
        response = client.post("/__admin/tenants", json={"name": "x", "fixtures": fixtures_field})
        assert response.status_code == 400, (value, response.text)
        assert response.json()["error"] == "fixtures refused"
        bodies.append(response.text)
    return bodies


def assert_no_server_path(text: str) -> None:
    for leak in (str(ROOT), str(FIXTURES_DIR), "/etc", "/proc", "/bin", "root:", "Name:"):
        assert leak not in text, (leak, text)


@pytest.mark.parametrize("inline", [False, True], ids=["fixtures", "extends"])
def test_every_path_is_refused_alike_and_creates_nothing(client: Any, inline: bool) -> None:
    engine = client.app.state.engine
    before = store_snapshot(engine)
    bodies = refused_bodies(client, PATH_LIKE, inline)
    # One answer for all: nothing tells an existing file from a missing one, a directory, a
    # program or a fixture document.
    assert len(set(bodies)) == 1, set(bodies)
    assert_no_server_path(bodies[0])
    assert store_snapshot(engine) == before


def test_the_refusal_says_what_is_accepted(client: Any) -> None:
    body = client.post("/__admin/tenants", json={"fixtures": "/etc/passwd"}).json()
    assert body["path"] == "fixtures"
    assert "default, demo, empty" in body["reason"]
    assert "inline" in body["reason"]
    inline = client.post("/__admin/tenants", json={"fixtures": {"extends": "/etc/passwd"}}).json()
    assert (inline["file"], inline["path"]) == ("inline", "extends")


def test_an_unknown_set_name_is_refused_without_looking_elsewhere(
    client: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A fixture-shaped file in the working directory is no set: only the fixtures directory is.
    (tmp_path / "stolen").write_text(yaml.safe_dump({"tenant": {"name": "stolen"}}))
    monkeypatch.chdir(tmp_path)
    for value in ("stolen", "no-such-set"):
        response = client.post("/__admin/tenants", json={"fixtures": value})
        assert response.status_code == 400
        assert response.json()["file"] == value
        assert "no fixture set" in response.json()["reason"]
        inline = client.post("/__admin/tenants", json={"fixtures": {"extends": value}})
        assert inline.status_code == 400
        assert inline.json()["path"] == "extends"


def test_set_names_and_inline_documents_still_work(client: Any) -> None:
    by_name = client.post("/__admin/tenants", json={"fixtures": "default"})
    assert by_name.status_code == 201
    assert by_name.json()["fixtures"] == "default"
    inline = client.post(
        "/__admin/tenants", json={"fixtures": {"extends": "demo", "tenant": {"name": "t"}}}
    )
    assert inline.status_code == 201, inline.text
    assert inline.json()["fixtures"] == "inline"
    none = client.post("/__admin/tenants", json={"fixtures": "none"})
    assert none.json()["fixtures"] == "none"
    # A reset reloads the same document, by the same rules.
    tenant_id = inline.json()["id"]
    reset = client.post(f"/__admin/tenants/{tenant_id}/reset")
    assert reset.status_code == 200
    assert reset.json()["fixtures"] == "inline"


def test_no_tenant_description_carries_a_server_path(client: Any) -> None:
    client.post("/__admin/tenants", json={"fixtures": "demo"})
    client.post("/__admin/tenants", json={"fixtures": {"tenant": {"name": "x"}}})
    listing = client.get("/__admin/tenants")
    assert {t["fixtures"] for t in listing.json()["tenants"]} == {"default", "demo", "inline"}
    assert_no_server_path(listing.text)


def test_a_stored_path_is_shown_as_the_file_name_only(client: Any) -> None:
    # Tenants stored before this change kept the path of their set.
    with new_session(client.app.state.engine) as session:
        tenant = session.get(Tenant, "default")
        tenant.fixtures_source = str(FIXTURES_DIR / "default.yaml")
        session.add(tenant)
        session.commit()
    described = client.get("/__admin/tenants/default")
    assert described.json()["fixtures"] == "default.yaml"
    assert_no_server_path(described.text)


def test_an_error_inside_a_named_set_names_the_set_not_its_file(
    make_client: Any, tmp_path: Path
) -> None:
    sets = tmp_path / "sets"
    sets.mkdir()
    (sets / "default.yaml").write_text("{}\n")
    (sets / "broken.yaml").write_text(yaml.safe_dump({"clock": {"frozen": "maybe"}}))
    (sets / "unparsable.yaml").write_text("tenant: [unclosed\n")
    client = make_client(fixtures_dir=sets)
    for name in ("broken", "unparsable"):
        response = client.post("/__admin/tenants", json={"fixtures": name})
        assert response.status_code == 400
        assert response.json()["file"] == name
        assert str(tmp_path) not in response.text


def test_the_operator_still_loads_files_by_path(make_client: Any, tmp_path: Path) -> None:
    world = tmp_path / "world.yaml"
    world.write_text(yaml.safe_dump({"extends": "default", "tenant": {"name": "ops"}}))
    client = make_client(fixtures=str(world))
    described = client.get("/__admin/tenants/default").json()
    assert described["fixtures"] == "world.yaml"
    assert client.post("/__admin/tenants/default/reset").status_code == 200
    # The CLI's validate takes paths too.
    document, source = fixtures.resolve(str(world), FIXTURES_DIR)
    assert source == str(world)
    fixtures.validate(document, source)


def test_a_named_set_may_extend_a_path_the_operator_wrote(make_client: Any, tmp_path: Path) -> None:
    base = tmp_path / "base.yaml"
    base.write_text(yaml.safe_dump({"tenant": {"name": "from-base"}}))
    sets = tmp_path / "sets"
    sets.mkdir()
    (sets / "default.yaml").write_text("{}\n")
    (sets / "team.yaml").write_text(json.dumps({"extends": str(base)}))
    client = make_client(fixtures_dir=sets)
    created = client.post("/__admin/tenants", json={"fixtures": "team"})
    assert created.status_code == 201, created.text
    assert created.json()["fixtures"] == "team"
    assert client.post(f"/__admin/tenants/{created.json()['id']}/reset").status_code == 200


def test_open_signup_cannot_read_files_either(make_client: Any) -> None:
    client = make_client(admin_token=TOKEN, open_signup=True)
    bodies = refused_bodies(client, ["/etc/passwd", "/etc/no-such-file", "/bin/true"], False)
    assert len(set(bodies)) == 1
    assert_no_server_path(bodies[0])
