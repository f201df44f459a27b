"""WebhookNotifier: one actor per app that turns what happened into queued webhook requests.

Channel and socket actors `notify` it and move on (a tell; a full mailbox costs the event, with
a warning, never a wait). Here, in order: the app's switches and each URL's filters pick the
recipients; a member_removed waits `member_removed_delay` so that a user who reconnects at once
produces neither member_removed nor member_added; with batching, a URL's events are gathered
for `batch_window` (or until `batch_max_events`) and sent as one request, in order. Each
request is signed here and pushed to the queue, which owns retries.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from actors import Actor, Cancellable, MailboxFull, Supervisor
from socketrush.queues.base import Queue
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
class _ReleaseRemoval:
    key: tuple[str, str]


@dataclass(frozen=True, slots=True)
class _FlushBatch:
    url: str


@dataclass(frozen=True, slots=True)
class _Configure:
    settings: AppSettings


class WebhookNotifier(Actor):
    """State: removals waiting out their delay, and each URL's open batch."""

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
        self._configure(settings)
        self._removals: dict[tuple[str, str], tuple[Event, Cancellable]] = {}
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
        return (
            f"app={self._settings.id} pending_removals={len(self._removals)} "
            f"open_batches={len(self._batches)}"
        )

    def receive(self, message: object) -> None:
        if isinstance(message, _Notice):
            self._notice(message.event)
        elif isinstance(message, _ReleaseRemoval):
            pending = self._removals.pop(message.key, None)
            if pending is not None:
                self._route(pending[0])
        elif isinstance(message, _FlushBatch):
            self._flush(message.url)
        elif isinstance(message, _Configure):
            self._configure(message.settings)
        else:
            raise TypeError(f"unexpected message {type(message).__name__}")

    def on_stop(self) -> None:
        """Shutdown: nothing waits any longer; everything pending goes to the queue now."""
        for event, timer in list(self._removals.values()):
            timer.cancel()
            self._route(event)
        self._removals.clear()
        for url in list(self._batches):
            self._flush(url)

    def _configure(self, settings: AppSettings) -> None:
        # `wants` reads these from other greenlets; each assignment is atomic under gevent.
        self._settings = settings
        self._types = events.enabled_types(settings)
        self._targets = settings.webhook_targets if self._types else ()

    def _notice(self, event: Event) -> None:
        name = event["name"]
        if name in (events.MEMBER_REMOVED, events.MEMBER_ADDED):
            key = (str(event["channel"]), str(event["user_id"]))
            if name == events.MEMBER_ADDED and key in self._removals:
                # The user came back within the delay: neither event happened for the app.
                self._removals.pop(key)[1].cancel()
                return
            delay = self._timing.member_removed_delay
            if name == events.MEMBER_REMOVED and delay > 0:
                if key not in self._removals:
                    timer = self.tell_later(delay, _ReleaseRemoval(key))
                    self._removals[key] = (event, timer)
                return
        self._route(event)

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
        body = events.body(batch, int(self._clock() * 1000))
        headers = events.headers(self._settings.key, self._settings.secret, body)
        self._queue.push(make_job(self._settings.id, url, body, headers))
