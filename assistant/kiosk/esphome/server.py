"""The ESPHome native API server: the kiosk as a device Home Assistant's ESPHome integration adds.

One task per connection reads frames with every wait bounded: the handshake and the client's
hello must finish within 30 s, and a connection silent for 150 s is closed, as firmware does
(the client pings every 20 s); at most MAX_CONNECTIONS are open at once. The server answers the
connection-level messages itself (hello, device info, entity list, states subscription, ping,
disconnect) and hands every other message to a Handler. A peer that breaks the protocol gets
one log line naming it and the cause, and is closed; the server keeps serving the others.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Protocol, TypeVar

from aioesphomeapi import api_pb2
from google.protobuf.message import Message

from assistant.kiosk.esphome import messages, replies
from assistant.kiosk.esphome.connection import Connection
from assistant.kiosk.esphome.handshake import Refused, open_wire
from assistant.kiosk.esphome.identity import DeviceIdentity
from assistant.kiosk.esphome.wire import WireError

HANDSHAKE_S = 30.0  # from accepting to the client's HelloRequest
IDLE_S = 150.0  # the longest wait for a whole frame once the client said hello
CLOSE_S = 2.0  # how long a closing connection may take to flush and see the peer leave
# Connections at once, handshaking ones included: enough for Home Assistant, its reconnects and
# a few tools, and a bound on what a flood of half-open connections can hold.
MAX_CONNECTIONS = 32

__all__ = ["ApiServer", "Connection", "Handler"]

_T = TypeVar("_T")

log = logging.getLogger(__name__)


class Handler(Protocol):
    """What the server asks of the device's logic (entities, their states and everything else)."""

    def entities(self) -> list[Message]:
        """The ListEntities*Response messages of every entity, in order."""
        ...

    def states(self) -> list[Message]:
        """The current state message of every entity."""
        ...

    def on_message(self, conn: Connection, msg: Message) -> None:
        """A message from a client that said hello, other than those the server answers."""
        ...

    def on_disconnect(self, conn: Connection) -> None:
        """A client that said hello is gone."""
        ...


