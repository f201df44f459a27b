"""Presence members that leave while the cluster is still deciding their join leave no ghost.

Found by the soak (docs/reliability.md): a socket that subscribes to a presence channel and
goes at once left the channel empty before the cluster answered its join; the channel actor
was retired, the answer found nobody to undo the join, and the user stayed a member in Redis
(listed by every node, its member_removed webhook sent only when the node stopped).
"""

from __future__ import annotations

import json
import socket

from loadtests.rawws import OP_CLOSE, OP_TEXT, RawPusher, encode_frame
from tests.support.client import PusherClient, sdk, subscribe_signed
from tests.support.polling import wait_until
from tests.support.redis import RedisServer
from tests.support.server import APP_KEY, ServerProcess

ROOM = "presence-churn"


def subscribe_and_vanish(node: ServerProcess, user_id: str) -> None:
    """Send a signed presence subscribe and a close frame in one write, then go: the
    connection is gone before the cluster can have answered the join."""
    client = RawPusher("127.0.0.1", node.port, APP_KEY)
    member = json.dumps({"user_id": user_id, "user_info": {}})
    auth = sdk(node).authenticate(
        channel=ROOM, socket_id=client.socket_id, custom_data=json.loads(member)
    )
    subscribe = {"channel": ROOM, "auth": auth["auth"], "channel_data": auth["channel_data"]}
    frame = json.dumps({"event": "pusher:subscribe", "data": subscribe}).encode()
    client.sock.sendall(encode_frame(OP_TEXT, frame) + encode_frame(OP_CLOSE, b"\x03\xe8"))
    client.sock.shutdown(socket.SHUT_WR)
    client.read_to_eof()
    client.sock.close()


def test_members_gone_before_the_cluster_answered_are_not_kept(
    redis_server: RedisServer, nodes_on
) -> None:
    first, second = nodes_on(redis_server.url, 2)
    watcher = PusherClient.connect(second)
    subscribe_signed(second, watcher, ROOM, {"user_id": "watcher"})
    watcher.recv_event("pusher_internal:subscription_succeeded")
    for number in range(20):
        subscribe_and_vanish(first, f"fleeting-{number}")

    def members() -> list[str]:
        return sorted(user["id"] for user in sdk(second).users_info(ROOM)["users"])

    wait_until(lambda: members() == ["watcher"], 5, lambda: f"ghost members: {members()}")
    watcher.close()


def test_a_repeated_subscribe_changes_no_membership(redis_server: RedisServer, nodes_on) -> None:
    """A second subscribe to a presence channel is answered again, as on one node, without
    making its new channel_data a member: before, the cluster joined that user too, and
    nobody ever left it."""
    first, second = nodes_on(redis_server.url, 2)
    client = PusherClient.connect(first)
    subscribe_signed(first, client, ROOM, {"user_id": "alice"})
    client.recv_event("pusher_internal:subscription_succeeded")
    subscribe_signed(first, client, ROOM, {"user_id": "mallory"})
    again = client.recv_event("pusher_internal:subscription_succeeded")
    assert again["data"]["presence"]["ids"] == ["alice"]

    def members() -> list[str]:
        return sorted(user["id"] for user in sdk(second).users_info(ROOM)["users"])

    assert members() == ["alice"]
    client.close()
    wait_until(lambda: members() == [], 5, lambda: f"ghost members: {members()}")


def test_a_subscribe_repeated_before_the_answer_keeps_the_first_member(
    redis_server: RedisServer, nodes_on
) -> None:
    """Sent back to back, the second subscribe (other channel_data) finds the first join
    still awaiting the cluster's answer. Before, it replaced that join: alice was added and
    removed again and the socket became mallory, while its client events named mallory or
    alice depending on the race. Now both are answered as alice, the first member."""
    first, second = nodes_on(redis_server.url, 2, "--app-enable-client-messages", "true")
    watcher = PusherClient.connect(second)
    subscribe_signed(second, watcher, ROOM, {"user_id": "watcher"})
    watcher.recv_event("pusher_internal:subscription_succeeded")
    client = PusherClient.connect(first)
    subscribe_signed(first, client, ROOM, {"user_id": "alice"})
    subscribe_signed(first, client, ROOM, {"user_id": "mallory"})
    for _ in range(2):
        answer = client.recv_event("pusher_internal:subscription_succeeded")
        assert sorted(answer["data"]["presence"]["ids"]) == ["alice", "watcher"]
    client.send("client-hello", {"n": 1}, channel=ROOM)
    assert [watcher.recv() for _ in range(2)] == [
        {"event": "pusher_internal:member_added", "channel": ROOM,
         "data": {"user_id": "alice", "user_info": None}},
        {"event": "client-hello", "channel": ROOM, "data": {"n": 1}, "user_id": "alice"},
    ]  # fmt: skip
    client.close()
    removed = watcher.recv_event("pusher_internal:member_removed")
    assert removed["data"] == {"user_id": "alice"}
    watcher.close()
