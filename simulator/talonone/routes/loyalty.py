"""Talon.One routes: loyalty part."""

from fastapi import APIRouter

router = APIRouter(tags=["talonone"])
