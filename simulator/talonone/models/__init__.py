"""Talon.One tables, one module per part: core (sessions, profiles, events, catalogs,
campaigns), loyalty (programs, ledger, cards), engagement (coupons, referrals, audiences)."""

from simulator.talonone.models.achievements import *  # noqa: F403
from simulator.talonone.models.advanced_events import *  # noqa: F403
from simulator.talonone.models.core import *  # noqa: F403
from simulator.talonone.models.engagement import *  # noqa: F403
from simulator.talonone.models.history import *  # noqa: F403
from simulator.talonone.models.loyalty import *  # noqa: F403
