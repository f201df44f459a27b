"""`socketrush serve` with a database app manager whose database stops: a real PostgreSQL,
stopped for real, a real server process, clients on real sockets.

An app the server cannot look up may well exist, so clients are told "try again later": a
WebSocket gets 4100 (pusher-js backs off and reconnects; 4001 would stop it for good), the
HTTP API 503 with a JSON body (not 404 "Unknown app id"). The outage is logged once, however
many lookups fail.
"""

from __future__ import annotations

import json
import signal
import urllib.error
import urllib.request
from collections.abc import Iterator

import pytest

from socketrush.app_managers import init_db
from socketrush.app_managers.sql import DEFAULT_TABLE
from tests.support.client import PusherClient, expect_close
from tests.support.databases import (
    DatabaseServer,
    DatabaseUnavailable,
    insert,
    running_postgres,
)
from tests.support.server import ServerProcess

pytestmark = pytest.mark.timeout(180)

APP = {"id": "777101", "key": "outage-key", "secret": "outage-secret"}
UNAVAILABLE = "Applications cannot be looked up right now, try again later"


@pytest.fixture
def database() -> Iterator[DatabaseServer]:
    """A PostgreSQL of this test's own, since the test stops it."""
    try:
        with running_postgres() as server:
            yield server
    except DatabaseUnavailable as problem:
        pytest.fail(str(problem), pytrace=False)


def trigger(server: ServerProcess) -> tuple[int, dict[str, str], bytes]:
    """POST /apps/{id}/events, unsigned: the app is looked up before the signature."""
    request = urllib.request.Request(
        f"{server.http_url}/apps/{APP['id']}/events",
        data=b'{"name":"e","channel":"news","data":"x"}',
        headers={"Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=15) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        with error:
            return error.code, dict(error.headers), error.read()


def test_a_stopped_database_answers_try_again_later_and_is_logged_once(
    database: DatabaseServer,
) -> None:
    init_db("postgres", database.url)
    insert(database, DEFAULT_TABLE, **APP)
    args = ["--app-manager", "postgres", "--database-url", database.url]
    args += ["--app-manager-cache-ttl", "0"]  # every lookup asks the database
    with ServerProcess(args=args, with_default_app=False) as server:
        PusherClient.connect(server, APP["key"]).close()
        assert trigger(server)[0] == 401  # found; the unsigned request is refused

        database.process.send_signal(signal.SIGINT)  # PostgreSQL's fast shutdown
        database.process.wait(30)

        for _ in range(3):
            refused = PusherClient(server.ws_url(APP["key"]), timeout=15)
            assert expect_close(refused) == (
                {"event": "pusher:error", "data": {"code": 4100, "message": UNAVAILABLE}},
                4100,
            )
            status, headers, body = trigger(server)
            assert (status, json.loads(body)) == (503, {"error": UNAVAILABLE})
            assert (headers["Content-Type"], headers["Retry-After"]) == ("application/json", "5")
        log = server.log()
    failed = [line for line in log.splitlines() if "app manager lookup failed" in line]
    assert len(failed) == 1, log  # six lookups failed: one line for the outage
    assert f"app lookup in postgres://socketrush@127.0.0.1:{database.port}/" in failed[0]
    assert "Traceback" not in log
