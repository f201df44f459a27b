"""`--queue-driver sqs` end to end: real server processes (nodes that can be SIGKILLed), moto's
SQS, and a real HTTP webhook receiver. One channel_occupied webhook is the job under test."""

from __future__ import annotations

import json
import logging
import signal
from collections.abc import Iterator
from typing import Any

import pytest

from socketrush.queues.base import Job
from socketrush.queues.sqs import SqsQueue
from socketrush.webhooks.sender import ID_HEADER
from tests.support.client import PusherClient
from tests.support.moto import (
    MotoServer,
    unique,
)
from tests.support.polling import wait_until
from tests.support.server import APP_ID, ServerProcess
from tests.support.sqs import Queues, make_queues, messages_left, start_node, validated
from tests.support.webhook_receiver import HANG, Receiver

pytestmark = pytest.mark.timeout(120)

OCCUPIED = [{"name": "channel_occupied", "channel": "room"}]


@pytest.fixture
def sqs(moto_server: MotoServer) -> Any:
    return moto_server.client("sqs")


@pytest.fixture
def queues(sqs: Any) -> Queues:
    return make_queues(sqs)


@pytest.fixture
def receiver(request: pytest.FixtureRequest) -> Iterator[Receiver]:
    with Receiver(getattr(request, "param", [])) as running:
        yield running


@pytest.fixture
def nodes(moto_server: MotoServer) -> Iterator[list[ServerProcess]]:
    started: list[ServerProcess] = []
    yield started
    for node in started:
        node.stop()


def occupy(node: ServerProcess) -> None:
    """A first subscriber occupies `room`: exactly one webhook job."""
    client = PusherClient.connect(node)
    client.subscribe("room")
    client.recv_event("pusher_internal:subscription_succeeded")
    client.close()


def dead_letters(sqs: Any, url: str) -> list[dict]:
    """What the node moved to the dead-letter queue; a long poll returns once it is there."""
    response = sqs.receive_message(
        QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=20, MessageAttributeNames=["All"]
    )
    return response.get("Messages", [])


def test_a_job_is_delivered_once_and_deleted(
    moto_server: MotoServer,
    sqs: Any,
    queues: Queues,
    receiver: Receiver,
    nodes: list[ServerProcess],
) -> None:
    node = start_node(nodes, moto_server, queues.url, receiver.url)
    occupy(node)
    [got] = receiver.wait_for(1)
    assert got.status == 200
    assert validated(got) == OCCUPIED
    assert len(got.headers[ID_HEADER]) == 32
    wait_until(
        lambda: messages_left(sqs, queues.url) == 0,
        10,
        lambda: f"{messages_left(sqs, queues.url)} messages left in the queue",
    )
    assert node.stop() == 0  # a graceful stop: nothing more is sent
    assert len(receiver.received) == 1
    assert messages_left(sqs, queues.dead_letters) == 0


@pytest.mark.parametrize("receiver", [[500, 503]], indirect=True)
def test_a_receiver_failing_twice_gets_the_event_on_the_third_try(
    moto_server: MotoServer,
    sqs: Any,
    queues: Queues,
    receiver: Receiver,
    nodes: list[ServerProcess],
) -> None:
    node = start_node(nodes, moto_server, queues.url, receiver.url)
    occupy(node)
    first, second, third = receiver.wait_for(3, timeout=30)
    assert [r.status for r in (first, second, third)] == [500, 503, 200]
    assert {r.headers[ID_HEADER] for r in (first, second, third)} == {first.headers[ID_HEADER]}
    assert {r.body for r in (first, second, third)} == {first.body}
    assert validated(third) == OCCUPIED
    wait_until(lambda: messages_left(sqs, queues.url) == 0, 10, lambda: "job not deleted")
    assert node.stop() == 0
    assert len(receiver.received) == 3


