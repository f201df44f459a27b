"""Every Socket Rush setting, described once.

The CLI flags, environment variables, JSON config keys, `--help` text, shipped defaults
(checked against `settings.toml` by the tests) and the generated docs all come from `OPTIONS`,
so a setting cannot exist in one place and be missing from another.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from functools import partial


class Kind(StrEnum):
    """How a setting's text or JSON value is parsed and validated."""

    STR = "string"
    INT = "int"
    FLOAT = "float"
    BOOL = "bool"
    CHOICE = "choice"
    LIST = "list"  # list[str]; comma-separated in env vars and flags
    HTTP_URLS = "http_urls"  # a LIST whose items must be http:// or https:// URLs
    WEBHOOKS = "webhooks"  # JSON list of webhook objects, parsed into WebhookTargets

    @property
    def is_list(self) -> bool:
        """Comma-separated in flags and env vars, and a repeated flag adds to the list."""
        return self in (Kind.LIST, Kind.HTTP_URLS)


class Scope(StrEnum):
    """Whether a setting belongs to the whole server or to each application."""

    SERVER = "server"
    APP = "app"


@dataclass(frozen=True, slots=True)
class Option:
    """One setting: its name, type, default and every spelling each source accepts.

    The first flag, env var and JSON key are the primary spellings; the others are aliases
    kept for compatibility with the examples users copy.
    """

    name: str
    kind: Kind
    default: object
    flags: tuple[str, ...]
    env: tuple[str, ...]
    json_keys: tuple[str, ...]
    scope: Scope
    group: str
    help: str
    choices: tuple[str, ...] = ()
    minimum: int | None = None
    maximum: int | None = None
    secret: bool = False
    # 0 means "no limit"; soketi's -1 for the same is accepted and read as 0.
    zero_means_unlimited: bool = False
    # Read before the layers are merged (they decide which layers exist); not a ServerSettings field.
    bootstrap: bool = False

    @property
    def field(self) -> str:
        """Attribute name on ServerSettings / AppSettings (app settings drop the `app_` prefix)."""
        return self.name.removeprefix("app_") if self.scope is Scope.APP else self.name

    @property
    def json_paths(self) -> tuple[str, ...]:
        """Where the JSON keys live in the config file, e.g. `server.port`."""
        prefix = "server." if self.scope is Scope.SERVER else "applications[]."
        return tuple(prefix + key for key in self.json_keys)


def _option(
    scope: Scope, name: str, kind: Kind, default: object, group: str, help: str, **extra: object
) -> Option:
    """A setting spelled the usual way unless told otherwise: `--name-with-dashes`, `NAME`,
    JSON `name` (under `server` or `applications[]` depending on the scope)."""
    extra.setdefault("flags", ("--" + name.replace("_", "-"),))
    extra.setdefault("env", (name.upper(),))
    extra.setdefault("json_keys", (name,))
    return Option(name, kind, default, scope=scope, group=group, help=help, **extra)


_server = partial(_option, Scope.SERVER)
_app = partial(_option, Scope.APP)

_DRIVERS = ("local", "redis")
SERVER, CONFIG, DRIVERS, REDIS, LOGGING = "Server", "Configuration", "Drivers", "Redis", "Logging"
NATS = "NATS"
CREDENTIALS, APP_FEATURES, APP_LIMITS = "App credentials", "App features", "App limits"
APP_WEBHOOKS = "App webhooks"
WEBHOOKS = "Webhook delivery"
AWS = "AWS"
OPERATIONS = "Operations"
DASHBOARD = "Dashboard"

