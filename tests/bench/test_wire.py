"""The counting proxy reads the PostgreSQL frontend protocol; the load generator reads HTTP."""

from __future__ import annotations

import struct

import pytest

from bench.loadgen import HttpError, Requests, parse_head
from bench.wire import FrontendParser, WireCounts


def message(kind: bytes, body: bytes = b"") -> bytes:
    return kind + struct.pack("!i", 4 + len(body)) + body


def test_round_trips_statements_and_parses_are_counted() -> None:
    counts = WireCounts()
    parser = FrontendParser(counts)
    ssl_request = struct.pack("!ii", 8, 80877103)
    startup = struct.pack("!ii", 17, 196608) + b"user\x00pg\x00\x00"
    stream = b"".join(
        [
            message(b"Q", b"BEGIN;\x00"),
            message(b"P", b"\x00SELECT 1\x00\x00\x00"),
            message(b"D", b"S\x00"),
            message(b"S"),  # prepare: one round trip
            message(b"B", b"\x00" * 8),
            message(b"E", b"\x00\x00\x00\x00\x00"),
            message(b"S"),  # execute: another
            message(b"Q", b"SELECT pg_advisory_unlock_all();\nCLOSE ALL;\nRESET ALL;\x00"),
        ]
    )

    forward, answer = parser.feed(ssl_request)
    assert (forward, answer) == (b"", b"N")  # no TLS: the session stays readable
    data = startup + stream
    forwarded = b""
    for start in range(0, len(data), 7):  # split anywhere, as TCP may
        forward, _ = parser.feed(data[start : start + 7])
        forwarded += forward

    assert forwarded == data
    assert counts == WireCounts(round_trips=4, statements=5, parses=1, connections=0)


def test_http_heads_are_read() -> None:
    head = b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\nContent-Length: 42\r\n\r\n"
    assert parse_head(head) == (200, 42, False)
    chunked = b"HTTP/1.1 500 Internal\r\ntransfer-encoding: chunked\r\n\r\n"
    assert parse_head(chunked) == (500, None, True)
    with pytest.raises(HttpError):
        parse_head(b"garbage\r\n\r\n")


def test_each_send_gets_a_fixed_width_unique_key() -> None:
    requests = Requests(
        {
            "templates": [["HEAD-a:", ":tail"], ["GET /x", None]],
            "key_prefix": "gs01c",
            "key_digits": 4,
        }
    )
    assert requests.next() == b"HEAD-a:gs01c0001:tail"
    assert requests.next() == b"GET /x"
    assert requests.next() == b"HEAD-a:gs01c0003:tail"
