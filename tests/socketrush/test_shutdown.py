"""The order of a graceful stop, shared by `socketrush serve` and gunicorn workers (the real
processes are stopped in tests/socketrush/test_server.py and test_wsgi.py)."""

from __future__ import annotations

from socketrush.protocol.errors import Err, ErrorSpec
from socketrush.shutdown import drain


class RecordingNode:
    """Records each step of the drain with what /ready would have answered at that moment."""

    def __init__(self, steps: list[tuple[str, bool]]) -> None:
        self.ready = True
        self._steps = steps

    def close_connections(self, spec: ErrorSpec) -> int:
        self._steps.append((f"close_connections {spec.code}", self.ready))
        return 3

    def stop(self, timeout: float) -> None:
        self._steps.append((f"stop {timeout:g}", self.ready))


def test_ready_turns_false_before_anything_else_then_clients_are_told_then_the_node_stops() -> None:
    steps: list[tuple[str, bool]] = []
    node = RecordingNode(steps)

    drain(node, 7)  # type: ignore[arg-type]  # duck-typed Node
    assert steps == [
        (f"close_connections {Err.SERVER_SHUTTING_DOWN.code}", False),
        ("stop 7", False),
    ]
    assert Err.SERVER_SHUTTING_DOWN.code == 4200
