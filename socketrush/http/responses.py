"""The two kinds of body the HTTP layer answers with: JSON (the API) and plain text (probes)."""

from __future__ import annotations

import orjson
from flask import Response


def json_response(body: object, status: int = 200) -> Response:
    return Response(orjson.dumps(body), status=status, mimetype="application/json")


def text_response(text: str, status: int = 200) -> Response:
    return Response(text, status=status, mimetype="text/plain")
