"""Socket ids have Pusher's "<digits>.<digits>" shape and do not repeat."""

from __future__ import annotations

import re

from socketrush.protocol.ids import new_socket_id


def test_format() -> None:
    for _ in range(200):
        assert re.fullmatch(r"\d+\.\d+", new_socket_id())


def test_unique() -> None:
    assert len({new_socket_id() for _ in range(10_000)}) == 10_000