OPTIONS: tuple[Option, ...] = (
    # --- server ---
    _server(
        "port", Kind.INT, 6001, SERVER, "Port on which to run the server", minimum=1, maximum=65535
    ),
    _server("bind_address", Kind.STR, "0.0.0.0", SERVER, "Address on which to bind the server"),
    _server("app_env", Kind.STR, "production", SERVER, "Environment to run the server in"),
    _server(
        "socket_backlog_limit_kb",
        Kind.INT,
        1024,
        SERVER,
        "Outbound KB queued for one socket before it is closed as a slow consumer",
        minimum=1,
    ),
    _server(
        "publish_queue_limit",
        Kind.INT,
        10_000,
        SERVER,
        "Messages one app may have waiting on a node before HTTP API publishes get 429 "
        "(connections' own messages are never refused)",
        minimum=1,
    ),
    _server(
        "handshake_timeout_ms",
        Kind.INT,
        5000,
        SERVER,
        "Time a new connection has to complete its TLS handshake and send its HTTP request "
        "head (a WebSocket upgrade or an API call) before it is closed (serve; under gunicorn "
        "the request head only, with socketrush.gunicorn_worker.Worker)",
        minimum=100,
    ),
    _server(
        "request_body_timeout_ms",
        Kind.INT,
        10000,
        SERVER,
        "Time an HTTP request has to send its whole body once its head arrived before it is "
        "answered 408 and closed (serve, and gunicorn with socketrush.gunicorn_worker.Worker)",
        minimum=100,
    ),
    _server(
        "keep_alive_timeout_ms",
        Kind.INT,
        75000,
        SERVER,
        "Time an HTTP keep-alive connection may wait idle for its next request before it is "
        "closed (serve, and gunicorn with socketrush.gunicorn_worker.Worker); the request's "
        "head then has handshake_timeout_ms. Keep it above the idle timeout of a load "
        "balancer or HTTP client in front (often 60 s): a client that reuses a connection as "
        "the server closes it gets a reset",
        minimum=100,
    ),
    _server(
        "frame_timeout_ms",
        Kind.INT,
        10000,
        SERVER,
        "Time a WebSocket client has to complete a frame once its first byte arrived before "
        "the connection is closed (1008)",
        minimum=100,
    ),
    _server(
        "shutdown_grace_period",
        Kind.INT,
        10,
        SERVER,
        "Seconds to let connections close cleanly on shutdown",
        minimum=0,
    ),
    _server("ssl_cert", Kind.STR, "", SERVER, "PEM certificate file: serve wss:// and https://"),
    _server("ssl_key", Kind.STR, "", SERVER, "PEM private key file for --ssl-cert"),
    _server(
        "ssl_passphrase", Kind.STR, "", SERVER, "Passphrase of an encrypted --ssl-key", secret=True
    ),
    # --- configuration sources ---
    _server(
        "env_file",
        Kind.STR,
        "./.env",
        CONFIG,
        "Path to the .env file (relative to the working directory); a missing default "
        "file is ignored",
        env=(),
        bootstrap=True,
    ),
    _server(
        "config_file",
        Kind.STR,
        None,
        CONFIG,
        "Path to a config JSON file",
        flags=("--config-file", "--config"),
        env=(),
        json_keys=(),
        bootstrap=True,
    ),
    _server(
        "prefer_config_file",
        Kind.BOOL,
        False,
        CONFIG,
        "Let the config file override environment variables (flags still win)",
        env=(),
        json_keys=(),
        bootstrap=True,
    ),
    # --- drivers ---
    _server("cache_driver", Kind.CHOICE, "local", DRIVERS, "Cache driver to use", choices=_DRIVERS),
    _server(
        "queue_driver",
        Kind.CHOICE,
        "local",
        DRIVERS,
        "Queue driver to use",
        choices=(*_DRIVERS, "sqs"),
    ),
    _server(
        "adapter_driver",
        Kind.CHOICE,
        "local",
        DRIVERS,
        "Adapter driver to use: redis or nats for several nodes",
        choices=(*_DRIVERS, "nats"),
        flags=("--adapter-driver", "--adapter-manager"),
    ),
    _server(
        "app_manager",
        Kind.CHOICE,
        "array",
        DRIVERS,
        "Where apps are defined: flags/env/config file (array), a database or DynamoDB table",
        choices=("array", "postgres", "mysql", "dynamodb"),
    ),
    _server(
        "database_url",
        Kind.STR,
        "",
        DRIVERS,
        "Database of the postgres/mysql app manager, e.g. postgres://user:password@host:5432/db",
        secret=True,
    ),
    _server(
        "app_manager_cache_ttl",
        Kind.INT,
        10,
        DRIVERS,
        "Seconds an app lookup in a database or DynamoDB (found or not) is reused; 0 asks "
        "every time",
        minimum=0,
    ),
    # --- redis ---
    _server("redis_prefix", Kind.STR, "pusher", REDIS, "Prefix to use for Redis keys"),
    _server("redis_url", Kind.STR, "localhost:6379", REDIS, "URL of the Redis server"),
    _server("redis_tls", Kind.BOOL, False, REDIS, "Use TLS for the Redis connection"),
    _server(
        "redis_cluster",
        Kind.BOOL,
        False,
        REDIS,
        "Use Redis cluster mode",
        json_keys=("redis_cluster", "redis_cluster_mode"),
    ),
    _server(
        "node_timeout_seconds",
        Kind.INT,
        10,
        REDIS,
        "Seconds without a heartbeat before other nodes remove a node's connections and members",
        minimum=2,
    ),
    # --- nats ---
    _server(
        "adapter_nats_servers",
        Kind.LIST,
        ("127.0.0.1:4222",),
        NATS,
        "NATS servers of the nats adapter, comma-separated: nats://host:port, tls://host:port "
        "or host:port (a JSON array as soketi takes it works too)",
    ),
    _server(
        "adapter_nats_prefix",
        Kind.STR,
        "socketrush",
        NATS,
        "First token of every NATS subject and the JetStream bucket name; letters, digits, "
        "- and _ only",
    ),
    _server("adapter_nats_user", Kind.STR, "", NATS, "User name for the NATS servers"),
    _server(
        "adapter_nats_password", Kind.STR, "", NATS, "Password of adapter_nats_user", secret=True
    ),
    _server(
        "adapter_nats_token",
        Kind.STR,
        "",
        NATS,
        "Authentication token for the NATS servers (instead of user and password)",
        secret=True,
    ),
    _server(
        "adapter_nats_timeout",
        Kind.INT,
        10000,
        NATS,
        "Milliseconds to wait for a connection to a NATS server",
        minimum=1,
    ),
    _server(
        "adapter_nats_requests_timeout",
        Kind.INT,
        5000,
        NATS,
        "Milliseconds to wait for JetStream's answer to a cluster state request",
        minimum=1,
    ),
    _server(
        "adapter_nats_tls_ca_file",
        Kind.STR,
        "",
        NATS,
        "PEM file of the CA that signed the NATS servers' certificates (tls:// servers); "
        "empty: the system CAs",
    ),
    # --- logging ---
    _server(
        "log_level",
        Kind.CHOICE,
        "info",
        LOGGING,
        "Log level",
        choices=("trace", "debug", "info", "warn", "error"),
    ),
    _server(
        "log_format",
        Kind.CHOICE,
        "human",
        LOGGING,
        "Log line format: human-readable text or one JSON object per line",
        choices=("human", "json"),
    ),
    _server(
        "ignore_logger_middleware",
        Kind.BOOL,
        False,
        LOGGING,
        "Skip the per-request logger middleware for performance",
    ),
    # --- operations ---
    _server(
        "metrics_enabled",
        Kind.BOOL,
        False,
        OPERATIONS,
        "Serve Prometheus metrics on --metrics-port",
    ),
    _server(
        "metrics_port",
        Kind.INT,
        9601,
        OPERATIONS,
        "Port of the Prometheus metrics endpoint (on --bind-address, never the public port)",
        minimum=1,
        maximum=65535,
    ),
    _server(
        "metrics_count_objects",
        Kind.BOOL,
        False,
        OPERATIONS,
        "Each metrics scrape also runs a full garbage collection and counts live greenlets and "
        "objects by class (leak hunting; stalls the node ~50 ms per million objects)",
    ),
    _server(
        "cors_allowed_origins",
        Kind.LIST,
        ("*",),
        OPERATIONS,
        "Origins browsers may call the HTTP API from; `*` wildcards allowed",
    ),
    # --- dashboard ---
    _server(
        "dashboard_enabled",
        Kind.BOOL,
        False,
        DASHBOARD,
        "Serve the live dashboard and debug console at /dashboard (over TLS or to loopback only)",
    ),
    _server(
        "dashboard_username",
        Kind.STR,
        "",
        DASHBOARD,
        "User name of the dashboard's HTTP Basic login (required with --dashboard-enabled)",
    ),
    _server(
        "dashboard_password",
        Kind.STR,
        "",
        DASHBOARD,
        "Password of the dashboard's HTTP Basic login (required with --dashboard-enabled)",
        secret=True,
    ),
    # --- webhook delivery ---
    _server(
        "webhook_member_removed_delay_ms",
        Kind.INT,
        3000,
        WEBHOOKS,
        "Hold member_removed this long; a user back within it sends neither removed nor added",
        minimum=0,
    ),
    _server(
        "webhook_batch_window_ms",
        Kind.INT,
        250,
        WEBHOOKS,
        "With batching, how long a URL's events are gathered into one request",
        minimum=1,
    ),
    _server(
        "webhook_batch_max_events",
        Kind.INT,
        20,
        WEBHOOKS,
        "With batching, a request is sent at once when it holds this many events",
        minimum=1,
    ),
    _server(
        "webhook_timeout_ms",
        Kind.INT,
        4000,
        WEBHOOKS,
        "How long a webhook endpoint has to answer one request",
        minimum=1,
    ),
    _server(
        "webhook_max_attempts",
        Kind.INT,
        10,
        WEBHOOKS,
        "Tries per webhook request before it goes to the dead-letter list",
        minimum=1,
    ),
    _server(
        "webhook_retry_base_ms",
        Kind.INT,
        1000,
        WEBHOOKS,
        "Wait before the first retry; doubled for each further retry",
        minimum=1,
    ),
    _server(
        "webhook_retry_max_ms",
        Kind.INT,
        60000,
        WEBHOOKS,
        "Cap on the wait between two retries",
        minimum=1,
    ),
    _server(
        "queue_workers",
        Kind.INT,
        8,
        WEBHOOKS,
        "Webhook requests sent at once by one node",
        minimum=1,
    ),
    _server(
        "queue_redis_lease_ms",
        Kind.INT,
        15000,
        WEBHOOKS,
        "Redis queue: a node silent this long is presumed dead and its in-flight jobs re-queued",
        minimum=1000,
    ),
    # --- AWS: credentials come from boto3's standard chain (AWS_ACCESS_KEY_ID, roles, ...) ---
    _server(
        "app_manager_dynamodb_table",
        Kind.STR,
        "apps",
        AWS,
        "DynamoDB table of --app-manager dynamodb (key AppId, index AppKeyIndex on AppKey)",
    ),
    _server(
        "app_manager_dynamodb_region",
        Kind.STR,
        "",
        AWS,
        "Region of the DynamoDB table; not set: AWS_REGION, AWS_DEFAULT_REGION or the AWS "
        "config file, else us-east-1",
    ),
    _server(
        "app_manager_dynamodb_endpoint",
        Kind.STR,
        "",
        AWS,
        "DynamoDB endpoint URL instead of AWS's, e.g. http://localhost:8000 (DynamoDB Local)",
    ),
    _server("queue_sqs_url", Kind.STR, "", AWS, "URL of the SQS queue of --queue-driver sqs"),
    _server(
        "queue_sqs_region",
        Kind.STR,
        "",
        AWS,
        "Region of the SQS queue; not set: the region in its URL, else as for DynamoDB",
    ),
    _server(
        "queue_sqs_endpoint",
        Kind.STR,
        "",
        AWS,
        "SQS endpoint URL instead of AWS's, e.g. http://localhost:4566 (LocalStack)",
    ),
    _server(
        "queue_sqs_batch_size",
        Kind.INT,
        10,
        AWS,
        "Most jobs one SQS receive takes (never more than idle queue workers)",
        minimum=1,
        maximum=10,
    ),
    _server(
        "queue_sqs_polling_wait_time_ms",
        Kind.INT,
        0,
        AWS,
        "Pause after each SQS receive before the next (a receive itself waits up to 5 s for jobs)",
        minimum=0,
    ),
    _server(
        "queue_sqs_visibility_timeout_seconds",
        Kind.INT,
        30,
        AWS,
        "A received job stays hidden from other nodes this long: a node killed mid-delivery "
        "has its jobs sent by another node after it; must exceed webhook_timeout_ms",
        minimum=1,
        maximum=43200,
    ),
    _server(
        "webhook_sns_region",
        Kind.STR,
        "",
        AWS,
        "Region of the SNS topics webhooks are published to; not set: the region in each "
        "topic's ARN",
    ),
    _server(
        "webhook_sns_endpoint",
        Kind.STR,
        "",
        AWS,
        "SNS endpoint URL instead of AWS's, e.g. http://localhost:4566 (LocalStack)",
    ),
    # --- app credentials ---
    _app(
        "app_id",
        Kind.STR,
        None,
        CREDENTIALS,
        "App ID for the default app",
        flags=("--app-id", "--default-app-id"),
    ),
    _app(
        "app_key",
        Kind.STR,
        None,
        CREDENTIALS,
        "App key for the default app",
        flags=("--app-key", "--default-app-key"),
    ),
    _app(
        "app_secret",
        Kind.STR,
        None,
        CREDENTIALS,
        "App secret for the default app",
        flags=("--app-secret", "--default-app-secret"),
        secret=True,
    ),
    # --- app features ---
    _app(
        "app_enabled", Kind.BOOL, True, APP_FEATURES, "Accept connections and API calls for the app"
    ),
    _app(
        "app_activity_timeout",
        Kind.INT,
        60,
        APP_FEATURES,
        "Seconds of client silence before the server pings it",
        minimum=1,
    ),
    _app(
        "app_enable_client_messages",
        Kind.BOOL,
        False,
        APP_FEATURES,
        "Allow client events (client-*) on private and presence channels",
    ),
    _app(
        "app_require_channel_authorization",
        Kind.BOOL,
        False,
        APP_FEATURES,
        "Close connections that do not pusher:signin within the authorization timeout (4009)",
        flags=("--app-require-channel-authorization", "--app-require-authorization"),
        env=("APP_REQUIRE_CHANNEL_AUTHORIZATION", "APP_REQUIRE_AUTHORIZATION"),
    ),
    _app(
        "app_authorization_timeout_seconds",
        Kind.INT,
        5,
        APP_FEATURES,
        "Seconds a connection has to sign in when authorization is required",
        minimum=1,
    ),
    _app(
        "app_subscription_count_enabled",
        Kind.BOOL,
        False,
        APP_FEATURES,
        "Send pusher_internal:subscription_count events",
    ),
    _app(
        "app_allowed_origins",
        Kind.LIST,
        (),
        APP_FEATURES,
        "Origins allowed to open WebSocket connections (empty: all)",
    ),
    # --- app limits ---
    _app(
        "app_max_connections",
        Kind.INT,
        0,
        APP_LIMITS,
        "Max concurrent connections (0 for unlimited)",
        minimum=0,
        zero_means_unlimited=True,
    ),
    _app(
        "app_max_backend_events_per_second",
        Kind.INT,
        0,
        APP_LIMITS,
        "Max HTTP API events per second (0 for unlimited)",
        minimum=0,
        zero_means_unlimited=True,
    ),
    _app(
        "app_max_client_events_per_second",
        Kind.INT,
        0,
        APP_LIMITS,
        "Max client events per second per connection (0 for unlimited)",
        minimum=0,
        zero_means_unlimited=True,
    ),
    _app(
        "app_max_read_requests_per_second",
        Kind.INT,
        0,
        APP_LIMITS,
        "Max HTTP API read requests per second (0 for unlimited)",
        minimum=0,
        zero_means_unlimited=True,
    ),
    _app(
        "app_max_presence_members_per_channel",
        Kind.INT,
        100,
        APP_LIMITS,
        "Max members in one presence channel",
        minimum=0,
        flags=("--app-max-presence-members-per-channel", "--app-max-presence-users"),
        env=("APP_MAX_PRESENCE_MEMBERS_PER_CHANNEL", "APP_MAX_PRESENCE_USERS"),
        json_keys=("app_max_presence_members_per_channel", "app_max_presence_users"),
    ),
    _app(
        "app_max_presence_member_size_in_kb",
        Kind.INT,
        10,
        APP_LIMITS,
        "Max size of one presence member's user info in KB",
        minimum=0,
    ),
    _app(
        "app_max_channel_name_length",
        Kind.INT,
        200,
        APP_LIMITS,
        "Max channel name length",
        minimum=0,
    ),
    _app(
        "app_max_event_channels_at_once",
        Kind.INT,
        10,
        APP_LIMITS,
        "Max channels one HTTP API event may target",
        minimum=0,
    ),
    _app(
        "app_max_event_name_length", Kind.INT, 200, APP_LIMITS, "Max event name length", minimum=0
    ),
    _app(
        "app_max_event_payload_in_kb",
        Kind.INT,
        10,
        APP_LIMITS,
        "Max event payload size in KB",
        minimum=0,
    ),
    _app(
        "app_max_event_batch_size",
        Kind.INT,
        10,
        APP_LIMITS,
        "Max events in one batch API call",
        minimum=0,
    ),
    # --- app webhooks ---
    _app(
        "app_webhooks_enabled",
        Kind.BOOL,
        False,
        APP_WEBHOOKS,
        "Send webhooks",
        flags=("--app-webhooks-enabled", "--app-webhook-enabled"),
        env=("APP_WEBHOOKS_ENABLED", "APP_WEBHOOK_ENABLED"),
        json_keys=("app_webhooks_enabled", "app_webhook_enabled"),
    ),
    _app(
        "app_webhook_urls",
        Kind.HTTP_URLS,
        (),
        APP_WEBHOOKS,
        "Webhook URL; repeat the flag or separate with commas for several",
        flags=("--app-webhook-url",),
        env=("APP_WEBHOOK_URL",),
        json_keys=("app_webhook_urls", "app_webhook_url"),
    ),
    _app(
        "app_webhooks",
        Kind.WEBHOOKS,
        (),
        APP_WEBHOOKS,
        'Webhook objects {"url" or "sns_topic_arn", "event_types", "filter"}',
        flags=(),
        env=(),
    ),
    _app(
        "app_has_client_event_webhooks",
        Kind.BOOL,
        False,
        APP_WEBHOOKS,
        "Send client_event webhooks",
    ),
    _app(
        "app_has_channel_occupied_webhooks",
        Kind.BOOL,
        False,
        APP_WEBHOOKS,
        "Send channel_occupied webhooks",
    ),
    _app(
        "app_has_channel_vacated_webhooks",
        Kind.BOOL,
        False,
        APP_WEBHOOKS,
        "Send channel_vacated webhooks",
    ),
    _app(
        "app_has_member_added_webhooks",
        Kind.BOOL,
        False,
        APP_WEBHOOKS,
        "Send member_added webhooks",
    ),
    _app(
        "app_has_member_removed_webhooks",
        Kind.BOOL,
        False,
        APP_WEBHOOKS,
        "Send member_removed webhooks",
    ),
    _app("app_has_cache_miss_webhooks", Kind.BOOL, False, APP_WEBHOOKS, "Send cache_miss webhooks"),
    _app(
        "app_has_webhook_batching_enabled",
        Kind.BOOL,
        False,
        APP_WEBHOOKS,
        "Batch webhook events into fewer requests",
    ),
)

BY_NAME: dict[str, Option] = {option.name: option for option in OPTIONS}
