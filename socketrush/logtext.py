"""Text from clients, made safe for the log.

A request line, a header or a close reason comes from whoever connects: logged as is, a NUL or
a stray byte makes the log binary for `grep`, and a line break forges a log line of its own.
Every log line that carries client-controlled text passes it through `untrusted` first.
"""

from __future__ import annotations


def untrusted(text: str) -> str:
    """`text` with everything but printable ASCII written as a Python escape (`\\x00`,
    `\\n`, `\\xff`, `\\u20ac`; a backslash as `\\\\`), so the result is one line of plain
    ASCII that still shows exactly what was sent. Text that needs nothing is returned as is."""
    if text.isascii() and text.isprintable() and "\\" not in text:
        return text
    return text.encode("unicode_escape").decode("ascii")
