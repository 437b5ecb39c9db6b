"""Bounded load generation against servers on 127.0.0.1 only (`make bench`)."""
