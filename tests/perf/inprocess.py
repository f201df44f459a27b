"""A real Socket Rush server inside the test process, and gevent clients for it.

The perf tests need to look inside the server (count encoder calls, inspect outboxes) while it
talks over real loopback sockets. Both ends therefore run on this process's gevent hub: the
client uses gevent sockets, and anything blocking (the `pusher` SDK) goes to the hub's
threadpool. Nothing is monkey-patched, so other tests in the same session are unaffected.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pusher
from gevent import ssl

from loadtests.certificates import client_context
from loadtests.rawws import RawPusher
from socketrush.config import load_settings
from socketrush.http.server import build_server
from socketrush.node import Node
from tests.support.blocking import off_the_loop
from tests.support.server import APP_ID, APP_KEY, APP_SECRET, free_port

HOST = "127.0.0.1"


@dataclass
class InProcessServer:
    node: Node
    port: int
    client_tls: ssl.SSLContext | None = None  # set when the server speaks TLS
    cafile: Path | None = None  # its certificate, then

    def connect(self) -> RawPusher:
        """A connected client, over TLS when the server speaks it."""
        return connect_client(self.port, tls=self.client_tls)

    def sdk(self) -> pusher.Pusher:
        """The official server SDK for the test app, over https when the server speaks it
        (blocking: call it through `in_thread`)."""
        tls = self.cafile is not None
        client = pusher.Pusher(APP_ID, APP_KEY, APP_SECRET, host=HOST, port=self.port, ssl=tls)
        if tls:
            client._pusher_client.http.options["verify"] = str(self.cafile)
        return client


@contextmanager
def serve_in_process(
    *flags: str, certificate: tuple[Path, Path] | None = None
) -> Iterator[InProcessServer]:
    """Node + gevent WSGI server on a free loopback port, stopped on exit; with
    `certificate` (cert, key) it serves wss/https."""
    port = free_port()
    argv = [
        "--port", str(port), "--bind-address", HOST, "--env-file", os.devnull,
        "--app-id", APP_ID, "--app-key", APP_KEY, "--app-secret", APP_SECRET, *flags,
    ]  # fmt: skip
    client_tls, cafile = None, None
    if certificate is not None:
        cert, key = certificate
        argv += ["--ssl-cert", str(cert), "--ssl-key", str(key)]
        client_tls, cafile = client_context(cert), cert
    settings = load_settings(argv, environ={})
    node = Node(settings)
    server = build_server(settings, node)
    node.start()
    server.start()
    try:
        yield InProcessServer(node, port, client_tls, cafile)
    finally:
        server.stop(timeout=1)
        node.stop(1)


def connect_client(
    port: int, rcvbuf: int | None = None, tls: ssl.SSLContext | None = None
) -> RawPusher:
    """A connected protocol 7 client of the test app (see loadtests/rawws.py)."""
    return RawPusher(HOST, port, APP_KEY, rcvbuf=rcvbuf, tls=tls)


def in_thread(function, *args):
    """Run blocking code (the `pusher` SDK) while the hub serves (see tests/support/blocking)."""
    return off_the_loop(function, *args)
