"""DebugFeed: what the server's hooks call when something a debug console shows happens.

Every hook first checks whether anyone listens to the app (`app_id in hub.active`, one set
lookup) and returns at once when no one does: with no dashboard page open, the debug console
costs each event one method call and that lookup, and builds nothing. Only then is the
record built and handed to the hub actor (a tell: a hook never waits).

A record is a plain dict with a `type` and a `time` (ms since the epoch); the page shows it
as it comes. Payloads are cut at `DATA_SHOWN` characters.
"""

from __future__ import annotations

import logging
import time

from socketrush.channels import Subscriber
from socketrush.dashboard.access import DashboardAccess
from socketrush.dashboard.hub import (
    DEBUG_CHANNEL,
    AddListener,
    DashboardHub,
    Record,
    RemoveListener,
)
from socketrush.protocol import frames
from socketrush.protocol.errors import Err, ErrorSpec, SubscriptionRefusal
from socketrush.protocol.http_api import TriggerEvent
from socketrush.protocol.websocket import text_frame
from socketrush.webhooks.sender import WebhookAttempt

log = logging.getLogger(__name__)

DATA_SHOWN = 2048
DEBUG_AUTH_REFUSED = "Invalid signature: only the dashboard authorises its debug channel"


def _shown(data: object) -> object:
    if isinstance(data, str) and len(data) > DATA_SHOWN:
        return data[:DATA_SHOWN] + "…"
    return data


class DebugFeed:
    """The hooks. Without a hub (dashboard disabled) nothing ever listens."""

    def __init__(self, hub: DashboardHub | None = None, access: DashboardAccess | None = None):
        self._hub = hub
        self._access = access
        # Sockets of pages subscribed to a debug channel here: written by the hooks only
        # (no yield between test and change), so a page's socket that closes before the hub
        # saw its subscription is still forgotten, in order, by the hub.
        self._pages: set[str] = set()

    def listening(self, app_id: str) -> bool:
        hub = self._hub
        return hub is not None and app_id in hub.active

    def _emit(self, app_id: str, record: dict) -> None:
        hub = self._hub
        assert hub is not None
        if hub.has_room:  # else the hub is thousands of records behind: this one is dropped
            record["time"] = int(time.time() * 1000)
            hub.tell(Record(app_id, record))

    # -- the debug channel itself --

    def take_subscribe(
        self, app_id: str, subscriber: Subscriber, channel: str, auth: str | None
    ) -> bool:
        """Handle a subscribe to the debug channel (True), or leave it to the server (False).
        The page's socket is authorised by the dashboard's own signature (see `access`).
        `auth` comes alone, not in the subscribe's data: every subscribe passes here."""
        if channel != DEBUG_CHANNEL:
            return False
        access, hub = self._access, self._hub
        if access is None or hub is None:
            refusal, message = Err.SUBSCRIPTION_BAD_AUTH, "The dashboard is not enabled"
        elif not access.channel_auth_valid(app_id, subscriber.socket_id, auth):
            refusal, message = Err.SUBSCRIPTION_BAD_AUTH, DEBUG_AUTH_REFUSED
        else:
            self._pages.add(subscriber.socket_id)
            hub.tell(AddListener(app_id, subscriber))
            return True
        subscriber.send_frame(text_frame(frames.subscription_refused(channel, refusal, message)))
        return True

    def unsubscribed(self, app_id: str, socket_id: str, channel: str) -> None:
        if self._hub is None:
            return
        if channel == DEBUG_CHANNEL:
            self._forget_page(app_id, socket_id)
        elif app_id in self._hub.active:
            self._emit(app_id, {"type": "unsubscribed", "socket_id": socket_id, "channel": channel})

    # -- connections --

    def connected(self, app_id: str, socket_id: str, origin: str) -> None:
        if self.listening(app_id):
            self._emit(app_id, {"type": "connected", "socket_id": socket_id, "origin": origin})

    def disconnected(self, app_id: str, socket_id: str, code: int) -> None:
        if self._pages:
            self._forget_page(app_id, socket_id)
        if self.listening(app_id):
            self._emit(app_id, {"type": "disconnected", "socket_id": socket_id, "code": code})

    def _forget_page(self, app_id: str, socket_id: str) -> None:
        if socket_id in self._pages:
            assert self._hub is not None
            self._pages.discard(socket_id)
            self._hub.tell(RemoveListener(app_id, socket_id))

    def subscribed(self, app_id: str, socket_id: str, channel: str, user_id: str | None) -> None:
        """An authorised subscribe, handed to the channel (a full presence channel may still
        refuse it there: its connection then reports `subscription_refused`)."""
        if self.listening(app_id):
            record = {"type": "subscribed", "socket_id": socket_id, "channel": channel}
            if user_id is not None:
                record["user_id"] = user_id
            self._emit(app_id, record)

    def subscription_refused(
        self,
        app_id: str,
        socket_id: str,
        channel: str,
        refusal: SubscriptionRefusal,
        message: str | None,
    ) -> None:
        if self.listening(app_id):
            self._emit(
                app_id,
                {
                    "type": "subscription_error",
                    "socket_id": socket_id,
                    "channel": channel,
                    "status": refusal.status,
                    "error": message or refusal.message,
                },
            )

    def error(self, app_id: str, socket_id: str, spec: ErrorSpec, message: str | None) -> None:
        """A `pusher:error` sent to a client (with its close code when it closes it)."""
        if self.listening(app_id):
            self._emit(
                app_id,
                {
                    "type": "error",
                    "socket_id": socket_id,
                    "code": spec.code,
                    "message": message or spec.message,
                },
            )

    # -- events --

    def client_event(
        self,
        app_id: str,
        socket_id: str,
        channel: str,
        event: str,
        data: object,
        user_id: str | None,
    ) -> None:
        hub = self._hub  # `listening`, inline: called for every relayed client event
        if hub is not None and app_id in hub.active:
            record = {
                "type": "client_event",
                "socket_id": socket_id,
                "channel": channel,
                "event": event,
                "data": _shown(data),
            }
            if user_id is not None:
                record["user_id"] = user_id
            self._emit(app_id, record)

    def api_event(self, app_id: str, event: TriggerEvent) -> None:
        """An event published through the HTTP API (or the dashboard's event creator)."""
        if self.listening(app_id):
            self._emit(
                app_id,
                {
                    "type": "api_event",
                    "channels": list(event.channels),
                    "event": event.name,
                    "data": _shown(event.data),
                    "except_socket_id": event.socket_id,
                },
            )

    def webhook_attempt(self, attempt: WebhookAttempt) -> None:
        """One try at delivering a webhook request, with its outcome."""
        if self.listening(attempt.app_id):
            self._emit(
                attempt.app_id,
                {
                    "type": "webhook",
                    "url": attempt.url,
                    "events": attempt.events(),
                    "attempt": attempt.attempt,
                    "status": attempt.status,
                    "outcome": attempt.outcome,
                },
            )
