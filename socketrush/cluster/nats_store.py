"""The cluster state in a JetStream key-value bucket, for deployments on NATS without Redis.

Keys of the bucket `<prefix>_cluster` (A = app id, C = channel, N = node, each escaped into
one token by `nats_client.escape`), every value a JSON document:

    nodes            {N: heartbeat expiry in ms}             the node registry
    node.N           {"apps": [A, ...]}                       where N's reaper must look
    epoch            a random id: a new one means the bucket was lost (restarted empty)
    reap.N           {"by": N2, "at": ms}                     N2 reaps N (a lock for 60 s)
    sweep            {"by": N, "at": ms}                      N sweeps this hour (`maintain`)
    A.subs.C         {"v": version, "n": {N: subscribers}}    one channel's counts
    A.conns          {N: connections}                         the app's connections
    A.pres.C         {user: {N: user_info}}                   one presence channel's members

Every write is a compare-and-set on the document's revision (`nats_kv.change`), so the decision
it carries (occupied/vacated, new member, within the member or connection limit) is made on
exactly the state it replaces, as the Lua scripts do on Redis. A channel's `v` grows with
every write (at least by one, and at least to the writer's clock in µs), so totals stay
ordered even after the bucket is lost and rebuilt. Listing queries and the reaper read
`A.subs.*` / `A.pres.*` with one ordered consumer each (a scan), not an index per node:
writes stay one round trip, and scans happen on queries and reaps only. What vacated and
deleted keys leave behind is swept once an hour (`maintain`).
"""

from __future__ import annotations

import contextlib
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import nats.errors
import orjson
from nats.js.errors import KeyWrongLastSequenceError
from nats.js.kv import KeyValue

from socketrush import nats_kv as kv
from socketrush.cluster.store import (
    ALREADY_MEMBER,
    NEW_MEMBER,
    REFUSED,
    ClusterStore,
    Joined,
    SubscriptionsWritten,
)
from socketrush.nats_bridge import NatsBridge
from socketrush.nats_client import NatsNames, escape, unescape
from socketrush.nats_kv import UNCHANGED, Document

T = TypeVar("T")

log = logging.getLogger(__name__)

SWEEP_INTERVAL_SECONDS = 3600  # how often one node of the deployment sweeps the bucket
SWEEP_AFTER_SECONDS = 600  # what was deleted or vacated this long ago is swept


