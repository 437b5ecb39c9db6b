"""Alembic migrations of the simulator's schema (`simulator db upgrade`)."""
