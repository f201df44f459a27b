"""`flush_within`: nats-py's flush, bounded, without the timeout that leaves a node deaf.

nats-py's `Client.flush(timeout)` cancels the PONG waiter it queued when the time runs out
(or when the coroutine awaiting it is cancelled). The PONG still comes once the server
answers; nats-py's read loop then sets a result on the cancelled waiter, dies of
`InvalidStateError`, and reads nothing more: the connection reports itself connected while
no message arrives, until missed pings force a reconnect (seconds to minutes later). A
nats-server that stalls longer than a flush timeout would do this to every node.

Here the flush runs as a task of its own, shielded, with a wait far beyond any PONG: a late
PONG completes it as nats-py expects. One that never comes belongs to a connection that is
replaced (nats-py drops its PONG waiters when it reconnects), long before that wait ends.
"""

from __future__ import annotations

import asyncio

from nats.aio.client import Client
from nats.errors import FlushTimeoutError

# How long the flush task itself waits for its PONG: far beyond the pings nats-py sends (every
# `ping_interval`, with `max_outstanding_pings` missed before it reconnects).
PONG_WAIT_SECONDS = 3600


async def flush_within(client: Client, timeout: float) -> None:
    """Wait up to `timeout` for the server to answer what was sent so far; raises nats-py's
    errors as `Client.flush` does (`FlushTimeoutError` when the time ran out)."""
    flush = asyncio.ensure_future(client.flush(PONG_WAIT_SECONDS))
    flush.add_done_callback(_retrieve)
    try:
        await asyncio.wait_for(asyncio.shield(flush), timeout)
    except TimeoutError:
        raise FlushTimeoutError from None


def _retrieve(flush: asyncio.Future) -> None:
    """Take the outcome of a flush nobody waits for any more, so asyncio logs nothing."""
    if not flush.cancelled():
        flush.exception()
