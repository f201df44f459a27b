"""Locust glue shared by the scenarios: app credentials, the loopback guard, and stats helpers.

WebSocket work is not HTTP, so each scenario reports it itself through `events.request.fire`
with request_type "WS"; the helpers here keep the names and units (milliseconds) consistent.
"""

from __future__ import annotations

import ipaddress
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import urlsplit

import pusher
from locust import events
from locust.env import Environment

DEFAULT_HOST = "http://127.0.0.1:6001"


@events.init_command_line_parser.add_listener
def _add_app_options(parser) -> None:
    """Credentials of the app under test; defaults match the documented `serve` command."""
    parser.add_argument("--app-id", default="424242", help="Pusher app id")
    parser.add_argument("--app-key", default="test-key", help="Pusher app key")
    parser.add_argument("--app-secret", default="test-secret", help="Pusher app secret")


@events.init.add_listener
def _refuse_remote_hosts(environment: Environment, **_: object) -> None:
    """These scenarios are meant for a server on this machine; never aim them elsewhere."""
    host = urlsplit(environment.host or DEFAULT_HOST).hostname or ""
    if not is_loopback(host):
        raise SystemExit(f"refusing to load-test {host!r}: only loopback hosts are allowed")


def is_loopback(host: str) -> bool:
    try:
        return all(
            ipaddress.ip_address(info[4][0]).is_loopback
            for info in socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
        )
    except (OSError, ValueError):
        return False


def _endpoint(environment: Environment) -> tuple[str, int]:
    parts = urlsplit(environment.host or DEFAULT_HOST)
    return parts.hostname or "127.0.0.1", parts.port or 6001


def ws_url(environment: Environment) -> str:
    """The protocol 7 WebSocket URL of the configured app."""
    host, port = _endpoint(environment)
    key = environment.parsed_options.app_key
    return f"ws://{host}:{port}/app/{key}?protocol=7&client=locust&version=1.0"


def pusher_client(environment: Environment) -> pusher.Pusher:
    """The official SDK, for HTTP API publishing and for signing channel authorizations."""
    host, port = _endpoint(environment)
    opts = environment.parsed_options
    return pusher.Pusher(
        app_id=opts.app_id,
        key=opts.app_key,
        secret=opts.app_secret,
        host=host,
        port=port,
        ssl=False,
    )


def now_ms() -> float:
    """Wall-clock milliseconds, for timestamps carried inside payloads between users."""
    return time.time() * 1000.0


def record(
    environment: Environment,
    name: str,
    response_time_ms: float,
    length: int = 0,
    exception: Exception | None = None,
    request_type: str = "WS",
) -> None:
    environment.events.request.fire(
        request_type=request_type,
        name=name,
        response_time=response_time_ms,
        response_length=length,
        exception=exception,
        context={},
    )


@contextmanager
def measure(environment: Environment, name: str, request_type: str = "WS") -> Iterator[None]:
    """Record the block's duration under `name`; a raised exception is recorded, then re-raised."""
    started = time.perf_counter()
    try:
        yield
    except Exception as error:
        record(environment, name, (time.perf_counter() - started) * 1000, 0, error, request_type)
        raise
    record(environment, name, (time.perf_counter() - started) * 1000, 0, None, request_type)
