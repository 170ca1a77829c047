"""mDNS advertising of the ESPHome API, so Home Assistant discovers the kiosk as a device.

Home Assistant's ESPHome integration browses for ``_esphomelib._tcp.local.``, takes the device
name from the host name, the unique id from the ``mac`` TXT record (a record without it is
ignored) and asks for the key when ``api_encryption`` is present. The TXT records are those a
device sends; ``platform`` is left out as firmware leaves it out for host builds, and so is
``network``, which a kiosk cannot know in general. The record is withdrawn (a goodbye packet)
by the closer.
"""

from __future__ import annotations

import logging
import socket
from collections.abc import Awaitable, Callable, Sequence

from aioesphomeapi._frame_helper.noise_encryption import NOISE_PROTOCOL_NAME
from zeroconf import InterfaceChoice, NonUniqueNameException
from zeroconf.asyncio import AsyncServiceInfo, AsyncZeroconf

from assistant.errors import ConfigError
from assistant.kiosk.esphome.identity import DeviceIdentity
from assistant.kiosk.esphome.replies import PROJECT_NAME

SERVICE = "_esphomelib._tcp.local."
_MDNS_GROUP = "224.0.0.251"

log = logging.getLogger(__name__)

Closer = Callable[[], Awaitable[None]]


def txt_records(identity: DeviceIdentity, encrypted: bool) -> dict[str, str]:
    """The TXT records of the device's service, as ESPHome firmware fills them."""
    records = {"version": identity.version, "mac": identity.mac_hex, "board": "host"}
    if identity.friendly_name:
        records["friendly_name"] = identity.friendly_name
    if encrypted:
        records["api_encryption"] = NOISE_PROTOCOL_NAME.decode()
    records["project_name"] = PROJECT_NAME
    records["project_version"] = identity.version
    return records


def routed_address() -> str:
    """The IPv4 address of the interface that carries multicast (a UDP connect sends nothing)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.connect((_MDNS_GROUP, 5353))
        return str(probe.getsockname()[0])


async def advertise(
    identity: DeviceIdentity, port: int, encrypted: bool, interfaces: Sequence[str] = ()
) -> Closer:
    """Announce ``<name>._esphomelib._tcp.local.`` on ``port``; await the result to withdraw it.

    ``interfaces`` are the IPv4 addresses to announce on and to put in the record; none means
    every interface, with the address of the one that carries multicast.
    """
    addresses = list(interfaces) or [routed_address()]
    zeroconf = AsyncZeroconf(interfaces=list(interfaces) or InterfaceChoice.All)
    info = AsyncServiceInfo(
        SERVICE,
        f"{identity.name}.{SERVICE}",
        addresses=[socket.inet_aton(address) for address in addresses],
        port=port,
        properties=txt_records(identity, encrypted),
        server=f"{identity.name}.local.",
    )
    try:
        # The call returns once the record is set; its announcements finish in the task.
        await (await zeroconf.async_register_service(info))
    except NonUniqueNameException:
        await zeroconf.async_close()
        # Home Assistant identifies the device by this name, so it is not renamed silently.
        raise ConfigError(
            f"another device on the network is already called {identity.name!r}: "
            "give this one another name"
        ) from None
    except BaseException:
        await zeroconf.async_close()
        raise
    log.info("esphome: advertised as %s on %s", info.name, ", ".join(addresses))

    async def close() -> None:
        try:
            await (await zeroconf.async_unregister_service(info))
        finally:
            await zeroconf.async_close()

    return close
