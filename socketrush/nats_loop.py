"""The NATS bridge's asyncio loop (`nats_bridge.py`): one that touches nothing gevent patched.

It runs in a native thread, where no gevent hub runs: its selector is the original epoll one,
and it opens its connections with the original `socket` and `getaddrinfo`, so DNS never waits
for a gevent "thread" that nothing would schedule.
"""

from __future__ import annotations

import asyncio
import socket
from typing import Any

from gevent.monkey import get_original

_native_socket = get_original("socket", "socket")
_native_getaddrinfo = get_original("socket", "getaddrinfo")
_NativeSelector = get_original("selectors", "DefaultSelector")


class NativeLoop(asyncio.SelectorEventLoop):
    """An asyncio loop that touches nothing gevent patched when it connects.

    It is built in the hub's thread, so the self-pipe asyncio makes at construction is a
    (non-blocking, never waiting) gevent socket pair bound to that hub, not to a new hub in
    the native thread."""

    def __init__(self) -> None:
        super().__init__(selector=_NativeSelector())

    async def create_connection(  # type: ignore[override]
        self, protocol_factory: Any, host: str | None = None, port: int | None = None, **kwargs
    ) -> Any:
        if kwargs.get("sock") is None and host is not None:
            kwargs["sock"] = await self._connected_socket(host, port)
            host = port = None
        return await super().create_connection(protocol_factory, host, port, **kwargs)

    async def _connected_socket(self, host: str, port: int | None) -> Any:
        """A connected, non-blocking original socket. The name lookup blocks this thread
        (only at connect time), never the node."""
        failures = []
        for family, kind, proto, _name, address in _native_getaddrinfo(
            host, port, type=socket.SOCK_STREAM
        ):
            sock = _native_socket(family, kind, proto)
            sock.setblocking(False)
            try:
                await self.sock_connect(sock, address)
            except OSError as error:
                sock.close()
                failures.append(error)
                continue
            return sock
        raise OSError(f"cannot connect to {host}:{port}: {failures or 'no address'}")
