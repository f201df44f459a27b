"""Hypothesis strategies for client byte streams whose fate RFC 6455 decides, each built
together with that fate: the replies the server owes before it closes (a pong per ping, a
`pusher:pong` per `pusher:ping`, an error per binary message) and the close code it must
send, or None when the stream ends cut off mid-frame (the server then just closes).

Written from the RFC, not from the server's parser, so the two can disagree.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from hypothesis import strategies as st

CONT, TEXT, BINARY, CLOSE, PING, PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA
PROTOCOL_ERROR, INVALID_DATA, TOO_BIG = 1002, 1007, 1009
MAX_MESSAGE = 256 * 1024  # the server's documented largest client message

PUSHER_PING = b'{"event":"pusher:ping","data":{}}'
PUSHER_PONG = (TEXT, b'{"event":"pusher:pong","data":"{}"}')
BINARY_REFUSED = (
    TEXT,
    b'{"event":"pusher:error","data":{"code":null,"message":"Binary frames are not supported"}}',
)
SENDABLE_CODES = [1000, 1001, 1002, 1003, *range(1007, 1015), 3000, 3999, 4000, 4999]
# Codes that mean nothing to RFC 6455 or the error table: the metric files them as "other".
UNLABELLED_CODES = {3000, 3999, 4000, 4999}
UNSENDABLE_CODES = [0, 999, 1004, 1005, 1006, 1015, 1016, 2999, 5000, 65535]
RESERVED_OPCODES = [3, 4, 5, 6, 7, 0xB, 0xC, 0xD, 0xE, 0xF]


def frame(
    opcode: int,
    payload: bytes,
    *,
    fin: bool = True,
    rsv: int = 0,
    masked: bool = True,
    key: bytes = b"\x37\xfa\x21\x3d",
    length: int | None = None,
) -> bytes:
    """A client frame; `length` overrides the encoded length (the payload stays as given)."""
    size = len(payload) if length is None else length
    first = (0x80 if fin else 0) | (rsv << 4) | opcode
    mask_bit = 0x80 if masked else 0
    if size < 126:
        header = struct.pack("!BB", first, mask_bit | size)
    elif size < 1 << 16:
        header = struct.pack("!BBH", first, mask_bit | 126, size)
    else:
        header = struct.pack("!BBQ", first, mask_bit | 127, size)
    if not masked:
        return header + payload
    body = bytes(b ^ key[i % 4] for i, b in enumerate(payload))
    return header + key + body


@dataclass(frozen=True)
class Case:
    """What to send, in which pieces, and what the server owes back."""

    name: str
    stream: bytes
    replies: tuple[tuple[int, bytes], ...]  # owed before the close, in order
    close_code: int | None  # None: the stream is cut off and the client stops sending
    cuts: tuple[int, ...] = ()  # offsets where the stream is split into separate sends
    counted_as: str = ""  # the label the server's metric files it under (docs/metrics.md)

    def pieces(self) -> list[bytes]:
        bounds = [0, *sorted({c for c in self.cuts if 0 < c < len(self.stream)}), len(self.stream)]
        return [self.stream[a:b] for a, b in zip(bounds, bounds[1:], strict=False)]


keys = st.binary(min_size=4, max_size=4)
control_payloads = st.binary(max_size=125)


@st.composite
def good_items(draw) -> tuple[bytes, list[tuple[int, bytes]]]:
    """One well-formed item and the replies it earns."""
    key = draw(keys)
    kind = draw(st.sampled_from(["pusher-ping", "ping", "pong", "binary", "fragmented"]))
    if kind == "pusher-ping":
        return frame(TEXT, PUSHER_PING, key=key), [PUSHER_PONG]
    if kind == "ping":
        payload = draw(control_payloads)
        return frame(PING, payload, key=key), [(PONG, payload)]
    if kind == "pong":
        return frame(PONG, draw(control_payloads), key=key), []
    if kind == "binary":
        return frame(BINARY, draw(st.binary(max_size=300)), key=key), [BINARY_REFUSED]
    # A pusher:ping in fragments, with pings between them (control frames may interleave).
    cuts = sorted(draw(st.sets(st.integers(1, len(PUSHER_PING) - 1), max_size=4)))
    parts = [PUSHER_PING[a:b] for a, b in zip([0, *cuts], [*cuts, len(PUSHER_PING)], strict=False)]
    stream, replies = b"", []
    for index, part in enumerate(parts):
        last = index == len(parts) - 1
        stream += frame(TEXT if index == 0 else CONT, part, fin=last, key=key)
        if not last and draw(st.booleans()):
            payload = draw(control_payloads)
            stream += frame(PING, payload, key=key)
            replies.append((PONG, payload))
    return stream, [*replies, PUSHER_PONG]


@st.composite
def prefix(draw) -> tuple[bytes, list[tuple[int, bytes]]]:
    items = draw(st.lists(good_items(), max_size=3))
    return b"".join(s for s, _ in items), [r for _, rs in items for r in rs]


def _violations(draw) -> tuple[str, bytes, int]:
    """A last frame (or frames) that breaks RFC 6455, and the code it earns."""
    key = draw(keys)
    kind = draw(
        st.sampled_from(
            [
                "rsv", "unmasked", "reserved-opcode", "fragmented-control", "long-control",
                "orphan-continuation", "message-inside-message", "declared-too-big",
                "msb-length", "invalid-utf8", "invalid-utf8-fragment", "close-one-byte",
                "close-bad-code", "close-bad-reason", "fragments-too-big",
            ]
        )
    )  # fmt: skip
    text = b'{"event":"pusher:ping"}'
    if kind == "rsv":
        return kind, frame(TEXT, text, rsv=draw(st.integers(1, 7)), key=key), PROTOCOL_ERROR
    if kind == "unmasked":
        opcode = draw(st.sampled_from([TEXT, BINARY, PING, CLOSE]))
        payload = b"\x03\xe8" if opcode == CLOSE else text
        return kind, frame(opcode, payload, masked=False), PROTOCOL_ERROR
    if kind == "reserved-opcode":
        opcode = draw(st.sampled_from(RESERVED_OPCODES))
        return kind, frame(opcode, draw(st.binary(max_size=20)), key=key), PROTOCOL_ERROR
    if kind == "fragmented-control":
        opcode = draw(st.sampled_from([PING, PONG, CLOSE]))
        return kind, frame(opcode, b"", fin=False, key=key), PROTOCOL_ERROR
    if kind == "long-control":
        opcode = draw(st.sampled_from([PING, PONG, CLOSE]))
        return kind, frame(opcode, b"\x03\xe8" + b"x" * 124, key=key), PROTOCOL_ERROR
    if kind == "orphan-continuation":
        return kind, frame(CONT, text, fin=draw(st.booleans()), key=key), PROTOCOL_ERROR
    if kind == "message-inside-message":
        opcode = draw(st.sampled_from([TEXT, BINARY]))
        stream = frame(TEXT, text[:5], fin=False, key=key) + frame(opcode, text[5:], key=key)
        return kind, stream, PROTOCOL_ERROR
    if kind == "declared-too-big":  # refused on the header: the payload is never sent
        size = draw(st.integers(MAX_MESSAGE + 1, 1 << 40))
        return kind, frame(TEXT, b"", length=size, key=key)[:14], TOO_BIG
    if kind == "msb-length":
        header = struct.pack("!BBQ", 0x81, 0xFF, (1 << 63) | draw(st.integers(0, 1000)))
        return kind, header + key, PROTOCOL_ERROR
    if kind == "invalid-utf8":
        bad = draw(st.sampled_from([b"\xff", b"\xc3\x28", b"\xed\xa0\x80", b"\xf8\x88\x80\x80"]))
        return kind, frame(TEXT, b'{"event":"' + bad + b'"}', key=key), INVALID_DATA
    if kind == "invalid-utf8-fragment":
        stream = frame(TEXT, b'{"event":"\xc3', fin=False, key=key)
        return kind, stream + frame(CONT, b'\x28"}', key=key), INVALID_DATA
    if kind == "close-one-byte":
        return kind, frame(CLOSE, b"\x03", key=key), PROTOCOL_ERROR
    if kind == "close-bad-code":
        code = draw(st.sampled_from(UNSENDABLE_CODES))
        return kind, frame(CLOSE, struct.pack("!H", code), key=key), PROTOCOL_ERROR
    if kind == "close-bad-reason":
        return kind, frame(CLOSE, b"\x03\xe8" + b"bye \xff", key=key), INVALID_DATA
    # Fragments that pass the limit together: refused on the header that passes it (its
    # payload is never sent, so nothing arrives after the server has given up reading).
    chunk = b"a" * 65535
    stream = frame(TEXT, chunk, fin=False, key=key)
    stream += b"".join(frame(CONT, chunk, fin=False, key=key) for _ in range(3))
    return kind, stream + frame(CONT, b"", length=100, key=key), TOO_BIG


@st.composite
def cases(draw) -> Case:
    """One connection's stream: a clean close, a violation, or a cut-off frame."""
    head, replies = draw(prefix())
    code = None
    ending = draw(st.sampled_from(["close"] * 3 + ["violation"] * 6 + ["cut"]))
    if ending == "close":
        code = draw(st.sampled_from([None, *SENDABLE_CODES]))
        reason = draw(st.text(max_size=20)).encode()[:100] if code else b""
        payload = b"" if code is None else struct.pack("!H", code) + reason
        stream = head + frame(CLOSE, payload, key=draw(keys))
        name, close_code = "close", code or 1000  # the server echoes the code
    elif ending == "violation":
        name, tail, close_code = _violations(draw)
        stream = head + tail
    else:
        whole = frame(TEXT, PUSHER_PING, key=draw(keys))
        stream = head + whole[: draw(st.integers(1, len(whole) - 1))]
        name, close_code = "cut", None
    # Split anywhere before the last frame, which goes whole: bytes that arrive after the
    # server gave up reading would reset the connection and its close frame with it (see
    # test_bytes_after_a_violation_do_not_cost_the_close_frame).
    last = len(head) if ending == "violation" else len(stream) - 1
    cuts = draw(st.lists(st.integers(1, max(1, last)), max_size=6))
    # Counted under the client's own code, 1005 for a close without one, 1006 for none.
    counted = (
        1006 if close_code is None else 1005 if name == "close" and code is None else close_code
    )
    label = "other" if counted in UNLABELLED_CODES else str(counted)
    return Case(name, stream, tuple(replies), close_code, tuple(cuts), label)


def read_until_closed(sock, buffered: bytes) -> tuple[list[tuple[int, bytes]], int | None]:
    """The server's frames up to its close frame (then its code) or the end of the stream
    (then None). Server frames are unmasked."""
    data, replies = bytearray(buffered), []
    while True:
        while len(data) >= 2:
            opcode, size, start = data[0] & 0x0F, data[1] & 0x7F, 2
            if size == 126:
                if len(data) < 4:
                    break
                size, start = struct.unpack_from("!H", data, 2)[0], 4
            if len(data) < start + size:
                break
            payload = bytes(data[start : start + size])
            del data[: start + size]
            if opcode == CLOSE:
                sock.sendall(frame(CLOSE, payload[:2]))  # complete the closing handshake
                return replies, struct.unpack("!H", payload[:2])[0] if payload else 1005
            replies.append((opcode, payload))
        chunk = sock.recv(65536)
        if not chunk:
            return replies, None
        data += chunk
