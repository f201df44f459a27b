"""Faults under load, in the suite: while the two-node soak runs, Redis restarts empty, one
node is SIGKILLed and started again, and the webhook receiver is paused. What is promised
(docs/reliability.md) is asserted: connected clients on the surviving node lose nothing
outside the measured Redis window, no ghost presence member outlives the node timeout, no
webhook is lost, and everything returns to zero once the clients leave."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from loadtests.soak_phase import AFTER_REDIS_SECONDS
from tests.support.server import REPO_ROOT

pytestmark = pytest.mark.timeout(300)

NODE_TIMEOUT = 4
# Removals are not held back: held ones live in Redis, which restarts empty here (documented;
# a SIGKILL within the delay is tested in tests/socketrush/webhooks/test_held_removals.py).
FLAGS = [
    "--phases", "cluster", "--faults", "--seconds", "45", "--sample-seconds", "2",
    "--churners", "40", "--listeners", "16", "--node-timeout", str(NODE_TIMEOUT),
    "--redis-down", "2", "--node-down", "6", "--receiver-pause", "8",
    "--member-removed-delay-ms", "0",
]  # fmt: skip


@pytest.fixture(scope="module")
def phase(tmp_path_factory) -> dict:
    workdir = tmp_path_factory.mktemp("faults")
    done = subprocess.run(
        [sys.executable, "-m", "loadtests.soak", *FLAGS, "--workdir", str(workdir)],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=280,
    )
    assert done.stdout, done.stderr[-3000:]
    ran = json.loads(done.stdout)["phases"][0]
    ran["stderr"] = done.stderr
    return ran


def test_every_fault_happened(phase: dict) -> None:
    times = phase["faults"]["times_s"]
    assert list(times) == [
        "redis_down", "redis_up", "node_killed", "node_restarted",
        "receiver_paused", "receiver_resumed",
    ]  # fmt: skip
    assert phase["faults"]["errors"] == []


def test_surviving_clients_lose_nothing_outside_the_redis_window(phase: dict) -> None:
    delivery = phase["delivery"]
    assert delivery["owed"] > 2000
    assert delivery["lost_outside_faults"] == 0, phase["stderr"][-2000:]
    assert delivery["duplicates"] == 0
    redis = delivery["lost_in_fault_windows"]["redis_restart"]
    if redis["lost"]:  # what crossed nodes while Redis was away (and until the adapters
        # subscribed again, with a backoff of up to 5 s): gone, but only then. Times are
        # relative to Redis coming back; an earlier or later loss counts as outside.
        assert redis["last_sent_s"] <= AFTER_REDIS_SECONDS
    assert phase["client_events"]["lost"] == 0


def test_no_ghost_member_outlives_the_node_timeout(phase: dict) -> None:
    gone_after = phase["faults"]["ghosts_gone_after_s"]
    assert gone_after is not None and gone_after <= NODE_TIMEOUT * 1.25 + 5


def test_no_webhook_is_lost(phase: dict) -> None:
    webhooks = phase["webhooks"]
    assert webhooks["unbalanced_channels"] == {}
    assert webhooks["unbalanced_members"] == {}
    assert webhooks["missing_client_events"] == 0
    assert webhooks["requests"] > webhooks["unique"]  # the pause made the queue retry


def test_the_nodes_hold_nothing_once_the_clients_left(phase: dict) -> None:
    assert phase["leftovers"] == {"cluster-0": {}, "cluster-1": {}}
    assert phase["tracebacks"] == 0
    assert set(phase["actor_restarts"].values()) == {0}
    assert phase["failures"] == []
