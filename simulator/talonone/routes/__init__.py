"""Talon.One routes, one router per part."""

from simulator.talonone.routes.achievements import router as achievements_router
from simulator.talonone.routes.advanced_events import router as advanced_events_router
from simulator.talonone.routes.core import router as core_router
from simulator.talonone.routes.engagement import router as engagement_router
from simulator.talonone.routes.integration_campaigns import router as campaigns_router
from simulator.talonone.routes.loyalty import router as loyalty_router
from simulator.talonone.routes.loyalty_actions import router as loyalty_actions_router
from simulator.talonone.routes.prices import router as prices_router

ROUTERS = [
    core_router,
    loyalty_router,
    loyalty_actions_router,
    engagement_router,
    prices_router,
    achievements_router,
    advanced_events_router,
    campaigns_router,
]
