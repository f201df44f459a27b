"""Publish a webhook to an Amazon SNS topic instead of POSTing it.

A webhook object may name an `sns_topic_arn` instead of a `url` (WebhookTarget); its requests
are queued, batched, signed and retried like any other, and this module sends them. The SNS
message is exactly the signed request body; the `X-Pusher-Key`, `X-Pusher-Signature` and
`X-Socket-Rush-Webhook-Id` headers travel as String message attributes, so a subscriber (an SQS
queue, a Lambda, an HTTPS endpoint) checks the signature as a Pusher webhook receiver does and
can drop repeats by id. FIFO topics (`.fifo`) get the app key as message group and the webhook
id as deduplication id.

Outcomes follow the sender's rules: published is 200; throttling, AWS-side 5xx, timeouts and an
unreachable endpoint raise OSError (retried with backoff); anything else (no such topic, no
permission, a message SNS refuses) raises Refused (final, dead-lettered).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from socketrush.aws_client import (
    Endpoint,
    Timeouts,
    describe,
    error_code,
    make_client,
    region_of_arn,
    require_boto3,
)
from socketrush.config import ConfigError
from socketrush.settings import AppSettings
from socketrush.webhooks.events import is_sns_topic
from socketrush.webhooks.sender import ID_HEADER, Refused, Request, post

ATTRIBUTE_HEADERS = ("X-Pusher-Key", "X-Pusher-Signature", ID_HEADER)
RETRYABLE_CODES = frozenset(
    {"Throttling", "ThrottlingException", "Throttled", "KMSThrottling", "InternalError"}
)


def publish_request(request: Request) -> dict[str, Any]:
    """The `Publish` call for one webhook request to the topic in `request.url`."""
    attributes = {
        name: {"DataType": "String", "StringValue": request.headers[name]}
        for name in ATTRIBUTE_HEADERS
        if name in request.headers
    }
    call: dict[str, Any] = {
        "TopicArn": request.url,
        "Message": request.body.decode(),
        "MessageAttributes": attributes,
    }
    if request.url.endswith(".fifo"):
        call["MessageGroupId"] = request.headers.get("X-Pusher-Key", "webhooks")
        call["MessageDeduplicationId"] = request.headers[ID_HEADER]
    return call


class SnsPublisher:
    """A `send` for WebhookSender that publishes to SNS topics; one boto3 client per region,
    made on first use (so boto3 is needed only once a topic is configured).

    The region is the ARN's unless `region` is given; `endpoint` replaces AWS's (LocalStack,
    moto). Each call waits at most `timeout` seconds to read the answer; the sender's own
    timeout argument is that same setting.
    """

    def __init__(self, region: str = "", endpoint: str = "", timeout: float = 4.0) -> None:
        self._region = region
        self._endpoint = endpoint
        self._timeouts = Timeouts(connect=min(3.0, timeout), read=timeout, attempts=1)
        self._clients: dict[str, Any] = {}

    def __call__(self, request: Request, timeout: float) -> int:
        client = self._client(request.url)
        from botocore.exceptions import BotoCoreError, ClientError  # there, as the client is

        try:
            client.publish(**publish_request(request))
        except ClientError as error:
            status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
            if error_code(error) in RETRYABLE_CODES or status == 429 or status >= 500:
                raise OSError(f"SNS {describe(error)}") from None
            raise Refused(f"SNS {describe(error)}") from None
        except BotoCoreError as error:  # unreachable, timed out, no credentials
            raise OSError(f"SNS {describe(error)}") from None
        return 200

    def _client(self, arn: str) -> Any:
        region = self._region or region_of_arn(arn)
        client = self._clients.get(region)
        if client is None:
            try:
                client = make_client(
                    Endpoint("sns", region, self._endpoint, "webhook_sns"), self._timeouts
                )
            except ConfigError as error:  # no boto3, or an endpoint botocore refuses
                raise Refused(str(error)) from None
            self._clients[region] = client
        return client


def require_sdk_for(apps: Sequence[AppSettings]) -> None:
    """A ConfigError (start-up stops) if an app configured at start sends webhooks to an SNS
    topic and boto3 is missing: otherwise each of its requests would be dead-lettered, and
    the mistake found only once the first webhook is due. An app whose webhooks are disabled
    sends none, so it needs no boto3. Apps an app manager loads later can only be told apart
    then: their requests are dead-lettered with the same message."""
    for app in apps:
        if not app.webhooks_enabled:
            continue
        for target in app.webhook_targets:
            if target.sns_topic_arn:
                require_boto3(f"app {app.id}'s webhook to SNS topic {target.sns_topic_arn}")


def post_or_publish(publisher: SnsPublisher) -> Callable[[Request, float], int]:
    """A `send` for every destination: SNS topics through `publisher`, URLs by HTTP POST."""

    def send(request: Request, timeout: float) -> int:
        if is_sns_topic(request.url):
            return publisher(request, timeout)
        return post(request, timeout)

    return send
