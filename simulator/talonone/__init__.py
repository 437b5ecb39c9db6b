"""Talon.One Integration API: sessions, profiles, events, catalogs, loyalty, coupons, ..."""

from simulator.core.registry import ApiSpec
from simulator.talonone.errors import TalonOneError, handle_talonone_error, render_error
from simulator.talonone.fixtures import SECTION
from simulator.talonone.routes import ROUTERS


def owns_path(path: str) -> bool:
    return path.startswith("/v1/") or path.startswith("/v2/")


SPEC = ApiSpec(
    name="talonone",
    owns_path=owns_path,
    render_error=render_error,
    routers=ROUTERS,
    fixtures=SECTION,
    exception_handlers={TalonOneError: handle_talonone_error},
)
