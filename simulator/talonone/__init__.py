"""Talon.One Integration API: sessions, profiles, events, catalogs, loyalty, coupons, ..."""

from simulator.core.registry import ApiSpec
from simulator.talonone import auth
from simulator.talonone.admin import router as inspector_admin_router
from simulator.talonone.errors import (
    PARALLEL_WRITES,
    TalonOneError,
    handle_talonone_error,
    render_error,
)
from simulator.talonone.operations import OPERATIONS
from simulator.talonone.routes import ROUTERS
from simulator.talonone.routes.achievements import admin_router as achievements_admin_router
from simulator.talonone.routes.core import admin_router as core_admin_router
from simulator.talonone.routes.loyalty import admin_router as loyalty_admin_router
from simulator.talonone.routes.prices import admin_router as prices_admin_router


def owns_path(path: str) -> bool:
    return path.startswith(("/v1/", "/v2/", "/v3/"))


SPEC = ApiSpec(
    name="talonone",
    title="Talon.One",
    owns_path=owns_path,
    render_error=render_error,
    operations=OPERATIONS,
    tenant_of=auth.tenant_of,
    # Documented on UpdateCustomerSessionV2, UpdateCustomerProfileV2 and TrackEventV2.
    fault_messages={409: PARALLEL_WRITES},
    routers=ROUTERS,
    admin_routers=[
        core_admin_router,
        loyalty_admin_router,
        inspector_admin_router,
        prices_admin_router,
        achievements_admin_router,
    ],
    fixtures_module="simulator.talonone.fixtures",
    exception_handlers={TalonOneError: handle_talonone_error},
)
