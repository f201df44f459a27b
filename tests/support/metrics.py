"""Scraping the Prometheus endpoint of a real server process."""

from __future__ import annotations

import urllib.request
from collections.abc import Callable, Iterator

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.support.polling import wait_until
from tests.support.server import ServerProcess, free_port

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def scrape(port: int) -> Samples:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        text = response.read().decode()
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float | None:
    return samples.get((name, frozenset(labels.items())))


def scrape_until(
    port: int, name: str, expected: float, timeout: float = 5.0, **labels: str
) -> Samples:
    """Scrape until a sample reaches `expected` and return that scrape: a connection's end is
    counted by the server after the client has seen it, so the client cannot await it."""
    latest: Samples = {}

    def reached() -> bool:
        nonlocal latest
        latest = scrape(port)
        return value(latest, name, **labels) == expected

    wait_until(
        reached,
        timeout,
        lambda: f"{name}{labels} is {value(latest, name, **labels)}, not {expected}",
    )
    return latest


def other_free_port(taken: int) -> int:
    """A free port other than `taken`: two free-port probes can return the same port."""
    port = free_port()
    while port == taken:
        port = free_port()
    return port


@pytest.fixture
def metrics_server() -> Iterator[Callable[..., tuple[ServerProcess, int]]]:
    """Factory for servers with metrics on (`enabled=False`: left at the default): returns the
    server and its metrics port."""
    started: list[ServerProcess] = []

    def factory(*args: str, enabled: bool = True) -> tuple[ServerProcess, int]:
        proc = ServerProcess(env={"LOG_LEVEL": "info"})
        port = other_free_port(proc.port)
        switch = ["--metrics-enabled", "true"] if enabled else []  # else: the default
        proc.args = [*switch, "--metrics-port", str(port), *args]
        started.append(proc.start())
        return proc, port

    yield factory
    for proc in started:
        proc.stop()
