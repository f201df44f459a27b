"""App managers: where the server finds its applications.

`array` serves the apps given by flags, environment or config file; `postgres` and `mysql` read
them from a database table and `dynamodb` from a DynamoDB table (see docs/app-managers.md),
through a TTL cache, so apps added or disabled there take effect without a restart.
"""

from __future__ import annotations

from socketrush.app_managers.array import ArrayAppManager
from socketrush.app_managers.base import AppManager, AppManagerError
from socketrush.app_managers.cached import CachedAppManager
from socketrush.app_managers.reported import ReportedAppManager
from socketrush.app_managers.sql import SqlAppManager, init_db
from socketrush.aws_client import Endpoint, require_boto3
from socketrush.config import STORED_APP_MANAGERS
from socketrush.settings import ServerSettings

__all__ = [
    "AppManager",
    "AppManagerError",
    "ArrayAppManager",
    "CachedAppManager",
    "ReportedAppManager",
    "SqlAppManager",
    "build_app_manager",
    "init_db",
]


def build_app_manager(settings: ServerSettings) -> AppManager:
    """The manager `settings.app_manager` names; a TTL of 0 turns the cache off. A stored
    manager's outages are reported once each (`ReportedAppManager`, behind the cache)."""
    if settings.app_manager not in STORED_APP_MANAGERS:
        return ArrayAppManager(settings.apps)
    store: AppManager
    if settings.app_manager == "dynamodb":
        require_boto3("app_manager dynamodb")
        from socketrush.app_managers.dynamodb import DynamoDbAppManager  # imports boto3

        endpoint = Endpoint(
            "dynamodb",
            settings.app_manager_dynamodb_region,
            settings.app_manager_dynamodb_endpoint,
            "app_manager_dynamodb",
        )
        store = DynamoDbAppManager(settings.app_manager_dynamodb_table, endpoint)
    else:
        store = SqlAppManager(settings.app_manager, settings.database_url)  # type: ignore[arg-type]
    # The report sits behind the cache: a cache hit during an outage is no answer from the
    # store, so it must not end the outage (and log it again at the next miss).
    reported = ReportedAppManager(store)
    if settings.app_manager_cache_ttl:
        return CachedAppManager(reported, settings.app_manager_cache_ttl)
    return reported
