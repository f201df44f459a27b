"""Allowed-origin matching, shared by the WebSocket check (per app) and CORS (HTTP API)."""

from __future__ import annotations

import functools
import re


def origin_pattern(allowed: str) -> re.Pattern[str]:
    """One allowed origin as a regex: `*` alone allows any origin, and a `*` inside, as in
    `https://*.example.com`, stands for any run of characters up to the next `/` (so it
    matches host labels and ports, never a different scheme). Origins compare case-blind."""
    if allowed == "*":
        return re.compile(r".*", re.DOTALL)
    body = re.escape(allowed).replace(r"\*", r"[^/]*")
    return re.compile(body + r"\Z", re.IGNORECASE)


@functools.cache
def _origins_matcher(allowed: tuple[str, ...]) -> tuple[re.Pattern[str], ...]:
    """Compiled once per distinct list (app settings are immutable tuples)."""
    return tuple(origin_pattern(entry) for entry in allowed)


def origin_allowed(origin: str, allowed: tuple[str, ...]) -> bool:
    """An empty list allows every origin, even none; otherwise the Origin must match."""
    if not allowed:
        return True
    return any(pattern.match(origin) for pattern in _origins_matcher(allowed))
