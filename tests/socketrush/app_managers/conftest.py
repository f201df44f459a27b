"""Real database servers (session-wide) and a fresh table name per test."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from tests.support.databases import DatabaseServer, mariadb_server, postgres_server

__all__ = ["mariadb_server", "postgres_server"]  # session fixtures, shared with these tests


@pytest.fixture(params=["postgres", "mysql"])
def database(request: pytest.FixtureRequest) -> DatabaseServer:
    """Each database test runs once against PostgreSQL and once against MariaDB."""
    name = "postgres_server" if request.param == "postgres" else "mariadb_server"
    return request.getfixturevalue(name)


@pytest.fixture
def table(database: DatabaseServer) -> Iterator[str]:
    """A table name no other test uses; dropped afterwards."""
    name = f"apps_{uuid.uuid4().hex[:12]}"
    yield name
    database.execute(f"DROP TABLE IF EXISTS {database.quote(name)}")
