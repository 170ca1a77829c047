"""The media player entity: Home Assistant's media and announcements on the kiosk's speaker."""

from __future__ import annotations

import logging
from collections.abc import Callable

from aioesphomeapi import api_pb2 as pb

from assistant.kiosk.esphome import entities
from assistant.kiosk.esphome.playback import MediaError, Playback

log = logging.getLogger("assistant.kiosk")


class MediaPlayer:
    """Plays URLs, obeys stop, pause, volume and mute, and shows its state to Home Assistant."""

    def __init__(self, playback: Playback, broadcast: Callable[..., None]) -> None:
        self.playback, self.state, self._broadcast = playback, playback.media, broadcast
        self._items = 0  # the number of the item playing now (a newer one takes over)

    def command(self, command: pb.MediaPlayerCommandRequest) -> str:
        """Apply a command; the URL it asks to play ("" if none)."""
        stops = entities.stops_playback(command)
        if stops:
            self.playback.stop()
        if entities.apply_volume(self.state, command) or stops:
            self._show()
        return str(command.media_url) if command.has_media_url else ""

    async def play(self, url: str) -> bool:
        """Play ``url`` to its end (True), or until stopped or failed (False, one log line)."""
        self._items += 1
        item = self._items
        self.state.playing = True
        self._show()
        try:
            return await self.playback.play_url(url)
        except MediaError as exc:
            log.warning("media could not be played: %s", exc)
            return False
        finally:
            if item == self._items:  # not replaced by newer media: nothing of it plays now
                self.state.playing = False
                self._show()

    def _show(self) -> None:
        self._broadcast(entities.media_message(self.state))
