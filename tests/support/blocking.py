"""Blocking client code (the `pusher` SDK, urllib) run beside the gevent hub of a test.

Without monkey-patching the SDK's sockets block the whole process, so the call goes to the
hub's threadpool. Once locust's import has monkey-patched the test process (any run that
collects tests/loadtests), those sockets are gevent's and belong to the hub of the thread
that made them: the SDK's pooled connection reused from another pool thread fails with
"Cannot switch to a different thread". Patched sockets already cooperate, so the call then
runs in the calling greenlet."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import gevent
from gevent import monkey


def off_the_loop(function: Callable[..., Any], *args: Any) -> Any:
    """`function(*args)` without stopping the hub from serving meanwhile."""
    if monkey.is_module_patched("socket"):
        return function(*args)
    return gevent.get_hub().threadpool.apply(function, args)
