"""The README's promises, run as written: the demo app of `make serve`, the Python publisher,
the Node subscriber and the two-node recipe (ports swapped for free ones)."""

from __future__ import annotations

import os
import queue
import shlex
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.client import PusherClient
from tests.support.npm import npm_install
from tests.support.server import REPO_ROOT, ServerProcess, free_port
from tests.support.shell_docs import (
    Background,
    code_blocks,
    newcomer_env,
    shell_blocks,
    wait_for_ports,
    with_ports,
)

README = (REPO_ROOT / "README.md").read_text()
INTEROP_DIR = REPO_ROOT / "tests" / "interop"  # its lockfile pins the pusher-js the tests use
NODE_TIMEOUT = 20.0
HELLO = {"event": "my-event", "channel": "my-channel", "data": {"message": "hello"}}


def make_serve_command() -> list[str]:
    """The `socketrush serve` command `make serve` runs, as make expands it."""
    done = subprocess.run(
        ["make", "--no-print-directory", "-n", "serve", "PORT=6001"],
        cwd=REPO_ROOT, capture_output=True, text=True, check=True, timeout=60,
    )  # fmt: skip
    recipe = done.stdout.replace("\\\n", " ")
    line = next(line for line in recipe.splitlines() if "socketrush serve" in line)
    return shlex.split(line)


def make_serve_flags() -> list[str]:
    """The flags of the Makefile's serve recipe, without the port."""
    words = make_serve_command()
    words = words[words.index("serve") + 1 :]
    port = words.index("--port")
    return words[:port] + words[port + 2 :]


def python_example() -> str:
    """The README's first Python block: the `pusher` SDK publishing to the demo app."""
    return code_blocks(README, "python")[0]


def publish(port: int) -> None:
    example = python_example()
    assert "port=6001" in example
    exec(example.replace("port=6001", f"port={port}"), {})


def section(title: str) -> str:
    return README.split(f"\n## {title}\n", 1)[1].split("\n## ", 1)[0]


@pytest.fixture(scope="module")
def demo_server() -> Iterator[ServerProcess]:
    with ServerProcess(args=make_serve_flags(), with_default_app=False) as server:
        yield server


def test_make_serve_binds_the_demo_app_to_loopback() -> None:
    words = make_serve_command()
    assert words[words.index("--bind-address") + 1] == "127.0.0.1"
    exposed = subprocess.run(
        ["make", "--no-print-directory", "-n", "serve", "BIND_ADDRESS=0.0.0.0"],
        cwd=REPO_ROOT, capture_output=True, text=True, check=True, timeout=60,
    ).stdout  # fmt: skip
    assert "--bind-address 0.0.0.0" in exposed
    assert "BIND_ADDRESS=0.0.0.0 make serve" in README


def test_the_readme_python_example_publishes_to_the_make_serve_demo_app(
    demo_server: ServerProcess,
) -> None:
    flags = make_serve_flags()
    key = flags[flags.index("--app-key") + 1]
    subscriber = PusherClient(demo_server.ws_url(key))
    subscriber.recv_event("pusher:connection_established")
    subscriber.subscribe("my-channel")
    subscriber.recv_event("pusher_internal:subscription_succeeded")
    publish(demo_server.port)
    assert subscriber.recv() == HELLO
    subscriber.close()


class NodeScript:
    """`node <file>` with its stdout lines queued, so a test awaits a line with a deadline."""

    def __init__(self, path: Path) -> None:
        npm_install(INTEROP_DIR, "pusher-js")
        env = {**os.environ, "NODE_PATH": str(INTEROP_DIR / "node_modules")}
        self.process = subprocess.Popen(
            ["node", str(path)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            env=env, cwd=path.parent,
        )  # fmt: skip
        self.lines: queue.Queue[str] = queue.Queue()
        self.seen: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.put(line.rstrip("\n"))

    def expect(self, wanted: str) -> None:
        while wanted not in self.seen:
            try:
                self.seen.append(self.lines.get(timeout=NODE_TIMEOUT))
            except queue.Empty:
                raise AssertionError(f"no {wanted!r} from node; saw {self.seen}") from None

    def stop(self) -> None:
        self.process.kill()
        self.process.wait(5)


def test_the_node_subscriber_prints_what_the_python_example_publishes(
    demo_server: ServerProcess, tmp_path: Path
) -> None:
    subscriber_js = code_blocks(README, "js")[0]
    assert 'require("pusher-js")' in subscriber_js
    path = tmp_path / "subscriber.js"
    path.write_text(with_ports(subscriber_js, {6001: demo_server.port}))
    node = NodeScript(path)
    try:
        node.expect("subscribed to my-channel")
        publish(demo_server.port)
        node.expect('my-event {"message":"hello"}')
    finally:
        node.stop()


def test_the_two_node_recipe_delivers_across_nodes(tmp_path: Path) -> None:
    (recipe,) = shell_blocks(section("Two nodes on one Redis"))
    redis_port, first, second = free_port(), free_port(), free_port()
    script = with_ports(recipe, {6379: redis_port, 6001: first, 6002: second})
    (tmp_path / ".venv").symlink_to(REPO_ROOT / ".venv")  # the recipe runs in a checkout
    nodes = Background(
        script + "\nwait\n",
        cwd=tmp_path,
        env=newcomer_env(tmp_path),
        log_path=tmp_path / "recipe.log",
    )
    with nodes:
        wait_for_ports(nodes, [redis_port, first, second], timeout=60)
        subscriber = PusherClient(f"ws://127.0.0.1:{second}/app/demo-key?protocol=7")
        subscriber.recv_event("pusher:connection_established")
        subscriber.subscribe("my-channel")
        subscriber.recv_event("pusher_internal:subscription_succeeded")
        publish(first)
        assert subscriber.recv() == HELLO
        subscriber.close()
    assert not nodes.alive()
