"""A counting TCP proxy in front of PostgreSQL: statements and round trips, whatever the driver.

The app (or the floor) connects to the proxy instead of PostgreSQL for a short sampled
window; the proxy forwards every byte unchanged and reads the frontend (client to server)
half of the wire protocol to count:

- round trips: messages after which the client waits for the server to answer: each
  ``Sync`` (the end of an extended-protocol exchange: Parse/Bind/Execute...) and each
  simple ``Query``. asyncpg sends one Sync per prepare and one per execution, and simple
  queries for BEGIN, COMMIT and its pool's reset, so this counts what the network sees;
- statements: each ``Execute`` plus each statement of a simple ``Query`` (split on ``;``);
- parses: ``Parse`` messages (statements prepared; a warm statement cache sends none).

It answers ``N`` to SSL and GSSAPI requests so the session stays readable (loopback only).
The proxy adds latency, so it is never in the path of a timed measurement.
"""

from __future__ import annotations

import asyncio
import contextlib
import struct
from dataclasses import dataclass, fields

SSL_REQUEST = 80877103
GSSENC_REQUEST = 80877104


@dataclass
class WireCounts:
    round_trips: int = 0
    statements: int = 0
    parses: int = 0
    connections: int = 0

    def snapshot(self) -> WireCounts:
        return WireCounts(**{f.name: getattr(self, f.name) for f in fields(self)})

    def minus(self, earlier: WireCounts) -> WireCounts:
        return WireCounts(
            **{f.name: getattr(self, f.name) - getattr(earlier, f.name) for f in fields(self)}
        )


def statements_in(query: bytes) -> int:
    """Statements in a simple-protocol query text (asyncpg's reset sends four at once)."""
    text = query.rstrip(b"\x00")
    return sum(1 for part in text.split(b";") if part.strip())


class FrontendParser:
    """Reads the client's half of one session and counts into ``counts``."""

    def __init__(self, counts: WireCounts) -> None:
        self.counts = counts
        self.buffer = bytearray()
        self.started = False

    def feed(self, data: bytes) -> tuple[bytes, bytes]:
        """Returns (bytes to forward to the server, bytes to answer the client directly)."""
        self.buffer += data
        forward = bytearray()
        answer = bytearray()
        while True:
            if not self.started:
                if len(self.buffer) < 8:
                    break
                length, code = struct.unpack("!ii", self.buffer[:8])
                if len(self.buffer) < length:
                    break
                message = bytes(self.buffer[:length])
                del self.buffer[:length]
                if code in (SSL_REQUEST, GSSENC_REQUEST):
                    answer += b"N"
                    continue
                self.started = True
                forward += message
                continue
            if len(self.buffer) < 5:
                break
            kind = self.buffer[0:1]
            (length,) = struct.unpack("!i", self.buffer[1:5])
            if len(self.buffer) < 1 + length:
                break
            body = bytes(self.buffer[5 : 1 + length])
            forward += self.buffer[: 1 + length]
            del self.buffer[: 1 + length]
            self._count(kind, body)
        return bytes(forward), bytes(answer)

    def _count(self, kind: bytes, body: bytes) -> None:
        if kind == b"Q":
            self.counts.round_trips += 1
            self.counts.statements += statements_in(body)
        elif kind == b"S":
            self.counts.round_trips += 1
        elif kind == b"E":
            self.counts.statements += 1
        elif kind == b"P":
            self.counts.parses += 1
        elif kind == b"F":  # function call: one statement, one answer
            self.counts.round_trips += 1
            self.counts.statements += 1


class CountingProxy:
    """``async with CountingProxy(host, port) as proxy``: listens on ``proxy.port``."""

    def __init__(self, upstream_host: str, upstream_port: int) -> None:
        self.upstream = (upstream_host, upstream_port)
        self.counts = WireCounts()
        self.port = 0
        self._server: asyncio.Server | None = None
        self._sessions: set[asyncio.Task[None]] = set()

    async def __aenter__(self) -> CountingProxy:
        self._server = await asyncio.start_server(self._session, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        for task in list(self._sessions):
            task.cancel()
        with contextlib.suppress(Exception):
            await self._server.wait_closed()

    async def _session(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._sessions.add(task)
        self.counts.connections += 1
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.upstream)
        except OSError:
            writer.close()
            self._sessions.discard(task)
            return
        parser = FrontendParser(self.counts)

        async def client_to_server() -> None:
            while data := await reader.read(65536):
                forward, answer = parser.feed(data)
                if answer:
                    writer.write(answer)
                if forward:
                    up_writer.write(forward)
                    await up_writer.drain()

        async def server_to_client() -> None:
            while data := await up_reader.read(65536):
                writer.write(data)
                await writer.drain()

        pumps = [asyncio.create_task(client_to_server()), asyncio.create_task(server_to_client())]
        try:
            await asyncio.wait(pumps, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for pump in pumps:
                if pump.done() and not pump.cancelled():
                    pump.exception()  # a reset connection ends its session, nothing more
                pump.cancel()
            for stream in (writer, up_writer):
                with contextlib.suppress(Exception):
                    stream.close()
            self._sessions.discard(task)
