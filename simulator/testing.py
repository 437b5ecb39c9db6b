"""Use the simulator from a test suite: start one (or use a running one), give each test a tenant
of its own, and drive that tenant's journal, clock, faults and fixtures.

The pytest plugin (`simulator.pytest_plugin`, fixtures `simulator_server` and `simulator_tenant`)
is built on these classes; they work without pytest too:

    with SimulatorServer.start() as server:
        tenant = server.create_tenant("demo")
        tenant.ecdp.get("/customers/email/adam@example.com")
        tenant.delete()

Everything here talks to the simulator over HTTP (the admin API under /__admin), so it works the
same against a server this process started, a compose service or a shared sandbox. It needs
httpx (`pip install 'simulator[pytest]'`); nothing of the server is imported.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
from collections.abc import Generator, Iterable, Mapping
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

try:
    import httpx
except ImportError as exc:  # pragma: no cover - the `pytest` extra installs it
    raise ImportError("simulator.testing needs httpx: pip install 'simulator[pytest]'") from exc

if TYPE_CHECKING:
    import talon_one

APIS = ("customergauge", "clienttoolbox", "talonone", "ecdp")
ADMIN_TIMEOUT = 60.0  # a tenant with a large fixture set takes seconds to load
START_TIMEOUT = 30.0

# How many `simulator serve` processes this interpreter has started (a test can check that
# nothing started one it did not ask for).
servers_started = 0


class SimulatorError(Exception):
    """The admin API refused a call (status and body), or the server could not be started."""

    def __init__(self, message: str, status: int | None = None, body: Any = None) -> None:
        super().__init__(message)
        self.status, self.body = status, body


def checked(response: httpx.Response) -> Any:
    """The JSON of a 2xx answer (None when empty); SimulatorError naming the call otherwise."""
    if response.is_success:
        return response.json() if response.content else None
    try:
        body: Any = response.json()
    except ValueError:
        body = response.text
    request = response.request
    raise SimulatorError(
        f"{request.method} {request.url.path}: {response.status_code} {body}",
        response.status_code,
        body,
    )


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as probe:
        probe.bind((host, 0))
        return probe.getsockname()[1]


class SimulatorServer:
    """A simulator to create tenants on: one this process started (`start`), or one already
    running (`connect`: a compose service, a shared sandbox)."""

    def __init__(
        self,
        url: str,
        admin_token: str | None = None,
        process: subprocess.Popen[bytes] | None = None,
        workdir: Path | None = None,
    ) -> None:
        self.url = url.rstrip("/")
        self.admin_token = admin_token or None
        self.process = process
        self.workdir = workdir
        self._admin: httpx.Client | None = None

    # --- life cycle ------------------------------------------------------------------------

    @classmethod
    def connect(cls, url: str, admin_token: str | None = None) -> SimulatorServer:
        """A running simulator; SimulatorError if its health check does not answer 200."""
        server = cls(url, admin_token)
        try:
            response = httpx.get(f"{server.url}/__admin/health", timeout=10)
        except httpx.HTTPError as exc:
            raise SimulatorError(f"no simulator answers at {server.url}: {exc}") from None
        if response.status_code != 200:
            raise SimulatorError(
                f"the simulator at {server.url} is not healthy: {response.status_code} "
                f"{response.text}"
            )
        return server

    @classmethod
    def start(
        cls,
        workdir: Path | str | None = None,
        fixtures: str = "default",
        args: Iterable[str] = (),
        env: Mapping[str, str] | None = None,
        admin_token: str | None = None,
        timeout: float = START_TIMEOUT,
    ) -> SimulatorServer:
        """`simulator serve` on a free port of 127.0.0.1, its store an SQLite file in `workdir`
        (default: a new temporary folder), waited for until its health check answers.

        `admin_token`: the server's SIM_ADMIN_TOKEN (default: as the environment says), sent
        on every admin call. Its output goes to `workdir/simulator.log`, quoted in the error
        when it does not start within `timeout` seconds.
        """
        global servers_started
        folder = Path(workdir) if workdir is not None else Path(tempfile.mkdtemp("-simulator"))
        folder.mkdir(parents=True, exist_ok=True)
        environment = {**os.environ, **(env or {})}
        if admin_token is not None:
            environment["SIM_ADMIN_TOKEN"] = admin_token
        token = environment.get("SIM_ADMIN_TOKEN") or None
        log = folder / "simulator.log"
        for _attempt in range(3):  # a port another process took between the probe and the bind
            port = free_port()
            command = [
                sys.executable,
                "-m",
                "simulator",
                "serve",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--db",
                f"sqlite:///{folder / 'simulator.db'}",
                "--fixtures",
                fixtures,
                *args,
            ]
            with log.open("ab") as output:
                process = subprocess.Popen(
                    command, cwd=folder, env=environment, stdout=output, stderr=output
                )
            servers_started += 1
            server = cls(f"http://127.0.0.1:{port}", token, process, folder)
            if server.wait_until_healthy(timeout):
                return server
            if "already in use" not in log.read_text(errors="replace"):
                break
        server.stop()
        raise SimulatorError(
            f"simulator serve did not become healthy within {timeout} s; its output "
            f"({log}):\n{log.read_text(errors='replace')[-4000:]}"
        )

    def wait_until_healthy(self, timeout: float) -> bool:
        """True once GET /__admin/health answers 200; False if the process ended first or
        `timeout` passed (the process is then stopped)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                return False
            try:
                if httpx.get(f"{self.url}/__admin/health", timeout=1).status_code == 200:
                    return True
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
        self.stop()
        return False

    def stop(self) -> None:
        """Stop the process this object started (a connected server is left running)."""
        self.close()
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)

    def close(self) -> None:
        if self._admin is not None:
            self._admin.close()
            self._admin = None

    def __enter__(self) -> SimulatorServer:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # --- the admin API ---------------------------------------------------------------------

    @property
    def admin(self) -> httpx.Client:
        """A client of the admin API (with `Authorization: Bearer <token>` when one is set)."""
        if self._admin is None:
            headers = {"Authorization": f"Bearer {self.admin_token}"} if self.admin_token else {}
            self._admin = httpx.Client(base_url=self.url, headers=headers, timeout=ADMIN_TIMEOUT)
        return self._admin

    def create_tenant(
        self, fixtures: str | Mapping[str, Any] | Path | None = "default", name: str | None = None
    ) -> SimulatorTenant:
        """A new tenant with fresh credentials: `fixtures` a set's name (`default`, `demo`,
        `empty`), `None` (nothing), an inline document, or a local file (read here and sent
        as a document)."""
        body: dict[str, Any] = {"fixtures": fixtures_reference(fixtures)}
        if name:
            body["name"] = name[:200]
        return SimulatorTenant(self, checked(self.admin.post("/__admin/tenants", json=body)))


