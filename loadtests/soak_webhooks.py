"""What the webhook receiver got, counted once per webhook id, and the checks that show a lost
one: once every client has left and the queues have drained,

* every channel was vacated as often as it was occupied, and every presence user was removed
  as often as added (a lost webhook of either kind breaks its balance);
* every client event a pair's receiver saw came back as a client_event webhook.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from loadtests.soak_workload import PAIR_EVENT, PairStats


@dataclass
class Webhooks:
    requests: int = 0  # requests recorded, retries included
    unique: int = 0  # distinct webhook ids
    events: Counter[str] = field(default_factory=Counter)  # by name
    occupancy: Counter[str] = field(default_factory=Counter)  # channel -> occupied - vacated
    membership: Counter[tuple[str, str]] = field(default_factory=Counter)  # added - removed
    pair_events: set[tuple[str, int]] = field(default_factory=set)  # (socket id, seq)


def read(records: Path) -> Webhooks:
    seen: set[str] = set()
    result = Webhooks()
    if not records.exists():
        return result
    for line in records.read_text(encoding="utf-8").splitlines():
        record = json.loads(line)
        result.requests += 1
        if record["id"] in seen or record["events"] is None:
            continue
        seen.add(record["id"])
        result.unique += 1
        for event in record["events"]:
            _count(result, event)
    return result


def _count(result: Webhooks, event: dict) -> None:
    name = event.get("name")
    result.events[name] += 1
    channel = event.get("channel", "")
    if name == "channel_occupied":
        result.occupancy[channel] += 1
    elif name == "channel_vacated":
        result.occupancy[channel] -= 1
    elif name == "member_added":
        result.membership[(channel, event.get("user_id"))] += 1
    elif name == "member_removed":
        result.membership[(channel, event.get("user_id"))] -= 1
    elif name == "client_event" and event.get("event") == PAIR_EVENT:
        data = json.loads(event["data"]) if isinstance(event.get("data"), str) else event["data"]
        result.pair_events.add((event.get("socket_id"), data["s"]))


@dataclass
class WebhookVerdict:
    unbalanced_channels: dict[str, int]
    unbalanced_members: dict[str, int]
    missing_client_events: int
    client_events_seen: int

    @property
    def lost(self) -> int:
        """Webhooks missing: an occupied or member_added without its vacated or removed, and
        client events that reached a peer but not the receiver."""
        return (
            sum(n for n in self.unbalanced_channels.values() if n > 0)
            + sum(n for n in self.unbalanced_members.values() if n > 0)
            + self.missing_client_events
        )

    @property
    def repeated(self) -> int:
        """The opposite imbalance: a vacated or member_removed more than occupied or added
        (nothing lost, but a receiver is told twice that someone left)."""
        return -sum(n for n in self.unbalanced_channels.values() if n < 0) - sum(
            n for n in self.unbalanced_members.values() if n < 0
        )


def check(webhooks: Webhooks, pairs: PairStats) -> WebhookVerdict:
    seen = {(sender, seq) for sender, seqs in pairs.received.items() for seq in seqs}
    return WebhookVerdict(
        unbalanced_channels={c: n for c, n in webhooks.occupancy.items() if n},
        unbalanced_members={f"{c} {u}": n for (c, u), n in webhooks.membership.items() if n},
        missing_client_events=len(seen - webhooks.pair_events),
        client_events_seen=len(seen),
    )
