"""What a user must see for any request: never a 5xx, and every error in the native shape of
the API that owns the path (the admin API's plain JSON `{"error": ...}` under /__admin)."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import unquote

import xmltodict

from simulator.core.registry import api_for_path
from tests.fuzz.hostile import Probe


def send(client: Any, probe: Probe) -> Any:
    url = probe.path + (f"?{probe.query}" if probe.query else "")
    headers = {name: value.encode("latin-1") for name, value in probe.headers.items()}
    return client.request(
        probe.method, url, headers=headers, content=probe.body, follow_redirects=False
    )


def owner(response: Any) -> str:
    """The API owning the path the server saw (a client may normalise `..` away)."""
    path = unquote(response.request.url.raw_path.decode("ascii").split("?", 1)[0])
    spec = api_for_path(path)
    return spec.name if spec is not None else "admin"


def problem_of(response: Any, api: str) -> str | None:
    """What is wrong with the answer, or None when it is one a user may see."""
    status = response.status_code
    if status >= 500:
        return f"{status} from {api}: {response.text[:300]}"
    if status < 400:
        return None
    try:
        check = SHAPES[api]
        check(response)
    except Exception as exc:  # any parse or shape failure is the finding
        return f"{status} not in {api}'s error shape ({exc!r}): {response.text[:300]}"
    return None


def talonone_shape(response: Any) -> None:
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert isinstance(body["message"], str)
    assert isinstance(body["errors"], list)
    for item in body["errors"]:
        assert isinstance(item["title"], str) and isinstance(item["details"], str)
    assert body["StatusCode"] == response.status_code


def ecdp_shape(response: Any) -> None:
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert body["status"] == response.status_code
    for key in ("type", "title", "detail", "instance"):
        assert isinstance(body[key], str), key


def customergauge_shape(response: Any) -> None:
    path = response.request.url.path
    if path == "/oauth2/token" and "error" in response.json():  # RFC 6749's own error shape
        body = response.json()
        assert isinstance(body["error"], str) and isinstance(body["error_description"], str)
        return  # what no token handler answers (413, a fault, NUL) is CustomerGauge's shape
    if response.headers["content-type"].startswith("application/xml"):
        error = xmltodict.parse(response.text)["Error"]
    else:
        error = response.json()["Error"]
    assert isinstance(error["Message"], str) and error["Message"]
    assert str(error["Code"]).isdigit()


def clienttoolbox_shape(response: Any) -> None:
    media = response.headers["content-type"]
    text = response.text
    if media.startswith("application/xml"):
        root = xmltodict.parse(text)["response"]
        assert root["@status"] == "error" and root["error"]
        return
    if media.startswith("application/javascript"):
        text = text[text.index("(") + 1 : text.rindex(")")]
    body = json.loads(text)
    assert body["status"] == "error" and body["error"]


def admin_shape(response: Any) -> None:
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert isinstance(body["error"], str) and body["error"]


SHAPES = {
    "talonone": talonone_shape,
    "ecdp": ecdp_shape,
    "customergauge": customergauge_shape,
    "clienttoolbox": clienttoolbox_shape,
    "admin": admin_shape,
}
