"""ExpertSender CDP (ECDP) customers API."""

from simulator.core.registry import ApiSpec
from simulator.ecdp.errors import EcdpError, handle_ecdp_error, render_error

PREFIXES = ("/customers", "/customerattributes", "/customerconsents")


def owns_path(path: str) -> bool:
    return any(path == p or path.startswith(p + "/") for p in PREFIXES)


def _spec() -> ApiSpec:
    from simulator.ecdp import admin, routes
    from simulator.ecdp.fixtures import SECTION

    return ApiSpec(
        name="ecdp",
        owns_path=owns_path,
        render_error=render_error,
        routers=[routes.router],
        admin_routers=[admin.router],
        fixtures=SECTION,
        exception_handlers={EcdpError: handle_ecdp_error},
    )


SPEC = _spec()
