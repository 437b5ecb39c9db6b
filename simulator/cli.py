"""The `simulator` command."""

from __future__ import annotations

import argparse
import contextlib
import gc
import os
import sys
from collections.abc import Iterator
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from fastapi import FastAPI
    from sqlalchemy.engine import Engine

    from simulator.config import Settings


def banner(settings: Settings) -> str:
    base = f"http://{settings.host}:{settings.port}"
    return "\n".join(
        [
            f"API simulator listening on {base}  (store: {shown_url(settings.database_url)})",
            f"  admin:          {base}/__admin/health",
            f"  inspector:      {base}/__admin/ui/",
            f"  {admin_protection(settings)}",
            "  default tenant credentials:",
            f"    CustomerGauge  Authorization: api_key {settings.default_customergauge_api_key}",
            f"    ClientToolbox  user_id={settings.default_clienttoolbox_user_id}"
            f" user_api_key={settings.default_clienttoolbox_user_api_key}"
            f" account_id={settings.default_clienttoolbox_account_id}",
            f"    Talon.One      Authorization: ApiKey-v1 {settings.default_talonone_api_key}",
            f"    ECDP           x-api-key: {settings.default_ecdp_api_key}",
        ]
    )


def admin_protection(settings: Settings) -> str:
    """One line: who may use the admin API (never the token itself)."""
    if not settings.admin_token:
        return (
            "admin API: OPEN (no SIM_ADMIN_TOKEN): whoever reaches this port may create, "
            "read, reset and delete every tenant"
        )
    line = "admin API: protected by SIM_ADMIN_TOKEN (Authorization: Bearer <token>)"
    if settings.open_signup:
        line += "; open sign-up: POST /__admin/tenants without it"
    return line


def refusal(settings: Settings) -> str | None:
    """Why these settings must not serve, in one line (or None)."""
    if settings.open_signup and not settings.admin_token:
        return (
            "SIM_OPEN_SIGNUP=true needs SIM_ADMIN_TOKEN: without a token the whole admin API "
            "would be open to whoever signs up"
        )
    return None


def export_env(args: argparse.Namespace) -> None:
    """CLI options become SIM_* variables, so every worker process sees the same settings."""
    mapping = {
        "host": "SIM_HOST",
        "port": "SIM_PORT",
        "db": "SIM_DATABASE_URL",
        "fixtures": "SIM_FIXTURES",
        "faults": "SIM_FAULTS",
        "seed": "SIM_SEED",
        "workers": "SIM_WORKERS",
    }
    for name, variable in mapping.items():
        value = getattr(args, name, None)
        if value is not None:
            os.environ[variable] = str(value)


def prepare(settings: Settings) -> None:
    """Schema and default tenant, once, before any worker process starts."""
    from simulator.app import prepare_store
    from simulator.core.db import make_engine

    engine = make_engine(settings.database_url)
    try:
        prepare_store(engine, settings)
    finally:
        engine.dispose()


@contextlib.contextmanager
def collector_paused() -> Iterator[None]:
    """No cyclic garbage collection while the code is imported; what it built is frozen after.

    Importing the server creates some 200,000 objects that live as long as the process
    (modules, classes, tables, routes, schemas) and almost no garbage, and every collection on
    the way scans them all again: about a sixth of a second of a start. Frozen (`gc.freeze`),
    later collections skip them. The few cycles dropped meanwhile stay allocated, so this
    covers imports only: what loading fixtures drops (a generated document may be large) is
    collected as usual.
    """
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        gc.enable()


def load_code() -> None:
    """Import what serving needs: every API package (tables, routes, handlers) and uvicorn.

    Not the fixture modules: they are imported when a document is loaded (a new store's).
    """
    import uvicorn  # noqa: F401

    import simulator.app  # noqa: F401
    import simulator.models_index  # noqa: F401
    import simulator.server  # noqa: F401
    from simulator.core.registry import api_specs

    api_specs()


