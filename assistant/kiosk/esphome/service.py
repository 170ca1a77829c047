"""Opens the satellite for ``assistant kiosk --home-assistant``: API server, mDNS, and the rest.

Without ``kiosk.home_assistant`` there is no satellite (None) and the kiosk is as before. The
device is advertised over mDNS (``_esphomelib._tcp``) unless it listens on loopback only,
where nothing on the network could reach it anyway.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator

from assistant.addresses import is_loopback
from assistant.config import Settings
from assistant.config_kiosk import encryption_key
from assistant.errors import ConfigError
from assistant.kiosk.esphome.identity import DeviceIdentity
from assistant.kiosk.esphome.mdns import advertise
from assistant.kiosk.esphome.satellite import FEATURES, Satellite
from assistant.kiosk.esphome.server import ApiServer

log = logging.getLogger("assistant.kiosk")
DEFAULT_WAKE_WORD = "okay_nabu"  # what Home Assistant's own satellites answer to


@contextlib.asynccontextmanager
async def satellite_for(settings: Settings) -> AsyncIterator[Satellite | None]:
    """The satellite, listening and advertised, while the kiosk runs (None when off)."""
    k = settings.kiosk
    if not k.home_assistant:
        yield None
        return
    satellite = Satellite(k.wake_word or DEFAULT_WAKE_WORD, k.chime, k.timer_ring_s)
    identity = DeviceIdentity.for_this_machine(k.device_name, feature_flags=FEATURES)
    key = encryption_key(k.home_assistant_key) if k.home_assistant_key else None
    server = ApiServer(identity, satellite, k.home_assistant_host, k.home_assistant_port, key)
    try:
        await server.start()
    except OSError as exc:
        raise ConfigError(
            f"cannot listen for Home Assistant on {k.home_assistant_host}:"
            f"{k.home_assistant_port} ({exc.strerror or exc}); free the port or set "
            "kiosk.home_assistant_port"
        ) from None
    satellite.broadcast = server.broadcast
    advert = None
    try:
        if not is_loopback(k.home_assistant_host):
            only = () if k.home_assistant_host in ("0.0.0.0", "") else (k.home_assistant_host,)
            advert = await advertise(identity, server.port, key is not None, only)
        where = f"{k.home_assistant_host}:{server.port}"
        fields = {"port": server.port, "name": identity.name, "encrypted": key is not None}
        log.info("Home Assistant satellite on %s", where, extra={"fields": fields})
        yield satellite
    finally:
        if advert is not None:
            await advert()
        await server.close()
        await satellite.close()
