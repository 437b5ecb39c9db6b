"""CustomerGauge 4.1 Stream API and its mail queue."""

from simulator.core.registry import ApiSpec
from simulator.customergauge.errors import (
    CustomerGaugeError,
    handle_customergauge_error,
    render_error,
)


def owns_path(path: str) -> bool:
    return path.startswith("/v4.1/") or path == "/v4.1" or path == "/oauth2/token"


SPEC = ApiSpec(
    name="customergauge",
    owns_path=owns_path,
    render_error=render_error,
    exception_handlers={CustomerGaugeError: handle_customergauge_error},
)
