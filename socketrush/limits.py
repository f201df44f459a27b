"""Process limits the server needs: one file descriptor per connection."""

from __future__ import annotations

import logging
import resource

log = logging.getLogger(__name__)


def raise_file_limit() -> tuple[int, int]:
    """Raise the soft open-files limit to the hard limit, and say so.

    Each WebSocket holds a descriptor; the usual soft limit of 1024 would cap a node at about
    a thousand connections although the hard limit allows far more.
    """
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or hard > soft:
        target = hard if hard != resource.RLIM_INFINITY else max(soft, 1_048_576)
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        except (ValueError, OSError) as error:
            log.warning(
                "could not raise the open-files limit from %d to %d: %s", soft, target, error
            )
            return soft, hard
        log.info("raised the open-files limit from %d to %d", soft, target)
        return target, hard
    log.info("open-files limit is %d (already at the hard limit)", soft)
    return soft, hard
