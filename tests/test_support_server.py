"""The test server harness: a server counts as started only once it listens itself, and one
whose port another process took starts again on another port."""

from __future__ import annotations

import pytest

from tests.support.server import PortTaken, ServerProcess


def test_a_server_whose_port_another_process_took_starts_on_another_one() -> None:
    """Another process (here, another server) took the port `free_port` found free: the
    probe is answered, but by that process, and this server fails to listen. The harness
    neither takes the other's answer for this server's, nor gives up."""
    with ServerProcess() as first, ServerProcess(port=first.port) as second:
        assert second.port != first.port
        assert first.listens() and second.listens()
        assert "cannot listen" not in first.log() + second.log()  # its try on the taken port
        # logged elsewhere, and left the first server's log alone


def test_a_port_taken_on_every_try_is_reported() -> None:
    with ServerProcess() as first:
        second = ServerProcess(port=first.port)
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr("tests.support.server.free_port", lambda: first.port)
            with pytest.raises(PortTaken, match="server exited early, its port taken"):
                second.start()
