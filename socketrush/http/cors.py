"""CORS for the HTTP API, so browser dashboards and tools may call it from allowed origins.

flask-cors treats any string with regex characters as a regex, which would misread an origin
like `https://*.example.com`; the allowed origins are compiled here with the same wildcard
rules as WebSocket origins, and flask-cors gets the compiled patterns.
"""

from __future__ import annotations

from flask import Flask
from flask_cors import CORS

from socketrush.protocol.origins import origin_pattern


def enable_cors(flask_app: Flask, allowed_origins: tuple[str, ...]) -> None:
    """Answer preflights and add CORS headers for the allowed origins (none: CORS off)."""
    if not allowed_origins:
        return
    # A bare `*` stays a string: flask-cors then answers `Access-Control-Allow-Origin: *`.
    origins = [entry if entry == "*" else origin_pattern(entry) for entry in allowed_origins]
    CORS(flask_app, origins=origins, send_wildcard=True, max_age=3600)
