"""A node's NATS connection: nats-py's asyncio client on its own event loop in a native thread,
bridged into gevent.

nats-py is asyncio-only, and the node is gevent. The bridge keeps them apart on purpose:

- The asyncio loop runs in a *native* thread (`_thread.start_new_thread` from before
  monkey-patching) and touches nothing gevent patched (`nats_loop.NativeLoop`), so no gevent
  hub ever runs in that thread and DNS never waits for a gevent "thread" that nothing would
  schedule.
- Greenlets hand work to the loop with `call_soon_threadsafe`. Publishes go into a deque that
  one coroutine drains in order (one wake-up per burst, not per message); `call` runs a
  coroutine there and waits on a gevent `AsyncResult`, so only the calling greenlet waits.
- The loop hands results and received messages back the same way: thunks in a deque and one
  libev async watcher (`hub.loop.async_()`, whose `send` is thread-safe and coalesces), whose
  callback runs them in a runner greenlet. The loop thread never takes a gevent lock, never
  logs and never touches an actor.

Subscriptions follow the adapter's interest (`route`), applied in order on the loop by
`nats_routes.Routes`, which reports each subject done once the server has it, or failed.

nats-py reconnects by itself (with our backoff), resubscribes, and replays what was published
meanwhile within its buffer; `connected` is False in between, which makes the node not ready.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections import deque
from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any, TypeVar

import gevent
import nats
from gevent import get_hub
from gevent.event import AsyncResult, Event
from gevent.monkey import get_original
from nats.aio.client import Client

from actors.runners import run_soon
from socketrush import metrics
from socketrush.nats_client import NatsOptions
from socketrush.nats_loop import NativeLoop
from socketrush.nats_routes import Handler, Routed, Routes

log = logging.getLogger(__name__)

T = TypeVar("T")
Connection = Callable[[bool], None]  # connected (again), or lost

BACKOFF_START_SECONDS = 0.2
BACKOFF_MAX_SECONDS = 5.0
PING_INTERVAL_SECONDS = 5  # a server that stops answering is noticed within ~3 pings
STOP_TIMEOUT_SECONDS = 2.0
FIRST_CONNECTION_GRACE_SECONDS = 3.0
MAX_UNSENT = 100_000  # publishes kept while never connected; the oldest are dropped beyond

_start_native_thread = get_original("_thread", "start_new_thread")


class NatsUnavailable(Exception):
    """Not connected to NATS, or no answer in time: the caller treats it as an outage."""


class NatsBridge:
    """One NATS connection shared by the adapter (subjects) and the cluster store (KV)."""

    def __init__(self, options: NatsOptions, name: str) -> None:
        self.connected = False  # written by the loop thread, read by greenlets
        self._first_connection = Event()  # set (in the hub) once connected the first time
        self._grace_until: float | None = None  # until then, calls wait for a first connection
        self._options = options
        self._name = name
        self._loop = NativeLoop()
        self._client: Client | None = None  # loop thread only
        self._routes = Routes(self._hand_to_hub)  # loop thread only
        self._on_connection: Connection | None = None
        self._in_flight: set[asyncio.Task] = set()  # calls under way; loop thread only
        self._to_hub: deque[Callable[[], object]] = deque()
        self._wakeup = get_hub().loop.async_()
        self._dispatching = False
        self._outbox: deque[tuple[str, bytes]] = deque()
        self._flush_scheduled = False
        self._outbox_ready: asyncio.Event | None = None  # made in the loop thread
        self._publish_failures = 0
        self._running = False

    # -- greenlet side --

    def start(self) -> None:
        self._running = True
        self._wakeup.start(self._on_wakeup)
        _start_native_thread(self._run_loop, ())
        self._loop.call_soon_threadsafe(self._begin)

    def on_connection(self, callback: Connection) -> None:
        """`callback(True)` in a greenlet once connected (again), `callback(False)` once the
        connection is lost. Set before `start`."""
        self._on_connection = callback

    def route(
        self, subscribe: list[str], unsubscribe: list[str], handler: Handler, done: Routed
    ) -> None:
        """Subscribe to `subscribe` (messages to `handler(subject, data)` in a greenlet, again
        after every reconnect) and end the subscriptions to `unsubscribe`, after the batches
        asked before; then `done(done, failed)` in a greenlet: the subjects whose change took
        effect (a subscribe: the server has it), and those whose change failed, which left
        nothing on the connection (the caller asks for them again when it sees fit)."""
        self._loop.call_soon_threadsafe(self._routes.add, (subscribe, unsubscribe, handler, done))

    def publish(self, subject: str, data: bytes) -> None:
        """Fire and forget, in order; never blocks the caller."""
        if len(self._outbox) >= MAX_UNSENT:
            self._outbox.popleft()
            self._publish_failures += 1
        self._outbox.append((subject, data))
        if not self._flush_scheduled:
            self._flush_scheduled = True
            self._loop.call_soon_threadsafe(self._flush_outbox)

    def call(self, make: Callable[[Client], Awaitable[T]], timeout: float) -> T:
        """Run `make(client)` on the loop and wait for its result (this greenlet only);
        raises what it raised, or NatsUnavailable when not connected or out of time. Calls
        in the first moments wait for the first connection (a node's first requests race
        it); otherwise a missing connection fails at once, as a refused one would."""
        if not self.connected:
            if self._grace_until is None:
                self._grace_until = time.monotonic() + FIRST_CONNECTION_GRACE_SECONDS
            remaining = self._grace_until - time.monotonic()
            if remaining > 0:
                self._first_connection.wait(remaining)
            if not self.connected:
                raise NatsUnavailable("not connected to NATS")
        answer: AsyncResult = AsyncResult()
        handle: list[asyncio.Task] = []
        self._loop.call_soon_threadsafe(self._start_call, make, answer, handle)
        try:
            ok, value = answer.get(timeout=timeout)
        except gevent.Timeout:
            self._loop.call_soon_threadsafe(_cancel, handle)
            raise NatsUnavailable(f"NATS did not answer within {timeout:g}s") from None
        if not ok:
            raise value
        return value

    def stop(self) -> None:
        """Flush what was published, close the connection, end the thread."""
        if not self._running:
            return
        self._running = False
        done: AsyncResult = AsyncResult()
        self._loop.call_soon_threadsafe(self._begin_close, done)
        try:
            done.get(timeout=STOP_TIMEOUT_SECONDS + 1)
        except gevent.Timeout:
            log.warning("nats: the connection did not close in time")
        self._wakeup.stop()
        self._wakeup.close()

    def _hand_to_hub(self, thunk: Callable[[], object]) -> None:
        """From the loop thread: run `thunk` in a greenlet soon."""
        self._to_hub.append(thunk)
        self._wakeup.send()

    def _on_wakeup(self) -> None:
        """The async watcher's callback, in the hub: the work runs in a runner greenlet,
        which may block (an actor's tell never does, an AsyncResult wakes its waiter)."""
        if not self._dispatching:
            self._dispatching = True
            run_soon(self._dispatch)

    def _dispatch(self) -> None:
        try:
            work = self._to_hub
            while work:
                thunk = work.popleft()
                try:
                    thunk()
                except Exception:
                    log.exception("nats: handling a message failed")
        finally:
            self._dispatching = False

    # -- loop thread --

    def _run_loop(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._loop.set_exception_handler(self._loop_error)
        try:
            self._loop.run_forever()
        finally:
            self._loop.close()

    def _loop_error(self, _loop: asyncio.AbstractEventLoop, context: dict) -> None:
        message = context.get("message", "error")
        error = context.get("exception")
        self._hand_to_hub(partial(log.warning, "nats: %s: %r", message, error))

    def _begin(self) -> None:
        self._outbox_ready = asyncio.Event()
        self._loop.create_task(self._connect_forever())
        self._loop.create_task(self._publish_forever())
        self._routes.start(self._loop, lambda: self._client)

    async def _connect_forever(self) -> None:
        backoff, failures = BACKOFF_START_SECONDS, 0
        while True:
            try:
                client = await nats.connect(**self._connect_options())
                break
            except Exception as error:
                failures += 1
                if failures == 1 or failures % 20 == 0:
                    self._hand_to_hub(
                        partial(log.error, "nats: cannot connect (%d tries): %r", failures, error)
                    )
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, BACKOFF_MAX_SECONDS)
        self._client = client
        self.connected = True
        self._hand_to_hub(self._first_connection.set)
        self._connection_changed(True)
        self._routes.wake()  # subscriptions asked for before the connection existed
        server = client.connected_url
        where = f"{server.hostname}:{server.port}" if server is not None else "?"
        self._hand_to_hub(partial(log.info, "nats: connected to %s", where))
        self._outbox_ready.set()  # anything published before the connection existed

    def _connect_options(self) -> dict[str, Any]:
        options = self._options
        return {
            "servers": list(options.servers),
            "name": self._name,
            "user": options.user,
            "password": options.password,
            "token": options.token,
            "tls": options.tls,
            "connect_timeout": options.connect_timeout,
            "allow_reconnect": True,
            "max_reconnect_attempts": -1,
            "reconnect_to_server_handler": reconnect_with_backoff,
            "ping_interval": PING_INTERVAL_SECONDS,
            "max_outstanding_pings": 2,
            "disconnected_cb": self._disconnected,
            "reconnected_cb": self._reconnected,
            "error_cb": self._error,
            "closed_cb": self._closed,
        }

    def _connection_changed(self, connected: bool) -> None:
        if self._on_connection is not None:
            self._hand_to_hub(partial(self._on_connection, connected))

    def _flush_outbox(self) -> None:
        self._flush_scheduled = False
        assert self._outbox_ready is not None
        self._outbox_ready.set()

    async def _publish_forever(self) -> None:
        """The only publisher, so publishes leave in the order greenlets made them."""
        assert self._outbox_ready is not None
        outbox = self._outbox
        while True:
            await self._outbox_ready.wait()
            self._outbox_ready.clear()
            client = self._client
            while outbox and client is not None:
                subject, data = outbox.popleft()
                try:
                    await client.publish(subject, data)
                except Exception as error:
                    self._publish_failed(subject, error)

    def _publish_failed(self, subject: str, error: Exception) -> None:
        self._publish_failures += 1
        failures = self._publish_failures
        if failures == 1 or failures % 1000 == 0:
            self._hand_to_hub(
                partial(log.warning, "nats publish failed (%d so far): %r", failures, error)
            )

    def _start_call(
        self, make: Callable[[Client], Awaitable[Any]], answer: AsyncResult, handle: list
    ) -> None:
        client = self._client
        if client is None:
            self._hand_to_hub(partial(answer.set, (False, NatsUnavailable("not connected"))))
            return
        task = self._loop.create_task(make(client))
        handle.append(task)
        self._in_flight.add(task)
        task.add_done_callback(partial(self._finish_call, answer))

    def _finish_call(self, answer: AsyncResult, task: asyncio.Task) -> None:
        self._in_flight.discard(task)
        if task.cancelled():
            outcome: tuple[bool, Any] = (False, NatsUnavailable("the connection was lost"))
        elif task.exception() is not None:
            outcome = (False, task.exception())
        else:
            outcome = (True, task.result())
        self._hand_to_hub(partial(answer.set, outcome))

    async def _disconnected(self) -> None:
        # A request sent before the connection broke has no answer coming: fail it now, as
        # a broken Redis connection fails its command, instead of after the whole timeout.
        for task in list(self._in_flight):
            task.cancel()
        if self.connected and self._running:
            self.connected = False
            self._hand_to_hub(partial(log.error, "nats: disconnected; reconnecting"))
            self._connection_changed(False)

    async def _reconnected(self) -> None:
        self.connected = True
        self._routes.wake()  # subscription changes asked while away
        self._hand_to_hub(_count_reconnect)
        self._connection_changed(True)
        self._outbox_ready.set()

    async def _error(self, error: Exception) -> None:
        self._hand_to_hub(partial(log.warning, "nats: %r", error))

    async def _closed(self) -> None:
        """nats-py gave the connection up for good: at our stop, or on a server error it does
        not reconnect after (a subscription over the server's `max_subscriptions`, say; the
        server would have kept the connection). The node then shares nothing with the others,
        and nothing here makes a new connection: say so loudly."""
        self.connected = False
        client = self._client
        if self._running and client is not None:
            error = client.last_error
            self._hand_to_hub(
                partial(
                    log.error,
                    "nats: the connection was closed for good after %r; this node no longer "
                    "shares events with the others and /ready answers 503: fix the cause "
                    "(e.g. raise the server's or account's subscription limit; the node "
                    "subscribes one subject per channel it has subscribers to) and restart it",
                    error,
                )
            )

    def _begin_close(self, done: AsyncResult) -> None:
        self._loop.create_task(self._close(done))

    async def _close(self, done: AsyncResult) -> None:
        client = self._client
        try:
            if client is not None and client.is_connected:
                await asyncio.wait_for(client.flush(), STOP_TIMEOUT_SECONDS)
        except Exception:
            pass  # what did not leave in time is lost, as with any broken connection
        try:
            if client is not None:
                await asyncio.wait_for(client.close(), STOP_TIMEOUT_SECONDS)
        except Exception:
            pass
        self.connected = False
        self._hand_to_hub(partial(done.set, None))
        self._loop.stop()


def _cancel(handle: list[asyncio.Task]) -> None:
    for task in handle:
        task.cancel()


def _count_reconnect() -> None:
    log.info("nats: reconnected")
    metrics.ADAPTER_RECONNECTS.inc()


def reconnect_with_backoff(servers: list, _info: dict) -> tuple[Any, float]:
    """nats-py's reconnect hook: the server tried least, after a wait that doubles with its
    failed attempts (0.2 s up to 5 s, with jitter so nodes do not reconnect in lockstep)."""
    server = min(servers, key=lambda candidate: candidate.reconnects)
    delay = min(BACKOFF_START_SECONDS * 2**server.reconnects, BACKOFF_MAX_SECONDS)
    return server, delay * random.uniform(0.5, 1.0)
