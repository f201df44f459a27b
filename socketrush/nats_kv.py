"""JSON documents in a JetStream key-value bucket, read and changed atomically.

`Bucket` opens a bucket lazily through the node's `NatsBridge` and runs work on it from a
greenlet. The coroutines below run on the bridge's asyncio loop (no gevent). `change` is
the one way the cluster state and the rate limits are written: it reads a document and its
revision, computes the new document with a pure function, and writes it only if the
revision is still the last one (compare-and-set); if another node wrote in between it reads
again and retries. So each decision (occupied, new member, within the limit) is made on the
state it replaces.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import nats.errors
import orjson
from nats.aio.client import Client
from nats.js.api import StorageType
from nats.js.errors import APIError, BadRequestError, KeyNotFoundError, KeyWrongLastSequenceError
from nats.js.kv import KeyValue

from socketrush.nats_bridge import NatsBridge, NatsUnavailable

R = TypeVar("R")
T = TypeVar("T")
Document = Any  # decoded JSON (a dict for every document the store writes)
# (new document or None to delete it, or UNCHANGED to write nothing; what `change` returns)
Change = Callable[[Document | None], tuple[Document | None, R]]

UNCHANGED = object()  # a Change's verdict: nothing to write
MAX_ATTEMPTS = 100  # compare-and-set retries before giving up (one node would be starved)
_WRONG_LAST_SEQUENCE = (10071, 10164)  # JetStream's "revision is not the last" error codes


class Contended(Exception):
    """A key changed under every one of MAX_ATTEMPTS tries."""


# What `Bucket.run` raises when NATS or JetStream could not do the work: an outage.
ERRORS = (nats.errors.Error, NatsUnavailable, Contended, asyncio.TimeoutError, OSError)


class Bucket:
    """One bucket of the deployment, created on first use (or again after NATS lost it)."""

    def __init__(
        self, bridge: NatsBridge, name: str, timeout: float, ttl: float | None = None
    ) -> None:
        """`timeout`: seconds for one JetStream request; `ttl`: entries expire after it."""
        self._bridge = bridge
        self.name = name
        self._timeout = timeout
        self._ttl = ttl
        self._kv: KeyValue | None = None  # loop thread only; None until the bucket is known

    def run(self, work: Callable[[KeyValue], Awaitable[T]]) -> T:
        """`work(kv)` on the loop, waited for by this greenlet; raises one of ERRORS."""

        async def with_bucket(client: Client) -> T:
            if self._kv is None:
                self._kv = await self._open(client)
            try:
                return await work(self._kv)
            except nats.errors.Error:
                self._kv = None  # the bucket may be gone (NATS restarted empty): make it again
                raise

        return self._bridge.call(with_bucket, 4 * self._timeout)

    async def _open(self, client: Client) -> KeyValue:
        """Create the bucket (a no-op when it exists as we make it), or bind to one that
        exists with other settings (made by hand, e.g. with more replicas).

        Reads go through the JetStream API, not direct gets: a direct get of a bucket that
        is gone (NATS restarted empty) waits for the whole timeout, the API answers at once."""
        js = client.jetstream(timeout=self._timeout)
        try:
            return await js.create_key_value(
                bucket=self.name,
                history=1,
                storage=StorageType.FILE,
                direct=False,
                ttl=self._ttl,
            )
        except BadRequestError:
            return await js.key_value(self.name)


async def read(kv: KeyValue, key: str) -> tuple[Document | None, int]:
    """(document or None, revision to compare against: 0 for a key never written, the delete
    marker's for a deleted one)."""
    try:
        entry = await kv.get(key)
    except KeyNotFoundError as missing:
        return None, missing.entry.revision if missing.entry is not None else 0
    return orjson.loads(entry.value), entry.revision


async def change(kv: KeyValue, key: str, decide: Change[R]) -> R:
    """Apply `decide` to the key's document atomically; returns what `decide` returned."""
    for _ in range(MAX_ATTEMPTS):
        current, revision = await read(kv, key)
        new, result = decide(current)
        if new is UNCHANGED:
            return result
        try:
            if new is None:
                if current is not None:
                    await kv.delete(key, last=revision)
            else:
                await kv.update(key, orjson.dumps(new), last=revision)
        except KeyWrongLastSequenceError:
            continue
        except APIError as error:
            if error.err_code in _WRONG_LAST_SEQUENCE:  # a delete's refusal is not translated
                continue
            raise
        return result
    raise Contended(f"{key} changed under {MAX_ATTEMPTS} attempts")


async def free(kv: KeyValue, key: str, revision: int, delete: bool) -> bool:
    """Remove `key` from the bucket's stream for good (a deleted key still holds its delete
    marker), unless it was written after `revision`. `delete`: `revision` is a live value,
    deleted first if it is still the last. False when the key changed meanwhile.

    nats-py has no call for this; JetStream's stream purge bounded by a sequence is atomic
    (`kv._js`, `kv._stream`, `kv._pre` are nats-py's own handles of the bucket's stream)."""
    subject = f"{kv._pre}{key}"
    if delete:
        headers = {"KV-Operation": "DEL", "Nats-Expected-Last-Subject-Sequence": str(revision)}
        try:
            revision = (await kv._js.publish(subject, headers=headers)).seq
        except KeyWrongLastSequenceError:
            return False
        except APIError as error:
            if error.err_code in _WRONG_LAST_SEQUENCE:
                return False
            raise
    await kv._js.purge_stream(kv._stream, subject=subject, seq=revision + 1)
    return True


async def entries(kv: KeyValue, keys: str, timeout: float) -> list[KeyValue.Entry]:
    """The last entry of every key matching `keys` (a `>`/`*` filter), delete markers too,
    as of the call, oldest first.

    nats-py's watcher says "that was all" only when a delivered entry has nothing pending
    behind it, which never happens while other nodes keep writing matching keys. But the
    entries come in stream order, so the scan is complete at the first entry at or past
    the stream's last sequence as it was before the watch began."""
    last = (await kv.status()).stream_info.state.last_seq
    watcher = await kv.watch(keys)
    found = []
    try:
        while (entry := await watcher.updates(timeout=timeout)) is not None:
            found.append(entry)
            if entry.revision >= last or entry.delta == 0:
                break
    finally:
        await watcher.stop()
    return found


async def scan(kv: KeyValue, keys: str, timeout: float) -> list[tuple[str, Document]]:
    """Every live key matching `keys` with its document."""
    return [
        (entry.key, orjson.loads(entry.value))
        for entry in await entries(kv, keys, timeout)
        if entry.operation is None and entry.value
    ]
