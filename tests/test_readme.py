"""The README's opening promise: the Python SDK example publishes to the demo app that
`make serve` starts (its flags read from the Makefile, the example run as written)."""

from __future__ import annotations

import re
import shlex

from tests.support.client import PusherClient
from tests.support.server import REPO_ROOT, ServerProcess

README = (REPO_ROOT / "README.md").read_text()


def make_serve_flags() -> list[str]:
    """The `socketrush serve` flags of the Makefile's serve recipe, without the port."""
    makefile = (REPO_ROOT / "Makefile").read_text().replace("\\\n", " ")
    recipe = next(line for line in makefile.splitlines() if "socketrush serve" in line)
    words = shlex.split(recipe.split("socketrush serve", 1)[1])
    port = words.index("--port")
    return words[:port] + words[port + 2 :]


def python_example() -> str:
    """The README's first Python block: the `pusher` SDK publishing to the demo app."""
    return re.search(r"```python\n(.*?)```", README, re.DOTALL).group(1)


def test_the_readme_python_example_publishes_to_the_make_serve_demo_app() -> None:
    flags = make_serve_flags()
    key = flags[flags.index("--app-key") + 1]
    with ServerProcess(args=flags, with_default_app=False) as server:
        subscriber = PusherClient(server.ws_url(key))
        subscriber.recv_event("pusher:connection_established")
        subscriber.subscribe("my-channel")
        subscriber.recv_event("pusher_internal:subscription_succeeded")
        example = python_example()
        assert "port=6001" in example
        exec(example.replace("port=6001", f"port={server.port}"), {})
        assert subscriber.recv() == {
            "event": "my-event",
            "channel": "my-channel",
            "data": {"message": "hello"},
        }
        subscriber.close()
