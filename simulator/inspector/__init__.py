"""The Inspector: a web page under `/__admin/ui/` that shows each tenant's state and traffic.

Server-rendered page shells (Jinja2) and one small hand-written script (`static/inspector.js`)
that reads and acts through the admin API only: the page is a client of `/__admin`, never a
second path to the store. The AdminGuard (admin/guard.py) protects it like the rest of the
control plane; with `SIM_ADMIN_TOKEN` set its login form trades the token for a cookie.
"""

from simulator.inspector.routes import refuse_page, router

__all__ = ["refuse_page", "router"]
