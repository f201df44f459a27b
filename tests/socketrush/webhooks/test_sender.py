"""WebhookSender against a real HTTP receiver: statuses, retries, backoff, timeouts, refusals."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

import orjson
import pytest

from socketrush.queues.base import RetryLater
from socketrush.webhooks import events
from socketrush.webhooks.sender import (
    ID_HEADER,
    DeliveryFailed,
    RetryPolicy,
    WebhookSender,
    make_job,
    request_of,
)
from tests.support.server import free_port
from tests.support.webhook_receiver import HANG, Receiver

BODY = events.body([events.channel_occupied("c")], 1_700_000_000_000)
HEADERS = events.headers("key", "secret", BODY)


@pytest.fixture
def receiver(request: pytest.FixtureRequest) -> Iterator[Receiver]:
    script = getattr(request, "param", [])
    with Receiver(script) as running:
        yield running


def sender(sleeps: list[float], attempts: int = 4, timeout: float = 2.0) -> WebhookSender:
    policy = RetryPolicy(max_attempts=attempts, base_delay=0.5, max_delay=1.5, timeout=timeout)
    return WebhookSender(policy, sleep=sleeps.append)


def test_job_round_trip_keeps_url_body_headers_and_adds_an_id() -> None:
    job = make_job("424242", "http://x/hook", BODY, HEADERS)
    assert job.kind == "webhook"
    assert job.app_id == "424242"
    request = request_of(job)
    assert (request.url, request.body) == ("http://x/hook", BODY)
    assert {k: v for k, v in request.headers.items() if k != ID_HEADER} == HEADERS
    assert len(request.headers[ID_HEADER]) == 32
    assert (
        request_of(make_job("1", "u", BODY, HEADERS)).headers[ID_HEADER]
        != (request.headers[ID_HEADER])
    )


def test_backoff_doubles_up_to_the_cap() -> None:
    policy = RetryPolicy(base_delay=0.5, max_delay=1.5)
    assert [policy.delay(n) for n in range(1, 5)] == [0.5, 1.0, 1.5, 1.5]


def test_2xx_is_one_post_with_body_and_headers(receiver: Receiver) -> None:
    sleeps: list[float] = []
    job = make_job("424242", receiver.url, BODY, HEADERS)
    sender(sleeps)(job)
    [got] = receiver.wait_for(1)
    assert got.body == BODY
    assert got.headers["Content-Type"] == "application/json"
    assert got.headers["X-Pusher-Key"] == "key"
    assert got.headers["X-Pusher-Signature"] == HEADERS["X-Pusher-Signature"]
    assert got.headers[ID_HEADER] == request_of(job).headers[ID_HEADER]
    assert sleeps == []


@pytest.mark.parametrize("receiver", [[500, 503, 429, 408, 204]], indirect=True)
def test_5xx_408_429_are_retried_with_backoff_and_the_same_id(receiver: Receiver) -> None:
    sleeps: list[float] = []
    sender(sleeps, attempts=5)(make_job("424242", receiver.url, BODY, HEADERS))
    got = receiver.wait_for(5)
    assert [r.status for r in got] == [500, 503, 429, 408, 204]
    assert len({r.headers[ID_HEADER] for r in got}) == 1
    assert {r.body for r in got} == {BODY}
    assert sleeps == [0.5, 1.0, 1.5, 1.5]


@pytest.mark.parametrize("receiver", [[404]], indirect=True)
def test_other_4xx_is_not_retried(receiver: Receiver) -> None:
    sleeps: list[float] = []
    with pytest.raises(DeliveryFailed, match=r"refused the webhook \(HTTP 404\)"):
        sender(sleeps)(make_job("424242", receiver.url, BODY, HEADERS))
    assert [r.status for r in receiver.wait_for(1)] == [404]
    assert sleeps == []


@pytest.mark.parametrize("receiver", [[500, 500, 500]], indirect=True)
def test_exhausted_retries_raise_with_the_last_outcome(receiver: Receiver) -> None:
    sleeps: list[float] = []
    with pytest.raises(DeliveryFailed, match=r"failed 3 times, last: HTTP 500"):
        sender(sleeps, attempts=3)(make_job("424242", receiver.url, BODY, HEADERS))
    assert sleeps == [0.5, 1.0]


@pytest.mark.parametrize("receiver", [[HANG]], indirect=True)
def test_a_timeout_is_retried(receiver: Receiver) -> None:
    sleeps: list[float] = []
    sender(sleeps, timeout=0.3)(make_job("424242", receiver.url, BODY, HEADERS))
    assert [r.status for r in receiver.wait_for(2)] == [0, 200]
    assert sleeps == [0.5]


def test_connection_refused_is_retried_then_given_up() -> None:
    sleeps: list[float] = []
    url = f"http://127.0.0.1:{free_port()}/hook"
    with pytest.raises(DeliveryFailed, match="failed 2 times, last: URLError"):
        sender(sleeps, attempts=2)(make_job("424242", url, BODY, HEADERS))
    assert sleeps == [0.5]


def test_body_is_sent_byte_for_byte() -> None:
    body = orjson.dumps({"time_ms": 1, "events": [{"name": "x", "data": "é"}]})
    with Receiver() as receiver:
        sender([])(make_job("1", receiver.url, body, events.headers("k", "s", body)))
        assert receiver.wait_for(1)[0].body == body


@pytest.mark.parametrize("receiver", [[503, 500, 500]], indirect=True)
def test_for_a_redelivering_queue_each_call_is_one_try(receiver: Receiver) -> None:
    """SQS counts the tries in `job.attempt`; the sender never sleeps, it says how long to wait."""
    policy = RetryPolicy(max_attempts=3, base_delay=0.5, max_delay=1.5, timeout=2.0)
    sleeps: list[float] = []
    once = WebhookSender(policy, sleep=sleeps.append, retry_here=False)
    job = make_job("424242", receiver.url, BODY, HEADERS)
    with pytest.raises(RetryLater) as first:
        once(job)
    assert (first.value.delay, str(first.value)) == (0.5, "HTTP 503")
    with pytest.raises(RetryLater) as second:
        once(dataclasses.replace(job, attempt=2))
    assert (second.value.delay, str(second.value)) == (1.0, "HTTP 500")
    with pytest.raises(DeliveryFailed) as last:
        once(dataclasses.replace(job, attempt=3))
    assert str(last.value) == f"{receiver.url} failed 3 times, last: HTTP 500"
    assert [r.status for r in receiver.wait_for(3)] == [503, 500, 500]
    once(dataclasses.replace(job, attempt=4))  # a 200 counts at any attempt
    assert len(receiver.delivered()) == 1
    assert sleeps == []


@pytest.mark.parametrize("receiver", [[404]], indirect=True)
def test_for_a_redelivering_queue_a_refusal_is_final_at_once(receiver: Receiver) -> None:
    once = WebhookSender(RetryPolicy(max_attempts=3), retry_here=False)
    with pytest.raises(DeliveryFailed, match=r"refused the webhook \(HTTP 404\)$"):
        once(make_job("424242", receiver.url, BODY, HEADERS))
