"""AppActor supervision: a crashed app or channel actor is restarted, counted in the
actor-restart metric, and goes on serving its subscribers."""

from __future__ import annotations

from dataclasses import dataclass, field

import gevent

from socketrush import metrics
from socketrush.adapters.local import LocalAdapter
from socketrush.app import AppActor, Publish, Subscribe
from socketrush.cache.access import DirectCache
from socketrush.cache.local import LocalCache
from socketrush.channels import ChannelActor
from socketrush.config import AppSettings
from socketrush.protocol.channels import classify

APP_ID = "restart-app"


@dataclass
class Socket:
    socket_id: str
    frames: list[bytes] = field(default_factory=list)
    channels: dict[str, ChannelActor] = field(default_factory=dict)

    def send_frame(self, frame: bytes) -> None:
        self.frames.append(frame)

    def close_with(self, spec, message=None) -> None:
        raise AssertionError(f"unexpected close {spec}")

    def channel_ready(self, name: str, channel: ChannelActor) -> None:
        self.channels[name] = channel


def restarts(actor: str) -> float:
    return metrics.ACTOR_RESTARTS.labels(APP_ID, actor)._value.get()


def test_crashed_channel_and_app_actors_restart_and_are_counted() -> None:
    app = AppActor(
        AppSettings(id=APP_ID, key="k", secret="s"), DirectCache(LocalCache()), LocalAdapter()
    ).start()
    socket = Socket("1.1")
    app.tell(Subscribe(socket, classify("news")))
    gevent.idle()
    channel = socket.channels["news"]
    channels_before, apps_before = restarts("ChannelActor"), restarts("AppActor")

    channel.tell("not a channel message")  # receive() raises TypeError: a crash
    app.tell("not an app message")
    gevent.idle()

    assert restarts("ChannelActor") == channels_before + 1
    assert restarts("AppActor") == apps_before + 1
    assert channel.is_alive and app.is_alive
    socket.frames.clear()
    app.tell(Publish("news", b'{"event":"e","channel":"news","data":"{}"}', None))
    gevent.idle()
    assert socket.frames == [b'\x81*{"event":"e","channel":"news","data":"{}"}']
    app.stop()
