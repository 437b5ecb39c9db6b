"""create_app(settings): one FastAPI app serving the four APIs at their real paths."""

from __future__ import annotations

import asyncio
import gc
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partial

from fastapi import FastAPI
from sqlalchemy.engine import Engine
from sqlalchemy.exc import OperationalError, ProgrammingError
from starlette.types import Receive, Scope, Send

from simulator import __version__
from simulator.admin import faults as admin_faults
from simulator.admin import routes as admin_routes
from simulator.admin import signup
from simulator.admin.guard import AdminGuard
from simulator.admin.openapi import admin_openapi
from simulator.config import Settings, get_settings
from simulator.core import groupcommit, quotas, tenants
from simulator.core.db import make_engine, optimize
from simulator.core.errors import install_generic_handlers
from simulator.core.journal import Journal
from simulator.core.metrics import Metrics
from simulator.core.middleware import ApiMiddleware
from simulator.core.registry import api_specs
from simulator.core.schema import ensure_schema
from simulator.inspector import refuse_page
from simulator.inspector import router as inspector_router

log = logging.getLogger("simulator")


def prepare_store(engine: Engine, settings: Settings) -> None:
    """Bring the schema to this code's revision and create the `default` tenant.

    `simulator serve` does this once before it starts its workers; a worker that still races
    another (separate processes on one database) retries.
    """
    for attempt in range(3):
        try:
            ensure_schema(engine, settings.auto_migrate)
            break
        except (OperationalError, ProgrammingError):
            if attempt == 2:
                raise
    tenants.ensure_default(engine, settings)
    optimize(engine)  # the planner's statistics, fresh from the start


def create_app(
    settings: Settings | None = None, engine: Engine | None = None, prepared: bool = False
) -> FastAPI:
    """The app on `engine`; `prepared`: `prepare_store` has already run on it (`simulator serve`)."""
    settings = settings or get_settings()
    engine = engine or make_engine(settings.database_url)
    if not prepared:
        prepare_store(engine, settings)
    if settings.group_commit:
        groupcommit.enable(engine)
    metrics = Metrics()
    journal = Journal(
        engine,
        settings.journal_max_entries,
        settings.journal_enabled,
        metrics=metrics,
        access_log=settings.access_log,
        writer_process=settings.journal_writer_process,
    )
    specs = api_specs()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        journal.start(settings.journal_flush_seconds)
        background = []
        if settings.tenant_idle_seconds:
            background.append(
                asyncio.get_running_loop().create_task(
                    quotas.expire_idle_forever(
                        engine, settings.tenant_idle_seconds, {tenants.DEFAULT_TENANT_ID}
                    )
                )
            )
        for spec in specs:
            for hook in spec.on_startup:
                await hook(app)
        try:
            yield
        finally:
            for task in background:
                task.cancel()
            for spec in specs:
                for hook in spec.on_shutdown:
                    await hook(app)
            await journal.stop()

    app = SimulatorApp(
        title="API simulator",
        version=__version__,
        lifespan=lifespan,
        docs_url="/__admin/docs",
        openapi_url="/__admin/openapi.json",
        redoc_url=None,
        # No admin route uses OAuth2: the page would only be one more path outside /__admin.
        swagger_ui_oauth2_redirect_url=None,
        # The simulator reports through its own /metrics and logs; FastAPI's OpenTelemetry
        # hooks would cost every request a provider check.
        telemetry={"tracing": False, "metrics": False, "logs": False},
    )
    app.state.settings = settings
    app.state.engine = engine
    app.state.journal = journal
    app.state.metrics = metrics

    # Routes are tried in order: the APIs' own first (the hot paths), the control plane after.
    for spec in specs:
        for router in spec.routers:
            app.include_router(router)
    app.include_router(admin_routes.router)
    app.include_router(admin_routes.metrics_router)
    app.include_router(admin_faults.router)
    app.include_router(inspector_router)
    for spec in specs:
        for router in spec.admin_routers:
            app.include_router(router)
        for exc_type, handler in spec.exception_handlers.items():
            app.add_exception_handler(exc_type, handler)
    install_generic_handlers(app)
    app.openapi = partial(admin_openapi, app)  # type: ignore[method-assign]
    app.state.route_count = len(app.router.routes)  # the fast lane steps aside if this changes
    # The control plane's token and limits (admin/guard), behind ApiMiddleware: a request of the
    # fast lane never meets it, another API request only its path-prefix check.
    control_plane = AdminGuard(
        partial(FastAPI.__call__, app),
        token=settings.admin_token,
        open_signup=settings.open_signup,
        max_body=settings.max_body_bytes,
        admit_signup=partial(signup.admit_request, engine, settings),
        refuse_page=refuse_page,
    )
    app.api_entry = ApiMiddleware(
        control_plane,
        journal=journal,
        max_body=settings.max_body_bytes,
        body_limit=settings.journal_body_bytes,
        fast_lane=settings.fast_lane,
    )
    return app


class SimulatorApp(FastAPI):
    """FastAPI with the APIs' middleware in front of FastAPI's own stack rather than inside it:
    a request the fast lane answers (core/dispatch) passes through no layer of FastAPI's (its
    error, telemetry and body-limit middleware each cost every request a call and a wrapped
    `send`); ApiMiddleware answers an unexpected error itself, with the app's handler. Every
    other request goes through FastAPI as before."""

    api_entry: ApiMiddleware | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        entry = self.api_entry
        if entry is None or scope["type"] == "websocket":
            await super().__call__(scope, receive, send)
            return
        scope["app"] = self
        await entry(scope, receive, send)


def create_app_from_env() -> FastAPI:
    """Factory for uvicorn (each worker process builds its app from SIM_* variables)."""
    get_settings.cache_clear()
    app = create_app()
    collect_for_serving()
    return app


def collect_for_serving() -> None:
    """Set a serving process's cyclic garbage collector: what the start built is frozen out of
    its scans (without a collection first, which would cost the start ~0.1 s for the little
    garbage it leaves), and young objects are looked at every 10,000 allocations instead of 700.
    A request allocates thousands of short-lived containers, which reference counting frees;
    at the default threshold the collector still ran several times a request (about 3% of a
    session update, measured)."""
    gc.freeze()
    gc.set_threshold(10_000, 20, 100)
