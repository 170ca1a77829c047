"""The Wyoming door as the process starts it: its TCP listener, and its zeroconf advert."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import TYPE_CHECKING

from assistant.doors.wyoming.endpoint import WyomingServer, start_wyoming
from assistant.server.engine import Engine

if TYPE_CHECKING:
    from assistant.doors.wyoming.zeroconf import WyomingAdvert


class WyomingDoor:
    """Wyoming on ``server.wyoming_port``, advertised over mDNS with ``server.wyoming_zeroconf``."""

    def __init__(self, server: WyomingServer, advert: WyomingAdvert | None) -> None:
        self.server, self.advert = server, advert

    async def close(self) -> None:
        """Withdraw the advert, then stop listening and end every session."""
        if self.advert is not None:
            with contextlib.suppress(Exception):
                await self.advert.close()
        await self.server.close()


async def open_wyoming(engine: Engine, announce: Callable[[str], None]) -> WyomingDoor | None:
    """Start Wyoming if the settings give it a port (None otherwise); ``announce`` says where."""
    s = engine.settings.server
    if not s.wyoming_port:
        return None
    server = await start_wyoming(engine)
    announce(f"Wyoming on tcp://{s.wyoming_host}:{s.wyoming_port}")
    advert = None
    if s.wyoming_zeroconf:
        from assistant.doors.wyoming.zeroconf import WyomingAdvert  # zeroconf: only when asked

        try:
            advert = WyomingAdvert(s.wyoming_host, s.wyoming_port, s.wyoming_zeroconf_name)
            await advert.start()
        except BaseException:
            await server.close()
            raise
        announce(f"Wyoming advertised over zeroconf as {advert.name!r} ({advert.address})")
    return WyomingDoor(server, advert)
