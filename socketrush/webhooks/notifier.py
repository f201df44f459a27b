"""WebhookNotifier: one actor per app that turns what happened into queued webhook requests.

Channel and socket actors `notify` it and move on (a tell; a full mailbox costs the event, with
a warning, never a wait). Here, in order: the app's switches and each URL's filters pick the
recipients; with batching, a URL's events are gathered for `batch_window` (or until
`batch_max_events`) and sent as one request, in order. Each request is signed here and pushed
to the queue, which owns retries.

A member_removed waits `member_removed_delay` so that a user who reconnects at once produces
neither member_removed nor member_added. The wait is the queue's, not this actor's: the
removal's requests are *held* in the queue under the member's key, and a member_added *cancels
or pushes*: it calls off a held removal (both are dropped) or is sent. The Redis queue keeps
holds in Redis, so a re-join on any node cancels them and a node that dies takes none with it
(queues/redis_holds.py). Member events therefore travel in requests of their own while there
is a delay, never in a batch.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from actors import Actor, Cancellable, MailboxFull, Supervisor
from socketrush.queues.base import Job, Queue
from socketrush.settings import AppSettings
from socketrush.webhooks import events
from socketrush.webhooks.events import Event
from socketrush.webhooks.sender import make_job

log = logging.getLogger(__name__)

MAILBOX_SIZE = 100_000


@dataclass(frozen=True, slots=True)
class NotifierTiming:
    member_removed_delay: float = 3.0
    batch_window: float = 0.25  # Pusher batches for up to 250 ms ...
    batch_max_events: int = 20  # ... or 20 events


@dataclass(frozen=True, slots=True)
class _Notice:
    event: Event


@dataclass(frozen=True, slots=True)
class _FlushBatch:
    url: str


@dataclass(frozen=True, slots=True)
class _Configure:
    settings: AppSettings


class WebhookNotifier(Actor):
    """State: each URL's open batch."""

    def __init__(
        self,
        settings: AppSettings,
        queue: Queue,
        timing: NotifierTiming,
        clock: Callable[[], float] = time.time,
        supervisor: Supervisor | None = None,
    ) -> None:
        super().__init__(
            mailbox_size=MAILBOX_SIZE, name=f"webhooks:{settings.id}", supervisor=supervisor
        )
        self._queue = queue
        self._timing = timing
        self._clock = clock
        self._holding = timing.member_removed_delay > 0
        self._configure(settings)
        self._batches: dict[str, list[Event]] = {}
        self._batch_timers: dict[str, Cancellable] = {}

    # -- called by other actors --

    def reconfigure(self, settings: AppSettings) -> None:
        """The app's settings changed (e.g. edited in the database); applies in order."""
        self.tell(_Configure(settings))

    def wants(self, event_type: str) -> bool:
        """Cheap pre-check (immutable data) so callers skip building events nobody gets."""
        return event_type in self._types and bool(self._targets)

    def notify(self, event: Event) -> None:
        if not self.wants(str(event["name"])):
            return
        try:
            self.tell(_Notice(event))
        except MailboxFull:
            log.warning("webhooks for app %s: mailbox full, dropped %s", self._settings.id, event)

    # -- the actor --

    def state_summary(self) -> str:
        return f"app={self._settings.id} open_batches={len(self._batches)}"

    def receive(self, message: object) -> None:
        if isinstance(message, _Notice):
            self._notice(message.event)
        elif isinstance(message, _FlushBatch):
            self._flush(message.url)
        elif isinstance(message, _Configure):
            self._configure(message.settings)
        else:
            raise TypeError(f"unexpected message {type(message).__name__}")

    def on_stop(self) -> None:
        """Shutdown: open batches go to the queue now (held removals are the queue's)."""
        for url in list(self._batches):
            self._flush(url)

    def _configure(self, settings: AppSettings) -> None:
        # `wants` reads these from other greenlets; each assignment is atomic under gevent.
        self._settings = settings
        self._sent = events.enabled_types(settings)
        self._targets = settings.webhook_targets if self._sent else ()
        # While removals are held, the two member events come as a pair: a re-join must call
        # off a held removal even if only one of them is sent.
        pair = self._holding and bool(self._sent & events.MEMBER_EVENTS)
        self._types = self._sent | events.MEMBER_EVENTS if pair else self._sent

    def _notice(self, event: Event) -> None:
        name = event["name"]
        if self._holding and name in events.MEMBER_EVENTS:
            channel, user_id = str(event["channel"]), str(event["user_id"])
            key = events.member_key(self._settings.id, channel, user_id)
            now = self._clock()
            if name == events.MEMBER_REMOVED:
                delay = self._timing.member_removed_delay
                # Stamped with the time it falls due: when it would have been sent.
                self._queue.hold(key, self._alone(event, now + delay), delay)
            else:
                self._queue.cancel_or_push(key, self._alone(event, now))
            return
        self._route(event)

    def _alone(self, event: Event, at: float) -> list[Job]:
        """One request with only `event` for each destination that wants it."""
        if event["name"] not in self._sent:
            return []
        return [self._job(url, [event], at) for url in events.routes(event, self._targets)]

    def _route(self, event: Event) -> None:
        for url in events.routes(event, self._targets):
            if not self._settings.has_webhook_batching_enabled:
                self._send(url, [event])
                continue
            batch = self._batches.setdefault(url, [])
            batch.append(event)
            if len(batch) >= self._timing.batch_max_events:
                self._flush(url)
            elif len(batch) == 1:
                self._batch_timers[url] = self.tell_later(
                    self._timing.batch_window, _FlushBatch(url)
                )

    def _flush(self, url: str) -> None:
        timer = self._batch_timers.pop(url, None)
        if timer is not None:
            timer.cancel()
        batch = self._batches.pop(url, None)
        if batch:
            self._send(url, batch)

    def _send(self, url: str, batch: list[Event]) -> None:
        self._queue.push(self._job(url, batch, self._clock()))

    def _job(self, url: str, batch: list[Event], at: float) -> Job:
        body = events.body(batch, int(at * 1000))
        headers = events.headers(self._settings.key, self._settings.secret, body)
        return make_job(self._settings.id, url, body, headers)