@pytest.mark.parametrize("receiver", [[HANG]], indirect=True)
def test_a_node_killed_mid_delivery_loses_nothing(
    moto_server: MotoServer,
    sqs: Any,
    queues: Queues,
    receiver: Receiver,
    nodes: list[ServerProcess],
) -> None:
    # The first node must still be sending when it is killed: its request times out after 5 s.
    short = ["--queue-sqs-visibility-timeout-seconds", "6", "--webhook-timeout-ms", "5000"]
    first = start_node(nodes, moto_server, queues.url, receiver.url, *short)
    occupy(first)
    [hung] = receiver.wait_for(1)  # the first node is mid-delivery
    first.stop(signal.SIGKILL)
    second = start_node(nodes, moto_server, queues.url, receiver.url, *short)
    delivered = receiver.wait_for(2, timeout=30)[1]
    assert delivered.status == 200
    assert delivered.headers[ID_HEADER] == hung.headers[ID_HEADER]
    assert delivered.body == hung.body
    assert validated(delivered) == OCCUPIED
    wait_until(lambda: messages_left(sqs, queues.url) == 0, 10, lambda: "job not deleted")
    assert second.stop() == 0
    assert len(receiver.delivered()) == 1


@pytest.mark.parametrize("receiver", [[HANG]], indirect=True)
def test_a_graceful_stop_hands_an_unfinished_job_back_at_once(
    moto_server: MotoServer,
    sqs: Any,
    queues: Queues,
    receiver: Receiver,
    nodes: list[ServerProcess],
) -> None:
    """The job would stay hidden far longer than the test runs: only a hand-back lets it pass.
    The grace period outlasts one receive, so the stopping node's receive ends by itself."""
    slow = ["--queue-sqs-visibility-timeout-seconds", "600", "--webhook-timeout-ms", "300000"]
    first = start_node(nodes, moto_server, queues.url, receiver.url, *slow)
    occupy(first)
    [hung] = receiver.wait_for(1)  # the first node is mid-delivery, for good
    second = start_node(nodes, moto_server, queues.url, receiver.url, *slow)
    assert first.stop() == 0
    assert "sqs queue: handed 1 unfinished jobs back on stop" in first.log()
    delivered = receiver.wait_for(2, timeout=30)[1]
    assert delivered.status == 200
    assert delivered.headers[ID_HEADER] == hung.headers[ID_HEADER]
    assert validated(delivered) == OCCUPIED
    wait_until(lambda: messages_left(sqs, queues.url) == 0, 10, lambda: "job not deleted")
    assert second.stop() == 0


@pytest.mark.parametrize("receiver", [[404]], indirect=True)
def test_a_refused_job_goes_to_the_dead_letter_queue_with_its_reason(
    moto_server: MotoServer,
    sqs: Any,
    queues: Queues,
    receiver: Receiver,
    nodes: list[ServerProcess],
) -> None:
    node = start_node(nodes, moto_server, queues.url, receiver.url)
    occupy(node)
    [dead] = dead_letters(sqs, queues.dead_letters)
    reason = dead["MessageAttributes"]["socketrush-dead-letter-reason"]["StringValue"]
    assert reason == f"DeliveryFailed: {receiver.url} refused the webhook (HTTP 404)"
    job = json.loads(dead["Body"])
    assert (job["kind"], job["app_id"]) == ("webhook", APP_ID)
    assert json.loads(job["payload"])["url"] == receiver.url
    wait_until(lambda: messages_left(sqs, queues.url) == 0, 10, lambda: "job not deleted")
    assert len(receiver.received) == 1


@pytest.mark.parametrize("receiver", [[500, 500, 500]], indirect=True)
def test_the_last_attempt_goes_to_the_dead_letter_queue(
    moto_server: MotoServer,
    sqs: Any,
    queues: Queues,
    receiver: Receiver,
    nodes: list[ServerProcess],
) -> None:
    node = start_node(nodes, moto_server, queues.url, receiver.url, "--webhook-max-attempts", "2")
    occupy(node)
    [dead] = dead_letters(sqs, queues.dead_letters)
    reason = dead["MessageAttributes"]["socketrush-dead-letter-reason"]["StringValue"]
    assert reason == f"DeliveryFailed: {receiver.url} failed 2 times, last: HTTP 500"
    assert [r.status for r in receiver.received] == [500, 500]


@pytest.mark.parametrize("receiver", [[500] * 5], indirect=True)
def test_each_retry_is_a_receive_so_the_redrive_policy_limits_them_too(
    moto_server: MotoServer,
    sqs: Any,
    receiver: Receiver,
    nodes: list[ServerProcess],
) -> None:
    """Retries wait in SQS, not in a node: SQS moves the job after maxReceiveCount receives."""
    queues = make_queues(sqs, max_receives=2)
    node = start_node(nodes, moto_server, queues.url, receiver.url)
    occupy(node)
    [dead] = dead_letters(sqs, queues.dead_letters)
    assert "MessageAttributes" not in dead  # moved by SQS, not by the node
    assert json.loads(dead["Body"])["kind"] == "webhook"
    assert [r.status for r in receiver.received] == [500, 500]


