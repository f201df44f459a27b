"""Pure Pusher protocol 7 logic: frames, error codes, channel names, signatures, HTTP API rules.

Nothing here does I/O or imports gevent, Flask or the actor runtime, so every rule of the
protocol can be tested as plain functions and shared by the socket and HTTP sides.
"""
