"""Talon.One domain: no HTTP here, plain functions over a DB session, a tenant and a clock."""
