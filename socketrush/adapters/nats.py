"""The NATS adapter: every node publishes each broadcast once on its channel's subject and
delivers what the other nodes publish to its own channel actors.

Subjects are per channel (`P.<app>.c.<channel>`) and per user (`P.<app>.u.<user>`), see
`NatsNames`; today every node subscribes to all of them (`P.>`), and interest routing will
narrow that to the channels a node has subscribers for. NATS keeps one publisher's order
per subscriber, and a node receives its own publishes like anyone's, so a loopback broadcast
comes back behind what the others published before it, as on Redis.

The connection (`NatsBridge`) is shared with the cluster store; publishing never blocks.
"""

from __future__ import annotations

import logging
import uuid

from socketrush import metrics
from socketrush.adapters.base import Adapter, Deliver
from socketrush.adapters.messages import (
    Command,
    MalformedMessage,
    NodeMessage,
    RemoteBroadcast,
    SubscriptionTotal,
    decode,
    encode,
)
from socketrush.nats_bridge import NatsBridge
from socketrush.nats_client import NatsNames, NatsOptions

log = logging.getLogger(__name__)


class NatsAdapter(Adapter):
    """Cross-node fan-out over NATS subjects; `bridge` is also the cluster store's."""

    def __init__(self, options: NatsOptions, names: NatsNames) -> None:
        self.node_id = uuid.uuid4().hex
        self.names = names
        self.bridge = NatsBridge(options, name=f"socketrush-{self.node_id[:8]}")
        self._malformed = 0

    @property
    def healthy(self) -> bool:
        return self.bridge.connected

    def start(self, deliver: Deliver) -> None:
        self.bridge.subscribe(
            self.names.all_subjects(), lambda subject, data: self._deliver(data, deliver)
        )
        self.bridge.start()

    def publish(
        self,
        app_id: str,
        channel: str,
        payload: bytes,
        except_socket_id: str | None,
        loopback: bool = False,
    ) -> None:
        broadcast = RemoteBroadcast(app_id, channel, payload, except_socket_id, loopback)
        self._send(self.names.channel(app_id, channel), broadcast)

    def send(self, command: Command) -> None:
        if isinstance(command, SubscriptionTotal):
            subject = self.names.channel(command.app_id, command.channel)
        else:
            subject = self.names.user(command.app_id, command.user_id)
        self._send(subject, command)

    def stop(self) -> None:
        self.bridge.stop()

    def _send(self, subject: str, message: NodeMessage) -> None:
        self.bridge.publish(subject, encode(self.node_id, message))
        metrics.ADAPTER_PUBLISHED.labels(message.app_id).inc()

    def _deliver(self, data: bytes, deliver: Deliver) -> None:
        try:
            origin, received = decode(data)
        except MalformedMessage:
            self._malformed += 1
            if self._malformed == 1 or self._malformed % 1000 == 0:
                log.warning("ignored %d malformed messages on NATS", self._malformed)
            return
        if origin != self.node_id or (isinstance(received, RemoteBroadcast) and received.loopback):
            metrics.ADAPTER_RECEIVED.labels(received.app_id).inc()
            deliver(received)
