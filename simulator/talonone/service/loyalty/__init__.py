"""Talon.One loyalty, one module per use case: `programs` (and tiers), `balances` (a profile's),
`history` (points and transaction lists), `cards`, `session_effects` (what the session engine
calls when a session changes state or is returned) and `manual` (admin points); `figures`, below
them, holds the tentative figures of open sessions and the ledger summaries."""
