"""One client connection of the ESPHome API server: its peer, its subscriptions, and sending."""

from __future__ import annotations

import asyncio
import logging

from google.protobuf.message import Message

from assistant.kiosk.esphome import messages
from assistant.kiosk.esphome.wire import Wire

# Bytes queued for a peer that is not reading; past this it is dropped rather than letting the
# queue grow without bound (an audio stream is about 32 KB/s).
MAX_BACKLOG = 1 << 20

log = logging.getLogger(__name__)


class Connection:
    """A connected client. Use from the event loop's thread only."""

    def __init__(self, peer: str, writer: asyncio.StreamWriter) -> None:
        self.peer = peer  # "host:port" of the client, for logs
        self.subscribed_states = False  # set once SubscribeStatesRequest arrived
        self.said_hello = False  # set once HelloRequest arrived; only then is it the handler's
        self.wire: Wire | None = None  # set once the framing (and any handshake) is settled
        self._writer = writer
        self._closed = False

    @property
    def closed(self) -> bool:
        """Whether the connection was closed (by either side); sending is then a no-op."""
        return self._closed or self._writer.is_closing()

    def send(self, *msgs: Message) -> None:
        """Frame (and encrypt) ``msgs`` and write them at once; a no-op once closed.

        ValueError for a message whose payload is over what one frame carries: split it.
        """
        if self.closed or self.wire is None:
            return
        frames = [messages.encode(msg) for msg in msgs]
        for (_, payload), msg in zip(frames, msgs, strict=True):
            if len(payload) > self.wire.max_payload:
                raise ValueError(
                    f"{type(msg).__name__} of {len(payload)} bytes is over one frame's "
                    f"{self.wire.max_payload}"
                )
        self._writer.write(self.wire.encode(frames))
        backlog = self._writer.transport.get_write_buffer_size()
        if backlog > MAX_BACKLOG:
            log.warning("esphome: %s is not reading (%d bytes queued); closed", self.peer, backlog)
            self.abort()

    def close(self) -> None:
        """Close after what was sent is written; the connection's task then ends."""
        if not self._closed:
            self._closed = True
            self._writer.close()

    def ended(self) -> None:
        """Stop sending: the server is closing the socket itself."""
        self._closed = True

    def abort(self) -> None:
        """Close at once, dropping anything unsent."""
        self._closed = True
        self._writer.transport.abort()
