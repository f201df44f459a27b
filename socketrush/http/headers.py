"""Request headers read without the `email` package.

gevent's WSGI handler parses headers with `http.client.parse_headers`, which runs the
`email` feed parser: 28 % of the server's CPU in the connection-storm benchmark (py-spy),
for ten short lines per WebSocket upgrade. `RequestHeaders` reads the same lines directly and
offers the part of `http.client.HTTPMessage` that gevent's handler uses, with the same limits
(line length, header count) so oversized requests are still refused.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import BinaryIO

MAX_LINE = 65536  # as http.client
MAX_HEADERS = 100  # as http.client
LINE_TOO_LONG = "Line too long"
TOO_MANY_HEADERS = "Too many headers"


class RequestHeaders:
    """Header fields in arrival order. `status` is empty, or why the block was refused
    (gevent's handler answers 400 when it is set)."""

    __slots__ = ("_fields", "status")

    def __init__(self, fields: list[tuple[str, str]], status: str = "") -> None:
        self._fields = fields
        self.status = status

    @classmethod
    def read(cls, rfile: BinaryIO) -> RequestHeaders:
        """Read up to and including the blank line that ends the header block."""
        fields: list[tuple[str, str]] = []
        while True:
            raw = rfile.readline(MAX_LINE + 1)
            if len(raw) > MAX_LINE:
                return cls([], LINE_TOO_LONG)
            if raw in (b"\r\n", b"\n", b""):
                return cls(fields)
            line = raw.decode("iso-8859-1").rstrip("\r\n")
            if line[:1] in (" ", "\t"):  # an obsolete folded line continues the last value
                if not fields:
                    return cls([], "Continuation line without a header")
                name, value = fields[-1]
                fields[-1] = (name, f"{value} {line.strip()}")
                continue
            name, colon, value = line.partition(":")
            if not colon or not name or name != name.strip():
                return cls([], "Malformed header line")
            if len(fields) == MAX_HEADERS:
                return cls([], TOO_MANY_HEADERS)
            fields.append((name, value.strip()))

    @property
    def too_large(self) -> bool:
        """Refused for its size, not for its grammar."""
        return self.status in (LINE_TOO_LONG, TOO_MANY_HEADERS)

    def get(self, name: str, default: str | None = None) -> str | None:
        """The first value of `name` (any case), like `email.message.Message.get`."""
        wanted = name.lower()
        for field, value in self._fields:
            if field.lower() == wanted:
                return value
        return default

    getheader = get

    def __delitem__(self, name: str) -> None:
        wanted = name.lower()
        self._fields = [(field, value) for field, value in self._fields if field.lower() != wanted]

    @property
    def headers(self) -> Iterator[str]:
        """Raw lines, as gevent's handler builds the WSGI environ from them."""
        for field, value in self._fields:
            yield f"{field}: {value}\r\n"

    @property
    def typeheader(self) -> str | None:
        return self.get("content-type")
