"""What the simulator takes from FastAPI's, Starlette's and uvicorn's internals, checked.

The fast lane (core/dispatch, docs/adr/0001-fast-lane.md) calls plain endpoints without
FastAPI's routing, so it reads routes the way Starlette matches them and reads a body the way
`Request.body()` keeps it; the socket faults (server.FaultHttpProtocol) extend uvicorn's
httptools protocol and tell its request cycle the client is gone, and the one-write transport
(server.OneWriteTransport) counts its requests in flight. None of that is public API:
pyproject.toml pins the three libraries to the minor versions it was built on, and each test
here names the internal it checks, so an upgrade that moves one fails here, loudly, before a
request misbehaves.
"""

from __future__ import annotations

import inspect
from importlib.metadata import version

import pytest
from fastapi import FastAPI, Request
from fastapi.routing import APIRoute
from starlette.requests import ClientDisconnect
from starlette.responses import Response


def source_of(owner: object) -> str:
    return inspect.getsource(owner)  # type: ignore[arg-type]


def requires(condition: bool, internal: str, why: str) -> None:
    assert condition, f"{internal} changed: {why} (see tests/architecture/test_internals.py)"


@pytest.mark.parametrize(
    ("distribution", "minor"), [("fastapi", "0.165"), ("starlette", "1.10"), ("uvicorn", "0.55")]
)
def test_the_installed_minor_version_is_the_pinned_one(distribution: str, minor: str) -> None:
    installed = version(distribution)
    requires(
        installed == minor or installed.startswith(minor + "."),
        f"{distribution} {installed}",
        f"the internals below were checked on {minor}.x; check them again, then move the pin",
    )


# --- the fast lane (core/dispatch) ---------------------------------------------------------


async def plain(request: Request, item: str) -> Response:
    return Response()


def test_an_api_route_has_what_the_fast_lane_matches_with() -> None:
    route = APIRoute("/things/{item}", plain, methods=["GET"])
    for name in ("endpoint", "methods", "dependencies", "path_regex", "param_convertors"):
        requires(hasattr(route, name), f"APIRoute.{name}", "the fast lane reads it (plain_route)")
    requires(route.methods == {"GET"}, "APIRoute.methods", "a set of method names")
    requires(
        route.path_regex.match("/things/a") is not None,
        "APIRoute.path_regex",
        "a compiled pattern matched against the path",
    )
    convertor = route.param_convertors.get("item")
    requires(
        convertor is not None and convertor.convert("a") == "a",
        "APIRoute.param_convertors[name].convert",
        "the fast lane converts path parameters with it",
    )


def test_the_app_keeps_its_routes_and_exception_handlers_where_the_fast_lane_looks() -> None:
    app = FastAPI()
    app.add_api_route("/x", plain, methods=["GET"])
    requires(
        isinstance(app.router.routes, list) and len(app.router.routes) > 0,
        "FastAPI.router.routes",
        "the fast lane steps aside when its length changes",
    )
    requires(
        isinstance(app.exception_handlers, dict),
        "FastAPI.exception_handlers",
        "error_response looks the handler up by exception class",
    )


def test_a_request_keeps_its_body_where_read_body_puts_it() -> None:
    body = source_of(Request.body)
    requires("_body" in body, "Request._body", "Request.body() returns what read_body stored")
    stream = source_of(Request.stream)
    requires(
        "_stream_consumed" in stream,
        "Request._stream_consumed",
        "read_body marks the stream consumed as Request.stream() does",
    )
    requires(
        isinstance(inspect.getattr_static(Request, "receive"), property),
        "Request.receive",
        "read_body receives the body's messages through it",
    )
    requires(issubclass(ClientDisconnect, Exception), "starlette ClientDisconnect", "raised on it")


# --- the socket faults (server.FaultHttpProtocol) ------------------------------------------


def test_uvicorns_httptools_protocol_has_what_the_socket_faults_use() -> None:
    from uvicorn.protocols.http import httptools_impl

    protocol = httptools_impl.HttpToolsProtocol
    hook = getattr(protocol, "on_headers_complete", None)
    requires(
        hook is not None and list(inspect.signature(hook).parameters) == ["self"],
        "HttpToolsProtocol.on_headers_complete(self)",
        "FaultHttpProtocol puts the ConnectionControl in the scope there",
    )
    source = source_of(protocol)
    for attribute in ("self.scope", "self.transport", "self.cycle"):
        requires(
            attribute in source,
            f"HttpToolsProtocol.{attribute.removeprefix('self.')}",
            "ConnectionControl reads it",
        )
    cycle = source_of(httptools_impl.RequestResponseCycle)
    for attribute in ("self.scope", "self.disconnected"):
        requires(
            attribute in cycle,
            f"RequestResponseCycle.{attribute.removeprefix('self.')}",
            "ConnectionControl._detach marks the client gone through it",
        )


def test_uvicorns_httptools_protocol_has_what_the_one_write_transport_uses() -> None:
    from uvicorn.protocols.http import httptools_impl

    protocol = httptools_impl.HttpToolsProtocol
    requires(
        list(inspect.signature(protocol.connection_made).parameters) == ["self", "transport"],
        "HttpToolsProtocol.connection_made(self, transport)",
        "OneWriteHttpProtocol hands it the OneWriteTransport there",
    )
    source = source_of(protocol)
    requires(
        "self.tasks = server_state.tasks" in source and "self.tasks.discard" in source,
        "HttpToolsProtocol.tasks",
        "OneWriteTransport counts the requests in flight in it (one task each, until done)",
    )
    cycle = source_of(httptools_impl.RequestResponseCycle)
    requires(
        "self.transport.write(" in cycle,
        "RequestResponseCycle.transport.write",
        "an answer is written through the connection's transport",
    )


def test_the_server_uses_the_fault_protocol_writing_each_answer_once() -> None:
    from simulator.server import FaultHttpProtocol, OneWriteHttpProtocol, http_protocol

    requires(FaultHttpProtocol is not None, "uvicorn httptools_impl", "httptools is installed")
    assert http_protocol() is OneWriteHttpProtocol
    assert issubclass(OneWriteHttpProtocol, FaultHttpProtocol)
    assert http_protocol(one_write=False) is FaultHttpProtocol
