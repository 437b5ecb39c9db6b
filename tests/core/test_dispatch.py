"""The fast lane (core.dispatch) answers exactly what FastAPI's own routing answers."""

from __future__ import annotations

import asyncio
import json
import re

import pytest
from fastapi import APIRouter, Request
from fastapi.testclient import TestClient
from hypothesis import given, settings
from hypothesis import strategies as st
from starlette.datastructures import QueryParams
from starlette.requests import ClientDisconnect
from starlette.responses import Response

from simulator.core.dispatch import RouteTable, parse_query, plain_route, query_param, read_body
from simulator.core.formats import json_response
from simulator.core.registry import api_for_path, api_specs
from tests.conftest import DEFAULT_CREDENTIALS

TALON = {**DEFAULT_CREDENTIALS["talonone"], "Content-Type": "application/json"}
ECDP = DEFAULT_CREDENTIALS["ecdp"]
ITEM = {"name": "Shoe", "sku": "SKU-SHOE-1", "quantity": 1, "price": 20}
SESSION = {"customerSession": {"profileId": "lane-1", "cartItems": [ITEM]}}

REQUESTS = [
    ("PUT", "/v2/customer_sessions/lane-1", TALON, SESSION),
    ("GET", "/v2/customer_sessions/lane-1", TALON, None),
    ("GET", "/v2/customer_sessions/missing", TALON, None),
    ("GET", "/v2/customer_sessions/lane-1", {"Authorization": "ApiKey-v1 nope"}, None),
    ("PUT", "/v2/customer_sessions/lane-1", TALON, {"customerSession": {"state": "bogus"}}),
    ("DELETE", "/v2/customer_sessions/lane-1", TALON, None),  # no such method: 405
    ("GET", "/customers/email/nobody@example.com", ECDP, None),
    ("GET", "/customers/id/notanumber", ECDP, None),
    ("GET", "/customers/email/x@example.com", {"x-api-key": "wrong"}, None),
    ("POST", "/customers/email/x@example.com", ECDP, None),  # 405
    # reads that were FastAPI's (dependencies) until issue 25: answers, 404s, 400s, 401s
    ("GET", "/v1/loyalty_programs/3/cards/CARD-0001/points?sort=-expiryDate", TALON, None),
    ("GET", "/v1/loyalty_programs/1/profile/loyalty-demo-1/transactions?skip=-1", TALON, None),
    ("GET", "/v1/loyalty_programs/1/cards/CARD-0001/balances", TALON, None),  # not card-based
    ("GET", "/v1/customer_profiles/nobody/achievements", TALON, None),
    ("GET", "/v1/coupon_reservations/customerprofiles/WALLET-5", TALON, None),
    ("GET", "/v3/events/missing", TALON, None),
    ("GET", "/customerattributes", {"x-api-key": "wrong"}, None),
    ("GET", "/customerconsents", ECDP, None),
    # paths no route of the API has (answered by the lane since FastAPI walks every route for
    # them): 404 in the API's shape, whatever the method or the credentials
    ("GET", "/v1/loyalty_cards/x/balances", TALON, None),
    ("POST", "/v2/customer_sessions/lane-1/nothing", TALON, SESSION),
    ("DELETE", "/v1/customer_profiles", {}, None),
    ("GET", "/customers/email", ECDP, None),
    ("GET", "/customers/email/x@example.com/more", {"x-api-key": "wrong"}, None),
    ("GET", "/customers/email/x@example.com/more", ECDP, None),
    ("GET", "/v4.1/nothing/at/all", {}, None),
    ("POST", "/api/1.5/nothing", {}, None),
    # a trailing slash too many or too few: FastAPI's answer (a redirect or a 404), not the lane's
    ("GET", "/v2/customer_sessions/lane-1/", TALON, None),
    ("GET", "/customerattributes/", ECDP, None),
]


def answers(client: TestClient, run: str) -> list[tuple[int, str, bytes]]:
    """The answers to REQUESTS, each session id suffixed with `run` (both apps share a store)."""
    result = []
    for method, path, headers, body in REQUESTS:
        path = path.replace("lane-1", f"lane-1-{run}")
        if body is not None:
            body = json.loads(json.dumps(body).replace("lane-1", f"lane-1-{run}"))
        response = client.request(method, path, headers=headers, json=body)
        result.append(
            (response.status_code, response.headers.get("content-type", ""), response.content)
        )
    return result


