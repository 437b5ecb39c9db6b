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

    from simulator.config import Settings


def banner(settings: Settings) -> str:
    base = f"http://{settings.host}:{settings.port}"
    return "\n".join(
        [
            f"API simulator listening on {base}  (store: {settings.database_url})",
            f"  admin:          {base}/__admin/health",
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
        http=http_protocol(),
        # X-Forwarded-For names the client only behind the proxies the operator lists.
        proxy_headers=settings.forwarded_allow_ips is not None,
        forwarded_allow_ips=settings.forwarded_allow_ips,
        ws="none",  # no API speaks WebSocket: its protocol module is not even imported
    )
    return 0


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
    from simulator.app import create_app, prepare_store
    from simulator.core import logs
    from simulator.core.db import make_engine
    from simulator.core.fixtures import FixtureError
    from simulator.core.schema import SchemaTooNew
    from simulator.server import load_faults

    reason = refusal(settings)
    if reason is not None:
        raise CannotStart(reason)
    logs.configure(settings.log_format)
    engine = make_engine(settings.database_url)
    try:
        prepare_store(engine, settings)
    except (FixtureError, SchemaTooNew, RuntimeError) as exc:
        engine.dispose()
        raise CannotStart(str(exc)) from exc
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

    from simulator.core import logs
    from simulator.core.db import make_engine
    from simulator.customergauge.worker import run_worker_forever

    export_env(args)
    settings = fresh_settings()
    logs.configure(settings.log_format)
    try:
        prepare(settings)
    except (RuntimeError, ValueError) as exc:
        print(f"simulator: cannot start the worker: {exc}", file=sys.stderr)
        return 2
    engine = make_engine(settings.database_url)
    print(f"stream worker on {settings.database_url}", flush=True)
    try:
        with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C is the normal way to stop it
            asyncio.run(run_worker_forever(engine, settings))
    finally:
        engine.dispose()
    return 0


def db_command(args: argparse.Namespace) -> int:
    from simulator.core import schema
    from simulator.core.db import make_engine

    export_env(args)
    engine = make_engine(fresh_settings().database_url)
    try:
        if args.action == "upgrade":
            print(f"schema: {schema.ensure_schema(engine, auto_migrate=True)}")
        print(f"revision: {schema.current_revision(engine)} (code: {schema.head_revision(engine)})")
    except schema.SchemaTooNew as exc:
        print(f"simulator: {exc}", file=sys.stderr)
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
    except FixtureError as exc:
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
    from simulator.core import fixtures
    from simulator.core.db import make_engine, new_session
    from simulator.core.fixtures import FixtureError
    from simulator.core.models import Tenant

    engine = make_engine(args.db or settings.database_url)
    try:
        with new_session(engine) as session:
            tenant = session.get(Tenant, args.tenant)
            if tenant is None:
                raise FixtureError(args.tenant, "", "no such tenant")
            document = fixtures.export(session, tenant)
    finally:
        engine.dispose()
    if args.format == "json":
        return json.dumps(document, indent=2, sort_keys=True, default=str) + "\n"
    return yaml.safe_dump(
        json.loads(json.dumps(document, default=str)), sort_keys=True, allow_unicode=True
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="simulator", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    run = commands.add_parser("serve", help="serve the four APIs and the admin API")
    run.add_argument("--host")
    run.add_argument("--port", type=int)
    run.add_argument("--db", help="database URL (sqlite:///... or postgresql+psycopg://...)")
    run.add_argument("--fixtures", help="fixture set name, file path, or 'none'")
    run.add_argument("--faults", help="fault rules file (YAML/JSON)")
    run.add_argument("--seed", type=int)
    run.add_argument("--workers", type=int)
    run.set_defaults(handler=serve)

    work = commands.add_parser("worker", help="run the CustomerGauge stream worker on its own")
    work.add_argument("--db", help="database URL")
    work.add_argument("--seed", type=int)
    work.set_defaults(handler=worker)

    db = commands.add_parser("db", help="database schema: upgrade to this version, or show it")
    db.add_argument("action", choices=["upgrade", "current"])
    db.add_argument("--db", help="database URL")
    db.set_defaults(handler=db_command)

    fx = commands.add_parser("fixtures", help="generate, validate or export fixture documents")
    fx_actions = fx.add_subparsers(dest="action", required=True)
    generate = fx_actions.add_parser("generate", help="a seeded document of fake customers")
    generate.add_argument("--seed", type=int, default=0)
    generate.add_argument("--customers", type=int, default=100)
    generate.add_argument("--locale", default="en_US")
    generate.add_argument(
        "--count", action="append", default=[], help="per-entity count NAME=N (repeatable)"
    )
    generate.add_argument(
        "--extends",
        metavar="SET",
        help="start from this fixture set (name or file): the output is that world with the "
        "generated entries added (its campaigns hold the coupons, its programs the points)",
    )
    generate.add_argument("--out", help="file to write (default: standard output)")
    check = fx_actions.add_parser("validate", help="check a document (set name or path)")
    check.add_argument("source")
    export = fx_actions.add_parser("export", help="a tenant's current state as a document")
    export.add_argument("--tenant", default="default")
    export.add_argument("--db", help="database URL")
    export.add_argument("--format", choices=["yaml", "json"], default="yaml")
    export.add_argument("--out")
    fx.set_defaults(handler=fixtures_command)
    return parser


def main(argv: list[str] | None = None) -> None:
    parser = build_parser()
    args = parser.parse_args(argv)
    sys.exit(args.handler(args))
