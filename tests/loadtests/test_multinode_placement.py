"""Where multinode_gen.js puts its subscribers (loadtests/multinode_placement.js), run under
node: `spread` must put each channel on every node, `local` each on node c % nodes, and a
layout the counts cannot honour must be refused, by the module and by the generator."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections import Counter
from typing import Any

import pytest

from tests.support.server import REPO_ROOT

NODE = shutil.which("node")
pytestmark = pytest.mark.skipif(NODE is None, reason="needs node (the generator's runtime)")
LOADTESTS = REPO_ROOT / "loadtests"
# Prints placement(options) as JSON, or {"error": message} when it refuses.
CALL = """
const { placement } = require(process.argv[1]);
try { console.log(JSON.stringify(placement(JSON.parse(process.argv[2])))); }
catch (e) { console.log(JSON.stringify({ error: e.message })); }
"""


def place(**options: Any) -> Any:
    done = subprocess.run(
        [str(NODE), "-e", CALL, str(LOADTESTS / "multinode_placement.js"), json.dumps(options)],
        capture_output=True, text=True, timeout=30, check=True,
    )  # fmt: skip
    return json.loads(done.stdout)


def nodes_per_channel(places: list[dict[str, int]]) -> dict[int, Counter[int]]:
    """channel -> {node: subscribers of the channel on that node}."""
    out: dict[int, Counter[int]] = {}
    for p in places:
        out.setdefault(p["channel"], Counter())[p["node"]] += 1
    return out


def test_spread_puts_every_channel_on_every_node_when_channels_are_a_multiple_of_nodes() -> None:
    # the scale check's shape, scaled down: 4 nodes, 100 channels (a multiple of 4)
    places = place(nodes=4, subs=800, channels=100, layout="spread")
    assert [p["node"] for p in places[:6]] == [0, 1, 2, 3, 0, 1]  # connections alternate
    spread = nodes_per_channel(places)
    assert sorted(spread) == list(range(100))
    assert all(on == {0: 2, 1: 2, 2: 2, 3: 2} for on in spread.values())


def test_spread_with_subs_per_port_spreads_over_the_nodes_that_have_subscribers() -> None:
    spread = nodes_per_channel(place(nodes=3, perNode=[6, 6, 0], channels=3, layout="spread"))
    assert spread == {c: {0: 2, 1: 2} for c in range(3)}


def test_local_keeps_channel_c_on_node_c_mod_nodes() -> None:
    local = nodes_per_channel(place(nodes=4, subs=800, channels=100, layout="local"))
    assert local == {c: {c % 4: 8} for c in range(100)}


@pytest.mark.parametrize(
    ("options", "error"),
    [
        (
            {"nodes": 4, "subs": 200, "channels": 100, "layout": "spread"},
            "layout=spread: channel 50 would have subscribers on 0 node(s), not 4"
            " (want >= 100 subscribers on each node that has any)",
        ),
        (
            {"nodes": 2, "perNode": [5, 1], "channels": 2, "layout": "spread"},
            "layout=spread: channel 1 would have subscribers on 1 node(s), not 2"
            " (want >= 2 subscribers on each node that has any)",
        ),
        (
            {"nodes": 4, "perNode": [1, 1, 1, 0], "channels": 4, "layout": "local"},
            "layout=local: channel 3 would have subscribers on 0 node(s), not 1"
            " (want each node to have at least as many subscribers as channels)",
        ),
        (
            {"nodes": 4, "subs": 8, "channels": 2, "layout": "local"},
            "layout=local needs channels >= nodes",
        ),
        ({"nodes": 2, "subs": 8, "layout": "ring"}, "layout=ring: want one of spread, local"),
        ({"nodes": 2, "perNode": [1], "channels": 1}, "subs_per_port has 1 counts for 2 nodes"),
    ],
)
def test_a_layout_the_counts_cannot_honour_is_refused(options: dict, error: str) -> None:
    assert place(**options) == {"error": error}


def test_the_generator_refuses_before_it_connects_anything() -> None:
    done = subprocess.run(
        [str(NODE), str(LOADTESTS / "multinode_gen.js"), "gen_dir=/nonexistent",
         "ports=1,2,3,4", "subs=200", "channels=100"],
        capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    assert done.returncode == 2
    assert done.stderr == (
        "multinode_gen: layout=spread: channel 50 would have subscribers on 0 node(s), not 4"
        " (want >= 100 subscribers on each node that has any)\n"
    )
