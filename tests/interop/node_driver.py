"""Run `driver.js` (official pusher-js under Node) and await its observations.

The driver prints one JSON line per observation; a reader thread queues them so a test can
wait for a specific one with a deadline instead of sleeping, and keeps every line so a failure
message shows exactly what pusher-js saw.
"""

from __future__ import annotations

import json
import os
import queue
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

INTEROP_DIR = Path(__file__).resolve().parent
DRIVER = INTEROP_DIR / "driver.js"
HARD_TIMEOUT_MS = 20_000

Observation = dict[str, Any]


class ObservationTimeout(AssertionError):
    """The awaited observation did not arrive before the deadline."""


class NodeDriver:
    """One `node driver.js` child process speaking JSON lines on stdin/stdout."""

    def __init__(self, port: int, key: str, cafile: str | None = None) -> None:
        """`cafile`: speak wss, trusting that certificate."""
        config = {"port": port, "key": key, "timeoutMs": HARD_TIMEOUT_MS, "tls": bool(cafile)}
        env = {**os.environ, "NODE_EXTRA_CA_CERTS": cafile} if cafile else None
        self.seen: list[Observation] = []  # everything, in arrival order
        self._unclaimed: list[Observation] = []  # arrived while awaiting something else
        self._lines: queue.Queue[Observation | None] = queue.Queue()
        self._process = subprocess.Popen(
            ["node", str(DRIVER), json.dumps(config)],
            cwd=INTEROP_DIR,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        self._stderr: list[str] = []
        threading.Thread(target=self._read_stdout, daemon=True).start()
        threading.Thread(target=self._read_stderr, daemon=True).start()
        self.expect(source="driver", event="ready")

    def send(self, op: str, **fields: Any) -> None:
        """Give the driver one command (see `commands` in driver.js)."""
        assert self._process.stdin is not None
        self._process.stdin.write(json.dumps({"op": op, **fields}) + "\n")
        self._process.stdin.flush()

    def expect(self, timeout: float = 10.0, **match: Any) -> Observation:
        """Wait for an observation whose fields equal `match` and that no earlier expect took.

        Observations that arrive meanwhile stay available to later calls, so a test may await
        events from several clients in any order.
        """
        for observation in self._unclaimed:
            if _matches(observation, match):
                self._unclaimed.remove(observation)
                return observation
        deadline = time.monotonic() + timeout
        while True:
            try:
                observation = self._lines.get(timeout=max(deadline - time.monotonic(), 0))
            except queue.Empty:
                raise ObservationTimeout(self._report(f"no observation matching {match}")) from None
            if observation is None:
                self._lines.put(None)  # keep the end visible to later calls
                raise ObservationTimeout(self._report(f"driver ended before {match}"))
            self.seen.append(observation)
            if _matches(observation, match):
                return observation
            self._unclaimed.append(observation)

    def watch(self, seconds: float) -> None:
        """Take in whatever arrives for `seconds` (an observation window: for counting what
        pusher-js does meanwhile, e.g. how often it reconnects); `observed` sees it all."""
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            try:
                observation = self._lines.get(timeout=left)
            except queue.Empty:
                return
            if observation is None:
                self._lines.put(None)
                return
            self.seen.append(observation)
            self._unclaimed.append(observation)

    def observed(self, **match: Any) -> list[Observation]:
        """Every observation so far that matches, awaited or not."""
        return [o for o in self.seen if _matches(o, match)]

    def close(self, timeout: float = 10.0) -> int:
        """Close stdin so the driver disconnects its clients and exits; return its exit code."""
        if self._process.stdin and not self._process.stdin.closed:
            self._process.stdin.close()
        try:
            return self._process.wait(timeout)
        except subprocess.TimeoutExpired:
            self._process.kill()
            return self._process.wait(5)

    def _read_stdout(self) -> None:
        assert self._process.stdout is not None
        for line in self._process.stdout:
            try:
                self._lines.put(json.loads(line))
            except json.JSONDecodeError:
                self._lines.put({"source": "driver", "event": "garbage", "data": line})
        self._lines.put(None)

    def _read_stderr(self) -> None:
        assert self._process.stderr is not None
        for line in self._process.stderr:
            self._stderr.append(line)

    def _report(self, headline: str) -> str:
        seen = "\n".join(json.dumps(o) for o in self.seen)
        log = "".join(self._stderr[-40:])
        return f"{headline}\n--- observations ---\n{seen}\n--- pusher-js log ---\n{log}"


def _matches(observation: Observation, match: dict[str, Any]) -> bool:
    return all(observation.get(key) == value for key, value in match.items())
