"""The transport layer: bytes in and out of one WebSocket connection, below the Pusher protocol.

- `wire.py`: the connection's gevent socket, the one place that touches gevent's private
  socket internals (the OS socket, the OpenSSL object, the read watcher).
- `inbound.py`: reading from an event-loop callback, with no greenlet waiting per connection.
- `outbox.py`: writing with one non-blocking send, a backlog only while the kernel is full.

Nothing here knows Pusher: the connection (socketrush/connection/) hands it frames to send and
receives the client's bytes.
"""
