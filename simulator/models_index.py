"""Imports every SQLModel table so that `metadata` knows the whole schema."""

import importlib
import importlib.util

from simulator.core import models as _core_models  # noqa: F401
from simulator.core.registry import API_PACKAGES

for _package in API_PACKAGES:
    if importlib.util.find_spec(f"simulator.{_package}.models") is not None:
        importlib.import_module(f"simulator.{_package}.models")
