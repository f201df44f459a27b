"""Every shell command of docs/getting-started.md, run in a fresh shell as a newcomer types it.

Servers (`make serve`, the chat example) run in the background on free loopback ports and are
stopped by the test; the other blocks run as scripts in a new bash with a plain system PATH,
in a scratch directory that holds the checkout's `.venv` (so nothing is written into the
checkout and no developer's ./.env is read). Only `make test` is not run: it is the suite
this test belongs to.
"""

from __future__ import annotations

import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.client import PusherClient
from tests.support.polling import wait_until
from tests.support.server import REPO_ROOT, free_port
from tests.support.shell_docs import (
    Background,
    accepts,
    code_blocks,
    command_lines,
    listening_addresses,
    newcomer_env,
    run_shell,
    shell_blocks,
    wait_for_ports,
    with_ports,
)

GUIDE = (REPO_ROOT / "docs" / "getting-started.md").read_text()
NOT_RUN = {"make test": "the suite this test belongs to"}
MAKE_SERVE = "make serve"
CHAT = "make -C examples/chat run"
SERVERS = (MAKE_SERVE, CHAT)
START_TIMEOUT = 300  # `make` may have to install first; the chat's first run does `npm ci`
COMMAND_TIMEOUT = 120


def script_blocks() -> list[str]:
    """Blocks of ordinary commands: everything but the lines that start servers or `make test`."""
    return [
        block
        for block in shell_blocks(GUIDE)
        if not set(command_lines(block)) & (set(SERVERS) | set(NOT_RUN))
    ]


def test_every_shell_command_is_run_or_named_as_not_run() -> None:
    lines = [line for block in shell_blocks(GUIDE) for line in command_lines(block)]
    in_scripts = [line for block in script_blocks() for line in command_lines(block)]
    others = [line for line in lines if line not in in_scripts]
    assert sorted(others) == sorted([MAKE_SERVE, "make test", CHAT])
    assert in_scripts  # the activate/socketrush and publish blocks


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("home")


@pytest.fixture(scope="module")
def make_serve(home: Path) -> Iterator[tuple[Background, int]]:
    port = free_port()
    server = Background(MAKE_SERVE, REPO_ROOT, newcomer_env(home, PORT=str(port)),
                        home / "make-serve.log")  # fmt: skip
    with server:
        wait_for_ports(server, [port], START_TIMEOUT)
        yield server, port
    assert not server.alive()
    assert not accepts(port)


def test_make_serve_listens_on_loopback_only_and_says_how_to_open_it(
    make_serve: tuple[Background, int],
) -> None:
    server, port = make_serve
    assert listening_addresses(port) == {"127.0.0.1"}
    output = server.output()
    assert f"Socket Rush on ws://127.0.0.1:{port}/app/demo-key" in output
    assert "to reach it from other machines: BIND_ADDRESS=0.0.0.0 make serve" in output
    assert ". .venv/bin/activate" in output


def test_the_command_blocks_run_in_a_fresh_shell(
    make_serve: tuple[Background, int], home: Path, tmp_path: Path
) -> None:
    """The activation block and the publish block; publish.py is the guide's Python block."""
    _, port = make_serve
    (tmp_path / ".venv").symlink_to(REPO_ROOT / ".venv")
    (publish_py,) = code_blocks(GUIDE, "python")
    (tmp_path / "publish.py").write_text(with_ports(publish_py, {6001: port}))
    subscriber = PusherClient(f"ws://127.0.0.1:{port}/app/demo-key?protocol=7")
    subscriber.recv_event("pusher:connection_established")
    subscriber.subscribe("my-channel")
    subscriber.recv_event("pusher_internal:subscription_succeeded")
    for block in script_blocks():
        done = run_shell(
            with_ports(block, {6001: port}), cwd=tmp_path, env=newcomer_env(home),
            timeout=COMMAND_TIMEOUT,
        )  # fmt: skip
        assert done.returncode == 0, f"{block}\n{done.stdout}\n{done.stderr}"
    assert subscriber.recv() == {
        "event": "my-event",
        "channel": "my-channel",
        "data": {"message": "hello"},
    }
    subscriber.assert_silent()  # published once, by the one publish block
    subscriber.close()


def test_a_fresh_shell_has_no_socketrush_until_activated(home: Path, tmp_path: Path) -> None:
    """Why the guide activates: without it the bare command is not found."""
    (tmp_path / ".venv").symlink_to(REPO_ROOT / ".venv")
    bare = run_shell("socketrush --help", cwd=tmp_path, env=newcomer_env(home), timeout=60)
    assert bare.returncode == 127
    activated = run_shell(". .venv/bin/activate\nsocketrush --help", cwd=tmp_path,
                          env=newcomer_env(home), timeout=60)  # fmt: skip
    assert activated.returncode == 0, activated.stderr


def test_the_chat_example_command_serves_the_chat(home: Path) -> None:
    chat_port, socketrush_port = free_port(), free_port()
    env = newcomer_env(home, CHAT_PORT=str(chat_port), SOCKETRUSH_PORT=str(socketrush_port))
    chat = Background(CHAT, REPO_ROOT, env, home / "chat.log")
    with chat:
        wait_for_ports(chat, [chat_port, socketrush_port], START_TIMEOUT)
        with urllib.request.urlopen(f"http://127.0.0.1:{chat_port}/", timeout=10) as page:
            assert page.status == 200
        assert listening_addresses(socketrush_port) == {"127.0.0.1"}
    wait_until(
        lambda: not accepts(chat_port) and not accepts(socketrush_port),
        10,
        lambda: f"the chat example outlived its stop:\n{chat.output()}",
    )
