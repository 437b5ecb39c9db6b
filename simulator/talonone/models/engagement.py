"""Talon.One tables: engagement part."""
