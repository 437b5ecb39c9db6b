"""Talon.One routes: engagement part."""

from fastapi import APIRouter

router = APIRouter(tags=["talonone"])
