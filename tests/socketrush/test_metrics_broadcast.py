"""Frames a channel sends are counted as sent messages and bytes: a broadcast once for all of
its recipients, a frame for one subscriber (e.g. subscription_succeeded) once."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest

from tests.support.client import PusherClient, sdk
from tests.support.metrics import scrape_until, value
from tests.support.server import APP_ID

pytestmark = pytest.mark.timeout(60)


def wire_size(payload: bytes) -> int:
    return len(payload) + (2 if len(payload) < 126 else 4)


def test_broadcast_frames_are_counted_once_per_broadcast(
    metrics_server: Callable,
) -> None:
    server, port = metrics_server()
    clients = [PusherClient(server.ws_url()) for _ in range(2)]
    sent_bytes = 0

    def receive(client: PusherClient) -> bytes:
        nonlocal sent_bytes
        client.ws.settimeout(5)
        _, payload = client.ws.recv_data()
        sent_bytes += wire_size(payload)
        return payload

    for client in clients:
        hello = json.loads(receive(client))
        assert hello["event"] == "pusher:connection_established"
        client.subscribe("news")
        assert json.loads(receive(client))["event"] == "pusher_internal:subscription_succeeded"
    assert sdk(server).trigger("news", "headline", "x" * 200) == {}
    for client in clients:
        assert json.loads(receive(client)) == {
            "event": "headline",
            "channel": "news",
            "data": "x" * 200,
        }
    # two hellos, two subscription_succeeded, one broadcast to two
    samples = scrape_until(port, "socketrush_ws_messages_sent_total", 6, app_id=APP_ID)
    assert value(samples, "socketrush_ws_messages_sent_total", app_id=APP_ID) == 6
    assert value(samples, "socketrush_ws_bytes_sent_total", app_id=APP_ID) == sent_bytes
    for client in clients:
        client.close()
