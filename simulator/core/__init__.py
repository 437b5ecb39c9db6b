"""What all four APIs share: store, tenants, clock, journal, formats, ids, fixtures, errors."""
