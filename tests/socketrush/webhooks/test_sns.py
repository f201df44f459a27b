"""Publishing webhooks to SNS topics: the Publish call (pure) and SnsPublisher against moto's
SNS, read back through an SQS queue subscribed to the topic."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pusher
import pytest

from socketrush.config import ConfigError
from socketrush.settings import AppSettings, WebhookTarget
from socketrush.webhooks import events
from socketrush.webhooks.sender import (
    ID_HEADER,
    DeliveryFailed,
    Refused,
    RetryPolicy,
    WebhookSender,
    make_job,
    request_of,
)
from socketrush.webhooks.sns import SnsPublisher, post_or_publish, publish_request, require_sdk_for
from tests.support.moto import REGION, MotoServer, unique
from tests.support.server import REPO_ROOT, free_port
from tests.support.webhook_receiver import Receiver

BODY = events.body([events.member_added("presence-lobby", "alice")], 1_700_000_000_000)
HEADERS = events.headers("key", "secret", BODY)
TOPIC = "arn:aws:sns:eu-west-1:123456789012:hooks"


def test_the_message_is_the_body_and_the_headers_are_attributes() -> None:
    request = request_of(make_job("424242", TOPIC, BODY, HEADERS))
    assert publish_request(request) == {
        "TopicArn": TOPIC,
        "Message": BODY.decode(),
        "MessageAttributes": {
            "X-Pusher-Key": {"DataType": "String", "StringValue": "key"},
            "X-Pusher-Signature": {
                "DataType": "String",
                "StringValue": HEADERS["X-Pusher-Signature"],
            },
            ID_HEADER: {"DataType": "String", "StringValue": request.headers[ID_HEADER]},
        },
    }


def test_a_fifo_topic_groups_by_app_key_and_dedupes_by_webhook_id() -> None:
    request = request_of(make_job("424242", TOPIC + ".fifo", BODY, HEADERS))
    call = publish_request(request)
    assert (call["MessageGroupId"], call["MessageDeduplicationId"]) == (
        "key",
        request.headers[ID_HEADER],
    )


# --- against moto's SNS ------------------------------------------------------------------------


@pytest.fixture
def aws_env(moto_server: MotoServer, monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in moto_server.env.items():
        monkeypatch.setenv(name, value)


@pytest.fixture
def subscribed(moto_server: MotoServer) -> Iterator[tuple[str, str]]:
    """A topic and the URL of an SQS queue that gets its messages raw (attributes kept)."""
    sns, sqs = moto_server.client("sns"), moto_server.client("sqs")
    topic = sns.create_topic(Name=unique("hooks"))["TopicArn"]
    queue = sqs.create_queue(QueueName=unique("hooks"))["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])
    sns.subscribe(
        TopicArn=topic,
        Protocol="sqs",
        Endpoint=queue_arn["Attributes"]["QueueArn"],
        Attributes={"RawMessageDelivery": "true"},
    )
    yield topic, queue
    sns.delete_topic(TopicArn=topic)
    sqs.delete_queue(QueueUrl=queue)


def test_a_published_webhook_reaches_a_subscriber_verifiable(
    moto_server: MotoServer,
    aws_env: None,
    subscribed: tuple[str, str],
) -> None:
    topic, queue = subscribed
    publisher = SnsPublisher(endpoint=moto_server.url)
    body = events.body([events.member_added("presence-lobby", "alice")], int(time.time() * 1000))
    headers = events.headers("key", "secret", body)
    request = request_of(make_job("424242", topic, body, headers))
    assert publisher(request, 4.0) == 200
    [message] = moto_server.client("sqs").receive_message(
        QueueUrl=queue, WaitTimeSeconds=10, MessageAttributeNames=["All"]
    )["Messages"]
    assert message["Body"] == body.decode()
    attributes = {
        name: value["StringValue"] for name, value in message["MessageAttributes"].items()
    }
    assert attributes == {
        "X-Pusher-Key": "key",
        "X-Pusher-Signature": headers["X-Pusher-Signature"],
        ID_HEADER: request.headers[ID_HEADER],
    }
    checker = pusher.Pusher(app_id="424242", key="key", secret="secret")
    assert checker.validate_webhook(
        attributes["X-Pusher-Key"], attributes["X-Pusher-Signature"], message["Body"]
    ) == json.loads(body)


def test_a_missing_topic_is_refused_for_good(
    moto_server: MotoServer,
    aws_env: None,
) -> None:
    missing = f"arn:aws:sns:{REGION}:123456789012:{unique('missing')}"
    sleeps: list[float] = []
    sender = WebhookSender(
        RetryPolicy(max_attempts=5),
        send=post_or_publish(SnsPublisher(endpoint=moto_server.url)),
        sleep=sleeps.append,
    )
    with pytest.raises(DeliveryFailed) as failed:
        sender(make_job("424242", missing, BODY, HEADERS))
    # AWS says "Topic does not exist", moto "Endpoint does not exist".
    assert str(failed.value).startswith(f"{missing} refused the webhook (SNS NotFound: ")
    assert sleeps == []  # not retried


def test_an_unreachable_endpoint_is_retried(aws_env: None) -> None:
    publisher = SnsPublisher(endpoint=f"http://127.0.0.1:{free_port()}", timeout=1.0)
    sleeps: list[float] = []
    sender = WebhookSender(
        RetryPolicy(max_attempts=2, base_delay=0.25),
        send=post_or_publish(publisher),
        sleep=sleeps.append,
    )
    with pytest.raises(DeliveryFailed, match=r"failed 2 times, last: OSError: SNS Could not conn"):
        sender(make_job("424242", TOPIC, BODY, HEADERS))
    assert sleeps == [0.25]


def test_a_bad_endpoint_is_refused_with_the_setting_named(aws_env: None) -> None:
    with pytest.raises(Refused) as refused:
        SnsPublisher(endpoint="localhost:4566")(request_of(make_job("1", TOPIC, BODY, {})), 4.0)
    assert str(refused.value) == (
        "invalid webhook_sns_endpoint 'localhost:4566': expected an http:// or https:// URL"
    )


def test_urls_are_still_posted() -> None:
    with Receiver() as receiver:
        send = post_or_publish(SnsPublisher())
        assert send(request_of(make_job("1", receiver.url, BODY, HEADERS)), 4.0) == 200
        assert receiver.wait_for(1)[0].body == BODY


def test_clients_are_made_once_per_region(moto_server: MotoServer, aws_env: None) -> None:
    publisher = SnsPublisher(endpoint=moto_server.url)
    first = publisher._client("arn:aws:sns:eu-west-1:123456789012:a")
    assert publisher._client("arn:aws:sns:eu-west-1:123456789012:b") is first
    other = publisher._client("arn:aws:sns:ap-south-1:123456789012:a")
    assert (first.meta.region_name, other.meta.region_name) == ("eu-west-1", "ap-south-1")
    pinned = SnsPublisher(region="us-west-2", endpoint=moto_server.url)
    assert pinned._client(TOPIC).meta.region_name == "us-west-2"


# `socketrush serve` in a Python where `import boto3` fails, as without the `aws` extra.
WITHOUT_BOTO3 = (
    "import sys; sys.modules['boto3'] = None; "
    "from socketrush.entrypoint import main; sys.exit(main())"
)


def test_serve_refuses_to_start_without_boto3_when_an_app_names_a_topic(tmp_path: Path) -> None:
    topic = "arn:aws:sns:eu-west-1:123456789012:hooks"
    app = {"app_id": "1", "app_key": "k", "app_secret": "s", "app_webhooks_enabled": True}
    app["app_webhooks"] = [{"url": "http://127.0.0.1:9/in"}, {"sns_topic_arn": topic}]
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"applications": [app]}))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("APP_", "PORT"))}
    env["LOG_LEVEL"] = "warn"  # no start-up info lines around the error
    done = subprocess.run(
        [sys.executable, "-c", WITHOUT_BOTO3, "serve", "--port", str(free_port()),
         "--bind-address", "127.0.0.1", "--env-file", os.devnull, "--config-file", str(config)],
        cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert (done.returncode, done.stderr) == (
        2,
        f"socketrush: app 1's webhook to SNS topic {topic} needs boto3, which is not "
        "installed: pip install 'socketrush[aws]'\n",
    )


def test_apps_without_a_topic_need_no_boto3(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "boto3", None)  # `import boto3` raises ImportError
    posting = AppSettings(id="1", key="k", secret="s", webhook_urls=("http://127.0.0.1:9/in",))
    require_sdk_for([posting, AppSettings(id="2", key="k2", secret="s")])  # no ConfigError


def test_an_app_with_webhooks_disabled_needs_no_boto3(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "boto3", None)
    to_sns = AppSettings(
        id="1", key="k", secret="s", webhooks=(WebhookTarget(sns_topic_arn=TOPIC),)
    )
    require_sdk_for([to_sns])  # disabled: it never publishes, no ConfigError
    with pytest.raises(ConfigError, match="^app 1's webhook to SNS topic arn:aws:sns:"):
        require_sdk_for([replace(to_sns, webhooks_enabled=True)])