class ApiServer:
    """Listens on ``host:port`` and serves each client on its own task until ``close``."""

    def __init__(
        self,
        identity: DeviceIdentity,
        handler: Handler,
        host: str,
        port: int,
        key: bytes | None,
    ) -> None:
        self.identity = identity
        self.host = host
        self.port = port  # the bound port once started (0 asks for an ephemeral one)
        self.connections: list[Connection] = []
        self._handler = handler
        self._key = key
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        """Bind and listen."""
        self._server = await asyncio.start_server(self._accept, self.host, self.port)
        self.port = int(self._server.sockets[0].getsockname()[1])
        log.info("esphome: API listening on %s:%d", self.host, self.port)

    def broadcast(self, *msgs: Message) -> None:
        """Send ``msgs`` to every connection that subscribed to states."""
        for conn in list(self.connections):
            if conn.subscribed_states:
                conn.send(*msgs)

    async def close(self) -> None:
        """Stop listening, say goodbye to every client, and wait for their tasks to end."""
        if self._server is not None:
            self._server.close()
        for conn in list(self.connections):
            if conn.said_hello:
                # As firmware does on shutdown, so the client expects the close and logs no error.
                conn.send(api_pb2.DisconnectRequest())
            conn.close()
        if self._tasks:
            _, late = await asyncio.wait(self._tasks, timeout=CLOSE_S * 2)
            for task in late:
                task.cancel()
            await asyncio.gather(*late, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()

    def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if len(self.connections) >= MAX_CONNECTIONS:
            peer = writer.get_extra_info("peername") or ("?", 0)
            log.warning("esphome: %s:%s refused: %d connections open", *peer[:2], MAX_CONNECTIONS)
            writer.transport.abort()
            return
        task = asyncio.create_task(self._serve(reader, writer))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """One connection, from accept to close; every way it ends is one log line."""
        host, port = (writer.get_extra_info("peername") or ("?", 0))[:2]
        conn = Connection(f"{host}:{port}", writer)
        self.connections.append(conn)
        linger = False
        try:
            await self._converse(conn, reader, writer)
            linger = True
            log.info("esphome: %s disconnected", conn.peer)
        except Refused as exc:
            writer.write(exc.reply)
            linger = True
            log.warning("esphome: %s refused: %s; closed", conn.peer, exc)
        except WireError as exc:
            log.warning("esphome: %s sent %s; closed", conn.peer, exc)
        except (asyncio.IncompleteReadError, ConnectionError):
            gone = "disconnected" if conn.closed else "closed the connection"
            log.info("esphome: %s %s", conn.peer, gone)
        except Exception:  # a bug here or in the handler: that connection ends, the others go on
            log.exception("esphome: %s failed; closed", conn.peer)
        finally:
            self.connections.remove(conn)
            conn.ended()
            await _finish(reader, writer, linger)
            if conn.said_hello:
                self._call(conn, "on_disconnect", self._handler.on_disconnect, conn)

    async def _converse(
        self, conn: Connection, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        """Handshake, hello, then messages until either side closes."""
        try:
            async with asyncio.timeout(HANDSHAKE_S):
                conn.wire = await open_wire(reader, writer, self.identity, self._key)
                first = messages.decode(await conn.wire.read())
        except TimeoutError:
            raise WireError(f"no handshake and hello within {HANDSHAKE_S:g} s") from None
        if not isinstance(first, api_pb2.HelloRequest):
            raise WireError(f"{type(first).__name__} before HelloRequest")
        self._dispatch(conn, first)
        while not conn.closed:
            try:
                async with asyncio.timeout(IDLE_S):
                    frame = await conn.wire.read()
            except TimeoutError:
                raise WireError(f"nothing (not even a ping) for {IDLE_S:g} s") from None
            self._dispatch(conn, messages.decode(frame))

    def _dispatch(self, conn: Connection, msg: Message) -> None:
        """Answer the connection-level messages; hand the others to the handler."""
        handler = self._handler
        if isinstance(msg, api_pb2.HelloRequest):
            conn.said_hello = True
            log.info("esphome: %s connected (%s)", conn.peer, msg.client_info or "no client info")
            conn.send(replies.hello(self.identity))
        elif isinstance(msg, api_pb2.AuthenticationRequest):
            conn.send(api_pb2.AuthenticationResponse())
        elif isinstance(msg, api_pb2.DeviceInfoRequest):
            conn.send(replies.device_info(self.identity))
        elif isinstance(msg, api_pb2.ListEntitiesRequest):
            entities = self._call(conn, "entities", handler.entities) or []
            conn.send(*entities, api_pb2.ListEntitiesDoneResponse())
        elif isinstance(msg, api_pb2.SubscribeStatesRequest):
            conn.subscribed_states = True
            conn.send(*(self._call(conn, "states", handler.states) or []))
        elif isinstance(msg, api_pb2.PingRequest):
            conn.send(api_pb2.PingResponse())
        elif isinstance(msg, api_pb2.DisconnectRequest):
            conn.send(api_pb2.DisconnectResponse())
            conn.close()
        elif not isinstance(msg, replies.IGNORED):
            self._call(conn, "on_message", handler.on_message, conn, msg)

    @staticmethod
    def _call(conn: Connection, what: str, method: Callable[..., _T], *args: object) -> _T | None:
        """``method(*args)``; a failure is logged with its traceback and the connection goes on."""
        try:
            return method(*args)
        except Exception:
            log.exception("esphome: %s: the handler's %s failed", conn.peer, what)
            return None


async def _finish(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, linger: bool) -> None:
    """Close the socket: after a refusal or goodbye, let the peer read it and leave first.

    Closing with unread input makes the kernel reset the connection, which can discard a
    refusal the client has not read yet; so the side is shut for writing and the peer's last
    bytes are read and dropped, for at most CLOSE_S. A peer that broke the protocol is simply
    dropped.
    """
    try:
        async with asyncio.timeout(CLOSE_S):
            if linger and not writer.transport.is_closing() and writer.can_write_eof():
                writer.write_eof()
                while await reader.read(65536):
                    pass
            writer.close()
            await writer.wait_closed()
    except (TimeoutError, OSError):
        pass
    finally:
        writer.transport.abort()  # a no-op once closed; drops a peer that stopped reading
