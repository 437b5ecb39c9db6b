"""ClientToolbox loyalty API 1.5: batch customers, batch transactions, undo states."""

from simulator.clienttoolbox import auth
from simulator.clienttoolbox.admin import router as admin_router
from simulator.clienttoolbox.errors import (
    ClientToolboxError,
    handle_clienttoolbox_error,
    render_error,
)
from simulator.clienttoolbox.operations import OPERATIONS
from simulator.clienttoolbox.routes import router
from simulator.core.registry import ApiSpec


def owns_path(path: str) -> bool:
    return path in ("/", "/api.php", "/admin.php")


SPEC = ApiSpec(
    name="clienttoolbox",
    title="ClientToolbox",
    owns_path=owns_path,
    render_error=render_error,
    operations=OPERATIONS,
    tenant_of=auth.tenant_of,
    read_form=auth.read_form,
    routers=[router],
    admin_routers=[admin_router],
    fixtures_module="simulator.clienttoolbox.fixtures",
    exception_handlers={ClientToolboxError: handle_clienttoolbox_error},
)
