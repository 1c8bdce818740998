"""Bench-only app factories: the service wrapped the way other designs instrument it (never shipped)."""