def serve(args: argparse.Namespace) -> int:
    export_env(args)
    with collector_paused():
        settings = fresh_settings()
        problem = port_problem(settings.host, settings.port)
        if problem is not None:
            print(f"simulator: cannot start: {problem}", file=sys.stderr)
            return 2
        load_code()
    try:
        app = start(settings)
    except CannotStart as exc:
        print(f"simulator: cannot start: {exc}", file=sys.stderr)
        return 2
    import uvicorn

    from simulator.server import http_protocol

    print(banner(settings), flush=True)
    if not isinstance(app, str):  # several workers set theirs in the factory
        from simulator.app import collect_for_serving

        collect_for_serving()
    uvicorn.run(
        app,
        factory=isinstance(app, str),
        host=settings.host,
        port=settings.port,
        workers=settings.workers if settings.workers > 1 else None,
        log_level="warning",
        log_config=None,
        access_log=False,
        loop="auto",
        http=http_protocol(settings.one_write),
        # X-Forwarded-For names the client only behind the proxies the operator lists.
        proxy_headers=settings.forwarded_allow_ips is not None,
        forwarded_allow_ips=settings.forwarded_allow_ips,
        ws="none",  # no API speaks WebSocket: its protocol module is not even imported
    )
    return 0


def port_problem(host: str, port: int) -> str | None:
    """Why `host:port` cannot be listened on (in use, not allowed, no such address), in one
    line, or None. Bound the way uvicorn binds it, then released for uvicorn."""
    import errno
    import socket

    try:
        addresses = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except (socket.gaierror, UnicodeError, OverflowError) as exc:
        return f"--host {host!r} is not an address to listen on ({exc}): set --host or SIM_HOST"
    family, kind, _, _, address = addresses[0]
    with socket.socket(family, kind) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                return (
                    f"port {port} on {host} is already in use (another simulator?): choose "
                    "another with --port or SIM_PORT, or stop what holds it"
                )
            return f"cannot listen on {host}:{port} ({exc.strerror}): set --port/SIM_PORT or --host/SIM_HOST"
    return None


def shown_url(url: str) -> str:
    """A database URL as printed: its password masked."""
    try:
        from sqlalchemy.engine import make_url

        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # not a URL at all: nothing in it to hide that we could find
        return url


def open_store(url: str) -> Engine:
    """The engine of `url`, or CannotStart with one line saying what is wrong with it (not a
    URL, an unknown or missing driver, a path that cannot be created)."""
    import errno

    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    from simulator.core.db import make_engine

    where = "--db/SIM_DATABASE_URL"
    forms = "sqlite:///PATH or postgresql://USER@HOST:5432/DATABASE"
    try:
        backend = make_url(url).get_backend_name()
    except ArgumentError:
        raise CannotStart(f"{where} {url!r} is not a database URL ({forms})") from None
    if backend not in ("sqlite", "postgresql"):
        raise CannotStart(f"{where} {shown_url(url)}: {backend} is not supported ({forms})")
    try:
        return make_engine(url)
    except ArgumentError as exc:  # NoSuchModuleError too: a driver SQLAlchemy does not know
        raise CannotStart(f"{where} {shown_url(url)}: {exc} ({forms})") from None
    except ImportError as exc:
        hint = " (pip install 'simulator[postgres]')" if "psycopg" in str(exc) else ""
        raise CannotStart(
            f"--db/SIM_DATABASE_URL {shown_url(url)}: its driver is not installed: {exc}{hint}"
        ) from None
    except OSError as exc:
        if exc.errno in (errno.EEXIST, errno.ENOTDIR):
            why = f"{exc.filename} is a file, not a folder"
        else:
            why = f"{exc.strerror or exc}: {exc.filename or ''}"
        raise CannotStart(
            f"{where} {shown_url(url)}: cannot create the store there ({why})"
        ) from None


def sqlite_file_missing(url: str) -> str | None:
    """The path of an SQLite store that does not exist (a read would create an empty one)."""
    from pathlib import Path

    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        parsed = make_url(url)
    except ArgumentError:
        return None  # open_store says what is wrong with it
    path = parsed.database
    if parsed.get_backend_name() != "sqlite" or not path or path == ":memory:":
        return None
    return None if Path(path).exists() else path


