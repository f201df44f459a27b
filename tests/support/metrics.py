"""Scraping a real server's Prometheus metrics port: exact sample values after real traffic."""

from __future__ import annotations

import time
import urllib.request

from prometheus_client.parser import text_string_to_metric_families

from tests.support.server import free_port

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


def scrape_until(port: int, name: str, expected: float, timeout: float = 5.0, **labels: str):
    """Scrape until a sample reaches `expected`: a connection's end is counted by the server
    after the client has seen it, so the client cannot await it directly."""
    deadline = time.monotonic() + timeout
    while True:
        samples = scrape(port)
        if value(samples, name, **labels) == expected or time.monotonic() > deadline:
            return samples
        time.sleep(0.05)


def other_free_port(taken: int) -> int:
    """A free port other than `taken`: two free-port probes can return the same port."""
    port = free_port()
    while port == taken:
        port = free_port()
    return port
