"""`socketrush serve --app-manager dynamodb` end to end: moto's DynamoDB, a real server process,
clients on real sockets and the official `pusher` SDK."""

from __future__ import annotations

import json
import socket
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from typing import Any

import pusher
import pytest

from tests.fuzz.frame_cases import read_until_closed
from tests.support.client import PusherClient, expect_close, sdk
from tests.support.moto import (
    REGION,
    MotoServer,
    create_apps_table,
    unique,
)
from tests.support.polling import wait_until
from tests.support.server import ServerProcess, free_port

pytestmark = pytest.mark.timeout(120)

CACHE_TTL = 1  # seconds: changes in the table reach the server after this
APP = {"AppId": {"S": "888001"}, "AppKey": {"S": "dyn-key"}, "AppSecret": {"S": "dyn-secret"}}
OTHER = {"AppId": {"S": "888002"}, "AppKey": {"S": "other-key"}, "AppSecret": {"S": "other"}}
NOT_FOUND = {
    "event": "pusher:error",
    "data": {"code": 4001, "message": "Application does not exist"},
}
UNAVAILABLE = {
    "event": "pusher:error",
    "data": {
        "code": 4100,
        "message": "Applications cannot be looked up right now, try again later",
    },
}


@pytest.fixture
def table(moto_server: MotoServer) -> Iterator[str]:
    dynamodb = moto_server.client("dynamodb")
    name = unique("apps")
    create_apps_table(dynamodb, name)
    yield name
    dynamodb.delete_table(TableName=name)


def serve(
    moto: MotoServer, table: str, endpoint: str | None = None, *options: str
) -> ServerProcess:
    args = [*options, "--app-manager", "dynamodb", "--app-manager-dynamodb-table", table]
    args += ["--app-manager-dynamodb-region", REGION]
    args += ["--app-manager-dynamodb-endpoint", endpoint or moto.url]
    args += ["--app-manager-cache-ttl", str(CACHE_TTL)]
    return ServerProcess(args=args, env=moto.env, with_default_app=False)


@pytest.fixture
def server(moto_server: MotoServer, table: str) -> Iterator[ServerProcess]:
    with serve(moto_server, table) as running:
        yield running


def put(moto: MotoServer, table: str, **attributes: dict[str, Any]) -> None:
    moto.client("dynamodb").put_item(TableName=table, Item={**APP, **attributes})


def eventually(check: Callable[[], bool], what: str) -> None:
    """The server's cached answer expires on its own clock: poll past the TTL."""
    wait_until(check, CACHE_TTL + 10, lambda: what)


def test_an_app_from_the_table_connects_and_receives_an_sdk_trigger(
    moto_server: MotoServer,
    table: str,
    server: ServerProcess,
) -> None:
    put(moto_server, table, Enabled={"B": b"true"}, MaxConnections={"N": "-1"})  # soketi's style
    client = PusherClient.connect(server, "dyn-key")
    try:
        client.subscribe("news")
        client.recv_event("pusher_internal:subscription_succeeded")
        api = sdk(server, "888001", "dyn-key", "dyn-secret")
        assert api.trigger("news", "headline", "from DynamoDB") == {}
        assert client.recv() == {"event": "headline", "channel": "news", "data": "from DynamoDB"}
    finally:
        client.close()


def test_a_disabled_app_is_refused(
    moto_server: MotoServer,
    table: str,
    server: ServerProcess,
) -> None:
    put(moto_server, table)
    PusherClient.connect(server, "dyn-key").close()
    put(moto_server, table, Enabled={"BOOL": False})

    def is_refused() -> bool:
        probe = PusherClient(server.ws_url("dyn-key"))
        try:
            return probe.recv()["event"] != "pusher:connection_established"
        finally:
            probe.close()

    eventually(is_refused, "the disabled app was still accepted after the TTL")
    error, code = expect_close(PusherClient(server.ws_url("dyn-key")))
    assert (error, code) == (
        {"event": "pusher:error", "data": {"code": 4003, "message": "Application disabled"}},
        4003,
    )
    with pytest.raises(pusher.errors.PusherForbidden, match="App is disabled"):
        sdk(server, "888001", "dyn-key", "dyn-secret").trigger("news", "e", "x")


def test_a_changed_secret_is_picked_up_after_the_ttl(
    moto_server: MotoServer,
    table: str,
    server: ServerProcess,
) -> None:
    put(moto_server, table)
    old = sdk(server, "888001", "dyn-key", "dyn-secret")
    new = sdk(server, "888001", "dyn-key", "rotated-secret")
    assert old.trigger("news", "e", "signed with the old secret") == {}
    put(moto_server, table, AppSecret={"S": "rotated-secret"})

    def new_secret_works() -> bool:
        try:
            return new.trigger("news", "e", "signed with the new secret") == {}
        except pusher.errors.PusherBadAuth:
            return False

    eventually(new_secret_works, "the new secret was still refused after the TTL")
    with pytest.raises(pusher.errors.PusherBadAuth):
        old.trigger("news", "e", "signed with the old secret")


