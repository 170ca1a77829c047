"""Where each role's model runs and whether it answers, asked at most every few seconds.

``/health`` and ``/metrics`` show each backend (models/backends.py). A remote one is probed
over the network (up to 2 s); asked on every request, a flood of ``/health`` (which needs no
key, for load balancers) would queue probes and make the server look dead to its own
balancer. So one probe runs at a time, every request during it waits for that one, and its
answer serves for ``FRESH_S``.
"""

from __future__ import annotations

import asyncio
import dataclasses
import math
import time
from concurrent.futures import ThreadPoolExecutor

from assistant.models.backends import backend_statuses, configured_roles, is_local
from assistant.models.remote_role import BackendStatus
from assistant.server.engine import Engine

FRESH_S = 5.0  # a probe's answer serves this long
_PROBES = ThreadPoolExecutor(1, "probes")  # the network is asked once at a time


class BackendProbes:
    """The backends' last statuses, probed again when older than ``FRESH_S``."""

    def __init__(self) -> None:
        self._found: dict[str, BackendStatus] = {}
        self._at = -math.inf  # monotonic seconds of the last probe
        self._running: asyncio.Future[dict[str, BackendStatus]] | None = None

    async def statuses(self, engine: Engine) -> dict[str, BackendStatus]:
        """Each role's backend; the chat model is the one being served (it may be swapped)."""
        if time.monotonic() - self._at >= FRESH_S:
            if self._running is None or self._running.done():
                self._running = asyncio.ensure_future(_probe(engine))
            self._found = await asyncio.shield(self._running)
            self._at = time.monotonic()
        found = dict(self._found)
        if engine.hub.loaded:
            found["llm"] = dataclasses.replace(found["llm"], model=engine.hub.name)
        return found


async def _probe(engine: Engine) -> dict[str, BackendStatus]:
    """Each role's backend, as found now.

    Remote ones are probed on a thread of their own, never one the server's work queues for:
    a busy server still answers /health at once.
    """
    settings, hub = engine.settings, engine.hub
    if all(is_local(settings, role) for role in configured_roles(settings)):
        return backend_statuses(settings, {})  # a look at the files
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(_PROBES, backend_statuses, settings, hub.remotes())
