"""1,000 connect/subscribe/leave cycles per channel kind leave nothing behind.

In the spirit of soketi's leak tests, but asserted with the server's own counts (its census,
docs/metrics.md) scraped from a real server process: no connection, channel actor,
subscription, presence member, signed-in user, watcher, timer, event-loop watcher, greenlet,
descriptor or connection object outlives its clients. Clients leave in the three ways real
ones do (a close frame, unsubscribing first, a TCP reset) and share channel names and user
ids, so channels are created and retired while others still join them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import gevent
import pytest
from gevent.pool import Pool

from loadtests.soak_clients import App, Client, Kind, Leave
from tests.support.metrics import Samples, other_free_port, scrape
from tests.support.polling import wait_until
from tests.support.server import APP_ID, APP_KEY, APP_SECRET, ServerProcess

pytestmark = pytest.mark.timeout(120)

CYCLES = 1_000
AT_ONCE = 25  # clients in flight together
CHANNELS = 20  # names shared by the cycles: channels empty and fill again meanwhile
USERS = 50
LEAVES = tuple(Leave)
APP = App(APP_ID, APP_KEY, APP_SECRET)
# What may differ from the baseline without being a leak: the runners parked for reuse (a pool
# of at most 256) and channel kinds remembered by classify()'s bounded cache.
NOT_LEAKS = ("socketrush_census_idle_runners", "socketrush_census_heap_seconds")
BOUNDED_CACHES = {("socketrush_census_objects", frozenset({("type", "ChannelInfo")}))}


@pytest.fixture(scope="module")
def server() -> Iterator[tuple[ServerProcess, int]]:
    """A server exporting its census with heap counts; and its metrics port."""
    process = ServerProcess()
    port = other_free_port(process.port)
    process.args = ["--metrics-enabled", "true", "--metrics-port", str(port)]
    process.args += ["--metrics-count-objects", "true", "--app-enable-client-messages", "true"]
    with process:
        yield process, port


def held(samples: Samples) -> dict[tuple[str, frozenset], float]:
    """What the server holds: its census and its descriptors, minus what is not a leak."""
    return {
        key: value
        for key, value in samples.items()
        if (key[0].startswith("socketrush_census_") or key[0] == "process_open_fds")
        and key[0] not in NOT_LEAKS
        and key not in BOUNDED_CACHES
        and value  # a figure that is 0 and one that is absent mean the same
    }


def difference(before: dict, after: dict) -> dict[str, float]:
    return {
        f"{name}{dict(labels) or ''}": after.get((name, labels), 0) - before.get((name, labels), 0)
        for name, labels in sorted(before.keys() | after.keys())
        if after.get((name, labels), 0) != before.get((name, labels), 0)
    }


def cycles(port: int, cycle: Callable[[Client, int], None], count: int) -> list[BaseException]:
    """Run `count` cycles, AT_ONCE at a time; each connects, runs `cycle`, then leaves the
    way its number picks. Returns the errors (none expected)."""
    errors: list[BaseException] = []

    def one(number: int) -> None:
        try:
            client = Client(port, APP)
            cycle(client, number)
            client.leave(LEAVES[number % len(LEAVES)])
        except Exception as error:  # collected and asserted: one failure must not stop the rest
            errors.append(error)

    pool = Pool(AT_ONCE)
    for number in range(count):
        pool.spawn(one, number)
    pool.join()
    return errors


def joins(kind: Kind) -> Callable[[Client, int], None]:
    def cycle(client: Client, number: int) -> None:
        client.join(kind, f"leak-{number % CHANNELS}", user_id=f"user-{number % USERS}")

    return cycle


def signs_in(client: Client, number: int) -> None:
    """A signed-in user watching another, also on a public channel; some send an event."""
    client.sign_in(f"user-{number % USERS}", watchlist=[f"user-{(number + 1) % USERS}"])
    client.join(Kind.PRIVATE, f"leak-{number % CHANNELS}")
    if number % 2:
        client.send_event(f"private-leak-{number % CHANNELS}", "client-hello", {"n": number})


SCENARIOS = {kind.name.lower(): joins(kind) for kind in Kind} | {"signed-in users": signs_in}


@pytest.mark.parametrize("scenario", list(SCENARIOS))
def test_a_thousand_cycles_leave_nothing_behind(server, scenario: str) -> None:
    process, metrics_port = server
    cycle = SCENARIOS[scenario]
    assert cycles(process.port, cycle, len(LEAVES)) == []  # warm-up: each way of leaving once
    baseline = settled(metrics_port)

    errors = cycles(process.port, cycle, CYCLES)

    assert errors == []
    wait_until(
        lambda: held(scrape(metrics_port)) == baseline,
        10,
        lambda: (
            f"left behind after {CYCLES} cycles: {difference(baseline, held(scrape(metrics_port)))}"
        ),
    )
    assert "Traceback" not in process.log()


def settled(metrics_port: int) -> dict:
    """The server's holdings once they stop changing (closing handshakes finish on timers)."""
    last: dict = {}

    def steady() -> bool:
        nonlocal last
        now = held(scrape(metrics_port))
        same, last = now == last, now
        return same and not any(k[0] == "socketrush_census_connections" for k in now)

    wait_until(steady, 10, lambda: f"never settled: {last}", sleep=lambda s: gevent.sleep(0.2))
    return last
