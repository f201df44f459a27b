"""Process entry point: monkey-patch the standard library for gevent *before* anything else
imports it, so blocking libraries (redis-py, urllib for webhooks) yield instead of stalling
every connection of the node."""

from __future__ import annotations


def main() -> int:
    from gevent import monkey

    monkey.patch_all()
    from socketrush.cli import main as cli_main

    return cli_main()
