"""A real server process with a failure injected: no client input makes the server's actors
raise, so tests that prove how a crash is healed start `python -m socketrush` through a
wrapper that patches one function of the server before it starts, the way the entry point
starts it (the standard library monkey-patched for gevent first)."""

from __future__ import annotations

import textwrap
from dataclasses import dataclass

from tests.support.server import ServerProcess

WRAPPER = """
import sys

from gevent import monkey

monkey.patch_all()

{patch}

from socketrush.cli import main

sys.exit(main())
"""


@dataclass
class PatchedServer(ServerProcess):
    """`patch`: Python run in the server process before the CLI starts."""

    patch: str = ""

    def command(self) -> list[str]:
        python, _dash_m, _module, *rest = super().command()
        script = WRAPPER.format(patch=textwrap.dedent(self.patch).strip())
        return [python, "-c", script, *rest]
