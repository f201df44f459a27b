"""The NATS bridge's subscriptions (`NatsBridge.route`), on its asyncio loop's thread.

Subscriptions follow the adapter's interest: one coroutine applies each batch of subscribes
and unsubscribes in the order they were asked, then flushes (a PING the server answers only
after it processed the SUBs before it), and only then reports them done, so a subscription
reported done already receives whatever is published after. Each subject of a batch
succeeds or fails on its own, and is reported as it went: a subscribe that failed, or whose
flush did, is undone, so that what is subscribed is exactly what was reported done.

Every SUB and UNSUB is made while nats-py is connected. While it reconnects it sends no
UNSUB, yet keeps a SUB it could not send for the next connection: a subscription made and
ended meanwhile would stay on the server for as long as the connection lives, its messages
sent for nothing (nats-py discards them). So the changes wait for the connection; nobody
waits for them meanwhile (the adapter releases every waiter when the connection is lost).

Like the rest of the loop thread, this never logs and never touches a greenlet's state: the
reports, the messages and the warnings go to the hub through the bridge (`HandToHub`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any

from nats.aio.client import Client
from nats.aio.subscription import Subscription

from socketrush.nats_flush import flush_within

log = logging.getLogger(__name__)

Handler = Callable[[str, bytes], None]  # (subject, data), called in a greenlet
Routed = Callable[[list[str], list[str]], None]  # a batch's subjects: (done, failed)
Batch = tuple[list[str], list[str], Handler, Routed]  # (subscribe, unsubscribe, ...)
HandToHub = Callable[[Callable[[], object]], None]  # runs a thunk in a greenlet, soon

ROUTE_FLUSH_TIMEOUT_SECONDS = 5.0


class Routes:
    """State, loop thread only: each subscribed subject's subscription, the batches not
    applied yet, the event that wakes their coroutine, and the failures so far."""

    def __init__(self, hand_to_hub: HandToHub) -> None:
        self._hand_to_hub = hand_to_hub
        self._topics: dict[str, Subscription] = {}
        self._batches: deque[Batch] = deque()
        self._ready: asyncio.Event | None = None  # made in the loop thread, by `start`
        self._failures = 0

    def start(self, loop: asyncio.AbstractEventLoop, client: Callable[[], Client | None]) -> None:
        """The coroutine that applies the batches, once `client()` has a connection."""
        self._ready = asyncio.Event()
        loop.create_task(self._forever(client))

    def add(self, batch: Batch) -> None:
        self._batches.append(batch)
        self.wake()

    def wake(self) -> None:
        """There may be something to apply (a batch, or the connection they wait for)."""
        if self._ready is not None:  # else `start` has yet to run, and will look
            self._ready.set()

    async def _forever(self, client: Callable[[], Client | None]) -> None:
        """The only one to subscribe or unsubscribe, so the batches take effect in order."""
        assert self._ready is not None
        self._ready.set()  # batches added before `start`
        while True:
            await self._ready.wait()
            self._ready.clear()
            connection = client()
            while self._batches and connection is not None:
                subscribe, unsubscribe, handler, report = self._batches.popleft()
                done: list[str] = []
                failed: list[str] = []
                for subject in unsubscribe:
                    await self._unsubscribe(connection, subject, done, failed)
                await self._subscribe(connection, subscribe, handler, done, failed)
                self._hand_to_hub(partial(report, done, failed))

    async def _connected(self, client: Client) -> None:
        """Returns once `client` is connected, or closed for good (then the change fails)."""
        assert self._ready is not None
        while not (client.is_connected or client.is_closed):
            self._ready.clear()  # set again by the reconnect (or a batch: checked again)
            await self._ready.wait()

    async def _unsubscribe(
        self, client: Client, subject: str, done: list[str], failed: list[str]
    ) -> None:
        """Done once nats-py dropped it and sent its UNSUB: it delivers nothing more to it
        and does not subscribe it again after a reconnect. (It fails only on a closed
        connection.)"""
        subscription = self._topics.pop(subject, None)
        try:
            if subscription is not None:
                await self._connected(client)
                await subscription.unsubscribe()
        except Exception as error:
            self._failed(subject, error)
            failed.append(subject)
        else:
            done.append(subject)

    async def _subscribe(
        self,
        client: Client,
        subjects: list[str],
        handler: Handler,
        done: list[str],
        failed: list[str],
    ) -> None:
        """Each subject on its own, then one flush for all: done once the server answered
        it. What the flush could not confirm is undone (nats-py forgets a subscription
        ended while it reconnects), so a failed subject is not subscribed at all."""
        subscribed = []
        for subject in subjects:
            try:
                if subject not in self._topics:
                    await self._connected(client)
                    receiver = self._receiver(handler)
                    self._topics[subject] = await client.subscribe(subject, cb=receiver)
            except Exception as error:  # a subject nats refuses, a closed connection
                self._failed(subject, error)
                failed.append(subject)
            else:
                subscribed.append(subject)
        if not subscribed:
            return
        try:
            await flush_within(client, ROUTE_FLUSH_TIMEOUT_SECONDS)
        except Exception as error:  # no answer in time, or the connection broke meanwhile
            self._failed(f"{len(subscribed)} subjects", error)
            for subject in subscribed:
                subscription = self._topics.pop(subject)
                await self._connected(client)
                with contextlib.suppress(Exception):  # closed: nothing is subscribed any more
                    await subscription.unsubscribe()
            failed += subscribed
        else:
            done += subscribed

    def _failed(self, what: str, error: Exception) -> None:
        self._failures += 1
        failures = self._failures
        if failures == 1 or failures % 100 == 0:
            self._hand_to_hub(
                partial(
                    log.warning,
                    "nats: a subscription change failed (%d so far; %s): %r",
                    failures,
                    what,
                    error,
                )
            )

    def _receiver(self, handler: Handler) -> Callable[[Any], Awaitable[None]]:
        async def receive(message: Any) -> None:
            self._hand_to_hub(partial(handler, message.subject, message.data))

        return receive