class NatsStore(ClusterStore):
    """Each method is one call onto the bridge's loop (its retries stay there)."""

    errors = kv.ERRORS

    def __init__(self, bridge: NatsBridge, names: NatsNames, request_timeout: float) -> None:
        self._bucket = kv.Bucket(bridge, names.bucket(), request_timeout)
        self._timeout = request_timeout
        self._next_sweep = time.monotonic() + SWEEP_INTERVAL_SECONDS

    def _run(self, work: Callable[[KeyValue], Awaitable[T]]) -> T:
        return self._bucket.run(work)

    # -- node registry --

    def beat(self, node: str, expires_ms: int) -> bool:
        def decide(nodes: Document | None) -> tuple[Document, bool]:
            nodes = nodes or {}
            absent = node not in nodes
            nodes[node] = expires_ms
            return nodes, absent

        return self._run(lambda bucket: kv.change(bucket, "nodes", decide))

    def epoch(self) -> str:
        async def work(bucket: KeyValue) -> str:
            with contextlib.suppress(KeyWrongLastSequenceError):  # another node was first
                await bucket.create("epoch", uuid.uuid4().hex.encode())
            return (await bucket.get("epoch")).value.decode()

        return self._run(work)

    def _registry(self) -> dict[str, int]:
        return self._run(lambda bucket: kv.read(bucket, "nodes"))[0] or {}

    def live_nodes(self, now_ms: int) -> set[str]:
        return {node for node, expiry in self._registry().items() if expiry >= now_ms}

    def expired_nodes(self, now_ms: int) -> list[str]:
        return [node for node, expiry in self._registry().items() if expiry <= now_ms]

    def lock_reap(self, dead: str, reaper: str, seconds: int) -> bool:
        return self._lock(f"reap.{escape(dead)}", reaper, seconds)

    def _lock(self, key: str, holder: str, seconds: int) -> bool:
        """True for the one node that takes `key` (free, or taken over `seconds` ago)."""
        now_ms = int(time.time() * 1000)

        def decide(lock: Document | None) -> tuple[Any, bool]:
            if lock is not None and lock["at"] + seconds * 1000 > now_ms:
                return UNCHANGED, False
            return {"by": holder, "at": now_ms}, True

        return self._run(lambda bucket: kv.change(bucket, key, decide))

    def register_app(self, node: str, app_id: str) -> None:
        def decide(entry: Document | None) -> tuple[Any, None]:
            apps = (entry or {}).get("apps", [])
            return (UNCHANGED, None) if app_id in apps else ({"apps": [*apps, app_id]}, None)

        self._run(lambda bucket: kv.change(bucket, f"node.{escape(node)}", decide))

    def node_apps(self, node: str) -> set[str]:
        entry, _ = self._run(lambda bucket: kv.read(bucket, f"node.{escape(node)}"))
        return set((entry or {}).get("apps", []))

    def forget_node(self, node: str) -> None:
        def drop_entry(_entry: Document | None) -> tuple[None, None]:
            return None, None

        def drop_from_registry(nodes: Document | None) -> tuple[Any, None]:
            if not nodes or node not in nodes:
                return UNCHANGED, None
            del nodes[node]
            return nodes, None

        async def work(bucket: KeyValue) -> None:
            await kv.change(bucket, f"node.{escape(node)}", drop_entry)
            await kv.change(bucket, "nodes", drop_from_registry)

        self._run(work)

    # -- subscriptions --

    def write_subscriptions(
        self, app_id: str, node: str, channel: str, count: int
    ) -> SubscriptionsWritten:
        now_us = time.time_ns() // 1000

        def decide(doc: Document | None) -> tuple[Document, SubscriptionsWritten]:
            doc = doc or {"v": 0, "n": {}}
            counts: dict[str, int] = doc["n"]
            before = counts.pop(node, 0)
            others = sum(counts.values())
            if count > 0:
                counts[node] = count
            change = 0
            if others == 0 and before == 0 and count > 0:
                change = 1
            elif others == 0 and before > 0 and count == 0:
                change = -1
            version = max(doc["v"] + 1, now_us)
            # kept when empty: the version must keep growing for the channel's next life
            return {"v": version, "n": counts}, SubscriptionsWritten(
                change, others + count, version, before
            )

        key = _app_key(app_id, "subs", channel)
        return self._run(lambda bucket: kv.change(bucket, key, decide))

    def _scan(self, app_id: str, kind: str) -> list[tuple[str, Document]]:
        """(channel, document) of every `kind` document of the app."""
        keys = f"{escape(app_id)}.{kind}.*"
        found = self._run(lambda bucket: kv.scan(bucket, keys, self._timeout))
        return [(unescape(key.rsplit(".", 1)[1]), doc) for key, doc in found]

    def node_channels(self, app_id: str, node: str) -> list[str]:
        return [channel for channel, doc in self._scan(app_id, "subs") if node in doc["n"]]

    def channel_totals(self, app_id: str, nodes: set[str]) -> dict[str, int]:
        totals = {}
        for channel, doc in self._scan(app_id, "subs"):
            total = sum(n for node, n in doc["n"].items() if node in nodes)
            if total:
                totals[channel] = total
        return totals

    def channel_total(self, app_id: str, channel: str, nodes: set[str]) -> int:
        key = _app_key(app_id, "subs", channel)
        doc, _ = self._run(lambda bucket: kv.read(bucket, key))
        return sum(n for node, n in (doc or {"n": {}})["n"].items() if node in nodes)

    # -- connections --

    def write_connections(self, app_id: str, node: str, count: int) -> None:
        def decide(counts: Document | None) -> tuple[Any, None]:
            counts = counts or {}
            if counts.get(node, 0) == count:
                return UNCHANGED, None
            if count:
                counts[node] = count
            else:
                counts.pop(node, None)
            return counts, None

        self._run(lambda bucket: kv.change(bucket, _app_key(app_id, "conns"), decide))

    def reserve_connection(self, app_id: str, node: str, mine: int, limit: int) -> bool:
        def decide(counts: Document | None) -> tuple[Any, bool]:
            counts = counts or {}
            if mine + sum(n for other, n in counts.items() if other != node) > limit:
                return UNCHANGED, False
            counts[node] = mine
            return counts, True

        return self._run(lambda bucket: kv.change(bucket, _app_key(app_id, "conns"), decide))

    def connections(self, app_id: str) -> dict[str, int]:
        counts, _ = self._run(lambda bucket: kv.read(bucket, _app_key(app_id, "conns")))
        return counts or {}

    # -- presence --

    def join(
        self,
        app_id: str,
        node: str,
        channel: str,
        user_id: str,
        info: object,
        max_members: int,
    ) -> Joined:
        def decide(users: Document | None) -> tuple[Any, Joined]:
            users = users or {}
            present = user_id in users
            if not present and max_members > 0 and len(users) >= max_members:
                return UNCHANGED, Joined(REFUSED, {})
            users.setdefault(user_id, {})[node] = info
            members = {uid: next(iter(held.values())) for uid, held in users.items()}
            members[user_id] = info
            return users, Joined(ALREADY_MEMBER if present else NEW_MEMBER, members)

        key = _app_key(app_id, "pres", channel)
        try:
            return self._run(lambda bucket: kv.change(bucket, key, decide))
        except nats.errors.MaxPayloadError:
            # The channel's members no longer fit one NATS message: it is full, as a
            # channel over its member limit is (never an outage that replays forever).
            log.warning("presence channel %s is full: its members exceed NATS max_payload", channel)
            return Joined(REFUSED, {})

    def leave(self, app_id: str, node: str, channel: str, user_id: str) -> bool:
        def decide(users: Document | None) -> tuple[Any, bool]:
            held = (users or {}).get(user_id)
            if held is None or node not in held:
                return UNCHANGED, False
            del held[node]
            if held:
                return users, False
            del users[user_id]
            return users or None, True

        key = _app_key(app_id, "pres", channel)
        return self._run(lambda bucket: kv.change(bucket, key, decide))

    def node_presence_channels(self, app_id: str, node: str) -> list[str]:
        return [
            channel
            for channel, users in self._scan(app_id, "pres")
            if any(node in held for held in users.values())
        ]

    def reap_presence(self, app_id: str, channel: str, node: str) -> list[str]:
        def decide(users: Document | None) -> tuple[Any, list[str]]:
            users, gone, changed = users or {}, [], False
            for user_id, held in list(users.items()):
                if node in held:
                    changed = True
                    del held[node]
                    if not held:
                        del users[user_id]
                        gone.append(user_id)
            return (users or None, gone) if changed else (UNCHANGED, gone)

        key = _app_key(app_id, "pres", channel)
        return self._run(lambda bucket: kv.change(bucket, key, decide))

    def presence_users(self, app_id: str, channel: str, nodes: set[str]) -> set[str]:
        key = _app_key(app_id, "pres", channel)
        users, _ = self._run(lambda bucket: kv.read(bucket, key))
        return {uid for uid, held in (users or {}).items() if nodes.intersection(held)}

    def drop_node_app(self, app_id: str, node: str) -> None:
        self.write_connections(app_id, node, 0)

    # -- housekeeping --

    def maintain(self, node: str, now_ms: int) -> None:
        """Once per SWEEP_INTERVAL across the deployment (whoever takes the lock), `sweep`."""
        if time.monotonic() < self._next_sweep:
            return
        self._next_sweep = time.monotonic() + SWEEP_INTERVAL_SECONDS
        if self._lock("sweep", node, SWEEP_INTERVAL_SECONDS):
            self.sweep(now_ms * 1000 - SWEEP_AFTER_SECONDS * 1_000_000)

    def sweep(self, before_us: int) -> int:
        """Free what deleted and vacated keys leave behind: a channel's count document once
        no node has held it since `before_us` (its version is the time of its last write),
        reap locks taken before then, and the delete markers of keys deleted before then. Each removal is conditional:
        a document written meanwhile is kept. Returns how many keys were freed.

        Nobody remembers such a channel's versions any more (its actors retired everywhere
        long ago), so its next life may start its versions afresh."""

        async def work(bucket: KeyValue) -> int:
            freed = 0
            for entry in await kv.entries(bucket, ">", self._timeout):
                if _swept(entry, before_us):
                    deleted = entry.operation is not None
                    freed += await kv.free(bucket, entry.key, entry.revision, not deleted)
            return freed

        return self._run(work)


def _swept(entry: KeyValue.Entry, before_us: int) -> bool:
    """Whether a sweep frees `entry`: a delete marker, an empty count document or a reap
    lock, from before `before_us`."""
    if entry.operation is not None:  # a delete marker
        return entry.created is not None and entry.created.timestamp() * 1e6 < before_us
    if ".subs." in entry.key:
        doc = orjson.loads(entry.value)
        return not doc["n"] and doc["v"] < before_us
    return entry.key.startswith("reap.") and orjson.loads(entry.value)["at"] * 1000 < before_us


def _app_key(app_id: str, kind: str, channel: str | None = None) -> str:
    key = f"{escape(app_id)}.{kind}"
    return key if channel is None else f"{key}.{escape(channel)}"
