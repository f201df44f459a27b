"""The settings a server runs with, as plain immutable values.

Most of the server reads these types and none of it needs to know where a value came from, so
they live apart from the loader (`socketrush.config`), which builds them from flags, the
environment, files or a database row. This module imports nothing of the project.
"""

from __future__ import annotations

from dataclasses import dataclass

# Where a webhook target delivers: an http(s) URL to POST to or an SNS topic to publish to.
# Exactly one is set per target; a new kind of destination is a new optional field named here.
WEBHOOK_DESTINATIONS = ("url", "sns_topic_arn")


@dataclass(frozen=True, slots=True)
class WebhookTarget:
    """One webhook destination and the events it subscribed to.

    `event_types` None means every type the app's switches allow; the channel filters are
    plain prefix/suffix tests, empty meaning "any channel".
    """

    url: str | None = None
    event_types: frozenset[str] | None = None
    channel_name_starts_with: str = ""
    channel_name_ends_with: str = ""
    sns_topic_arn: str | None = None  # a destination like `url`, last so positions stay put

    def __post_init__(self) -> None:
        given = [name for name in WEBHOOK_DESTINATIONS if getattr(self, name) is not None]
        if len(given) != 1:
            raise ValueError(
                f"a webhook target needs exactly one of {', '.join(WEBHOOK_DESTINATIONS)}, "
                f"not {len(given)}"
            )

    @property
    def destination(self) -> str:
        """The one destination that is set (a URL or a topic ARN): what jobs are sent to."""
        return next(
            str(value)
            for name in WEBHOOK_DESTINATIONS
            if (value := getattr(self, name)) is not None
        )

    def accepts(self, event_type: str, channel: str) -> bool:
        return (
            (self.event_types is None or event_type in self.event_types)
            and channel.startswith(self.channel_name_starts_with)
            and channel.endswith(self.channel_name_ends_with)
        )


@dataclass(frozen=True, slots=True)
class AppSettings:
    """One application's settings; field names are the option names without `app_`."""

    id: str
    key: str
    secret: str
    enabled: bool = True
    activity_timeout: int = 60
    require_channel_authorization: bool = False
    authorization_timeout_seconds: int = 5
    enable_client_messages: bool = False
    max_connections: int = 0
    max_backend_events_per_second: int = 0
    max_client_events_per_second: int = 0
    max_read_requests_per_second: int = 0
    max_presence_members_per_channel: int = 100
    max_presence_member_size_in_kb: int = 10
    max_channel_name_length: int = 200
    max_event_channels_at_once: int = 10
    max_event_name_length: int = 200
    max_event_payload_in_kb: int = 10
    max_event_batch_size: int = 10
    subscription_count_enabled: bool = False
    webhooks_enabled: bool = False
    has_client_event_webhooks: bool = False
    has_channel_occupied_webhooks: bool = False
    has_channel_vacated_webhooks: bool = False
    has_member_added_webhooks: bool = False
    has_member_removed_webhooks: bool = False
    has_cache_miss_webhooks: bool = False
    has_webhook_batching_enabled: bool = False
    webhook_urls: tuple[str, ...] = ()
    webhooks: tuple[WebhookTarget, ...] = ()
    allowed_origins: tuple[str, ...] = ()

    @property
    def webhook_targets(self) -> tuple[WebhookTarget, ...]:
        """Every destination: the plain `webhook_urls` (all events) first, then `webhooks`."""
        return (*(WebhookTarget(url=url) for url in self.webhook_urls), *self.webhooks)


@dataclass(frozen=True, slots=True)
class ServerSettings:
    """The effective settings of one server process."""

    port: int
    bind_address: str
    cache_driver: str
    queue_driver: str
    adapter_driver: str
    app_manager: str
    database_url: str
    app_manager_cache_ttl: int
    app_env: str
    redis_prefix: str
    redis_url: str
    redis_tls: bool
    redis_cluster: bool
    node_timeout_seconds: int
    adapter_nats_servers: tuple[str, ...]
    adapter_nats_prefix: str
    adapter_nats_user: str
    adapter_nats_password: str
    adapter_nats_token: str
    adapter_nats_timeout: int
    adapter_nats_requests_timeout: int
    adapter_nats_tls_ca_file: str
    log_level: str
    log_format: str
    ignore_logger_middleware: bool
    socket_backlog_limit_kb: int
    publish_queue_limit: int
    handshake_timeout_ms: int
    request_body_timeout_ms: int
    keep_alive_timeout_ms: int
    frame_timeout_ms: int
    shutdown_grace_period: int
    ssl_cert: str
    ssl_key: str
    ssl_passphrase: str
    webhook_member_removed_delay_ms: int
    webhook_batch_window_ms: int
    webhook_batch_max_events: int
    webhook_timeout_ms: int
    webhook_max_attempts: int
    webhook_retry_base_ms: int
    webhook_retry_max_ms: int
    queue_workers: int
    queue_redis_lease_ms: int
    app_manager_dynamodb_table: str
    app_manager_dynamodb_region: str
    app_manager_dynamodb_endpoint: str
    queue_sqs_url: str
    queue_sqs_region: str
    queue_sqs_endpoint: str
    queue_sqs_batch_size: int
    queue_sqs_polling_wait_time_ms: int
    queue_sqs_visibility_timeout_seconds: int
    webhook_sns_region: str
    webhook_sns_endpoint: str
    metrics_enabled: bool
    metrics_port: int
    metrics_count_objects: bool
    cors_allowed_origins: tuple[str, ...]
    dashboard_enabled: bool
    dashboard_username: str
    dashboard_password: str
    apps: tuple[AppSettings, ...]
