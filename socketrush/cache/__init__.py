"""Caches hold short-lived shared state, e.g. the last event of each cache channel."""
