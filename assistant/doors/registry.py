"""Which front doors the server opens: adding one is its module plus one line here.

A door is either routes on the HTTP app (a WebSocket door: ``router``) or a listener of its
own that the process lifecycle opens beside the app and closes before the models are freed
(``listen``: None when the settings leave it off). Everything doors share (admission,
teardown, metrics, error shape) is in doors/base.py.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol

from fastapi import APIRouter, FastAPI

from assistant.doors.realtime import endpoint as realtime
from assistant.doors.voice import endpoint as voice
from assistant.doors.wyoming.door import open_wyoming
from assistant.server.app import create_app
from assistant.server.engine import Engine

Announce = Callable[[str], None]  # a line telling the user where a door listens


class Listener(Protocol):
    """A door with a socket of its own, open while the process serves."""

    async def close(self) -> None:
        """Stop listening and end its sessions."""


@dataclass(frozen=True)
class Door:
    """One front door: its name, and how it is reached."""

    name: str
    router: APIRouter | None = None
    listen: Callable[[Engine, Announce], Awaitable[Listener | None]] | None = None


DOORS: tuple[Door, ...] = (
    Door("voice", router=voice.router),  # /ws/voice
    Door("realtime", router=realtime.router),  # /v1/realtime
    Door("wyoming", listen=open_wyoming),  # TCP, with --wyoming-port
)


def app(engine: Engine, api_key: str | None = None) -> FastAPI:
    """The HTTP app of ``engine`` with every door's routes."""
    routers = [door.router for door in DOORS if door.router is not None]
    return create_app(engine, api_key, routers)


async def open_listeners(engine: Engine, announce: Announce) -> list[Listener]:
    """Open every listening door the settings ask for (closed again if one fails)."""
    opened: list[Listener] = []
    try:
        for door in DOORS:
            if door.listen is not None and (listener := await door.listen(engine, announce)):
                opened.append(listener)
    except BaseException:
        await close_listeners(opened)
        raise
    return opened


async def close_listeners(listeners: list[Listener]) -> None:
    """Close ``listeners``, the last opened first."""
    for listener in reversed(listeners):
        await listener.close()
