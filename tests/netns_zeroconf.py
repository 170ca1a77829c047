"""Run inside a fresh network namespace (``unshare -n``): Home Assistant's side of discovery.

A veth pair stands for a LAN with two hosts, 10.99.0.1 (``assistant serve`` with Wyoming and
``--wyoming-zeroconf``) and 10.99.0.2 (a zeroconf browser, as Home Assistant runs one). The
namespace has no other interface, so no packet can leave it. Prints one JSON line: what the
browser found, what the advertised endpoint answered to ``describe``, and whether the record
was withdrawn when the server stopped.
"""

import asyncio
import json
import os
import socket
import subprocess
import sys

from wyoming.client import AsyncTcpClient
from wyoming.info import Describe, Info
from zeroconf import ServiceStateChange
from zeroconf.asyncio import AsyncServiceBrowser, AsyncServiceInfo, AsyncZeroconf

from tests.serving import start

SERVICE = "_wyoming._tcp.local."
SERVER, BROWSER = "10.99.0.1", "10.99.0.2"


def can_isolate() -> bool:
    """Whether this process may make a network namespace with a veth pair (root, iproute2)."""
    try:
        probe = ["unshare", "-n", "ip", "link", "add", "v0", "type", "veth", "peer", "name", "v1"]
        return subprocess.run(probe, capture_output=True, timeout=10).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def make_lan() -> None:
    for command in (
        "ip link set lo up",
        "ip link add v0 type veth peer name v1",
        f"ip addr add {SERVER}/24 dev v0",
        f"ip addr add {BROWSER}/24 dev v1",
        "ip link set v0 up",
        "ip link set v1 up",
    ):
        subprocess.run(command.split(), check=True)


async def browse(seen: asyncio.Queue[tuple[str, ServiceStateChange]]) -> AsyncZeroconf:
    zc = AsyncZeroconf(interfaces=[BROWSER])

    def changed(name: str, state_change: ServiceStateChange, **_: object) -> None:
        seen.put_nowait((name, state_change))

    AsyncServiceBrowser(zc.zeroconf, SERVICE, handlers=[changed])
    return zc


async def describe(address: str, port: int) -> Info:
    async with AsyncTcpClient(address, port) as client:
        await client.write_event(Describe().event())
        while (event := await client.read_event()) is not None:
            if Info.is_type(event.type):
                return Info.from_event(event)
    raise RuntimeError("no info")


async def main() -> dict[str, object]:
    seen: asyncio.Queue[tuple[str, ServiceStateChange]] = asyncio.Queue()
    zc = await browse(seen)
    port = 10300
    env = {
        "ASSISTANT_SERVER__WYOMING_HOST": SERVER,
        "ASSISTANT_SERVER__WYOMING_ALLOW_NETWORK": "true",
        "ASSISTANT_SERVER__WYOMING_ZEROCONF_NAME": "kitchen",
    }
    proc, _ = await asyncio.to_thread(
        start, "--wyoming-port", str(port), "--wyoming-zeroconf", env=env
    )
    result: dict[str, object] = {}
    try:
        name, state = await asyncio.wait_for(seen.get(), 30)
        result["found"] = [name, state.name]
        info = AsyncServiceInfo(SERVICE, name)
        await info.async_request(zc.zeroconf, 5000)
        addresses = [socket.inet_ntoa(a) for a in info.addresses]
        result["addresses"], result["port"] = addresses, info.port
        served = await describe(addresses[0], int(info.port or 0))
        result["asr_models"] = [m.name for p in served.asr for m in p.models]
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        result["stderr"] = proc.stderr.read() if proc.stderr else ""
    try:
        name, state = await asyncio.wait_for(seen.get(), 10)
        result["after_stop"] = [name, state.name]
    except TimeoutError:
        result["after_stop"] = None
    await zc.async_close()
    return result


if __name__ == "__main__":
    make_lan()
    os.environ.pop("http_proxy", None)
    print(json.dumps(asyncio.run(main())))
    sys.stdout.flush()