def test_a_malformed_item_refuses_that_app_only(
    moto_server: MotoServer,
    table: str,
    server: ServerProcess,
) -> None:
    put(moto_server, table, MaxConnections={"N": "-5"})
    moto_server.client("dynamodb").put_item(TableName=table, Item=OTHER)
    assert expect_close(PusherClient(server.ws_url("dyn-key"))) == (NOT_FOUND, 4001)
    with pytest.raises(pusher.errors.PusherBadStatus, match="404"):
        sdk(server, "888001", "dyn-key", "dyn-secret").trigger("news", "e", "x")
    PusherClient.connect(server, "other-key").close()
    assert sdk(server, "888002", "other-key", "other").trigger("news", "e", "x") == {}
    log = server.log()
    refused = [line for line in log.splitlines() if "app refused" in line]
    assert len(refused) == 2  # one per lookup kind (key for the socket, id for the API)
    assert all(
        line.endswith(
            "app manager: app refused until its item is fixed: invalid value -5 for "
            "app_max_connections from attribute MaxConnections of app '888001' in DynamoDB "
            f"table {table}: expected an integer >= 0 (0 or -1 for unlimited)"
        )
        for line in refused
    )
    assert "Traceback" not in log


class _SilentEndpoint:
    """A TCP endpoint that accepts and never answers: a DynamoDB that hangs."""

    def __init__(self) -> None:
        self.port = free_port()
        self.accepted = threading.Event()
        self.closed_by_peer = threading.Event()
        self._listener = socket.create_server(("127.0.0.1", self.port))
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        connection, _ = self._listener.accept()
        self.accepted.set()
        with connection:
            while connection.recv(65536):
                pass  # the request arrives; no answer is ever sent
        self.closed_by_peer.set()

    def close(self) -> None:
        self._listener.close()


def test_a_hanging_dynamodb_stalls_only_the_lookup_waiting_for_it(
    moto_server: MotoServer,
    table: str,
) -> None:
    silent = _SilentEndpoint()
    try:
        with serve(moto_server, table, f"http://127.0.0.1:{silent.port}") as server:
            outcome: list[tuple[dict, int | None]] = []

            def connect() -> None:  # the handshake is answered once the lookup is done
                outcome.append(expect_close(PusherClient(server.ws_url("dyn-key"), timeout=30)))

            waiting = threading.Thread(target=connect, daemon=True)
            waiting.start()
            assert silent.accepted.wait(10)
            started = time.monotonic()
            with urllib.request.urlopen(server.http_url + "/", timeout=4) as response:
                assert response.read() == b"OK"
            # Answered while the lookup still waited (botocore gives up after a 5 s read).
            assert not silent.closed_by_peer.is_set(), time.monotonic() - started
            waiting.join(40)
            assert outcome == [(UNAVAILABLE, 4100)]  # once the lookup gave up: try again later
        assert "app lookup in DynamoDB table" in server.log()
    finally:
        silent.close()


def test_a_lookup_slower_than_the_handshake_deadline_still_answers(
    moto_server: MotoServer,
    table: str,
) -> None:
    """The handshake deadline bounds the wait for a request head, not the app lookup after it:
    a head that arrives after the connection was accepted (the server waits for it) and a
    lookup that outlasts the deadline still get the lookup's answer, not a cut connection."""
    silent = _SilentEndpoint()
    try:
        endpoint = f"http://127.0.0.1:{silent.port}"
        with serve(moto_server, table, endpoint, "--handshake-timeout-ms", "1000") as server:
            sock = socket.create_connection(("127.0.0.1", server.port), timeout=30)
            with sock:
                time.sleep(0.3)  # input, not synchronisation: the head arrives after the accept
                sock.sendall(
                    b"GET /app/dyn-key?protocol=7 HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                    b"Upgrade: websocket\r\nConnection: Upgrade\r\n"
                    b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                    b"Sec-WebSocket-Version: 13\r\n\r\n"
                )
                answer = b""
                while b"\r\n\r\n" not in answer:
                    chunk = sock.recv(65536)
                    assert chunk, f"closed without an answer after {answer!r}"
                    answer += chunk
                head, _, rest = answer.partition(b"\r\n\r\n")
                assert head.startswith(b"HTTP/1.1 101 ")
                replies, code = read_until_closed(sock, rest)
            assert [json.loads(payload) for _, payload in replies] == [UNAVAILABLE]
            assert code == 4100
        assert "Traceback" not in server.log()
    finally:
        silent.close()
