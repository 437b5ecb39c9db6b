"""Talon.One tables: loyalty part."""
