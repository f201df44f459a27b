"""`--queue-driver sqs` and what SQS bounds: a batch of large webhook jobs is split to stay
within the queue's size limit, a job over the limit on its own is refused (logged and
counted) without holding up the others, a stop in the middle of a split reports only the jobs
not in SQS yet, and the queue's depth is reported like the Redis queue's. Real server
processes (the stop: a queue in this process), moto's SQS, a real HTTP webhook receiver."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import gevent
import pytest
from gevent.event import Event

from socketrush.queues.base import Job
from socketrush.queues.sqs import SqsQueue
from tests.support.client import PusherClient, subscribe_signed
from tests.support.metrics import other_free_port, scrape_until, value
from tests.support.moto import MotoServer, unique
from tests.support.polling import wait_until
from tests.support.server import APP_ID, ServerProcess, free_port
from tests.support.sqs import make_queues, messages_left, start_node, validated
from tests.support.webhook_receiver import HANG, Received, Receiver

pytestmark = pytest.mark.timeout(120)

DATA = "x" * 150_000  # a client event's data: its webhook job is about as large
CLIENT_EVENTS = ["--app-enable-client-messages", "true", "--app-has-client-event-webhooks", "true"]
CLIENT_EVENTS += ["--app-max-event-payload-in-kb", "200"]
DEPTH = "socketrush_queue_shared_depth"
DEAD_LETTERED = "socketrush_webhooks_dead_lettered_total"


@pytest.fixture
def sqs(moto_server: MotoServer) -> Any:
    return moto_server.client("sqs")


@pytest.fixture
def nodes() -> Iterator[list[ServerProcess]]:
    started: list[ServerProcess] = []
    yield started
    for node in started:
        node.stop()


def with_metrics(*extra: str) -> tuple[list[str], int]:
    """Flags for metrics on a port of their own, and that port."""
    port = other_free_port(free_port())
    return [*extra, "--metrics-enabled", "true", "--metrics-port", str(port)], port


def client_event_to(node: ServerProcess, data: str) -> PusherClient:
    client = PusherClient.connect(node)
    subscribe_signed(node, client, "private-big")
    client.recv_event("pusher_internal:subscription_succeeded")
    client.send("client-big", data, channel="private-big")
    return client


def client_events(received: list[Received]) -> list[tuple[str, str]]:
    """(path, data) of each client_event request received."""
    return [
        (request.path, event["data"])
        for request in received
        for event in validated(request)
        if event["name"] == "client_event"
    ]


def test_a_full_batch_of_large_jobs_is_split_to_fit_and_every_job_delivered(
    moto_server: MotoServer, sqs: Any, nodes: list[ServerProcess]
) -> None:
    """Ten webhook URLs: one client event of 150 KB is ten jobs of 150 KB, pushed at once,
    1.5 MB in all, over the 1 MiB a batch may hold (SQS refuses such a batch whole)."""
    queues = make_queues(sqs)
    with Receiver() as receiver:
        hooks = ",".join(f"{receiver.url}?to={number}" for number in range(10))
        node = start_node(nodes, moto_server, queues.url, hooks, *CLIENT_EVENTS)
        client = client_event_to(node, DATA)
        received = receiver.wait_for(20, timeout=30)  # 10 channel_occupied, 10 client_event
        client.close()
        wait_until(lambda: messages_left(sqs, queues.url) == 0, 10, lambda: "jobs not deleted")
    assert sorted(client_events(received)) == sorted(
        (f"/hook?to={number}", DATA) for number in range(10)
    )
    log = node.log()
    assert "push failed" not in log and "lost" not in log and "Traceback" not in log


def test_a_job_over_the_queue_s_limit_is_refused_and_the_next_ones_go_on(
    moto_server: MotoServer, sqs: Any, nodes: list[ServerProcess]
) -> None:
    """A queue of 100 KiB messages: the 150 KB job can never be sent, nor dead-lettered; it is
    logged (its payload cut) and counted, and the job after it is delivered."""
    url = sqs.create_queue(QueueName=unique("small"), Attributes={"MaximumMessageSize": "102400"})[
        "QueueUrl"
    ]
    flags, metrics_port = with_metrics(*CLIENT_EVENTS)
    with Receiver() as receiver:
        node = start_node(nodes, moto_server, url, receiver.url, *flags)
        client = client_event_to(node, DATA)
        client.send("client-small", "after the large one", channel="private-big")
        received = receiver.wait_for(2, timeout=30)  # channel_occupied, the small event
        client.close()
        samples = scrape_until(metrics_port, DEAD_LETTERED, 1, app_id=APP_ID)
    assert client_events(received) == [("/hook", "after the large one")]
    assert value(samples, DEAD_LETTERED, app_id=APP_ID) == 1
    log = node.log()
    [refused] = [line for line in log.splitlines() if "sqs queue: lost" in line]
    assert f"lost webhook job for app {APP_ID} (" in refused
    assert "bytes, over the queue's 102400-byte message limit): " in refused
    assert refused.endswith(" bytes)") and len(refused) < 2000  # not the whole payload
    assert "push failed" not in log and "Traceback" not in log


def test_the_queue_s_depth_is_reported(
    moto_server: MotoServer, sqs: Any, nodes: list[ServerProcess]
) -> None:
    """One worker, held by a request that hangs: the jobs behind it wait in SQS, and the
    node reads how many into socketrush_queue_shared_depth."""
    queues = make_queues(sqs)
    flags, metrics_port = with_metrics("--queue-workers", "1", "--webhook-timeout-ms", "25000")
    with Receiver([HANG] * 4) as receiver:
        node = start_node(nodes, moto_server, queues.url, receiver.url, *flags)
        clients = [PusherClient.connect(node) for _ in range(4)]
        for number, client in enumerate(clients):  # four channels occupied: four jobs
            client.subscribe(f"room-{number}")
            client.recv_event("pusher_internal:subscription_succeeded")
        receiver.wait_for(1)  # the first hangs, and holds the only worker
        samples = scrape_until(metrics_port, DEPTH, 3, timeout=30)
        assert value(samples, DEPTH) == 3
        assert messages_left(sqs, queues.url) == 4  # and the one being sent
        for client in clients:
            client.close()


def test_a_stop_during_a_split_reports_only_the_jobs_not_yet_in_sqs(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A batch SQS refuses whole goes again one job at a time; the first gets in, then SQS
    becomes unreachable and the node stops: only the second job is lost, and the first,
    already in SQS, is not reported lost too. This queue's own moto server: it is stopped.

    SQS refuses the batch because its limit drops after the feeder read it: both jobs fit
    the old limit together, the second alone is over the new one."""
    moto = MotoServer().start()
    try:
        sqs = moto.client("sqs")
        url = sqs.create_queue(QueueName=unique("split"))["QueueUrl"]
        limit_read, moto_stopped = Event(), Event()
        sends: list[object] = []

        def after_send(**call: object) -> None:
            sends.append(call)
            if len(sends) == 2:  # the first job alone: in SQS
                moto.stop()
                moto_stopped.set()

        sqs.meta.events.register("after-call.sqs.GetQueueAttributes", lambda **_: limit_read.set())
        sqs.meta.events.register("after-call.sqs.SendMessageBatch", after_send)
        queue = SqsQueue(sqs, url)
        small, large = Job("webhook", APP_ID, b"small"), Job("webhook", APP_ID, b"L" * 2000)
        queue._feeder = gevent.spawn(queue._feed)
        assert limit_read.wait(30)
        sqs.set_queue_attributes(QueueUrl=url, Attributes={"MaximumMessageSize": "1024"})
        caplog.set_level(logging.ERROR, logger="socketrush.queues")
        queue.push(small)
        queue.push(large)
        assert moto_stopped.wait(30)
        queue.stop(0)
    finally:
        moto.stop()
    assert [r.getMessage() for r in caplog.records] == [
        f"sqs queue: lost webhook job for app {APP_ID} (SQS unreachable at stop): "
        f"{'L' * 1000}... (2000 bytes)"
    ]
