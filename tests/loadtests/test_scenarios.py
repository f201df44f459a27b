"""Smoke test: every Locust scenario runs headless for a few seconds against a real server.

The four scenarios run side by side (one Locust process each) so the module stays well under
30 s; each test then checks its own scenario's stats. No timing is asserted, only that every
request kind the scenario reports happened, none failed, and latencies were recorded.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.server import REPO_ROOT, ServerProcess

pytest.importorskip("locust", reason="needs the `load` extra: pip install -e '.[test,load]'")

LOCUST = Path(sys.executable).with_name("locust")
RUN_SECONDS = 3
# scenario -> (users, extra flags, request names it must report)
SCENARIOS: dict[str, tuple[int, list[str], set[str]]] = {
    "connection_storm": (3, ["--hold-seconds", "0.5"], {"connect", "subscribe", "hold"}),
    "fanout": (4, ["--publish-rate", "20"], {"connect", "subscribe", "deliver", "trigger"}),
    "presence_churn": (3, ["--presence-channels", "2"], {"connect", "join", "member_added"}),
    "client_events": (2, [], {"connect pair", "subscribe pair", "client-ping", "client-pong"}),
}


@pytest.fixture(scope="module")
def results(server: ServerProcess) -> Iterator[dict[str, tuple[int, list[dict], str]]]:
    """Run all scenarios at once; map each to (exit status, Locust JSON stats, stderr)."""
    procs = {
        name: subprocess.Popen(
            [
                str(LOCUST),
                "--config",
                f"loadtests/{name}.conf",
                "--host",
                server.http_url,
                "--users",
                str(users),
                "--spawn-rate",
                str(users),
                "--run-time",
                f"{RUN_SECONDS}s",
                "--json",
                *extra,
            ],
            cwd=REPO_ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for name, (users, extra, _) in SCENARIOS.items()
    }
    outcome = {}
    try:
        for name, proc in procs.items():
            stdout, stderr = proc.communicate(timeout=20)
            outcome[name] = (proc.returncode, json.loads(stdout or "[]"), stderr)
    finally:
        for proc in procs.values():
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    yield outcome


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_scenario_runs_and_records_latency(scenario: str, results) -> None:
    returncode, stats, stderr = results[scenario]
    assert returncode == 0, stderr[-2000:]
    by_name = {entry["name"]: entry for entry in stats}
    assert set(by_name) == SCENARIOS[scenario][2], stderr[-2000:]
    for name, entry in by_name.items():
        assert entry["num_requests"] > 0, name
        assert entry["num_failures"] == 0, (name, stderr[-2000:])
        assert sum(entry["response_times"].values()) == entry["num_requests"], name


def test_non_loopback_host_is_refused() -> None:
    proc = subprocess.run(
        [str(LOCUST), "--config", "loadtests/fanout.conf", "--host", "http://192.0.2.1:6001"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=20,
    )
    assert proc.returncode == 1
    assert "refusing to load-test '192.0.2.1': only loopback hosts are allowed" in proc.stderr