def unreachable(url: str, exc: Exception) -> CannotStart:
    """A store that would not open or answer: which, and the driver's first line of why."""
    detail = str(getattr(exc, "orig", None) or exc).strip().splitlines()
    return CannotStart(
        f"--db/SIM_DATABASE_URL {shown_url(url)}: the database cannot be used: "
        f"{detail[0] if detail else type(exc).__name__}"
    )


def fresh_settings() -> Settings:
    """The settings `create_app` reads (`get_settings`), from the SIM_* variables as they are now."""
    from simulator.config import get_settings

    get_settings.cache_clear()
    return get_settings()


class CannotStart(Exception):
    """The settings, the store or the --faults file refuse the start (the message says why)."""


def start(settings: Settings) -> FastAPI | str:
    """Prepare the store and load the --faults rules; then the app to serve (or the factory's
    import path, for several workers). Raises CannotStart.

    With one worker the app is built here, on the engine that prepared the store (so nothing
    is done twice), and served by this process. Several workers each build theirs (uvicorn's
    factory, in processes of their own).
    """
    from sqlalchemy.exc import DBAPIError

    from simulator.app import create_app, prepare_store
    from simulator.core import logs
    from simulator.core.fixtures import FixtureError
    from simulator.core.schema import SchemaTooNew
    from simulator.server import load_faults

    reason = refusal(settings)
    if reason is not None:
        raise CannotStart(reason)
    logs.configure(settings.log_format)
    engine = open_store(settings.database_url)
    try:
        prepare_store(engine, settings)
    except (FixtureError, SchemaTooNew, RuntimeError) as exc:
        engine.dispose()
        raise CannotStart(str(exc)) from exc
    except DBAPIError as exc:
        engine.dispose()
        raise unreachable(settings.database_url, exc) from None
    try:
        load_faults(settings.faults, settings.database_url)
    except (OSError, ValueError) as exc:
        engine.dispose()
        raise CannotStart(f"faults: {exc}") from exc
    if settings.workers > 1:
        engine.dispose()
        return "simulator.app:create_app_from_env"
    return create_app(settings, engine, prepared=True)


def worker(args: argparse.Namespace) -> int:
    """The CustomerGauge stream worker as its own process (servers beside it: SIM_RUN_WORKER=false)."""
    import asyncio

    from sqlalchemy.exc import DBAPIError

    from simulator.core import logs
    from simulator.customergauge.worker import run_worker_forever

    export_env(args)
    settings = fresh_settings()
    logs.configure(settings.log_format)
    try:
        open_store(settings.database_url).dispose()
        prepare(settings)
        engine = open_store(settings.database_url)
    except CannotStart as exc:
        print(f"simulator: cannot start the worker: {exc}", file=sys.stderr)
        return 2
    except DBAPIError as exc:
        print(
            f"simulator: cannot start the worker: {unreachable(settings.database_url, exc)}",
            file=sys.stderr,
        )
        return 2
    except (RuntimeError, ValueError) as exc:
        print(f"simulator: cannot start the worker: {exc}", file=sys.stderr)
        return 2
    print(f"stream worker on {shown_url(settings.database_url)}", flush=True)
    try:
        with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C is the normal way to stop it
            asyncio.run(run_worker_forever(engine, settings))
    finally:
        engine.dispose()
    return 0


def coverage_command(args: argparse.Namespace) -> int:
    """Every simulated operation per API, from the APIs' declarations (docs/coverage.md)."""
    from simulator.core.operations import coverage_markdown
    from simulator.core.registry import api_specs

    print(coverage_markdown(api_specs()), end="")
    return 0