def test_an_unreadable_message_is_dead_lettered_and_the_node_goes_on(
    moto_server: MotoServer,
    sqs: Any,
    queues: Queues,
    receiver: Receiver,
    nodes: list[ServerProcess],
) -> None:
    node = start_node(nodes, moto_server, queues.url, receiver.url)
    sqs.send_message(QueueUrl=queues.url, MessageBody="not a job")
    [dead] = dead_letters(sqs, queues.dead_letters)
    assert dead["Body"] == "not a job"
    reason = dead["MessageAttributes"]["socketrush-dead-letter-reason"]["StringValue"]
    assert reason == "not a job this version can read"
    occupy(node)
    assert validated(receiver.wait_for(1)[0]) == OCCUPIED


def test_a_fifo_queue_carries_jobs_too(
    moto_server: MotoServer,
    sqs: Any,
    receiver: Receiver,
    nodes: list[ServerProcess],
) -> None:
    fifo = make_queues(sqs, fifo=True)
    node = start_node(nodes, moto_server, fifo.url, receiver.url)
    occupy(node)
    assert validated(receiver.wait_for(1)[0]) == OCCUPIED
    wait_until(lambda: messages_left(sqs, fifo.url) == 0, 10, lambda: "job not deleted")


@pytest.mark.parametrize("receiver", [[404]], indirect=True)
def test_without_a_redrive_policy_a_failed_job_is_logged_and_dropped(
    moto_server: MotoServer,
    sqs: Any,
    receiver: Receiver,
    nodes: list[ServerProcess],
) -> None:
    url = sqs.create_queue(QueueName=unique("plain"))["QueueUrl"]
    node = start_node(nodes, moto_server, url, receiver.url)
    occupy(node)
    receiver.wait_for(1)
    wait_until(lambda: messages_left(sqs, url) == 0, 10, lambda: "job not deleted")
    assert node.stop() == 0
    log = node.log()
    assert f"sqs queue {url} has no redrive policy" in log
    [dropped] = [line for line in log.splitlines() if "no dead-letter queue, dropped" in line]
    assert f"dropped webhook job for app {APP_ID} (DeliveryFailed: {receiver.url} refused" in (
        dropped
    )
    assert "Traceback" not in log


def test_settings_the_driver_needs_are_checked_at_start_up(
    moto_server: MotoServer,
) -> None:
    node = ServerProcess(args=["--queue-driver", "sqs"], env=moto_server.env)
    with pytest.raises(RuntimeError, match="server exited early") as exited:
        node.start()
    assert (
        "socketrush: queue_driver sqs needs queue_sqs_url: give it with the flag --queue-sqs-url"
        in str(exited.value)
    )
    node = ServerProcess(
        args=["--queue-driver", "sqs", "--queue-sqs-url", "http://127.0.0.1:1/0/q"]
        + ["--queue-sqs-visibility-timeout-seconds", "4"],
        env=moto_server.env,
    )
    with pytest.raises(RuntimeError, match="server exited early") as exited:
        node.start()
    assert (
        "socketrush: queue_sqs_visibility_timeout_seconds (4) must be longer than "
        "webhook_timeout_ms (4000 ms), or another node would send a webhook again while it is "
        "still being sent" in str(exited.value)
    )


def test_a_hold_after_stop_is_reported_lost_not_left_in_the_buffer(
    sqs: Any, queues: Queues, caplog: pytest.LogCaptureFixture
) -> None:
    """A notifier whose join timed out at stop holds a member_removed afterwards: nothing sends
    the buffer any more, so the job is logged and counted, not kept where no one sees it."""
    queue = SqsQueue(sqs, queues.url)
    queue.stop(0)
    removed = Job("webhook", APP_ID, b"member_removed")
    with caplog.at_level(logging.ERROR, logger="socketrush.queues.sqs"):
        queue.hold("k", [removed], 0.01)
    assert len(queue._holds) == 0
    assert [r.getMessage() for r in caplog.records] == [
        f"sqs queue: lost webhook job for app {APP_ID} (pushed after the queue stopped): "
        "member_removed"
    ]
