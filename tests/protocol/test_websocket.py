"""RFC 6455 framing: server frame encoding and the incremental client frame parser."""

from __future__ import annotations

import io
import struct

import pytest
from websocket import ABNF
from websocket._abnf import frame_buffer

from socketrush.protocol import websocket as websocket_module
from socketrush.protocol.websocket import (
    OP_BINARY,
    OP_CLOSE,
    OP_CONT,
    OP_PING,
    OP_PONG,
    OP_TEXT,
    FrameParser,
    Message,
    ProtocolViolation,
    close_frame,
    encode_frame,
    pong_frame,
    text_frame,
)

MASK = bytes((0x37, 0xFA, 0x21, 0x3D))  # the masking key of RFC 6455 §5.7's examples
LENGTH_CLASSES = [0, 125, 126, 65535, 65536]


@pytest.fixture(autouse=True, params=["compiled", "pure"])
def unmasking(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Every test runs with websockets' compiled unmasking and with the pure-Python ways the
    parser falls back to where no compiled wheel is installed."""
    if request.param == "compiled":
        assert websocket_module._unmask_in_c is not None, "websockets' speedups not installed"
    else:
        monkeypatch.setattr(websocket_module, "_unmask_in_c", None)
    return request.param


def client_frame(
    opcode: int,
    payload: bytes,
    *,
    fin: bool = True,
    rsv: int = 0,
    masked: bool = True,
    length: int | None = None,
) -> bytes:
    """A client frame built byte by byte; `length` overrides the declared payload length."""
    declared = len(payload) if length is None else length
    header = bytes(((0x80 if fin else 0) | rsv | opcode,))
    mask_bit = 0x80 if masked else 0
    if declared < 126:
        header += bytes((mask_bit | declared,))
    elif declared < 0x10000:
        header += struct.pack("!BH", mask_bit | 126, declared)
    else:
        header += struct.pack("!BQ", mask_bit | 127, declared)
    if not masked:
        return header + payload
    return header + MASK + bytes(byte ^ MASK[i % 4] for i, byte in enumerate(payload))


def abnf_frame(opcode: int, payload: bytes, *, fin: bool = True) -> bytes:
    """The same frame built by websocket-client, an independent implementation."""
    frame = ABNF(fin=int(fin), opcode=opcode, mask_value=1, data=payload)
    frame.get_mask_key = lambda length: MASK
    return frame.format()


def violation_of(parser: FrameParser, *chunks: bytes) -> ProtocolViolation:
    """Feed chunks in order; the last one must raise."""
    for chunk in chunks[:-1]:
        parser.feed(chunk)
    with pytest.raises(ProtocolViolation) as raised:
        parser.feed(chunks[-1])
    return raised.value


def sample_payload(length: int) -> bytes:
    return bytes(i % 251 for i in range(length))


# Encoding server frames


@pytest.mark.parametrize(
    ("length", "header"),
    [
        (0, b"\x82\x00"),
        (125, b"\x82\x7d"),
        (126, b"\x82\x7e\x00\x7e"),
        (65535, b"\x82\x7e\xff\xff"),
        (65536, b"\x82\x7f\x00\x00\x00\x00\x00\x01\x00\x00"),
    ],
)
def test_encode_frame_uses_the_shortest_length_form(length: int, header: bytes) -> None:
    payload = sample_payload(length)
    assert encode_frame(OP_BINARY, payload) == header + payload


@pytest.mark.parametrize("length", LENGTH_CLASSES)
def test_server_frames_are_read_by_websocket_client(length: int) -> None:
    payload = sample_payload(length)
    frame = frame_buffer(io.BytesIO(encode_frame(OP_BINARY, payload)).read, False).recv_frame()
    assert (frame.fin, frame.opcode, frame.mask_value, frame.data) == (1, OP_BINARY, 0, payload)


def test_rfc_unmasked_examples() -> None:
    assert text_frame(b"Hello") == bytes((0x81, 0x05)) + b"Hello"
    assert pong_frame(b"Hello") == bytes((0x8A, 0x05)) + b"Hello"


def test_close_frame_with_code_only() -> None:
    assert close_frame(1000) == b"\x88\x02\x03\xe8"


def test_close_frame_with_reason() -> None:
    assert close_frame(4009, "bye") == b"\x88\x05\x0f\xa9bye"


def test_close_frame_cuts_ascii_reason_to_123_bytes() -> None:
    frame = close_frame(1000, "x" * 200)
    assert frame == b"\x88\x7d\x03\xe8" + b"x" * 123


def test_close_frame_cut_never_splits_a_code_point() -> None:
    frame = close_frame(1000, "é" * 70)  # 140 bytes; byte 123 would split the 62nd "é"
    assert frame == b"\x88\x7c\x03\xe8" + ("é" * 61).encode()


def test_pong_frame_echoes_the_ping_payload() -> None:
    assert pong_frame(b"") == b"\x8a\x00"
    assert pong_frame(b"\x00\xff") == b"\x8a\x02\x00\xff"


# Parsing client frames


def test_rfc_masked_hello() -> None:
    frame = bytes((0x81, 0x85, 0x37, 0xFA, 0x21, 0x3D, 0x7F, 0x9F, 0x4D, 0x51, 0x58))
    assert FrameParser(1024).feed(frame) == [Message("text", "Hello")]


def test_test_helper_agrees_with_websocket_client() -> None:
    for opcode, payload, fin in [
        (OP_TEXT, b"Hello", True),
        (OP_BINARY, sample_payload(300), False),
        (OP_PING, b"", True),
    ]:
        assert client_frame(opcode, payload, fin=fin) == abnf_frame(opcode, payload, fin=fin)


@pytest.mark.parametrize("length", LENGTH_CLASSES)
@pytest.mark.parametrize("build", [client_frame, abnf_frame])
def test_binary_round_trip_for_each_length_class(length: int, build) -> None:
    payload = sample_payload(length)
    parser = FrameParser(65536)
    assert parser.feed(build(OP_BINARY, payload)) == [Message("binary", payload)]
    assert parser.buffered_bytes == 0


@pytest.mark.parametrize("length", LENGTH_CLASSES)
def test_text_round_trip_for_each_length_class(length: int) -> None:
    text = ("aé€😀" * 20000)[:length]
    frame = abnf_frame(OP_TEXT, text.encode())
    assert FrameParser(1 << 20).feed(frame) == [Message("text", text)]


@pytest.mark.parametrize("length", [0, 1, 3, 4, 5, 125, 126, 1023, 1024, 1025])
def test_one_whole_text_frame_from_a_memoryview(length: int) -> None:
    """The connection feeds views of its read buffer; one whole small frame takes a short
    path that must agree with the general one on every length around its limits."""
    text = "a" * (length - 2) + "é" if length >= 2 else "a" * length  # `length` bytes
    frame = client_frame(OP_TEXT, text.encode())
    assert len(text.encode()) == length
    parser = FrameParser(1 << 20)
    assert parser.feed(memoryview(frame)) == [Message("text", text)]
    assert parser.feed(memoryview(frame)[:3]) == []  # and the parser state stays right
    assert parser.feed(memoryview(frame)[3:]) == [Message("text", text)]
    assert parser.buffered_bytes == 0


def test_unmasked_server_frames_parse_when_mask_is_not_required() -> None:
    parser = FrameParser(1 << 20, require_mask=False)
    stream = text_frame(b"Hello") + encode_frame(OP_BINARY, sample_payload(70000))
    assert parser.feed(stream) == [
        Message("text", "Hello"),
        Message("binary", sample_payload(70000)),
    ]


def test_several_frames_in_one_chunk_come_out_in_order() -> None:
    stream = (
        client_frame(OP_TEXT, b"one")
        + client_frame(OP_PING, b"p")
        + client_frame(OP_PONG, b"q")
        + client_frame(OP_BINARY, b"\x00\x01")
    )
    assert FrameParser(1024).feed(stream) == [
        Message("text", "one"),
        Message("ping", b"p"),
        Message("pong", b"q"),
        Message("binary", b"\x00\x01"),
    ]


SMALL_STREAM = (
    client_frame(OP_TEXT, "hé".encode())
    + client_frame(OP_TEXT, b"\xe2\x82", fin=False)
    + client_frame(OP_PING, b"ping")
    + client_frame(OP_CONT, b"\xac!", fin=True)
    + client_frame(OP_BINARY, sample_payload(130))
    + client_frame(OP_CLOSE, b"\x03\xe8ok")
)
SMALL_STREAM_MESSAGES = [
    Message("text", "hé"),
    Message("ping", b"ping"),
    Message("text", "€!"),
    Message("binary", sample_payload(130)),
    Message("close", b"\x03\xe8ok", 1000, "ok"),
]


def feed_chunks(chunks: list[bytes]) -> list[Message]:
    parser = FrameParser(1024)
    messages = [message for chunk in chunks for message in parser.feed(chunk)]
    assert parser.buffered_bytes == 0
    return messages


def test_one_byte_at_a_time_yields_the_same_messages() -> None:
    chunks = [SMALL_STREAM[i : i + 1] for i in range(len(SMALL_STREAM))]
    assert feed_chunks(chunks) == SMALL_STREAM_MESSAGES


def test_every_two_cut_split_yields_the_same_messages() -> None:
    size = len(SMALL_STREAM)
    for first in range(size + 1):
        for second in range(first, size + 1):
            chunks = [SMALL_STREAM[:first], SMALL_STREAM[first:second], SMALL_STREAM[second:]]
            assert feed_chunks(chunks) == SMALL_STREAM_MESSAGES, (first, second)


def test_fragmented_text_with_ping_between_fragments() -> None:
    parser = FrameParser(1024)
    assert parser.feed(client_frame(OP_TEXT, b"Hel", fin=False)) == []
    assert parser.buffered_bytes == 3
    assert parser.feed(client_frame(OP_PING, b"are you there")) == [
        Message("ping", b"are you there")
    ]
    assert parser.feed(client_frame(OP_CONT, b"lo ", fin=False)) == []
    assert parser.feed(client_frame(OP_CONT, b"world")) == [Message("text", "Hello world")]
    assert parser.buffered_bytes == 0


def test_fragmented_binary_is_reassembled() -> None:
    stream = (
        abnf_frame(OP_BINARY, b"\x00\x01", fin=False)
        + abnf_frame(OP_CONT, b"", fin=False)
        + abnf_frame(OP_CONT, b"\x02")
    )
    assert FrameParser(1024).feed(stream) == [Message("binary", b"\x00\x01\x02")]


def test_code_point_split_across_fragments_is_valid() -> None:
    encoded = "😀".encode()  # four bytes, one per fragment
    stream = b"".join(
        client_frame(OP_TEXT if i == 0 else OP_CONT, encoded[i : i + 1], fin=i == 3)
        for i in range(4)
    )
    assert FrameParser(1024).feed(stream) == [Message("text", "😀")]


def test_parser_keeps_only_unparsed_bytes_of_a_partial_frame() -> None:
    parser = FrameParser(1024)
    frame = client_frame(OP_BINARY, sample_payload(100))
    assert parser.feed(frame[:16]) == []  # 2-byte header, 4-byte mask, 10 payload bytes
    assert parser.buffered_bytes == 10
    assert parser.feed(frame[16:]) == [Message("binary", sample_payload(100))]


# Violations: 1007 invalid UTF-8


def test_invalid_utf8_in_a_single_frame_is_1007() -> None:
    violation = violation_of(FrameParser(1024), client_frame(OP_TEXT, b"ok\xff"))
    assert (violation.close_code, violation.reason) == (1007, "Text message is not valid UTF-8")


def test_invalid_utf8_in_a_first_fragment_is_refused_before_the_message_ends() -> None:
    violation = violation_of(FrameParser(1024), client_frame(OP_TEXT, b"\xc0\xaf", fin=False))
    assert violation.close_code == 1007


def test_invalid_utf8_in_a_later_fragment_is_1007() -> None:
    parser = FrameParser(1024)
    first = client_frame(OP_TEXT, b"fine", fin=False)
    violation = violation_of(parser, first, client_frame(OP_CONT, b"\xed\xa0\x80"))
    assert violation.close_code == 1007


def test_code_point_left_unfinished_by_the_last_fragment_is_1007() -> None:
    parser = FrameParser(1024)
    first = client_frame(OP_TEXT, b"\xe2\x82", fin=False)
    assert violation_of(parser, first, client_frame(OP_CONT, b"")).close_code == 1007


def test_binary_messages_are_not_utf8_checked() -> None:
    assert FrameParser(1024).feed(client_frame(OP_BINARY, b"\xff")) == [Message("binary", b"\xff")]


# Violations: 1009 too big, decided from the header


def test_two_gigabyte_header_fails_at_once() -> None:
    parser = FrameParser(256 * 1024)
    header = client_frame(OP_BINARY, b"", length=2**31)[:14]  # 2 + 8 length bytes + 4 mask
    violation = violation_of(parser, header)
    assert (violation.close_code, violation.reason) == (1009, "Message too big")
    assert parser.buffered_bytes == 0


def test_16_bit_length_over_the_limit_fails_before_the_payload() -> None:
    parser = FrameParser(1000)
    frame = client_frame(OP_TEXT, b"a" * 1001)
    assert violation_of(parser, frame[:8]).close_code == 1009


def test_message_of_exactly_the_limit_is_accepted() -> None:
    assert FrameParser(1000).feed(client_frame(OP_TEXT, b"a" * 1000)) == [
        Message("text", "a" * 1000)
    ]


def test_fragments_summing_over_the_limit_fail_on_the_header_that_crosses_it() -> None:
    parser = FrameParser(1000)
    assert parser.feed(client_frame(OP_BINARY, b"a" * 600, fin=False)) == []
    assert parser.buffered_bytes == 600
    second = client_frame(OP_CONT, b"b" * 401)[:8]
    assert violation_of(parser, second).close_code == 1009


def test_fragments_summing_to_the_limit_are_accepted() -> None:
    parser = FrameParser(1000)
    stream = client_frame(OP_BINARY, b"a" * 600, fin=False) + client_frame(OP_CONT, b"b" * 400)
    assert parser.feed(stream) == [Message("binary", b"a" * 600 + b"b" * 400)]


def test_control_frames_do_not_count_towards_the_message_size() -> None:
    parser = FrameParser(10)
    stream = (
        client_frame(OP_TEXT, b"12345", fin=False)
        + client_frame(OP_PING, b"p" * 125)
        + client_frame(OP_CONT, b"67890")
    )
    assert parser.feed(stream) == [Message("ping", b"p" * 125), Message("text", "1234567890")]


# Violations: 1002 protocol errors


def test_unmasked_client_frame_is_1002() -> None:
    violation = violation_of(FrameParser(1024), client_frame(OP_TEXT, b"hi", masked=False)[:2])
    assert (violation.close_code, violation.reason) == (1002, "Client frame is not masked")


@pytest.mark.parametrize("rsv", [0x40, 0x20, 0x10])
def test_rsv_bit_is_1002(rsv: int) -> None:
    violation = violation_of(FrameParser(1024), client_frame(OP_TEXT, b"hi", rsv=rsv)[:1] + b"\x82")
    assert (violation.close_code, violation.reason) == (
        1002,
        "RSV bits set without a negotiated extension",
    )


@pytest.mark.parametrize("opcode", [0x3, 0x4, 0x5, 0x6, 0x7, 0xB, 0xC, 0xD, 0xE, 0xF])
def test_unknown_opcode_is_1002(opcode: int) -> None:
    violation = violation_of(FrameParser(1024), client_frame(opcode, b""))
    assert (violation.close_code, violation.reason) == (1002, f"Unknown opcode {opcode:#x}")


@pytest.mark.parametrize("opcode", [OP_PING, OP_PONG, OP_CLOSE])
def test_control_frame_longer_than_125_is_1002(opcode: int) -> None:
    violation = violation_of(FrameParser(1024), client_frame(opcode, b"\x03\xe8" + b"x" * 124)[:2])
    assert (violation.close_code, violation.reason) == (
        1002,
        "Control frame payload longer than 125 bytes",
    )


def test_fragmented_control_frame_is_1002() -> None:
    violation = violation_of(FrameParser(1024), client_frame(OP_PING, b"p", fin=False))
    assert (violation.close_code, violation.reason) == (1002, "Fragmented control frame")


def test_continuation_without_a_message_is_1002() -> None:
    violation = violation_of(FrameParser(1024), client_frame(OP_CONT, b"x"))
    assert (violation.close_code, violation.reason) == (
        1002,
        "Continuation frame without a message to continue",
    )


@pytest.mark.parametrize("opcode", [OP_TEXT, OP_BINARY])
def test_new_message_inside_a_fragmented_one_is_1002(opcode: int) -> None:
    parser = FrameParser(1024)
    first = client_frame(OP_TEXT, b"a", fin=False)
    violation = violation_of(parser, first, client_frame(opcode, b"b"))
    assert (violation.close_code, violation.reason) == (
        1002,
        "New message started inside a fragmented message",
    )


def test_64_bit_length_with_msb_set_is_1002() -> None:
    header = bytes((0x82, 0xFF)) + (2**63).to_bytes(8, "big") + MASK
    violation = violation_of(FrameParser(1024), header)
    assert (violation.close_code, violation.reason) == (
        1002,
        "Frame length has its most significant bit set",
    )


# Close frames


def test_close_without_payload_has_no_code() -> None:
    assert FrameParser(1024).feed(client_frame(OP_CLOSE, b"")) == [Message("close", b"", None, "")]


def test_close_with_reason() -> None:
    payload = (4000).to_bytes(2, "big") + "bye ✓".encode()
    assert FrameParser(1024).feed(client_frame(OP_CLOSE, payload)) == [
        Message("close", payload, 4000, "bye ✓")
    ]


def test_close_built_by_websocket_client() -> None:
    frame = abnf_frame(OP_CLOSE, b"\x03\xe9going away")
    assert FrameParser(1024).feed(frame) == [
        Message("close", b"\x03\xe9going away", 1001, "going away")
    ]


def test_close_payload_of_one_byte_is_1002() -> None:
    violation = violation_of(FrameParser(1024), client_frame(OP_CLOSE, b"\x03"))
    assert (violation.close_code, violation.reason) == (1002, "Close frame payload of one byte")


@pytest.mark.parametrize(
    "code", [1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1014, 3000, 4000, 4999]
)
def test_valid_close_codes_are_accepted(code: int) -> None:
    [message] = FrameParser(1024).feed(client_frame(OP_CLOSE, code.to_bytes(2, "big")))
    assert (message.kind, message.close_code, message.close_reason) == ("close", code, "")


@pytest.mark.parametrize(
    "code", [0, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535]
)
def test_invalid_close_codes_are_1002(code: int) -> None:
    violation = violation_of(FrameParser(1024), client_frame(OP_CLOSE, code.to_bytes(2, "big")))
    assert (violation.close_code, violation.reason) == (1002, f"Invalid close code {code}")


def test_close_reason_with_invalid_utf8_is_1007() -> None:
    violation = violation_of(FrameParser(1024), client_frame(OP_CLOSE, b"\x03\xe8\xff"))
    assert (violation.close_code, violation.reason) == (1007, "Close reason is not valid UTF-8")


# After a violation


def test_violation_keeps_the_messages_completed_before_it() -> None:
    stream = client_frame(OP_TEXT, b"last words") + client_frame(OP_TEXT, b"\xff")
    violation = violation_of(FrameParser(1024), stream)
    assert violation.messages == (Message("text", "last words"),)


def test_parser_is_unusable_after_a_violation() -> None:
    parser = FrameParser(1024)
    first = violation_of(parser, client_frame(OP_BINARY, b"x" * 10, fin=False) + b"\x81\x00")
    assert parser.buffered_bytes == 0
    assert violation_of(parser, client_frame(OP_TEXT, b"fine")) is first


@pytest.mark.parametrize(
    ("declared_as", "length"),
    [("!BH", 0), ("!BH", 125), ("!BQ", 0), ("!BQ", 125), ("!BQ", 126), ("!BQ", 0xFFFF)],
    ids=["16-bit-0", "16-bit-125", "64-bit-0", "64-bit-125", "64-bit-126", "64-bit-65535"],
)
def test_a_length_not_minimally_encoded_is_1002(declared_as: str, length: int) -> None:
    """RFC 6455 section 5.2: the length must use the fewest bytes; refused on the header,
    whole frame in one feed (the one-frame path) or header alone."""
    marker = 126 if declared_as == "!BH" else 127
    header = bytes((0x81,)) + struct.pack(declared_as, 0x80 | marker, length) + MASK
    payload = bytes(byte ^ MASK[i % 4] for i, byte in enumerate(b"a" * length))
    for data in (header + payload, header):
        violation = violation_of(FrameParser(1 << 20), data)
        assert (violation.close_code, violation.reason) == (
            1002,
            "Frame length not minimally encoded",
        )


def test_the_shortest_lengths_of_each_form_are_accepted() -> None:
    for length in (126, 0x10000):
        frame = client_frame(OP_TEXT, b"a" * length)
        assert FrameParser(1 << 20).feed(frame) == [Message("text", "a" * length)]


def test_in_frame_says_whether_the_stream_stopped_inside_a_frame() -> None:
    """The connection's frame deadline runs while it is True: a header or payload begun."""
    frame = client_frame(OP_TEXT, b"x" * 300)
    parser = FrameParser(1 << 20)
    assert parser.in_frame is False
    for cut, inside in ((1, True), (4, True), (8, True), (100, True)):
        parser = FrameParser(1 << 20)
        assert parser.feed(frame[:cut]) == []
        assert parser.in_frame is inside
        assert parser.feed(frame[cut:]) == [Message("text", "x" * 300)]
        assert parser.in_frame is False
    first = client_frame(OP_TEXT, b"a", fin=False)  # between fragments no frame is owed
    parser.feed(first)
    assert parser.in_frame is False
    assert parser.feed(client_frame(OP_CONT, b"b")) == [Message("text", "ab")]


def test_lone_text_takes_one_whole_small_text_frame_and_nothing_else() -> None:
    """The connection's shortcut for most reads: one complete small text frame with nothing
    pending gives its text; anything else gives None and is left for `feed`, untouched."""
    text = '{"event":"client-ping","data":{"é":1}}'
    frame = client_frame(OP_TEXT, text.encode())
    assert FrameParser(1 << 20).lone_text(frame) == text
    assert FrameParser(1 << 20).lone_text(memoryview(frame)) == text
    assert FrameParser(1 << 20).lone_text(client_frame(OP_TEXT, b"a" * 1000)) == "a" * 1000
    not_lone = [
        frame + frame,  # two frames
        frame[:-1],  # part of one
        client_frame(OP_PING, b"hi"),
        client_frame(OP_BINARY, b"hi"),
        client_frame(OP_TEXT, b"hi", fin=False),
        client_frame(OP_TEXT, b"hi", masked=False),
        client_frame(OP_TEXT, b"a" * 2000),  # larger than the shortcut takes
        client_frame(OP_TEXT, b"\xff"),  # not UTF-8: feed refuses it with 1007
    ]
    for data in not_lone:
        assert FrameParser(1 << 20).lone_text(data) is None
    pending = FrameParser(1 << 20)
    assert pending.feed(frame[:3]) == []
    assert pending.lone_text(frame) is None  # the stream is inside a frame: feed decides
