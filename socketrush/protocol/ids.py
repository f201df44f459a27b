"""Socket ids: the "<digits>.<digits>" strings Pusher clients and server SDKs expect."""

from __future__ import annotations

import os

# Two independent random parts give ~2**60 ids, so collisions across nodes are negligible
# without any coordination.
_PART_BITS = 30
_POOL_BYTES = 4096  # random bytes fetched at once: one system call per 512 ids, not two per id

_pool = memoryview(b"")


def new_socket_id() -> str:
    global _pool
    if len(_pool) < 8:
        _pool = memoryview(os.urandom(_POOL_BYTES))
    draw, _pool = int.from_bytes(_pool[:8], "big"), _pool[8:]
    mask = (1 << _PART_BITS) - 1
    return f"{draw & mask}.{(draw >> 32) & mask}"


def _forget_pool() -> None:
    """A forked worker must not hand out the ids its parent's pool would have."""
    global _pool
    _pool = memoryview(b"")


os.register_at_fork(after_in_child=_forget_pool)
