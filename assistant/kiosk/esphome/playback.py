"""Home Assistant's audio on the kiosk's speaker: replies, announcements, media, chimes.

Media comes as a URL (Home Assistant's TTS proxy, a media source). It is fetched with a size
and time limit, decoded with PyAV (any format Home Assistant may hand over) and queued on the
kiosk's own player, so the echo canceller hears it and the wake word still works over it.
Each item gets a turn id of the conversation: stopping it (barge-in, "stop", a media stop
command) drops exactly what it queued. One item plays at a time; a new one stops the last.
"""

from __future__ import annotations

import asyncio
import logging
from urllib.parse import urlsplit

import httpx
import numpy as np

from assistant.audio.playback import Chunk, Player
from assistant.convert.audio_decode import decode
from assistant.errors import AssistantError
from assistant.kiosk.esphome.entities import MediaState
from assistant.pipeline.turns import TurnLedger
from assistant.types import Pcm16

log = logging.getLogger("assistant.kiosk")
MAX_MEDIA_BYTES = 32 << 20  # a longer download is refused: a satellite plays speech and chimes
FETCH_TIMEOUT = httpx.Timeout(10.0, connect=5.0)
_POLL_S = 0.05


class MediaError(AssistantError):
    """Media that cannot be fetched or decoded (one line naming the URL and the cause)."""


def tone(rate: int, notes: list[tuple[float, float]], level: float = 0.25) -> Pcm16:
    """Sine notes (Hz, seconds) with short fades: the kiosk's chimes."""
    parts = []
    for hz, seconds in notes:
        t = np.arange(int(rate * seconds)) / rate
        wave = np.sin(2 * np.pi * hz * t) if hz else np.zeros_like(t)
        fade = np.minimum(1.0, np.minimum(t, t[::-1]) / 0.01) if len(t) else t
        parts.append(wave * fade * level)
    return (np.concatenate(parts) * 32767).astype(np.int16)


WAKE_NOTES = [(880.0, 0.07), (1320.0, 0.09)]
ERROR_NOTES = [(440.0, 0.12), (0.0, 0.05), (330.0, 0.18)]
RING_NOTES = [(988.0, 0.15), (0.0, 0.1), (988.0, 0.15), (0.0, 0.6)]


class Playback:
    """Plays on the speaker of the conversation that runs now (none while it restarts)."""

    def __init__(self, media: MediaState) -> None:
        self.media = media
        self.player: Player | None = None
        self.ledger: TurnLedger | None = None
        self._turn = 0  # what plays now (0: nothing)

    def attach(self, player: Player, ledger: TurnLedger) -> None:
        """Play through this conversation's speaker from now on."""
        self.player, self.ledger = player, ledger

    def detach(self) -> None:
        """The conversation ended: nothing can play until the next one attaches."""
        self.stop()
        self.player = self.ledger = None

    @property
    def playing(self) -> bool:
        """Whether an item is queued or sounding."""
        return bool(self._turn and self.player is not None and self.player.busy(self._turn))

    def stop(self) -> None:
        """Stop what plays now."""
        if self._turn and self.player is not None:
            self.player.stop(self._turn)
        self._turn = 0

    async def play_url(self, url: str) -> bool:
        """Fetch, decode and play ``url``; True when it played to its end (MediaError if bad)."""
        if self.player is None:
            raise MediaError("the speaker is not open (the kiosk is restarting)")
        data = await fetch(url)
        rate = self.player.sample_rate
        pcm = await asyncio.to_thread(_decode, data, rate, url)
        return await self.play(pcm)

    async def play_notes(self, notes: list[tuple[float, float]]) -> bool:
        """Play a chime."""
        if self.player is None:
            return False
        return await self.play(tone(self.player.sample_rate, notes))

    async def play(self, pcm: Pcm16) -> bool:
        """Play samples at the speaker's rate; True when they played to the end."""
        player, ledger = self.player, self.ledger
        if player is None or ledger is None:
            return False
        self.stop()
        turn = self._turn = ledger.new()
        scaled = (pcm.astype(np.float32) * self.media.gain).astype(np.int16)
        player.play(Chunk(scaled, turn))
        while player.busy(turn) and self._turn == turn and self.player is player:
            await asyncio.sleep(_POLL_S)
        finished = self._turn == turn
        if finished:
            self._turn = 0
        return finished


async def fetch(url: str) -> bytes:
    """The bytes at ``url`` (http or https), at most ``MAX_MEDIA_BYTES``; MediaError if not."""
    if urlsplit(url).scheme not in ("http", "https"):
        raise MediaError(f"cannot play {url!r}: only http and https media URLs are fetched")
    try:
        async with (
            httpx.AsyncClient(timeout=FETCH_TIMEOUT) as client,
            client.stream("GET", url) as answer,
        ):
            if answer.status_code != 200:
                raise MediaError(f"{url} answered HTTP {answer.status_code}")
            data = bytearray()
            async for piece in answer.aiter_bytes():
                data += piece
                if len(data) > MAX_MEDIA_BYTES:
                    raise MediaError(f"{url} is over {MAX_MEDIA_BYTES >> 20} MiB")
            return bytes(data)
    except httpx.HTTPError as exc:
        raise MediaError(f"cannot fetch {url}: {type(exc).__name__}") from None


def _decode(data: bytes, rate: int, url: str) -> Pcm16:
    try:
        samples = decode(data, rate, 1, "s16").samples
    except AssistantError as exc:
        raise MediaError(f"{url}: {exc}") from None
    return samples.reshape(-1).astype(np.int16, copy=False)
