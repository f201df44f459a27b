"""The WSGI dispatch in front of Flask: HTTP API requests that name a WebSocket upgrade."""

from __future__ import annotations

import json
import urllib.parse

import pytest

from tests.support.client import PusherClient
from tests.support.http_api import EVENTS, raw_request, signed_query
from tests.support.server import ServerProcess


@pytest.mark.parametrize("upgrade", ["Connection: Upgrade", "Upgrade: websocket"])
@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_api_request_naming_an_upgrade_is_answered(
    server: ServerProcess, upgrade: str, chunked: bool
) -> None:
    """gevent gives such a request the raw socket as input; its body used to be read up to
    the body limit from it, so the request hung until the client gave up."""
    subscriber = PusherClient.connect(server)
    try:
        subscriber.subscribe("upgrade-named")
        subscriber.recv_event("pusher_internal:subscription_succeeded")
        body = json.dumps({"name": "e", "channel": "upgrade-named", "data": "d"}).encode()
        query = urllib.parse.urlencode(signed_query("POST", EVENTS, body))
        if chunked:
            framing, sent = (
                "Transfer-Encoding: chunked",
                b"%x\r\n%s\r\n0\r\n\r\n" % (len(body), body),
            )
        else:
            framing, sent = f"Content-Length: {len(body)}", body
        head = f"POST {EVENTS}?{query} HTTP/1.1\r\n{upgrade}\r\n{framing}\r\n\r\n"
        status, _, answer = raw_request(server, head.encode() + sent)
        assert (status, answer) == (200, b"{}")
        assert subscriber.recv() == {"event": "e", "channel": "upgrade-named", "data": "d"}
    finally:
        subscriber.close()
