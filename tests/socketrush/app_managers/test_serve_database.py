"""`socketrush serve --app-manager postgres|mysql` end to end: real database, real server
process, apps table made by `socketrush apps init-db`, clients on real sockets and the official
`pusher` SDK."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator

import pusher
import pytest

from socketrush.app_managers.sql_rows import DEFAULT_TABLE
from tests.support.client import ConnectionClosed, PusherClient, expect_close, sdk
from tests.support.databases import DatabaseServer, insert
from tests.support.polling import wait_until
from tests.support.server import REPO_ROOT, ServerProcess

pytestmark = pytest.mark.timeout(120)

GOOD = {"id": "777001", "key": "db-key", "secret": "db-secret"}  # the SDK wants numeric ids
BAD = {"id": "777002", "key": "bad-key", "secret": "bad-secret"}
CACHE_TTL = 1  # seconds; a disabled app is refused once the cached answer expires
REFUSED_LINE = (
    "app manager: app refused until its row is fixed: invalid app_webhooks from column webhooks "
    f"of app '777002' in table {DEFAULT_TABLE}: webhook https://hooks.example/in: unknown event "
    "types ['member_joined']"
)

KNOWN = (
    "channel_occupied, channel_vacated, member_added, member_removed, client_event, cache_miss, "
    "subscription_count"
)


@pytest.fixture
def apps_table(database: DatabaseServer) -> Iterator[DatabaseServer]:
    """The default apps table, created by the real `socketrush apps init-db` command."""
    drop = f"DROP TABLE IF EXISTS {database.quote(DEFAULT_TABLE)}"
    database.execute(drop)
    init = subprocess.run(
        [sys.executable, "-m", "socketrush", "apps", "init-db", "--env-file", "/dev/null"]
        + ["--app-manager", database.dialect, "--database-url", database.url],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert (init.returncode, init.stderr) == (0, ""), init.stderr
    yield database
    database.execute(drop)


@pytest.fixture
def db_server(apps_table: DatabaseServer) -> Iterator[ServerProcess]:
    """A server that finds its apps in the database (and has no other app)."""
    args = ["--app-manager", apps_table.dialect, "--database-url", apps_table.url]
    args += ["--app-manager-cache-ttl", str(CACHE_TTL)]
    with ServerProcess(args=args, with_default_app=False) as server:
        yield server


def test_an_app_from_the_database_connects_receives_and_can_be_disabled(
    apps_table: DatabaseServer, db_server: ServerProcess
) -> None:
    insert(apps_table, DEFAULT_TABLE, **GOOD)
    client = PusherClient.connect(db_server, GOOD["key"])
    try:
        client.subscribe("news")
        client.recv_event("pusher_internal:subscription_succeeded")
        api = sdk(db_server, GOOD["id"], GOOD["key"], GOOD["secret"])
        assert api.trigger("news", "headline", "from the database app") == {}
        assert client.recv() == {
            "event": "headline",
            "channel": "news",
            "data": "from the database app",
        }
    finally:
        client.close()
    q = apps_table.quote
    apps_table.execute(
        f"UPDATE {q(DEFAULT_TABLE)} SET {q('enabled')} = %s WHERE {q('id')} = %s",
        [False, GOOD["id"]],
    )
    attempts: list[tuple[PusherClient, dict]] = []

    def refused_now() -> bool:
        """The cached "enabled" answer expires on the server's clock: connect until it has."""
        client = PusherClient(db_server.ws_url(GOOD["key"]))
        attempts.append((client, client.recv()))
        if attempts[-1][1]["event"] != "pusher:connection_established":
            return True
        client.close()
        return False

    wait_until(refused_now, CACHE_TTL + 10, lambda: f"still accepted: {attempts[-1][1]}")
    refused, first = attempts[-1]
    assert first == {
        "event": "pusher:error",
        "data": {"code": 4003, "message": "Application disabled"},
    }
    with pytest.raises(ConnectionClosed) as closed:
        refused.recv()
    assert closed.value.code == 4003


def test_an_app_with_bad_webhooks_is_refused_and_logged_and_others_keep_working(
    apps_table: DatabaseServer, db_server: ServerProcess
) -> None:
    bad_hooks = '[{"url": "https://hooks.example/in", "event_types": ["member_joined"]}]'
    insert(apps_table, DEFAULT_TABLE, **BAD, webhooks=bad_hooks)
    insert(apps_table, DEFAULT_TABLE, **GOOD)
    error, code = expect_close(PusherClient(db_server.ws_url(BAD["key"])))
    assert (error, code) == (
        {"event": "pusher:error", "data": {"code": 4001, "message": "Application does not exist"}},
        4001,
    )
    with pytest.raises(pusher.errors.PusherBadStatus, match="404"):
        sdk(db_server, BAD["id"], BAD["key"], BAD["secret"]).trigger("news", "e", "x")
    PusherClient.connect(db_server, GOOD["key"]).close()
    api = sdk(db_server, GOOD["id"], GOOD["key"], GOOD["secret"])
    assert api.trigger("news", "still", "working") == {}
    log = db_server.log()
    refused = [line for line in log.splitlines() if "app refused" in line]
    # One line per lookup (by key for the socket, by id for the API call), no traceback.
    assert len(refused) == 2
    assert all(line.endswith(REFUSED_LINE + "; known: " + KNOWN) for line in refused)
    assert "Traceback" not in log
