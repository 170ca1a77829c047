"""What every voice door does, written once: admission, teardown, metrics and the error shape.

A door (``/ws/voice``, ``/v1/realtime``, Wyoming) only turns its wire messages into a
conversation's input and the conversation's events back into wire messages. Around that:

- **admission**: a place among ``server.max_voice_sessions`` (``VoiceSlots``, with its grace
  wait), given back as soon as the client has gone; WebSocket doors also check the API key and
  the Origin, and need a chat model, before the place is taken;
- **a chat context** from the hub (``ModelHub.conversation``), which the sessions gauge counts;
- **metrics**: every finished turn goes to ``Engine.record_turn`` (``observers``); a turn's
  failure (a remote model server down: ``StageFailed``) is one log line and counted;
- **teardown**: ``end_conversation`` is the one cancel-then-wait sequence;
- **the error shape**: a WebSocket door is closed with a code and a reason (``Close``), after
  its own error message if its protocol has one (the door's ``Fail``); a shutdown closes it with
  1012 and no traceback. Wyoming refuses with its ``error`` event (``BUSY``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from fastapi import WebSocket

from assistant.errors import AssistantError
from assistant.models.hub import NoModel
from assistant.pipeline.conversation import Conversation, Observers
from assistant.pipeline.events import Event, StageFailed
from assistant.pipeline.turns import TurnReport
from assistant.server.engine import Engine
from assistant.server.voice_slots import VoiceSlot, ended_by_shutdown
from assistant.server.wire_check import first_line
from assistant.server.ws import admit

BUSY = "too many voice sessions; try again later"
_log = logging.getLogger("assistant.doors")


@dataclass(frozen=True)
class Close:
    """How a WebSocket door ends: the close code and its reason (at most 120 characters)."""

    code: int
    reason: str


NO_MODEL = Close(1011, "no chat model is loaded; POST /api/models/load")
TOO_MANY = Close(1013, BUSY)
SHUTDOWN = Close(1012, "the server is shutting down")
INTERNAL = "the server failed; see its log"

# A door's own way to end on a failure: ``(socket, code, message)``, where ``code`` is
# "MODEL_NOT_FOUND" (a model missing, broken or unloaded) or "INTERNAL" (a bug).
Fail = Callable[[WebSocket, str, str], Awaitable[None]]
Serve = Callable[[WebSocket, VoiceSlot], Awaitable[None]]


async def close_socket(socket: WebSocket, close: Close) -> None:
    """Close ``socket`` with ``close``'s code and reason (nothing if it is already gone)."""
    with contextlib.suppress(Exception):
        await socket.close(code=close.code, reason=close.reason[:120])


async def open_voice_session(socket: WebSocket) -> VoiceSlot | None:
    """Admit, accept, and take a voice session's place; else close it with the reason (None).

    A voice session needs a chat model and a free place among ``server.max_voice_sessions``
    (voice_slots.py); the caller gives the place back as soon as the client has gone.
    """
    engine: Engine = socket.app.state.engine
    if not await admit(socket):
        return None
    await socket.accept()  # then closed with a reason: a refused handshake says nothing
    if not engine.hub.loaded:
        await close_socket(socket, NO_MODEL)
        return None
    slot = await take_slot(engine)
    if slot is None:
        await close_socket(socket, TOO_MANY)
    return slot


async def take_slot(engine: Engine) -> VoiceSlot | None:
    """A place among ``server.max_voice_sessions`` (waiting the grace); None: refuse."""
    return await engine.voice_slots.take(engine.settings.server.max_voice_sessions)


async def serve_socket(socket: WebSocket, serve: Serve, fail: Fail, log: logging.Logger) -> None:
    """Run one WebSocket door's session with the shared admission, error shape and teardown.

    A bug is one line on ``log``, naming the door's path.
    """
    slot = await open_voice_session(socket)
    if slot is None:
        return
    engine: Engine = socket.app.state.engine
    try:
        await serve(socket, slot)
    except (AssistantError, NoModel) as exc:  # a model missing or broken, or just unloaded
        await fail(socket, "MODEL_NOT_FOUND", str(exc))
    except Exception as exc:  # a bug: one log line and a close, not a traceback from the app
        log.error("%s: internal error, session closed: %s", socket.url.path, first_line(exc))
        await fail(socket, "INTERNAL", INTERNAL)
    except asyncio.CancelledError:
        if not ended_by_shutdown(engine.voice_slots):
            raise
        await close_socket(socket, SHUTDOWN)
    finally:
        slot.release()


def observers(engine: Engine, observed: Observers | None = None) -> Observers:
    """``observed`` (or new observers) with every finished turn counted in the metrics.

    A turn's failure is logged (once: the door's client sees it as its protocol's error) and
    counted as well.
    """
    chosen = observed or Observers()
    chosen.on_turn = _both(engine, chosen.on_turn)

    def failed(event: Event) -> None:
        if isinstance(event, StageFailed):
            _log.warning("turn %d: %s failed: %s", event.turn_id, event.stage, event.message)
            engine.metrics.stage_failures.labels(event.stage).inc()

    chosen.bus.listen(failed)
    return chosen


def _both(
    engine: Engine, then: Callable[[TurnReport], object] | None
) -> Callable[[TurnReport], None]:
    def on_turn(report: TurnReport) -> None:
        engine.record_turn(report)
        if then is not None:
            then(report)

    return on_turn


async def end_conversation(conversation: Conversation | None, reason: str) -> None:
    """Stop ``conversation`` at once and wait until its tasks have ended (its failure ignored).

    The one teardown of every door: the client has gone, the session was rebuilt, or the
    server is stopping.
    """
    if conversation is None:
        return
    await conversation.cancel(reason)
    with contextlib.suppress(Exception):
        await conversation.wait()
