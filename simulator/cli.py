"""The `simulator` command."""

from __future__ import annotations

import argparse
import contextlib
import os
import sys

from simulator.config import Settings


def banner(settings: Settings) -> str:
    base = f"http://{settings.host}:{settings.port}"
    return "\n".join(
        [
            f"API simulator listening on {base}  (store: {settings.database_url})",
            f"  admin:          {base}/__admin/health",
            "  default tenant credentials:",
            f"    CustomerGauge  Authorization: api_key {settings.default_customergauge_api_key}",
            f"    ClientToolbox  user_id={settings.default_clienttoolbox_user_id}"
            f" user_api_key={settings.default_clienttoolbox_user_api_key}"
            f" account_id={settings.default_clienttoolbox_account_id}",
            f"    Talon.One      Authorization: ApiKey-v1 {settings.default_talonone_api_key}",
            f"    ECDP           x-api-key: {settings.default_ecdp_api_key}",
        ]
    )


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


def serve(args: argparse.Namespace) -> int:
    import uvicorn

    from simulator.core import logs
    from simulator.core.fixtures import FixtureError
    from simulator.core.schema import SchemaTooNew
    from simulator.server import http_protocol, load_faults

    export_env(args)
    settings = Settings()
    logs.configure(settings.log_format)
    try:
        prepare(settings)
    except (FixtureError, SchemaTooNew, RuntimeError) as exc:
        print(f"simulator: cannot start: {exc}", file=sys.stderr)
        return 2
    try:
        load_faults(settings.faults, settings.database_url)
    except (OSError, ValueError) as exc:
        print(f"simulator: cannot start: faults: {exc}", file=sys.stderr)
        return 2
    print(banner(settings), flush=True)
    uvicorn.run(
        "simulator.app:create_app_from_env",
        factory=True,
        host=settings.host,
        port=settings.port,
        workers=settings.workers if settings.workers > 1 else None,
        log_level="warning",
        log_config=None,
        access_log=False,
        loop="auto",
        http=http_protocol(),
    )
    return 0


def worker(args: argparse.Namespace) -> int:
    """The CustomerGauge stream worker as its own process (servers beside it: SIM_RUN_WORKER=false)."""
    import asyncio

    from simulator.core import logs
    from simulator.core.db import make_engine
    from simulator.customergauge.worker import run_worker_forever

    export_env(args)
    settings = Settings()
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
    engine = make_engine(Settings().database_url)
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

    from simulator.core import fixtures
    from simulator.core.fixtures import FixtureError
    from simulator.core.generate import generate_document

    settings = Settings()
    try:
        if args.action == "generate":
            counts = dict(parse_count(item) for item in args.count)
            text = generate_document(args.seed, args.customers, args.locale, **counts)
        elif args.action == "validate":
            document, source = fixtures.resolve(args.source, settings.fixtures_dir)
            fixtures.validate(document, source)
            text = f"{source}: valid\n"
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
