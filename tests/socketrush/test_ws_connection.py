"""End-to-end: the connection lifecycle over a real socket — hello, ping/pong, activity
timeout, and every refusal with its `pusher:error` frame and close code."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.client import (
    PusherClient,
    assert_alive,
    expect_close,
    sign_in,
)
from tests.support.server import APP_ID, APP_KEY, APP_SECRET, ServerProcess

pytestmark = pytest.mark.timeout(30)


@pytest.fixture(scope="module")
def quick_server() -> Iterator[ServerProcess]:
    """Activity timeout of 1 s, so the server's own pings happen within a test."""
    with ServerProcess(args=["--app-activity-timeout", "1"]) as proc:
        yield proc


def test_connection_established_frame(quick_server: ServerProcess) -> None:
    client = PusherClient(quick_server.ws_url())
    frame = client.recv()
    assert frame["event"] == "pusher:connection_established"
    assert set(frame["data"]) == {"socket_id", "activity_timeout"}
    assert re.fullmatch(r"\d+\.\d+", frame["data"]["socket_id"])
    assert frame["data"]["activity_timeout"] == 1
    client.close()


def test_socket_ids_are_unique(server: ServerProcess) -> None:
    clients = [PusherClient.connect(server) for _ in range(5)]
    assert len({c.socket_id for c in clients}) == 5
    for client in clients:
        client.close()


def test_client_ping_gets_pong(server: ServerProcess) -> None:
    client = PusherClient.connect(server)
    client.send("pusher:ping")
    assert client.recv() == {"event": "pusher:pong", "data": {}}
    client.close()


def test_silent_client_is_pinged_then_closed_but_answering_client_stays(
    quick_server: ServerProcess,
) -> None:
    answering = PusherClient.connect(quick_server)
    silent = PusherClient.connect(quick_server)

    assert answering.recv(timeout=3) == {"event": "pusher:ping", "data": {}}
    answering.send("pusher:pong")

    assert silent.recv(timeout=3) == {"event": "pusher:ping", "data": {}}
    error, code = expect_close(silent, timeout=3)
    assert error == {
        "event": "pusher:error",
        "data": {"code": 4201, "message": "Pong reply not received"},
    }
    assert code == 4201

    # The silent client was closed after its pong deadline; the answering one, which
    # connected earlier, is past the same deadline and still served.
    answering.send("pusher:ping")
    assert answering.recv_event("pusher:pong", timeout=3) == {"event": "pusher:pong", "data": {}}
    answering.close()


def _refused(url: str) -> tuple[dict, int | None]:
    return expect_close(PusherClient(url))


def test_unknown_app_key_is_closed_with_4001(server: ServerProcess) -> None:
    error, code = _refused(server.ws_url(key="no-such-key"))
    assert error == {
        "event": "pusher:error",
        "data": {"code": 4001, "message": "Application does not exist"},
    }
    assert code == 4001


def test_missing_protocol_is_closed_with_4008(server: ServerProcess) -> None:
    error, code = _refused(server.ws_url(protocol=None))
    assert error["data"] == {"code": 4008, "message": "No protocol version supplied"}
    assert code == 4008


def test_non_numeric_protocol_is_closed_with_4006(server: ServerProcess) -> None:
    url = f"ws://127.0.0.1:{server.port}/app/{APP_KEY}?protocol=seven"
    error, code = _refused(url)
    assert error["data"] == {"code": 4006, "message": "Invalid version string format"}
    assert code == 4006


def test_old_protocol_is_closed_with_4007(server: ServerProcess) -> None:
    error, code = _refused(server.ws_url(protocol=4))
    assert error["data"] == {"code": 4007, "message": "Unsupported protocol version"}
    assert code == 4007


def test_disabled_app_is_closed_with_4003(start_server, tmp_path: Path) -> None:
    config = tmp_path / "apps.json"
    app = {"app_id": APP_ID, "app_key": APP_KEY, "app_secret": APP_SECRET, "app_enabled": False}
    config.write_text(json.dumps({"applications": [app]}))
    disabled = start_server("--config-file", str(config), default_app=False)
    error, code = _refused(disabled.ws_url())
    assert error == {
        "event": "pusher:error",
        "data": {"code": 4003, "message": "Application disabled"},
    }
    assert code == 4003


def test_connection_over_quota_is_closed_with_4004(start_server) -> None:
    limited = start_server("--app-max-connections", "1")
    first = PusherClient.connect(limited)
    error, code = _refused(limited.ws_url())
    assert error["data"] == {"code": 4004, "message": "Application is over connection quota"}
    assert code == 4004
    assert_alive(first)
    first.close()


def test_unsigned_connection_is_closed_with_4009_signed_one_stays(start_server) -> None:
    strict = start_server(
        "--app-require-authorization", "true", "--app-authorization-timeout-seconds", "1"
    )
    signed = PusherClient.connect(strict)
    auth = sign_in(strict, signed, {"id": "u1"})
    assert signed.recv() == {
        "event": "pusher:signin_success",
        "data": {"user_data": auth["user_data"]},
    }
    unsigned = PusherClient.connect(strict)

    error, code = expect_close(unsigned, timeout=3)
    assert error["data"] == {"code": 4009, "message": "Connection is unauthorized"}
    assert code == 4009
    # `signed` connected first, so its deadline has passed too.
    assert_alive(signed)
    signed.close()
