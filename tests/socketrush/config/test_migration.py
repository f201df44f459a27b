"""Notices for soketi users: SOKETI_* variables, -1 as unlimited, a grace period in ms."""

from __future__ import annotations

import re
from pathlib import Path

from socketrush.config import load
from socketrush.config.migration import (
    MIGRATING_DOC,
    SOKETI_EQUIVALENTS,
    SOKETI_PREFIX_EQUIVALENTS,
)
from tests.support.config import CREDS, write_json
from tests.support.server import REPO_ROOT


def notices(*argv: str, env: dict[str, str] | None = None) -> tuple[str, ...]:
    return load(list(argv), env or {}).notices


def test_no_notice_for_a_plain_configuration() -> None:
    assert notices(*CREDS, "--app-max-connections", "0") == ()


def test_soketi_variables_name_our_equivalent_or_the_migration_guide() -> None:
    env = {
        "SOKETI_DEFAULT_APP_MAX_CONNS": "-1",
        "SOKETI_DB_POSTGRES_HOST": "db",
        "SOKETI_USER_AUTHENTICATION_TIMEOUT": "3000",
        "SOKETI_DEBUG": "",  # empty counts as unset, like our own variables
    }
    assert notices(*CREDS, env=env) == (
        "SOKETI_DB_POSTGRES_HOST is a soketi setting and is ignored: set "
        "DATABASE_URL=postgres://user:password@host:port/db instead",
        "SOKETI_DEFAULT_APP_MAX_CONNS is a soketi setting and is ignored: set "
        "APP_MAX_CONNECTIONS instead",
        "SOKETI_USER_AUTHENTICATION_TIMEOUT is a soketi setting and is ignored: see "
        "docs/migrating.md for the Socket Rush settings",
    )


def test_soketi_variables_in_the_env_file_say_so(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("SOKETI_SHUTDOWN_GRACE_PERIOD=3000\n")
    assert notices(*CREDS) == (
        "SOKETI_SHUTDOWN_GRACE_PERIOD in env file .env is a soketi setting and is ignored: set "
        "SHUTDOWN_GRACE_PERIOD, in seconds (soketi's is milliseconds) instead",
    )


def test_minus_1_limits_start_as_unlimited_with_one_notice_each(tmp_path: Path) -> None:
    apps = [
        {"app_id": "1", "app_key": "a", "app_secret": "s", "app_max_read_requests_per_second": -1},
        {"app_id": "2", "app_key": "b", "app_secret": "s"},
    ]
    path = write_json(tmp_path / "c.json", {"applications": apps})
    env = {"APP_MAX_BACKEND_EVENTS_PER_SECOND": "-1"}
    loaded = load(["--config-file", path], env)
    assert [
        (app.max_read_requests_per_second, app.max_backend_events_per_second)
        for app in loaded.settings.apps
    ] == [(0, 0), (0, 0)]
    assert loaded.notices == (
        "app_max_backend_events_per_second -1 from env APP_MAX_BACKEND_EVENTS_PER_SECOND means "
        "no limit, as in soketi: read as 0 (unlimited)",
        "app_max_read_requests_per_second -1 from config file "
        f"'{path}' key applications[0].app_max_read_requests_per_second means no limit, as in "
        "soketi: read as 0 (unlimited)",
    )


def test_a_grace_period_above_600_seconds_was_probably_meant_in_ms() -> None:
    assert notices(*CREDS, "--shutdown-grace-period", "600") == ()
    assert notices(*CREDS, env={"SHUTDOWN_GRACE_PERIOD": "10000"}) == (
        "shutdown_grace_period 10000 from env SHUTDOWN_GRACE_PERIOD is in seconds, not "
        "milliseconds as in soketi: a drain may take up to 167 minutes",
    )


def test_every_mapped_soketi_variable_is_in_the_migration_guide() -> None:
    guide = (REPO_ROOT / MIGRATING_DOC).read_text()
    table = guide.split("## From soketi", 1)[1].split("\n## ", 1)[0]
    missing = []
    for name, ours in SOKETI_EQUIVALENTS.items():
        # The guide abbreviates families: `SOKETI_DB_REDIS_HOST`, `_PORT`, ... on one row.
        spelled = f"`{name}" in table or f"`_{name.rsplit('_', 1)[-1]}`" in table
        first_env = ours.split("=")[0].split(" ")[0].rstrip(",")
        if not spelled or f"`{first_env}" not in table:
            missing.append(name)
    assert missing == []


def test_every_soketi_variable_the_guide_maps_gets_a_named_warning() -> None:
    guide = (REPO_ROOT / MIGRATING_DOC).read_text()
    table = guide.split("## From soketi", 1)[1].split("\n## ", 1)[0]
    unnamed = [
        name
        for row in table.splitlines()
        if row.startswith("| `SOKETI_") and row.split("|")[2].strip() != "—"
        for name in re.findall(r"`(SOKETI_[A-Z0-9_]+)", row.split("|")[1])
        if name not in SOKETI_EQUIVALENTS
        and not any(name.startswith(prefix) for prefix in SOKETI_PREFIX_EQUIVALENTS)
    ]
    assert unnamed == []