def fixtures_reference(fixtures: str | Mapping[str, Any] | Path | None) -> Any:
    """What POST /__admin/tenants takes: a set's name, a document, or nothing."""
    if fixtures is None:
        return "none"
    if isinstance(fixtures, Path):
        import yaml

        return yaml.safe_load(fixtures.read_text(encoding="utf-8")) or {}
    if isinstance(fixtures, Mapping):
        return dict(fixtures)
    return fixtures


class SimulatorTenant:
    """One tenant: its id, credentials and base URL, a client per API with its auth set, and
    its journal, clock, faults and fixtures."""

    def __init__(self, server: SimulatorServer, description: dict[str, Any]) -> None:
        self.server = server
        self.description = description
        self.id: str = description["id"]
        self.name: str = description["name"]
        self.credentials: dict[str, dict[str, str]] = description["credentials"]
        self.base_url = server.url
        self.clock = TenantClock(self)
        self.faults = TenantFaults(self)
        self._clients: dict[str, httpx.Client] = {}
        self._talonone_api: Any = None

    def __repr__(self) -> str:
        return f"<SimulatorTenant {self.id} at {self.base_url}>"

    def _admin_path(self, suffix: str = "") -> str:
        return f"/__admin/tenants/{urllib.parse.quote(self.id, safe='')}{suffix}"

    # --- API clients -----------------------------------------------------------------------

    def auth_headers(self, api: str) -> dict[str, str]:
        """The header an API's requests carry (ClientToolbox: none, its credentials are
        fields: `clienttoolbox_fields`)."""
        credentials = self.credentials[api]
        if api == "customergauge":
            return {"Authorization": f"api_key {credentials['api_key']}"}
        if api == "talonone":
            return {"Authorization": f"ApiKey-v1 {credentials['api_key']}"}
        if api == "ecdp":
            return {"x-api-key": credentials["api_key"]}
        if api == "clienttoolbox":
            return {}
        raise ValueError(f"unknown API {api!r} (one of {', '.join(APIS)})")

    def clienttoolbox_fields(self, **fields: Any) -> dict[str, str]:
        """The form fields of a ClientToolbox call: the credentials (and `API=1.5`), plus
        `fields` (given ones win)."""
        base = {"API": "1.5", **self.credentials["clienttoolbox"]}
        return {**base, **{key: str(value) for key, value in fields.items()}}

    def client(self, api: str) -> httpx.Client:
        """An httpx client of `api` for this tenant (closed with the tenant)."""
        if api not in self._clients:
            auth = (
                ClientToolboxAuth(self.clienttoolbox_fields()) if api == "clienttoolbox" else None
            )
            self._clients[api] = httpx.Client(
                base_url=self.base_url, headers=self.auth_headers(api), auth=auth, timeout=60
            )
        return self._clients[api]

    @property
    def customergauge(self) -> httpx.Client:
        """`Authorization: api_key K` on every request."""
        return self.client("customergauge")

    @property
    def clienttoolbox(self) -> httpx.Client:
        """Adds the credential fields (and `API=1.5`) to every form body or query that lacks
        them: `tenant.clienttoolbox.post("/api.php", data={"type": "campaigns_list"})`."""
        return self.client("clienttoolbox")

    @property
    def talonone(self) -> httpx.Client:
        """`Authorization: ApiKey-v1 K` on every request."""
        return self.client("talonone")

    @property
    def ecdp(self) -> httpx.Client:
        """`x-api-key: K` on every request."""
        return self.client("ecdp")

    @property
    def talonone_api(self) -> talon_one.IntegrationApi:
        """The official Python SDK's `IntegrationApi` (talon-one-sdk), configured for this
        tenant: host the simulator, `api_key_v1` with the `ApiKey-v1` prefix."""
        if self._talonone_api is None:
            try:
                import talon_one
            except ImportError:
                raise ImportError(
                    "talonone_api needs the official SDK: pip install talon-one-sdk"
                ) from None
            configuration = talon_one.Configuration(
                host=self.base_url,
                api_key={"api_key_v1": self.credentials["talonone"]["api_key"]},
                api_key_prefix={"api_key_v1": "ApiKey-v1"},
            )
            self._talonone_api = talon_one.IntegrationApi(talon_one.ApiClient(configuration))
        return self._talonone_api

    # --- journal, fixtures, life cycle -----------------------------------------------------

    def requests(
        self,
        api: str | None = None,
        operation: str | None = None,
        status: int | None = None,
        method: str | None = None,
        path: str | None = None,
        limit: int = 1000,
    ) -> list[dict[str, Any]]:
        """This tenant's journal entries, newest first, filtered as GET /__admin/requests
        filters (`path` a substring, `*` a wildcard; `operation` case-insensitive)."""
        params: dict[str, Any] = {"tenant": self.id, "limit": limit}
        given = {"api": api, "operation": operation, "status": status, "method": method}
        params.update({key: value for key, value in given.items() if value is not None})
        if path is not None:
            params["path"] = path
        entries = checked(self.server.admin.get("/__admin/requests", params=params))["requests"]
        if operation is not None:  # also where a server does not filter by it
            entries = [
                e for e in entries if str(e.get("operation", "")).lower() == operation.lower()
            ]
        return entries

    def clear_requests(self) -> int:
        """Forget this tenant's journal entries; how many there were."""
        return checked(self.server.admin.delete("/__admin/requests", params={"tenant": self.id}))[
            "deleted"
        ]

    def reset(self) -> dict[str, Any]:
        """Back to its fixtures (a set's file as it is now), clock included; journal and fault
        rules are kept."""
        self.description = checked(self.server.admin.post(self._admin_path("/reset")))
        return self.description

    def export(self) -> dict[str, Any]:
        """Its current state as a fixture document."""
        return checked(self.server.admin.get(self._admin_path("/fixtures")))

    def describe(self) -> dict[str, Any]:
        return checked(self.server.admin.get(self._admin_path()))

    def close(self) -> None:
        for client in self._clients.values():
            client.close()
        self._clients.clear()
        if self._talonone_api is not None:
            self._talonone_api.api_client.__exit__(None, None, None)
            self._talonone_api = None

    def delete(self) -> None:
        """Close its clients and delete it (with all its data, journal and fault rules)."""
        self.close()
        response = self.server.admin.delete(self._admin_path())
        if response.status_code != 404:
            checked(response)


