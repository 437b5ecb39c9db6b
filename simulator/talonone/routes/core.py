"""Talon.One routes: core part."""

from fastapi import APIRouter

router = APIRouter(tags=["talonone"])
