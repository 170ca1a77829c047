"""Places for voice sessions: taken at the handshake, given back as soon as the socket is gone.

``server.max_voice_sessions`` sessions (``/ws/voice``, ``/v1/realtime``, Wyoming) run at once.
A place is taken with no await between the check and the count, so two handshakes cannot both
take the last one, and it is given back the moment the client has gone, before the session's
cleanup (its reply stopped, its chat context closed) is over: a client that hangs up and
reconnects at once is admitted. A handshake that finds every place taken waits up to
``GRACE_S`` for one to come back before it is refused (a client's close handshake may end
before its session on the server has seen it go).

At shutdown, ``stop`` cancels every session still serving its client (each ends as if its
client had gone, and the door closes it without a traceback), and ``close`` waits until every
session task, cleanups included, has ended: only then may the models they use be freed.
"""

from __future__ import annotations

import asyncio
import time

GRACE_S = 2.0
_POLL_S = 0.02
SHUTTING_DOWN = "shutting down"  # the message of the cancellation that ``stop`` sends


class VoiceSlot:
    """One session's place; ``release`` gives it back (once, however often it is called)."""

    def __init__(self, slots: VoiceSlots, task: asyncio.Task[object] | None) -> None:
        self._slots, self.task, self.held = slots, task, True

    def release(self) -> None:
        """Give the place back: the client has gone, the cleanup may still run."""
        if self.held:
            self.held = False
            self._slots.held -= 1


class VoiceSlots:
    """The places held now, and the session tasks not yet ended."""

    def __init__(self) -> None:
        self.held = 0
        self.stopping = False
        self._sessions: set[VoiceSlot] = set()

    async def take(self, limit: int, wait_s: float = GRACE_S) -> VoiceSlot | None:
        """A place among ``limit``, waiting up to ``wait_s`` for one; None if none came back."""
        deadline = time.monotonic() + wait_s
        while self.held >= limit and not self.stopping:
            if time.monotonic() >= deadline:
                return None
            await asyncio.sleep(_POLL_S)  # places come back from other tasks' cleanup
        if self.stopping:
            return None
        self.held += 1
        task = asyncio.current_task()
        slot = VoiceSlot(self, task)
        if task is not None:
            self._sessions.add(slot)
            task.add_done_callback(lambda _task: self._sessions.discard(slot))
        return slot

    def stop(self) -> None:
        """Shutting down: refuse new sessions, and cancel those still serving a client."""
        self.stopping = True
        for slot in list(self._sessions):
            if slot.held and slot.task is not None:
                slot.task.cancel(SHUTTING_DOWN)

    async def close(self) -> None:
        """Stop every session and wait until each task has ended, its cleanup included."""
        self.stop()
        tasks = {slot.task for slot in self._sessions if slot.task is not None}
        tasks.discard(asyncio.current_task())
        if tasks:
            await asyncio.wait(tasks)


def ended_by_shutdown(slots: VoiceSlots) -> bool:
    """Whether the cancellation a door caught is the shutdown's (``stop``).

    The door then ends quietly: uvicorn logs any exception out of the app, a cancellation too.
    """
    task = asyncio.current_task()
    if not slots.stopping or task is None:
        return False
    task.uncancel()
    return True
