"""Socket ids: the "<digits>.<digits>" strings Pusher clients and server SDKs expect."""

from __future__ import annotations

import secrets

# Two independent random parts give ~2**60 ids, so collisions across nodes are negligible
# without any coordination.
_PART_BOUND = 2**30


def new_socket_id() -> str:
    return f"{secrets.randbelow(_PART_BOUND)}.{secrets.randbelow(_PART_BOUND)}"
