"""Zeroconf (mDNS) advertising of the Wyoming endpoint, so Home Assistant discovers it.

Home Assistant's Wyoming integration browses for ``_wyoming._tcp.local.`` and offers every
service it finds. The advert names the address the endpoint listens on: the given one, or for a
wildcard (``0.0.0.0``) the address of the interface that carries multicast, as the Wyoming
project's own servers do. It is only sent where the endpoint is reachable, never for loopback
(``assistant serve`` refuses that combination), and it is withdrawn on shutdown so Home
Assistant does not keep a dead entry.
"""

from __future__ import annotations

import ipaddress
import logging
import socket

from zeroconf import InterfaceChoice
from zeroconf.asyncio import AsyncServiceInfo, AsyncZeroconf

SERVICE = "_wyoming._tcp.local."
_MDNS_GROUP = "224.0.0.251"
WILDCARDS = ("", "0.0.0.0", "::")

log = logging.getLogger(__name__)


def default_name() -> str:
    """``assistant-HOSTNAME``: what Home Assistant shows for a server given no name."""
    return f"assistant-{socket.gethostname().split('.')[0]}"


def advertised_address(host: str) -> str:
    """The IPv4 address to put in the advert for an endpoint bound to ``host``.

    ValueError for an IPv6 address: Home Assistant's discovery of Wyoming reads IPv4 only.
    """
    if host not in WILDCARDS:
        return str(ipaddress.IPv4Address(host))
    # A UDP connect sends nothing; it only asks the kernel which address routes to the group.
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.connect((_MDNS_GROUP, 5353))
        return str(probe.getsockname()[0])


class WyomingAdvert:
    """The ``_wyoming._tcp`` service record of one endpoint, from ``start`` until ``close``."""

    def __init__(self, host: str, port: int, name: str = "") -> None:
        self.address = advertised_address(host)
        self.name = name or default_name()
        interfaces = InterfaceChoice.All if host in WILDCARDS else [self.address]
        self._zeroconf = AsyncZeroconf(interfaces=interfaces)
        self._info = AsyncServiceInfo(
            SERVICE,
            f"{self.name}.{SERVICE}",
            addresses=[socket.inet_aton(self.address)],
            port=port,
            server=f"{self.name}.local.",
        )

    async def start(self) -> None:
        """Announce the service (a name taken by another host gets a numbered variant)."""
        # The call returns once the record is set; its announcements finish in the task.
        announced = await self._zeroconf.async_register_service(self._info, allow_name_change=True)
        await announced
        log.info("Wyoming advertised as %s on %s", self._info.name, self.address)

    async def close(self) -> None:
        """Withdraw the record (a goodbye packet) and stop answering queries."""
        try:
            await (await self._zeroconf.async_unregister_service(self._info))
        finally:
            await self._zeroconf.async_close()
