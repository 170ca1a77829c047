"""A Realtime session's input audio buffer: ``input_audio_buffer.append``, ``commit``, ``clear``.

With turn detection on, appended audio is the live input of the VAD; without, it waits in the
buffer until the client commits it (transcribed into a user item) or clears it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from assistant.doors.realtime.audio import PIPELINE_RATE
from assistant.doors.realtime.events import new_id
from assistant.errors import UserError

if TYPE_CHECKING:
    from assistant.doors.realtime.endpoint import RealtimeSession


async def append(session: RealtimeSession, event: dict[str, Any]) -> None:
    """``input_audio_buffer.append``: to the VAD, or to the buffer of a manual turn."""
    pcm = session.audio_in.decode(event["audio"])
    if session.source is not None:
        session.source.feed(pcm)
        await session.source.pace()
        return
    limit = session.engine.settings.server.max_audio_s
    if (sum(map(len, session.buffer)) + len(pcm)) / PIPELINE_RATE > limit:
        raise UserError(f"the audio buffer holds at most {limit:g} s; commit or clear it")
    session.buffer.append(pcm)


async def commit(session: RealtimeSession, event: dict[str, Any]) -> None:
    """``input_audio_buffer.commit`` (manual turns): the buffer becomes a user item."""
    if session.source is not None:
        raise UserError("with turn detection on, turns are committed when speech ends")
    if not session.buffer:
        raise UserError("the audio buffer is empty")
    pcm, session.buffer = np.concatenate(session.buffer), []
    item_id = new_id("item")
    session.emitter.commit(item_id)
    heard = await session.engine.hub.transcribe(pcm)
    session.emitter.transcribed(item_id, heard.text)
    session.conversation_now().add_user(heard.text)


async def clear(session: RealtimeSession, event: dict[str, Any]) -> None:
    """``input_audio_buffer.clear`` (manual turns)."""
    if session.source is not None:
        raise UserError(
            "with turn detection on, the buffer is the live input: it cannot be cleared"
        )
    session.buffer = []
    session.emitter.emit("input_audio_buffer.cleared")
