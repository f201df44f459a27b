"""CORS for the HTTP API and the health probes, so browser tools may call them from allowed
origins. Nothing else gets CORS headers: the dashboard serves its own page only, and no
other site's script may read its answers.

flask-cors treats any string with regex characters as a regex, which would misread an origin
like `https://*.example.com`; the allowed origins are compiled here with the same wildcard
rules as WebSocket origins, and flask-cors gets the compiled patterns.
"""

from __future__ import annotations

import re

from flask import Flask
from flask_cors import CORS

from socketrush.protocol.origins import origin_pattern

# The Pusher HTTP API (`/apps/...`, and `/users/.../terminate_connections`) and the probes of
# http/health.py; matched from the start of the path to its end.
CORS_PATHS = re.compile(r"/(?:(?:apps|users)/.*|ready|accept-traffic|usage)?\Z", re.DOTALL)


def enable_cors(flask_app: Flask, allowed_origins: tuple[str, ...]) -> None:
    """Answer preflights and add CORS headers for the allowed origins (none: CORS off)."""
    if not allowed_origins:
        return
    # A bare `*` stays a string: flask-cors then answers `Access-Control-Allow-Origin: *`.
    origins = [entry if entry == "*" else origin_pattern(entry) for entry in allowed_origins]
    CORS(flask_app, resources=[CORS_PATHS], origins=origins, send_wildcard=True, max_age=3600)
