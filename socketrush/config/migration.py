"""Notices for people coming from soketi: settings that start the server but may not mean what
they meant there. Each is one line, given once; none stops start-up."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from socketrush.config.values import Given, is_unlimited
from socketrush.options import Option

SOKETI_PREFIX = "SOKETI_"
# Above this many seconds a grace period was most likely meant as soketi's milliseconds.
GRACE_PERIOD_LIKELY_MS = 600
MIGRATING_DOC = "docs/migrating.md"

# soketi variable -> what to set here instead.
SOKETI_EQUIVALENTS: Mapping[str, str] = {
    "SOKETI_PORT": "PORT",
    "SOKETI_DEBUG": "LOG_LEVEL=debug",
    "SOKETI_DEFAULT_APP_ID": "APP_ID",
    "SOKETI_DEFAULT_APP_KEY": "APP_KEY",
    "SOKETI_DEFAULT_APP_SECRET": "APP_SECRET",
    "SOKETI_DEFAULT_APP_ENABLED": "APP_ENABLED",
    "SOKETI_DEFAULT_APP_ENABLE_CLIENT_MESSAGES": "APP_ENABLE_CLIENT_MESSAGES",
    "SOKETI_DEFAULT_APP_MAX_CONNS": "APP_MAX_CONNECTIONS",
    "SOKETI_DEFAULT_APP_MAX_BACKEND_EVENTS_PER_SEC": "APP_MAX_BACKEND_EVENTS_PER_SECOND",
    "SOKETI_DEFAULT_APP_MAX_CLIENT_EVENTS_PER_SEC": "APP_MAX_CLIENT_EVENTS_PER_SECOND",
    "SOKETI_DEFAULT_APP_MAX_READ_REQ_PER_SEC": "APP_MAX_READ_REQUESTS_PER_SECOND",
    "SOKETI_DEFAULT_APP_WEBHOOKS": (
        "app_webhooks in the JSON config file, or APP_WEBHOOKS_ENABLED, APP_WEBHOOK_URL "
        "and APP_HAS_*_WEBHOOKS"
    ),
    "SOKETI_ADAPTER_DRIVER": "ADAPTER_DRIVER (and CACHE_DRIVER, QUEUE_DRIVER)",
    "SOKETI_ADAPTER_REDIS_PREFIX": "REDIS_PREFIX",
    "SOKETI_DB_REDIS_KEY_PREFIX": "REDIS_PREFIX",
    "SOKETI_ADAPTER_REDIS_CLUSTER_MODE": "REDIS_CLUSTER",
    "SOKETI_ADAPTER_NATS_SERVERS": "ADAPTER_NATS_SERVERS",
    "SOKETI_ADAPTER_NATS_PREFIX": "ADAPTER_NATS_PREFIX",
    "SOKETI_ADAPTER_NATS_USER": "ADAPTER_NATS_USER",
    "SOKETI_ADAPTER_NATS_PASSWORD": "ADAPTER_NATS_PASSWORD",
    "SOKETI_ADAPTER_NATS_TOKEN": "ADAPTER_NATS_TOKEN",
    "SOKETI_ADAPTER_NATS_TIMEOUT": "ADAPTER_NATS_TIMEOUT",
    "SOKETI_ADAPTER_NATS_REQUESTS_TIMEOUT": "ADAPTER_NATS_REQUESTS_TIMEOUT",
    "SOKETI_DB_REDIS_HOST": "REDIS_URL=redis://user:password@host:port/db",
    "SOKETI_DB_REDIS_PORT": "REDIS_URL=redis://user:password@host:port/db",
    "SOKETI_DB_REDIS_USERNAME": "REDIS_URL=redis://user:password@host:port/db",
    "SOKETI_DB_REDIS_PASSWORD": "REDIS_URL=redis://user:password@host:port/db",
    "SOKETI_DB_REDIS_DB": "REDIS_URL=redis://user:password@host:port/db",
    "SOKETI_QUEUE_DRIVER": "QUEUE_DRIVER (sync is local)",
    "SOKETI_QUEUE_SQS_URL": "QUEUE_SQS_URL",
    "SOKETI_QUEUE_SQS_REGION": "QUEUE_SQS_REGION",
    "SOKETI_QUEUE_SQS_ENDPOINT": "QUEUE_SQS_ENDPOINT",
    "SOKETI_QUEUE_SQS_BATCH_SIZE": "QUEUE_SQS_BATCH_SIZE",
    "SOKETI_QUEUE_SQS_POLLING_WAIT_TIME_MS": "QUEUE_SQS_POLLING_WAIT_TIME_MS",
    "SOKETI_APP_MANAGER_DRIVER": "APP_MANAGER",
    "SOKETI_APP_MANAGER_CACHE_TTL": "APP_MANAGER_CACHE_TTL",
    "SOKETI_APP_MANAGER_DYNAMODB_TABLE": "APP_MANAGER_DYNAMODB_TABLE",
    "SOKETI_APP_MANAGER_DYNAMODB_REGION": "APP_MANAGER_DYNAMODB_REGION",
    "SOKETI_APP_MANAGER_DYNAMODB_ENDPOINT": "APP_MANAGER_DYNAMODB_ENDPOINT",
    "SOKETI_CHANNEL_LIMITS_MAX_NAME_LENGTH": "APP_MAX_CHANNEL_NAME_LENGTH",
    "SOKETI_EVENT_MAX_CHANNELS_AT_ONCE": "APP_MAX_EVENT_CHANNELS_AT_ONCE",
    "SOKETI_EVENT_MAX_NAME_LENGTH": "APP_MAX_EVENT_NAME_LENGTH",
    "SOKETI_EVENT_MAX_SIZE_IN_KB": "APP_MAX_EVENT_PAYLOAD_IN_KB",
    "SOKETI_PRESENCE_MAX_MEMBERS": "APP_MAX_PRESENCE_MEMBERS_PER_CHANNEL",
    "SOKETI_PRESENCE_MAX_MEMBER_SIZE": "APP_MAX_PRESENCE_MEMBER_SIZE_IN_KB",
    "SOKETI_METRICS_ENABLED": "METRICS_ENABLED",
    "SOKETI_METRICS_SERVER_PORT": "METRICS_PORT",
    "SOKETI_SHUTDOWN_GRACE_PERIOD": "SHUTDOWN_GRACE_PERIOD, in seconds (soketi's is milliseconds)",
    "SOKETI_SSL_CERT": "SSL_CERT",
    "SOKETI_SSL_KEY": "SSL_KEY",
    "SOKETI_SSL_PASS": "SSL_PASSPHRASE",
}
# Families of soketi variables that one of ours replaces as a whole.
SOKETI_PREFIX_EQUIVALENTS: Mapping[str, str] = {
    "SOKETI_DB_POSTGRES_": "DATABASE_URL=postgres://user:password@host:port/db",
    "SOKETI_DB_MYSQL_": "DATABASE_URL=mysql://user:password@host:port/db",
}


class Notices:
    """Notices collected while loading the settings, in order, each once."""

    def __init__(self) -> None:
        self._lines: dict[str, None] = {}

    @property
    def lines(self) -> tuple[str, ...]:
        return tuple(self._lines)

    def add(self, line: str) -> None:
        self._lines.setdefault(line)

    def unlimited(self, option: Option, given: Given) -> None:
        """soketi's -1 for a limit: accepted as our 0, which means the same."""
        if is_unlimited(option, given):
            self.add(
                f"{option.name} -1 from {given.source} means no limit, as in soketi: "
                "read as 0 (unlimited)"
            )

    def soketi_variables(self, sources: Iterable[tuple[Mapping[str, object], str]]) -> None:
        """Each SOKETI_* variable set in the environment or the .env file: we ignore it."""
        for variables, where in sources:
            for name in sorted(variables):
                if name.startswith(SOKETI_PREFIX) and variables[name]:
                    self.add(f"{name}{where} is a soketi setting and is ignored: {_instead(name)}")

    def grace_period(self, given: Given, seconds: int) -> None:
        if seconds > GRACE_PERIOD_LIKELY_MS:
            self.add(
                f"shutdown_grace_period {seconds} from {given.source} is in seconds, not "
                f"milliseconds as in soketi: a drain may take up to {seconds / 60:.0f} minutes"
            )


def _instead(name: str) -> str:
    equivalent = SOKETI_EQUIVALENTS.get(name) or next(
        (ours for prefix, ours in SOKETI_PREFIX_EQUIVALENTS.items() if name.startswith(prefix)),
        None,
    )
    if equivalent is None:
        return f"see {MIGRATING_DOC} for the Socket Rush settings"
    return f"set {equivalent} instead"
