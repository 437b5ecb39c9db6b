"""Operations, declared once per API: what the routes serve and what the journal, the fault rules,
the metrics and the docs call it.

Each API package declares an `OperationTable` in `simulator/<api>/operations.py` (its `ApiSpec`
carries it as `spec.operations`) and makes its routes through it (`table.route(router, name)`),
so no route exists without a declared operation and the operation of a request is known from the
route it matched: FastAPI and the fast lane (core/dispatch) both leave that route in
`scope["route"]`, and the table maps it to its operation with one dictionary lookup.

ClientToolbox serves all its operations on one route and tells them apart by a form field
(`type`): its operations carry that value as `call`, and its table reads the field through
`call_of(scope)` once its auth has parsed the form.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

# The journal's and metrics' operation of a request on a call-selected route whose call the API
# does not have (a made-up `type`): one label, however many values clients invent.
UNKNOWN_CALL = "unknown"
# ... and of a request no route served (a path or method the API does not have).
UNMATCHED = ""

METHODS = ("GET", "POST", "PUT", "DELETE", "PATCH")


@dataclass(frozen=True)
class Operation:
    """One operation of a real API, as the simulator serves it.

    `name`: the real API's name for it (Talon.One's operationId, capitalised as its docs write
    it; the ClientToolbox `type` value; CustomerGauge and ECDP, whose docs name none, by method
    and resource). `paths`: the route templates in FastAPI syntax. `call`: the form value that
    selects it on a shared route (ClientToolbox `type`). `aliases`: other names a fault rule or
    a journal filter may use for it.
    """

    api: str
    name: str
    method: str
    paths: tuple[str, ...]
    call: str | None = None
    aliases: tuple[str, ...] = ()
    summary: str = ""

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise ValueError(f"{self.name}: method {self.method!r} is not one of {METHODS}")
        if not self.paths or not all(path.startswith("/") for path in self.paths):
            raise ValueError(f"{self.name}: paths must be absolute templates")

    @property
    def names(self) -> tuple[str, ...]:
        """Every name that selects it, case-folded."""
        return tuple(name.casefold() for name in (self.name, *self.aliases))


@dataclass(frozen=True)
class CallRoute:
    """A route that serves several operations, one per value of a form field."""

    table: OperationTable


# What a route of an API serves: one operation, the calls of a CallRoute, or (None) nothing
# declared: a catch-all that answers, in the API's own words, paths the API does not have.
RouteEntry = Operation | CallRoute | None
_FALLBACK = object()  # recorded for catch-all routes: declared, but serving no operation


class OperationTable:
    """An API's operations and the routes made from them.

    `call_field` / `call_of` (ClientToolbox): the form field that selects the call, and how to
    read its value from a request's scope once the API's auth has parsed the form (None when it
    has not). `background`: names of work outside requests that fault rules may fail."""

    def __init__(
        self,
        api: str,
        operations: Iterable[Operation],
        call_field: str | None = None,
        call_of: Callable[[Any], str | None] | None = None,
        background: Iterable[str] = (),
    ) -> None:
        self.api = api
        self.operations = tuple(operations)
        self.call_field = call_field
        self.call_of = call_of
        # Work the API does outside any request that a fault rule may fail, by name
        # (CustomerGauge's stream worker: `stream.process`); never matched against requests.
        self.background = frozenset(name.casefold() for name in background)
        self._by_name: dict[str, tuple[Operation, ...]] = {}
        self._by_call: dict[str, Operation] = {}
        # id(route) -> what it serves (routes compare by value, so they are not dict keys)
        self._routes: dict[int, Any] = {}
        self.handled_calls: set[str] = set()
        for operation in self.operations:
            if operation.api != api:
                raise ValueError(f"{operation.name} is declared for {operation.api}, not {api}")
            if operation.name.casefold() in self._by_name:
                raise ValueError(f"{api}: the operation name {operation.name!r} is taken")
            self._by_name[operation.name.casefold()] = (operation,)
            if operation.call is not None:
                self._by_call[operation.call.casefold()] = operation
        for operation in self.operations:  # an alias may name several (CustomerGauge's lists)
            for alias in operation.names[1:]:
                named = self._by_name.get(alias, ())
                if any(alias == other.name.casefold() for other in named):
                    raise ValueError(f"{api}: the alias {alias!r} is another operation's name")
                self._by_name[alias] = (*named, operation)

    def __iter__(self) -> Iterator[Operation]:
        return iter(self.operations)

    def __len__(self) -> int:
        return len(self.operations)

    # --- names ----------------------------------------------------------------------------

    def select(self, name: str) -> tuple[Operation, ...]:
        """The operations a name or alias selects, case-insensitively (none: no such name)."""
        return self._by_name.get(name.casefold(), ())

    def find(self, name: str) -> Operation | None:
        """The one operation a name or alias selects; None for none or several."""
        selected = self.select(name)
        return selected[0] if len(selected) == 1 else None

    def named(self, name: str) -> Operation:
        operation = self.find(name)
        if operation is None or operation.name != name:
            raise KeyError(f"{self.api} declares no operation {name!r}")
        return operation

    def background_of(self, name: str) -> bool:
        """Whether `name` is work of this API outside requests (never a request's)."""
        return name.casefold() in self.background

    def for_call(self, call: str | None) -> Operation | None:
        return self._by_call.get(call.strip().casefold()) if call else None

    # --- making routes --------------------------------------------------------------------

    def route(self, router: Any, name: str, **options: Any) -> Callable[[Any], Any]:
        """Decorator: the endpoint serves `name` at each of its paths (`options` go to
        `router.add_api_route`)."""

        def register(endpoint: Any) -> Any:
            self.add_route(router, name, endpoint, **options)
            return endpoint

        return register

    def add_route(self, router: Any, name: str, endpoint: Any, **options: Any) -> None:
        operation = self.named(name)
        include = options.pop("include_in_schema", None)
        for path in operation.paths:
            shown = include(path) if callable(include) else (True if include is None else include)
            router.add_api_route(
                path,
                endpoint,
                methods=[operation.method],
                include_in_schema=shown,
                **options,
            )
            self._routes[id(router.routes[-1])] = operation

    def add_call_route(
        self,
        router: Any,
        endpoint: Any,
        handlers: Mapping[str, Any],
        methods: Iterable[str],
        **options: Any,
    ) -> None:
        """One route per path of the calls' operations, dispatching on `call_field`;
        `handlers` (call -> handler) is what the endpoint serves."""
        calls = [op for op in self.operations if op.call is not None]
        if not calls or self.call_field is None:
            raise ValueError(f"{self.api} declares no calls")
        self.handled_calls = {call.casefold() for call in handlers}
        include = options.pop("include_in_schema", None)
        entry = CallRoute(self)
        for path in dict.fromkeys(p for op in calls for p in op.paths):
            shown = include(path) if callable(include) else (True if include is None else include)
            router.add_api_route(
                path, endpoint, methods=list(methods), include_in_schema=shown, **options
            )
            self._routes[id(router.routes[-1])] = entry

    def add_fallback(self, router: Any, path: str, endpoint: Any, **options: Any) -> None:
        """A catch-all that answers what the API does not have in the API's own words; its
        requests are journaled as unmatched."""
        router.add_api_route(path, endpoint, **options)
        self._routes[id(router.routes[-1])] = _FALLBACK

    # --- resolving a request --------------------------------------------------------------

    def entry_of(self, route: Any) -> Operation | CallRoute | object | None:
        """What `route` was declared to serve (an Operation, a CallRoute or the fallback
        marker); None for a route this table did not make."""
        return self._routes.get(id(route))

    def operation_of(self, route: Any, scope: Any) -> Operation | None:
        """The operation a request that `route` matched asks for; None when it asks for none
        the API has (a catch-all, a method the route does not answer, an unknown call)."""
        entry = self._routes.get(id(route))
        if entry is None or entry is _FALLBACK or scope["method"] not in route.methods:
            return None
        if isinstance(entry, Operation):
            return entry
        return self.for_call(self.call_of(scope) if self.call_of is not None else None)

    def name_of(self, route: Any, scope: Any) -> str:
        """The journal's and metrics' operation: its name, UNKNOWN_CALL for a call the API
        does not have, UNMATCHED for no route."""
        entry = self._routes.get(id(route))
        if type(entry) is Operation and scope["method"] in route.methods:
            return entry.name  # the journal's every request: one lookup
        operation = self.operation_of(route, scope)
        if operation is not None:
            return operation.name
        entry = self._routes.get(id(route))
        if isinstance(entry, CallRoute) and scope["method"] in route.methods:
            return UNKNOWN_CALL
        return UNMATCHED

    # --- the nearest operation of a request the API does not have ---------------------------

    def nearest(self, method: str, path: str, call: str | None = None) -> Operation | None:
        """The declared operation most like `method path` (or, on a call route, like `call`):
        the template most like the path, its parameters standing for what the path has in
        their place; the same method breaks ties."""
        calls = [op for op in self.operations if op.call is not None]
        if call is not None and calls:
            return max(calls, key=lambda op: similarity(call.casefold(), op.call or ""))
        best, best_score = None, 0.0
        for operation in self.operations:
            for template in operation.paths:
                score = similarity(path, filled(template, path))
                score += 0.01 if operation.method == method else 0.0
                if score > best_score:
                    best, best_score = operation, score
        return best


def similarity(a: str, b: str) -> float:
    return difflib.SequenceMatcher(None, a, b, autojunk=False).ratio()


_PARAMETER = re.compile(r"\{[^}]+\}")


def filled(template: str, path: str) -> str:
    """`template` with each parameter replaced by the path's segment in its place (a `:path`
    parameter by the rest of the path), so parameters never count as differences."""
    template_parts = template.strip("/").split("/")
    path_parts = path.strip("/").split("/")
    out = []
    for index, part in enumerate(template_parts):
        if part.endswith(":path}") and _PARAMETER.fullmatch(part):
            out.append("/".join(path_parts[index:]) or part)
            break
        if _PARAMETER.search(part) and index < len(path_parts):
            out.append(path_parts[index])
        else:
            out.append(part)
    return "/" + "/".join(out)


# --- the coverage table ------------------------------------------------------------------------


def coverage_markdown(specs: Iterable[Any]) -> str:
    """Every simulated operation of each API (`ApiSpec`s), as a Markdown table: what
    docs/coverage.md holds (a test keeps the two equal) and `simulator coverage` prints."""
    lines = ["| API | operation | method | path | what it does |", "|---|---|---|---|---|"]
    for spec in specs:
        table = spec.operations
        for operation in table:
            paths = shown_paths(operation.paths)
            if operation.call is not None:
                paths += f" with `{table.call_field}={operation.call}`"
            lines.append(
                f"| {spec.title} | `{operation.name}` | {operation.method} | {paths} "
                f"| {operation.summary} |"
            )
    return "\n".join(lines) + "\n"


def shown_paths(paths: tuple[str, ...]) -> str:
    """Templates as the docs write them: `{name}` for any parameter, and a path served with
    `.json` and `.xml` twins written once."""
    plain = [_PARAMETER.sub(lambda m: "{" + m.group()[1:-1].split(":")[0] + "}", p) for p in paths]
    base = plain[0]
    if plain == [base, f"{base}.json", f"{base}.xml"]:
        return f"`{base}` (also `.json`, `.xml`)"
    return ", ".join(f"`{path}`" for path in plain)
