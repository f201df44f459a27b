"""Dashboard: the node's handle on the dashboard, enabled or not.

The node builds one and the server's hooks reach the debug feed through it
(`node.dashboard.feed`). Disabled, it has no hub and no access: the feed's hooks find no one
listening, the debug channel refuses every subscribe, and the HTTP views are not mounted.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from socketrush.adapters.base import Adapter
from socketrush.adapters.messages import DashboardMessage
from socketrush.dashboard.access import DashboardAccess
from socketrush.dashboard.feed import DebugFeed
from socketrush.dashboard.hub import DashboardHub
from socketrush.settings import ServerSettings
from socketrush.webhooks.sender import WebhookAttempt

if TYPE_CHECKING:
    from socketrush.app import AppActor


class Dashboard:
    def __init__(
        self,
        settings: ServerSettings,
        apps: Callable[[], list[AppActor]],
        adapter: Adapter,
        node_id: str | None,
    ) -> None:
        """`node_id`: this node's id among its peers, None when it has none (local adapter)."""
        self.enabled = settings.dashboard_enabled
        self.access: DashboardAccess | None = None
        self.hub: DashboardHub | None = None
        if self.enabled:
            self.access = DashboardAccess(settings.dashboard_username, settings.dashboard_password)
            peers = adapter if node_id is not None else None
            self.hub = DashboardHub(apps, peers, node_id or "")
        self.feed = DebugFeed(self.hub, self.access)

    def start(self) -> None:
        if self.hub is not None:
            self.hub.start()

    def stop(self) -> None:
        if self.hub is not None:
            self.hub.stop()

    def deliver(self, message: DashboardMessage) -> None:
        """What another node's dashboard sent (dropped while the hub is behind)."""
        if self.hub is not None and self.hub.has_room:
            self.hub.tell(message)

    def webhook_attempt(self, attempt: WebhookAttempt) -> None:
        self.feed.webhook_attempt(attempt)