def db_command(args: argparse.Namespace) -> int:
    from sqlalchemy.exc import DBAPIError

    from simulator.core import schema

    export_env(args)
    url = fresh_settings().database_url
    try:
        engine = open_store(url)
    except CannotStart as exc:
        print(f"simulator: {exc}", file=sys.stderr)
        return 2
    try:
        if args.action == "upgrade":
            print(f"schema: {schema.ensure_schema(engine, auto_migrate=True)}")
        print(f"revision: {schema.current_revision(engine)} (code: {schema.head_revision(engine)})")
    except schema.SchemaTooNew as exc:
        print(f"simulator: {exc}", file=sys.stderr)
        return 2
    except DBAPIError as exc:
        print(f"simulator: {unreachable(url, exc)}", file=sys.stderr)
        return 2
    finally:
        engine.dispose()
    return 0


def fixtures_command(args: argparse.Namespace) -> int:
    import json

    import yaml

    from simulator.core import tenants
    from simulator.core.fixtures import FixtureError
    from simulator.core.generate import generate_document

    settings = fresh_settings()
    try:
        if args.action == "generate":
            counts = dict(parse_count(item) for item in args.count)
            text = generate_document(
                args.seed,
                args.customers,
                args.locale,
                extends=args.extends,
                fixtures_dir=settings.fixtures_dir,
                **counts,
            )
        elif args.action == "validate":
            text = f"{tenants.trial_load(args.source, settings)}: valid\n"
        else:  # export
            text = export_text(args, settings, json, yaml)
    except (FixtureError, CannotStart) as exc:
        print(f"simulator: {exc}", file=sys.stderr)
        return 2
    if getattr(args, "out", None):
        with open(args.out, "w", encoding="utf-8") as handle:
            handle.write(text)
    else:
        sys.stdout.write(text)
    return 0


def parse_count(item: str) -> tuple[str, int]:
    """`talonone.coupons=200` -> ("talonone.coupons", 200)."""
    name, _, value = item.partition("=")
    try:
        return name.strip(), int(value)
    except ValueError:
        raise SystemExit(f"simulator: --count wants NAME=N, not {item!r}") from None


def export_text(args: argparse.Namespace, settings: Settings, json: object, yaml: object) -> str:
    from sqlalchemy.exc import DBAPIError

    import simulator.models_index  # noqa: F401  (every table, for the sections' queries)
    from simulator.core import fixtures
    from simulator.core.db import new_session
    from simulator.core.fixtures import FixtureError
    from simulator.core.models import Tenant

    url = args.db or settings.database_url
    missing = sqlite_file_missing(url)
    if missing is not None:
        raise CannotStart(f"no store at {missing}: give the one the simulator serves (--db)")
    engine = open_store(url)
    try:
        with new_session(engine) as session:
            tenant = session.get(Tenant, args.tenant)
            if tenant is None:
                raise FixtureError(args.tenant, "", "no such tenant")
            document = fixtures.export(session, tenant)
    except DBAPIError as exc:
        raise unreachable(url, exc) from None
    finally:
        engine.dispose()
    if args.format == "json":
        return json.dumps(document, indent=2, sort_keys=True, default=str) + "\n"
    return yaml.safe_dump(
        json.loads(json.dumps(document, default=str)), sort_keys=True, allow_unicode=True
    )


# `serve` options: (the Settings field behind it, what it sets). Each option's help shows the
# field's default and its environment variable (SIM_ + the field's name).
SERVE_OPTIONS: dict[str, tuple[str, str]] = {
    "--host": ("host", "address to listen on"),
    "--port": ("port", "port to listen on"),
    "--db": (
        "database_url",
        "the store: sqlite:///PATH or postgresql://USER:PASSWORD@HOST:5432/DATABASE "
        "(postgres:// too)",
    ),
    "--fixtures": (
        "fixtures",
        "the default tenant's fixtures: a set's name (default, demo, empty), a file, or none; "
        "on an existing store, other fixtures than its default tenant's replace that tenant's "
        "data",
    ),
    "--faults": ("faults", "fault rules file (YAML/JSON) loaded at start"),
    "--seed": ("seed", "seed of generated fixtures and of the fault rules' dice"),
    "--workers": ("workers", "server processes"),
}
OPTION_TYPES = {"--port": int, "--seed": int, "--workers": int}


