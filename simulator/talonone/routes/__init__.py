"""Talon.One routes, one router per part."""

from simulator.talonone.routes.core import router as core_router
from simulator.talonone.routes.engagement import router as engagement_router
from simulator.talonone.routes.loyalty import router as loyalty_router

ROUTERS = [core_router, loyalty_router, engagement_router]
