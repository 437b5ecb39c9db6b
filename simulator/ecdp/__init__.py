"""ExpertSender CDP (ECDP) customers API."""

from simulator.core.registry import ApiSpec
from simulator.ecdp.errors import EcdpError, handle_ecdp_error, render_error

PREFIXES = ("/customers", "/customerattributes", "/customerconsents")


def owns_path(path: str) -> bool:
    return any(path == p or path.startswith(p + "/") for p in PREFIXES)


SPEC = ApiSpec(
    name="ecdp",
    owns_path=owns_path,
    render_error=render_error,
    exception_handlers={EcdpError: handle_ecdp_error},
)
