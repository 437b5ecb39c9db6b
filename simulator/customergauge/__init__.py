"""CustomerGauge 4.1 Stream API and its mail queue."""

from simulator.core.registry import ApiSpec
from simulator.customergauge import auth
from simulator.customergauge.admin import router as admin_router
from simulator.customergauge.errors import (
    CustomerGaugeError,
    handle_customergauge_error,
    render_error,
)
from simulator.customergauge.metrics import queue_gauges
from simulator.customergauge.operations import OPERATIONS
from simulator.customergauge.routes import router
from simulator.customergauge.worker import on_shutdown, on_startup


def owns_path(path: str) -> bool:
    return path.startswith("/v4.1/") or path == "/v4.1" or path == "/oauth2/token"


SPEC = ApiSpec(
    name="customergauge",
    title="CustomerGauge",
    owns_path=owns_path,
    render_error=render_error,
    operations=OPERATIONS,
    tenant_of=auth.tenant_of,
    read_form=auth.read_form,
    routers=[router],
    admin_routers=[admin_router],
    fixtures_module="simulator.customergauge.fixtures",
    on_startup=[on_startup],
    on_shutdown=[on_shutdown],
    gauges=[queue_gauges],
    exception_handlers={CustomerGaugeError: handle_customergauge_error},
)
