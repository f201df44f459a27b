"""Reading and changing JSON documents in a JetStream key-value bucket, atomically.

Runs on the NATS bridge's asyncio loop (coroutines, no gevent). `change` is the one way the
cluster state is written: it reads a document and its revision, computes the new document
with a pure function, and writes it only if the revision is still the last one
(compare-and-set); if another node wrote in between it reads again and retries. So each
decision (occupied, new member, within the limit) is made on the state it replaces.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import orjson
from nats.js.errors import APIError, KeyNotFoundError, KeyWrongLastSequenceError
from nats.js.kv import KeyValue

R = TypeVar("R")
Document = Any  # decoded JSON (a dict for every document the store writes)
# (new document or None to delete it, or UNCHANGED to write nothing; what `change` returns)
Change = Callable[[Document | None], tuple[Document | None, R]]

UNCHANGED = object()  # a Change's verdict: nothing to write
MAX_ATTEMPTS = 100  # compare-and-set retries before giving up (one node would be starved)
_WRONG_LAST_SEQUENCE = (10071, 10164)  # JetStream's "revision is not the last" error codes


class Contended(Exception):
    """A key changed under every one of MAX_ATTEMPTS tries."""


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


async def scan(kv: KeyValue, keys: str, timeout: float) -> list[tuple[str, Document]]:
    """Every live key matching `keys` (a `>`/`*` filter) with its document."""
    watcher = await kv.watch(keys, ignore_deletes=True)
    found = []
    try:
        while True:
            entry = await watcher.updates(timeout=timeout)
            if entry is None:  # the initial values are all there
                return found
            if entry.value:
                found.append((entry.key, orjson.loads(entry.value)))
    finally:
        await watcher.stop()
