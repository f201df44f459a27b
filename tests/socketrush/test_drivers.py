"""Which queue driver the settings build, and with what."""

from __future__ import annotations

import os

import pytest

from socketrush.config import ConfigError, load_settings
from socketrush.drivers import build_queue
from socketrush.queues.local import LocalQueue
from socketrush.queues.sqs import SqsQueue

URL = "https://sqs.eu-central-1.amazonaws.com/123456789012/webhooks"


def settings(*argv: str):
    return load_settings(
        ["--app-id", "1", "--app-key", "k", "--app-secret", "s", "--env-file", os.devnull, *argv],
        environ={},
    )


def test_the_local_queue_is_the_default_and_retries_in_its_sender() -> None:
    queue = build_queue(settings())
    assert isinstance(queue, LocalQueue)
    assert queue.redelivers is False


def test_the_sqs_queue_takes_its_region_from_the_url_and_redelivers() -> None:
    queue = build_queue(settings("--queue-driver", "sqs", "--queue-sqs-url", URL))
    assert isinstance(queue, SqsQueue)
    assert queue.redelivers is True
    assert queue.url == URL
    meta = queue._sqs.meta
    assert (meta.region_name, meta.endpoint_url) == (
        "eu-central-1",
        "https://sqs.eu-central-1.amazonaws.com",
    )
    assert meta.config.read_timeout == 10.0  # outlasts the 5 s long poll


def test_a_region_or_endpoint_given_wins() -> None:
    queue = build_queue(
        settings(
            "--queue-driver",
            "sqs",
            "--queue-sqs-url",
            URL,
            "--queue-sqs-region",
            "us-west-2",
            "--queue-sqs-endpoint",
            "http://127.0.0.1:4566",
        )
    )
    assert isinstance(queue, SqsQueue)
    meta = queue._sqs.meta
    assert (meta.region_name, meta.endpoint_url) == ("us-west-2", "http://127.0.0.1:4566")


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (
            (),
            "queue_driver sqs needs queue_sqs_url: give it with the flag --queue-sqs-url, the "
            "environment variable QUEUE_SQS_URL (or the .env file), or server.queue_sqs_url in "
            "a --config-file JSON",
        ),
        (
            ("--queue-sqs-url", URL, "--webhook-timeout-ms", "30000"),
            "queue_sqs_visibility_timeout_seconds (30) must be longer than webhook_timeout_ms "
            "(30000 ms), or another node would send a webhook again while it is still being sent",
        ),
    ],
)
def test_what_the_sqs_queue_needs_is_checked_when_it_is_built(argv, message: str) -> None:
    with pytest.raises(ConfigError) as raised:
        build_queue(settings("--queue-driver", "sqs", *argv))
    assert str(raised.value) == message