class TenantClock:
    """The tenant's clock (PUT/GET /__admin/tenants/{id}/clock, POST .../clock/advance); each
    call returns the clock as the API shows it: {tenant, now, frozen, offsetSeconds}."""

    def __init__(self, tenant: SimulatorTenant) -> None:
        self.tenant = tenant

    def _path(self, suffix: str = "") -> str:
        return self.tenant._admin_path(f"/clock{suffix}")

    def get(self) -> dict[str, Any]:
        return checked(self.tenant.server.admin.get(self._path()))

    def now(self) -> datetime:
        """The tenant's current instant (timezone-aware)."""
        return datetime.fromisoformat(self.get()["now"].replace("Z", "+00:00"))

    def set(self, now: datetime | str | None = None, frozen: bool | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {}
        if now is not None:
            body["now"] = now.isoformat() if isinstance(now, datetime) else now
        if frozen is not None:
            body["frozen"] = frozen
        return checked(self.tenant.server.admin.put(self._path(), json=body))

    def freeze(self, at: datetime | str | None = None) -> dict[str, Any]:
        """Stop the clock, at `at` (an aware datetime or RFC 3339 text) or where it stands."""
        return self.set(at, frozen=True)

    def unfreeze(self) -> dict[str, Any]:
        """Let it run again from where it stands."""
        return self.set(frozen=False)

    def advance(
        self,
        delta: timedelta | None = None,
        *,
        seconds: float = 0,
        minutes: float = 0,
        hours: float = 0,
        days: float = 0,
    ) -> dict[str, Any]:
        """Move it forward (never back): `advance(days=30)` or `advance(timedelta(hours=2))`."""
        total = seconds + 60 * minutes + 3600 * hours + 86400 * days
        if delta is not None:
            total += delta.total_seconds()
        return checked(
            self.tenant.server.admin.post(self._path("/advance"), json={"seconds": total})
        )


class TenantFaults:
    """Fault rules scoped to the tenant (POST/GET/DELETE /__admin/faults with its id)."""

    def __init__(self, tenant: SimulatorTenant) -> None:
        self.tenant = tenant

    def add(
        self, rules: Mapping[str, Any] | Iterable[Mapping[str, Any]] | None = None, **rule: Any
    ) -> list[dict[str, Any]]:
        """Store rules (or profiles) for this tenant only; returns them as stored.

        `add(api="ecdp", error=503, count=2)`, `add({"profile": "flaky"})`, or a list of rules.
        A rule naming another tenant is refused (ValueError).
        """
        if rules is None:
            given: list[Mapping[str, Any]] = [rule]
        elif isinstance(rules, Mapping):
            given = [{**rules, **rule}]
        else:
            given = [{**item, **rule} for item in rules]
        scoped = []
        for item in given:
            if item.get("tenant") not in (None, self.tenant.id):
                raise ValueError(f"a rule of tenant {self.tenant.id} names {item['tenant']!r}")
            scoped.append({**item, "tenant": self.tenant.id})
        response = self.tenant.server.admin.post("/__admin/faults", json=scoped)
        return checked(response)["faults"]

    def list(self) -> list[dict[str, Any]]:
        """The tenant's rules, each with its `hits` and `matched` counts."""
        params = {"tenant": self.tenant.id}
        return checked(self.tenant.server.admin.get("/__admin/faults", params=params))["faults"]

    def clear(self) -> int:
        """Remove the tenant's rules; how many there were."""
        params = {"tenant": self.tenant.id}
        return checked(self.tenant.server.admin.delete("/__admin/faults", params=params))["deleted"]


class ClientToolboxAuth(httpx.Auth):
    """ClientToolbox's credentials are form fields: add those a request lacks to its
    urlencoded body (POST) or its query (GET and bodiless requests)."""

    requires_request_body = True
    FORM = "application/x-www-form-urlencoded"

    def __init__(self, fields: Mapping[str, str]) -> None:
        self.fields = dict(fields)

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        content_type = request.headers.get("content-type", "")
        if request.content and not content_type.startswith(self.FORM):
            yield request  # multipart or another body: sent as written
            return
        if not request.content and request.method in ("GET", "HEAD", "DELETE"):
            query = dict(urllib.parse.parse_qsl(request.url.query.decode(), keep_blank_values=True))
            missing = {k: v for k, v in self.fields.items() if k not in query}
            request.url = request.url.copy_merge_params(missing)
            yield request
            return
        form = urllib.parse.parse_qsl(request.content.decode(), keep_blank_values=True)
        present = {name for name, _ in form}
        form += [(k, v) for k, v in self.fields.items() if k not in present]
        headers = {k: v for k, v in request.headers.items() if k.lower() not in ("content-length",)}
        headers["content-type"] = self.FORM
        yield httpx.Request(
            request.method,
            request.url,
            headers=headers,
            content=urllib.parse.urlencode(form).encode(),
            extensions=request.extensions,
        )
