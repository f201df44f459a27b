"""The Pusher side of a WebSocket connection: one `SocketActor` per connection (actor.py),
its handlers by concern (subscriptions.py with presence.py, signin.py, client_events.py),
and the two ways in, one per server."""

from __future__ import annotations

from typing import TYPE_CHECKING

from socketrush.connection.actor import SocketActor
from socketrush.protocol.handshake import Handshake

if TYPE_CHECKING:
    from socketrush.node import Node


def serve_upgraded(node: Node, handshake: Handshake, sock, rfile, response_head: bytes) -> bool:
    """From `socketrush serve`'s handler, which parsed the upgrade request itself and leaves
    the 101 response to the connection (see protocol/handshake.py). True: the connection took
    the socket over and closes it itself; the handler must forget it and return."""
    return SocketActor(node, handshake, sock, rfile, response_head).run(release=True)


def serve_websocket(node: Node, environ: dict) -> None:
    """From the WSGI callable, for a `/app/{key}` request gevent-websocket upgraded (gunicorn
    workers); it already sent the 101 response."""
    websocket = environ["wsgi.websocket"]
    handler = websocket.handler
    try:
        SocketActor(node, Handshake.from_environ(environ), handler.socket, handler.rfile).run()
    finally:
        websocket.closed = True  # we did the close handshake; gevent-websocket must not


__all__ = ["SocketActor", "serve_upgraded", "serve_websocket"]