def env_name(field: str) -> str:
    return f"SIM_{field.upper()}"


def default_of(field: str) -> str:
    from simulator.config import Settings

    value = Settings.model_fields[field].default
    return "unset" if value is None else str(value)


def with_default(field: str, text: str) -> str:
    """An option's help: what it sets, its default and its SIM_* twin (argparse's % escaped)."""
    return f"{text} (default: {default_of(field)}; env {env_name(field)})".replace("%", "%%")


def other_settings() -> str:
    """The settings that are environment variables only, with their defaults (serve's epilog)."""
    from simulator.config import Settings

    options = {field for field, _ in SERVE_OPTIONS.values()}
    lines = ["environment only (default):"]
    for field in Settings.model_fields:
        if field not in options and field != "fixtures_dir":
            lines.append(f"  {env_name(field):<40} {default_of(field)}")
    lines.append("an option given on the command line wins over its SIM_* variable")
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    from simulator import __version__

    parser = argparse.ArgumentParser(prog="simulator", description=__doc__)
    parser.add_argument("--version", action="version", version=f"simulator {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)

    run = commands.add_parser(
        "serve",
        help="serve the four APIs and the admin API",
        description="Serve the four APIs and the admin API (/__admin).",
        epilog=other_settings(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    for option, (field, text) in SERVE_OPTIONS.items():
        run.add_argument(
            option,
            dest=option.removeprefix("--"),
            type=OPTION_TYPES.get(option, str),
            metavar=env_name(field).removeprefix("SIM_"),
            help=with_default(field, text),
        )
    run.set_defaults(handler=serve)

    work = commands.add_parser("worker", help="run the CustomerGauge stream worker on its own")
    work.add_argument("--db", help=with_default("database_url", "the store"))
    work.add_argument("--seed", type=int, help=with_default("seed", "seed"))
    work.set_defaults(handler=worker)

    db = commands.add_parser("db", help="database schema: upgrade to this version, or show it")
    db.add_argument("action", choices=["upgrade", "current"])
    db.add_argument("--db", help=with_default("database_url", "the store"))
    db.set_defaults(handler=db_command)

    coverage = commands.add_parser(
        "coverage", help="print every simulated operation per API (a Markdown table)"
    )
    coverage.set_defaults(handler=coverage_command)

    fx = commands.add_parser("fixtures", help="generate, validate or export fixture documents")
    fx_actions = fx.add_subparsers(dest="action", required=True)
    generate = fx_actions.add_parser("generate", help="a seeded document of fake customers (YAML)")
    generate.add_argument("--seed", type=int, default=0, help="(default: 0)")
    generate.add_argument(
        "--customers", type=int, default=100, help="customers per API (default: 100)"
    )
    generate.add_argument("--locale", default="en_US", help="Faker locale (default: en_US)")
    generate.add_argument(
        "--count",
        action="append",
        default=[],
        metavar="NAME=N",
        help="per-entity count, e.g. talonone.coupons=200 (repeatable)",
    )
    generate.add_argument(
        "--extends",
        metavar="SET",
        help="start from this fixture set (name or file): the output is that world with the "
        "generated entries added (its campaigns hold the coupons, its programs the points)",
    )
    generate.add_argument("--out", help="file to write (default: standard output)")
    check = fx_actions.add_parser(
        "validate", help="load a document (set name or path) as serve would: valid, or why not"
    )
    check.add_argument("source")
    export = fx_actions.add_parser("export", help="a tenant's current state as a document")
    export.add_argument("--tenant", default="default", help="(default: default)")
    export.add_argument("--db", help=with_default("database_url", "the store"))
    export.add_argument("--format", choices=["yaml", "json"], default="yaml")
    export.add_argument("--out", help="file to write (default: standard output)")
    fx.set_defaults(handler=fixtures_command)
    return parser


def main(argv: list[str] | None = None) -> None:
    with collector_paused():  # the settings' imports, part of every start (see collector_paused)
        parser = build_parser()
    args = parser.parse_args(argv)
    sys.exit(args.handler(args))
