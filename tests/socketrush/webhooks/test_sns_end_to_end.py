"""Webhooks to an SNS topic beside a URL in one `app_webhooks` list, from a real server
process: an SQS queue subscribed to the topic (moto) receives presence events whose signature
the official SDK accepts, with the same filters and batching as the URL."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pusher
import pytest

from socketrush.webhooks.sender import ID_HEADER
from tests.support.client import PusherClient, subscribe_signed
from tests.support.moto import MotoServer, unique
from tests.support.server import APP_ID, APP_KEY, APP_SECRET, ServerProcess
from tests.support.webhook_receiver import Receiver

pytestmark = pytest.mark.timeout(120)

ALICE = {"user_id": "alice", "user_info": {"name": "Alice"}}


@pytest.fixture
def topic_and_queue(moto_server: MotoServer) -> Iterator[tuple[str, str]]:
    """A topic, and an SQS queue subscribed to it with SNS's usual JSON envelope."""
    sns, sqs = moto_server.client("sns"), moto_server.client("sqs")
    topic = sns.create_topic(Name=unique("pusher-hooks"))["TopicArn"]
    queue = sqs.create_queue(QueueName=unique("hooks"))["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn["Attributes"]["QueueArn"])
    yield topic, queue
    sns.delete_topic(TopicArn=topic)
    sqs.delete_queue(QueueUrl=queue)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver() as running:
        yield running


def serve(moto: MotoServer, config: Path) -> ServerProcess:
    args = ["--config-file", str(config), "--webhook-sns-endpoint", moto.url]
    args += ["--webhook-member-removed-delay-ms", "0"]
    # A request holds two events: sent when the second arrives, never on the clock.
    args += ["--webhook-batch-max-events", "2", "--webhook-batch-window-ms", "60000"]
    return ServerProcess(args=args, env=moto.env, with_default_app=False)


def next_notification(sqs: Any, queue: str) -> dict:
    """The next SNS envelope the subscribed queue got (a long poll waits for it)."""
    response = sqs.receive_message(QueueUrl=queue, WaitTimeSeconds=20)
    [message] = response["Messages"]
    sqs.delete_message(QueueUrl=queue, ReceiptHandle=message["ReceiptHandle"])
    return json.loads(message["Body"])


def verified(notification: dict) -> list[dict]:
    """The events of one SNS message, after the official SDK checked key and signature."""
    attributes = {name: a["Value"] for name, a in notification["MessageAttributes"].items()}
    assert set(attributes) == {"X-Pusher-Key", "X-Pusher-Signature", ID_HEADER}
    checker = pusher.Pusher(app_id=APP_ID, key=APP_KEY, secret=APP_SECRET)
    body = checker.validate_webhook(
        attributes["X-Pusher-Key"], attributes["X-Pusher-Signature"], notification["Message"]
    )
    assert body is not None, notification
    return body["events"]


def by_channel(event: dict) -> str:
    return str(event["channel"])


def test_presence_join_and_leave_reach_the_topic_and_the_url(
    moto_server: MotoServer,
    topic_and_queue: tuple[str, str],
    receiver: Receiver,
    tmp_path: Path,
) -> None:
    topic, queue = topic_and_queue
    app = {
        "app_id": APP_ID,
        "app_key": APP_KEY,
        "app_secret": APP_SECRET,
        "app_webhooks_enabled": True,
        "app_has_channel_occupied_webhooks": True,
        "app_has_member_added_webhooks": True,
        "app_has_member_removed_webhooks": True,
        "app_has_webhook_batching_enabled": True,
        "app_webhooks": [
            {
                "sns_topic_arn": topic,
                "event_types": ["member_added", "member_removed"],
                "filter": {"channel_name_starts_with": "presence-"},
            },
            {"url": receiver.url},
        ],
    }
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"applications": [app]}))
    sqs = moto_server.client("sqs")
    with serve(moto_server, config) as server:
        alice = PusherClient.connect(server)
        for channel in ("presence-lobby", "presence-room"):
            subscribe_signed(server, alice, channel, ALICE)
            alice.recv_event("pusher_internal:subscription_succeeded")
        joined = next_notification(sqs, queue)
        assert joined["TopicArn"] == topic
        assert verified(joined) == [
            {"name": "member_added", "channel": "presence-lobby", "user_id": "alice"},
            {"name": "member_added", "channel": "presence-room", "user_id": "alice"},
        ]
        alice.close()
        left = sorted(verified(next_notification(sqs, queue)), key=by_channel)
        assert left == [
            {"name": "member_removed", "channel": "presence-lobby", "user_id": "alice"},
            {"name": "member_removed", "channel": "presence-room", "user_id": "alice"},
        ]
        url_events = [event for request in receiver.wait_for(3) for event in request.events]
    assert url_events[:4] == [
        {"name": "channel_occupied", "channel": "presence-lobby"},
        {"name": "member_added", "channel": "presence-lobby", "user_id": "alice"},
        {"name": "channel_occupied", "channel": "presence-room"},
        {"name": "member_added", "channel": "presence-room", "user_id": "alice"},
    ]
    assert sorted(url_events[4:], key=by_channel) == left  # the leaves race each other
    assert sqs.receive_message(QueueUrl=queue, WaitTimeSeconds=1).get("Messages") is None


def test_an_sns_target_with_a_bad_arn_stops_start_up(tmp_path: Path) -> None:
    app = {
        "app_id": APP_ID,
        "app_key": APP_KEY,
        "app_secret": APP_SECRET,
        "app_webhooks": [{"sns_topic_arn": "pusher-hooks"}],
    }
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"applications": [app]}))
    server = ServerProcess(args=["--config-file", str(config)], with_default_app=False)
    with pytest.raises(RuntimeError, match="server exited early") as exited:
        server.start()
    assert (
        f"socketrush: invalid app_webhooks from config file '{config}' key "
        "applications[0].app_webhooks: webhook sns_topic_arn 'pusher-hooks' is not an SNS topic "
        "ARN (arn:aws:sns:REGION:ACCOUNT:TOPIC)" in str(exited.value)
    )