def without_volatile(answer: list[tuple[int, str, bytes]]) -> list:
    """Without what differs between the runs: instants, store ids, ids drawn from the session."""
    cleaned = []
    for status, content_type, body in answer:
        try:
            data = json.loads(body)
        except ValueError:
            cleaned.append((status, content_type, body))
            continue
        text = json.dumps(data)
        for run in ("fast", "slow"):
            text = text.replace(f"lane-1-{run}", "lane-1")
        text = re.sub(r'"transactionUUID":"[^"]*"', '"transactionUUID":""', text.replace(" ", ""))
        data = json.loads(text)
        if isinstance(data, dict) and "customerSession" in data:
            session = data["customerSession"]
            for key in ("created", "updated", "id"):
                session.pop(key, None)
        cleaned.append((status, content_type, data))
    return cleaned


@pytest.mark.parametrize("switched_off", [False, True], ids=["lane steps aside", "SIM_FAST_LANE=0"])
def test_fast_lane_and_fastapi_give_the_same_answers(make_client, switched_off: bool) -> None:
    fast = make_client()
    if switched_off:
        slow = make_client(fast_lane=False)  # no lane at all: every request through FastAPI
    else:
        slow = make_client()
        slow.app.state.route_count = -1  # the lane steps aside: every request through FastAPI
    fast_answers = answers(fast, "fast")
    assert without_volatile(fast_answers) == without_volatile(answers(slow, "slow"))
    statuses = [status for status, _, _ in fast_answers]
    assert statuses[:10] == [200, 200, 404, 401, 400, 405, 404, 400, 401, 405]
    assert statuses[10:18] == [200, 400, 400, 404, 200, 404, 401, 200]
    assert statuses[18:26] == [404, 404, 404, 404, 401, 404, 404, 404]  # ECDP: the key first


def read_paths() -> list[tuple[str, str]]:
    """(API, a path of it) for each read operation (GET) of every API's registry, its path
    parameters filled in."""
    return [
        (spec.name, re.sub(r"\{[^}]*\}", "x1", operation.paths[0]))
        for spec in api_specs()
        for operation in spec.operations
        if operation.method == "GET"
    ]


def test_hot_endpoints_take_the_fast_lane() -> None:
    table = RouteTable(api_specs())
    assert table.find("talonone", "GET", "/v2/customer_sessions/abc") is not None
    assert table.find("talonone", "PUT", "/v2/customer_sessions/abc") is not None
    plain, params = table.find("ecdp", "GET", "/customers/email/a/b@example.com")
    assert params == {"email": "a/b@example.com"}
    assert table.find("ecdp", "POST", "/customers") is not None
    assert table.find("customergauge", "GET", "/v4.1/lists/unsubscribe.json") is not None
    # every read operation of every API is a plain endpoint (issue 25: every read at half the
    # bare stack or better; FastAPI's routing and dependencies cost more than these reads)
    for api, path in read_paths():
        assert table.find(api, "GET", path) is not None, path
    # a route with dependencies, and the reopen path, stay with FastAPI
    assert table.find("talonone", "PUT", "/v2/customer_sessions/abc/reopen") is None
    assert table.find("talonone", "DELETE", "/v1/customer_data/abc") is None
    assert table.find("talonone", "DELETE", "/v2/customer_sessions/abc") is None


def every_route_in_turn(table: RouteTable, api: str, method: str, path: str) -> object:
    """What `find` answered before its index: every route of the API tried in FastAPI's order."""
    for route, plain in table.by_api[api]:
        if plain is None:
            if route.path_regex.match(path) and method in (route.methods or ()):
                return None
            continue
        params = plain.match(path)
        if params is not None and method in plain.methods:
            return plain, params
    return None


def test_the_index_by_path_head_finds_what_trying_every_route_finds() -> None:
    table = RouteTable(api_specs())
    paths = ["/", "/v1", "/v1/", "/nothing/here", "/customers/email/a/b@example.com"]
    for routes in table.by_api.values():
        for route, _plain in routes:
            # each route's own path with its parameters filled in, and near misses of it
            filled = re.sub(r"\{[^}]*\}", "x", route.path)
            paths += [filled, filled + "/", filled + "/extra", filled.replace("/v", "/w", 1)]
    for api in table.by_api:
        for path in paths:
            for method in ("GET", "PUT", "POST", "DELETE", "PATCH"):
                expected = every_route_in_turn(table, api, method, path)
                assert table.find(api, method, path) == expected, (api, method, path)


def test_routes_nothing_is_what_trying_every_route_for_any_method_finds() -> None:
    """A path is unrouted only when no route of its API matches it or its trailing-slash twin
    (FastAPI redirects to that one), whatever the method."""
    table = RouteTable(api_specs())
    samples = ["/v1/loyalty_cards/x/balances", "/v2/customer_sessions/x/", "/customers/", "/"]
    for routes in table.by_api.values():
        for route, _plain in routes:
            filled = re.sub(r"\{[^}]*\}", "x", route.path)
            samples += [filled, filled + "/", filled + "/extra", filled.rstrip("/") + "x"]
    for api, routes in table.by_api.items():
        for path in samples:
            twin = path[:-1] if path.endswith("/") else path + "/"
            matched = any(r.path_regex.match(p) for r, _plain in routes for p in (path, twin))
            assert table.routes_nothing(api, path) is not matched, (api, path)


