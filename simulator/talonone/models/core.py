"""Talon.One tables: core part."""
