"""Run inside a fresh network namespace (``unshare -n``): Home Assistant discovering the kiosk.

The veth pair of tests/netns_zeroconf.py stands for a LAN: 10.99.0.1 advertises the ESPHome
API (``assistant.kiosk.esphome.mdns``) and 10.99.0.2 browses for ``_esphomelib._tcp`` as Home
Assistant does. Prints one JSON line: what the browser found, the record's address, port and
TXT, and whether the record was withdrawn by the closer.
"""

import asyncio
import json
import socket

from zeroconf import ServiceStateChange
from zeroconf.asyncio import AsyncServiceBrowser, AsyncServiceInfo, AsyncZeroconf

from assistant.kiosk.esphome.identity import DeviceIdentity
from assistant.kiosk.esphome.mdns import SERVICE, advertise
from tests.netns_zeroconf import BROWSER, SERVER, make_lan


async def main() -> dict[str, object]:
    seen: asyncio.Queue[tuple[str, ServiceStateChange]] = asyncio.Queue()
    browser = AsyncZeroconf(interfaces=[BROWSER])

    def changed(name: str, state_change: ServiceStateChange, **_: object) -> None:
        seen.put_nowait((name, state_change))

    AsyncServiceBrowser(browser.zeroconf, SERVICE, handlers=[changed])
    identity = DeviceIdentity("kitchen-kiosk", "Kitchen", "02:00:00:AB:CD:EF", "0.1.0", 61)
    close = await advertise(identity, 6053, encrypted=True, interfaces=[SERVER])
    result: dict[str, object] = {}
    try:
        name, state = await asyncio.wait_for(seen.get(), 30)
        result["found"] = [name, state.name]
        info = AsyncServiceInfo(SERVICE, name)
        await info.async_request(browser.zeroconf, 5000)
        result["addresses"] = [socket.inet_ntoa(a) for a in info.addresses]
        result["port"], result["server"] = info.port, info.server
        result["txt"] = {k.decode(): (v or b"").decode() for k, v in info.properties.items()}
    finally:
        await close()
    name, state = await asyncio.wait_for(seen.get(), 30)
    result["after_close"] = [name, state.name]
    await browser.async_close()
    return result


if __name__ == "__main__":
    make_lan()
    print(json.dumps(asyncio.run(main())))