def test_only_an_apis_own_routes_lie_under_its_paths(client: TestClient) -> None:
    """What lets the fast lane answer an API path no route of the API matches with the 404
    FastAPI would give: no other route of the app (admin, docs, inspector) could match it."""
    own = {id(route) for spec in api_specs() for router in spec.routers for route in router.routes}
    others = []
    for entry in client.app.router.routes:
        original = getattr(entry, "original_router", None)
        others += list(original.routes) if original is not None else [entry]
    others = [route for route in others if id(route) not in own]
    assert others, "the admin API's routes at least"
    samples = [path for _api, path in read_paths()] + ["/v1/x", "/customers/x", "/v4.1/x"]
    for route in others:
        assert api_for_path(route.path) is None, route.path
        assert not any(route.path_regex.match(path) for path in samples), route.path


def test_only_plain_endpoints_qualify() -> None:
    router = APIRouter()

    @router.get("/a/{x}")
    async def plain(x: str, request: Request) -> Response:
        return json_response({"x": x})

    @router.get("/b/{x}")
    async def typed(x: int, request: Request) -> Response:
        return json_response({"x": x})

    @router.get("/c")
    async def untyped(request: Request):
        return {"x": 1}

    @router.get("/d")
    def blocking(request: Request) -> Response:
        return json_response({})

    plain_one, typed_one, untyped_one, blocking_one = router.routes
    assert plain_route(plain_one) is not None
    assert plain_route(typed_one) is None  # FastAPI validates the int
    assert plain_route(untyped_one) is None  # FastAPI serialises the return value
    assert plain_route(blocking_one) is None  # FastAPI runs it in its threadpool


def test_a_route_added_after_start_wins_as_in_fastapi(client: TestClient) -> None:
    router = APIRouter()

    @router.get("/v2/customer_sessions/{customerSessionId}")
    async def shadow(customerSessionId: str, request: Request) -> Response:
        return json_response({"shadowed": customerSessionId})

    client.app.router.routes[:0] = router.routes
    response = client.get("/v2/customer_sessions/x", headers=TALON)
    assert response.json() == {"shadowed": "x"}


def test_read_body_joins_the_chunks_and_keeps_them_for_later_reads() -> None:
    def request_of(messages: list[dict]) -> Request:
        queue = list(messages)

        async def receive() -> dict:
            return queue.pop(0)

        return Request({"type": "http", "method": "PUT", "headers": []}, receive)

    async def scenario() -> tuple[bytes, bytes, bytes]:
        chunked = request_of(
            [
                {"type": "http.request", "body": b"ab", "more_body": True},
                {"type": "http.request", "body": b"", "more_body": True},
                {"type": "http.request", "body": b"cd", "more_body": False},
            ]
        )
        whole = await read_body(chunked)
        again = await chunked.body()  # Starlette's own read sees the same bytes
        single = await read_body(request_of([{"type": "http.request", "body": b"x"}]))
        return whole, again, single

    assert asyncio.run(scenario()) == (b"abcd", b"abcd", b"x")
    gone = request_of([{"type": "http.disconnect"}])
    with pytest.raises(ClientDisconnect):
        asyncio.run(read_body(gone))


QUERY_PIECES = st.sampled_from(
    [
        "&",
        "=",
        "+",
        "%",
        "%2",
        "%20",
        "%3D",
        "%26",
        "%zz",
        "%C3%A9",
        "%FF",
        ";",
        "a",
        "dry",
        "é",
        " ",
    ]
)


@settings(max_examples=500, deadline=None)
@given(st.lists(QUERY_PIECES, max_size=12).map("".join))
def test_the_query_is_read_as_starlette_reads_it(text: str) -> None:
    """query_param answers what `request.query_params.get` answers, for any query string."""
    raw = text.encode("utf-8")
    assert parse_query(raw) == dict(QueryParams(raw))


def test_query_param_answers_each_names_last_value() -> None:
    scope = {"type": "http", "query_string": b"dry=false&silent=yes&dry=true&empty&x=%41+b"}
    request = Request(scope)
    assert [query_param(request, name) for name in ("dry", "silent", "empty", "x", "no")] == [
        "true",
        "yes",
        "",
        "A b",
        None,
    ]
    assert query_param(Request({"type": "http", "query_string": b""}), "dry") is None
