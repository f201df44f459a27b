"""The short soak (two phases of 25 s: one node, then two nodes on a real Redis) runs as
documented and passes: no figure grows, everything returns to its baseline, nothing
acknowledged is lost, every webhook arrives (docs/reliability.md). The verdict is asserted
figure by figure, so a failure names what leaked."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.support.server import REPO_ROOT

pytestmark = pytest.mark.timeout(400)

SHORT = ["--seconds", "25", "--sample-seconds", "2", "--churners", "40", "--listeners", "16"]


@pytest.fixture(scope="module")
def verdict(tmp_path_factory) -> dict:
    workdir = tmp_path_factory.mktemp("soak")
    done = subprocess.run(
        [sys.executable, "-m", "loadtests.soak", *SHORT, "--workdir", str(workdir)],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=380,
    )
    assert done.stdout, done.stderr[-3000:]
    result = json.loads(done.stdout)
    result["stderr"] = done.stderr
    result["returncode"] = done.returncode
    return result


@pytest.mark.parametrize("phase", ["single", "cluster"])
def test_the_short_soak_passes(verdict: dict, phase: str) -> None:
    ran = {p["phase"]: p for p in verdict["phases"]}[phase]
    assert ran["failures"] == [], verdict["stderr"][-3000:]
    assert ran["leftovers"] == {f"{phase}-{n}": {} for n in range(ran["nodes"])}
    assert ran["churn"]["cycles"] > 200 and ran["churn"]["errors"] == {}
    delivery = ran["delivery"]
    assert delivery["owed"] > 1000
    assert (delivery["lost"], delivery["duplicates"], delivery["publish_failures"]) == (0, 0, 0)
    assert ran["client_events"]["sent"] > 100 and ran["client_events"]["lost"] == 0
    webhooks = ran["webhooks"]
    assert webhooks["unbalanced_channels"] == {} and webhooks["unbalanced_members"] == {}
    assert webhooks["missing_client_events"] == 0
    assert webhooks["client_events_checked"] == ran["client_events"]["sent"]
    for name in ("channel_occupied", "member_added", "client_event"):
        assert webhooks["by_name"][name] > 50, name
    assert ran["tracebacks"] == 0
    assert set(ran["actor_restarts"].values()) == {0}
    for trend in ran["trends"].values():
        assert trend["samples"] >= 5
    assert ran["passed"] is True


def test_the_soak_exits_0_when_every_phase_passed(verdict: dict) -> None:
    assert (verdict["passed"], verdict["returncode"]) == (True, 0), verdict["stderr"][-3000:]
