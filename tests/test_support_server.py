"""The test server harness: a server counts as started only once it listens itself."""

from __future__ import annotations

import pytest

from tests.support.server import ServerProcess


def test_a_server_whose_port_another_process_took_does_not_count_as_started() -> None:
    """Another process (here, another server) took the port `free_port` found free: the
    probe is answered, but by that process, and this server fails to listen."""
    with ServerProcess() as first:
        second = ServerProcess(port=first.port)
        with pytest.raises(RuntimeError, match="server exited early") as failed:
            second.start()
        assert f"cannot listen on 127.0.0.1:{first.port}" in str(failed.value)
        assert first.listens()
