"""CORS on the HTTP API of a real server: preflights, and allowed and denied origins."""

from __future__ import annotations

import urllib.error
import urllib.request
from collections.abc import Callable

import pytest

from socketrush.http.cors import CORS_PATHS
from tests.support.server import APP_ID, ServerProcess

EVENTS = f"/apps/{APP_ID}/events"
CORS_HEADERS = (
    "Access-Control-Allow-Origin",
    "Access-Control-Allow-Methods",
    "Access-Control-Allow-Headers",
    "Access-Control-Max-Age",
    "Vary",
)


def preflight(server: ServerProcess, origin: str) -> tuple[int, dict[str, str | None]]:
    request = urllib.request.Request(
        server.http_url + EVENTS,
        method="OPTIONS",
        headers={
            "Origin": origin,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type",
        },
    )
    with urllib.request.urlopen(request, timeout=5) as response:
        return response.status, {name: response.headers.get(name) for name in CORS_HEADERS}


def get_with_origin(server: ServerProcess, origin: str) -> str | None:
    request = urllib.request.Request(server.http_url + "/usage", headers={"Origin": origin})
    with urllib.request.urlopen(request, timeout=5) as response:
        assert response.status == 200
        return response.headers.get("Access-Control-Allow-Origin")


def test_preflight_allows_any_origin_by_default(server: ServerProcess) -> None:
    status, headers = preflight(server, "https://dashboard.example.org")
    assert status == 200
    assert headers["Access-Control-Allow-Origin"] == "*"
    assert headers["Access-Control-Allow-Headers"] == "content-type"
    assert headers["Access-Control-Max-Age"] == "3600"
    assert "POST" in headers["Access-Control-Allow-Methods"].split(", ")


def test_configured_origins_with_wildcard(start_server: Callable) -> None:
    server = start_server(
        "--cors-allowed-origins", "https://admin.example.org,https://*.example.com"
    )
    status, headers = preflight(server, "https://eu.app.example.com")
    assert status == 200
    assert headers["Access-Control-Allow-Origin"] == "https://eu.app.example.com"
    assert headers["Vary"] == "Origin"
    assert get_with_origin(server, "https://admin.example.org") == "https://admin.example.org"

    status, headers = preflight(server, "https://example.com.evil.net")
    assert status == 200  # the browser, not the server, refuses: no allow header
    assert headers["Access-Control-Allow-Origin"] is None
    assert get_with_origin(server, "http://app.example.com") is None  # scheme must match


def test_dashboard_responses_carry_no_cors_headers(start_server: Callable) -> None:
    """CORS is for the HTTP API and the health probes: the dashboard is for its own page
    only, and a cross-origin script must not be let read it (it would send the session
    cookie with `credentials: "include"` where the browser allows)."""
    server = start_server(
        "--dashboard-enabled", "true", "--dashboard-username", "ops",
        "--dashboard-password", "a long dashboard password",
    )  # fmt: skip
    origin = "https://elsewhere.example.org"
    for path in ("/dashboard", "/dashboard/static/dashboard.js", "/dashboard/api/apps"):
        request = urllib.request.Request(server.http_url + path, headers={"Origin": origin})
        with pytest.raises(urllib.error.HTTPError) as refused:  # 401 without a login
            urllib.request.urlopen(request, timeout=5)
        assert refused.value.code == 401
        assert refused.value.headers.get("Access-Control-Allow-Origin") is None, path
        refused.value.close()
    preflight_request = urllib.request.Request(
        server.http_url + "/dashboard/api/apps",
        method="OPTIONS",
        headers={"Origin": origin, "Access-Control-Request-Method": "GET"},
    )
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(preflight_request, timeout=5)
    assert refused.value.headers.get("Access-Control-Allow-Origin") is None
    refused.value.close()
    # The API and the probes of the same server still answer browsers.
    assert preflight(server, origin)[1]["Access-Control-Allow-Origin"] == "*"
    for path in ("/", "/ready", "/accept-traffic", "/usage"):
        request = urllib.request.Request(server.http_url + path, headers={"Origin": origin})
        with urllib.request.urlopen(request, timeout=5) as response:
            assert response.headers.get("Access-Control-Allow-Origin") == "*", path


@pytest.mark.parametrize(
    "path,covered",
    [
        ("/", True),
        ("/ready", True),
        ("/accept-traffic", True),
        ("/usage", True),
        (f"/apps/{APP_ID}/events", True),
        (f"/apps/{APP_ID}/channels/presence-a%0Ab/users", True),
        ("/users/u1/terminate_connections", True),
        ("/dashboard", False),
        ("/dashboard/api/apps", False),
        ("/readyz", False),
        ("/usage/", False),
        ("/app/test-key", False),
        ("/metrics", False),
    ],
)
def test_cors_paths(path: str, covered: bool) -> None:
    assert bool(CORS_PATHS.match(path)) is covered
