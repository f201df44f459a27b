"""Nodes with `--queue-driver sqs` on moto's SQS, and what tests read of their queues: the
queue and its dead-letter queue, how many messages are left, and the webhooks received."""

from __future__ import annotations

import json
from typing import Any, NamedTuple

import pusher

from tests.support.moto import MotoServer, unique
from tests.support.server import APP_ID, APP_KEY, APP_SECRET, ServerProcess
from tests.support.webhook_receiver import Received


class Queues(NamedTuple):
    url: str
    dead_letters: str


def make_queues(sqs: Any, max_receives: int = 10, fifo: bool = False) -> Queues:
    """A jobs queue whose redrive policy names a dead-letter queue, as docs/webhooks.md shows."""
    suffix, attributes = (".fifo", {"FifoQueue": "true"}) if fifo else ("", {})
    dead = sqs.create_queue(QueueName=unique("dead") + suffix, Attributes=attributes)["QueueUrl"]
    dead_arn = sqs.get_queue_attributes(QueueUrl=dead, AttributeNames=["QueueArn"])
    policy = {
        "deadLetterTargetArn": dead_arn["Attributes"]["QueueArn"],
        "maxReceiveCount": max_receives,
    }
    url = sqs.create_queue(
        QueueName=unique("jobs") + suffix,
        Attributes={**attributes, "RedrivePolicy": json.dumps(policy)},
    )["QueueUrl"]
    return Queues(url, dead)


def start_node(
    nodes: list[ServerProcess], moto: MotoServer, url: str, hook: str, *extra: str
) -> ServerProcess:
    """A node whose webhooks (channel_occupied, and what `extra` switches on) go through the
    SQS queue at `url` to `hook`; added to `nodes`, for the test to stop."""
    args = ["--queue-driver", "sqs", "--queue-sqs-url", url, "--queue-sqs-endpoint", moto.url]
    args += ["--app-webhooks-enabled", "true", "--app-webhook-url", hook]
    args += ["--app-has-channel-occupied-webhooks", "true", "--webhook-retry-base-ms", "1000"]
    node = ServerProcess(args=[*args, *extra], env=moto.env).start()
    nodes.append(node)
    return node


def validated(request: Received) -> list[dict]:
    """The events of one request, after the official SDK checked key and signature."""
    checker = pusher.Pusher(app_id=APP_ID, key=APP_KEY, secret=APP_SECRET)
    body = checker.validate_webhook(
        request.headers["X-Pusher-Key"], request.headers["X-Pusher-Signature"], request.body
    )
    assert body is not None, request
    return body["events"]


def messages_left(sqs: Any, url: str) -> int:
    attributes = sqs.get_queue_attributes(
        QueueUrl=url,
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return sum(int(count) for count in attributes.values())
