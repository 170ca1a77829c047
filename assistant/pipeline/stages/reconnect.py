"""Getting a device back: reopening with backoff, and reporting device news on the bus.

An open runs on a daemon thread with a time limit, because a sound server that stops
answering can block PortAudio's open for good; the event loop must not wait on that.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

from assistant.audio.devices import Device, Kind, pick_device
from assistant.errors import DeviceError
from assistant.pipeline.events import AudioStatus, EventBus

log = logging.getLogger(__name__)
T = TypeVar("T")
FIRST_RETRY_S = 0.25
MAX_RETRY_S = 2.0
OPEN_S = 5.0  # an open that takes longer than this counts as failed
CANCEL_WAIT_S = 1.0  # how long a cancelled reopen waits for an open already under way


def report(
    bus: EventBus, device: str, message: str, level: str = "warning", reopened: bool = False
) -> None:
    """Log device news and publish it as an ``audio_status`` event.

    ``reopened``: the device was opened again, and may now be another one.
    """
    getattr(log, level)("%s: %s", device, message)
    bus.publish(AudioStatus(device=device, message=message, level=level, reopened=reopened))


async def reopen(
    kind: Kind, spec: str, retry_s: float, opener: Callable[[Device], T], bus: EventBus
) -> T:
    """Open the device again, backing off, until ``retry_s`` has passed (then DeviceError)."""
    what = "microphone" if kind == "input" else "speaker"
    deadline, delay = time.monotonic() + retry_s, FIRST_RETRY_S
    last = ""
    while True:
        try:
            opened = await _in_daemon_thread(lambda: opener(pick_device(kind, spec)), OPEN_S)
            report(bus, what, f"{what} is back", reopened=True)
            return opened
        except DeviceError as exc:
            last = str(exc)
        except TimeoutError:
            last = f"opening it did not finish within {OPEN_S:g} s"
        if time.monotonic() + delay > deadline:
            raise DeviceError(
                f"the {what} went away and did not come back within {retry_s:g} s ({last}); "
                f"reconnect it, or pick another with --{kind}-device (see `assistant devices`)"
            )
        await asyncio.sleep(delay)
        delay = min(delay * 2, MAX_RETRY_S)


async def _in_daemon_thread(call: Callable[[], T], timeout: float) -> T:
    """Run ``call`` on a daemon thread; TimeoutError if it has not finished in ``timeout``.

    Whatever it opens after the caller gave up (timed out, or cancelled because the
    conversation is stopping) is closed again, even once the event loop has closed: a stream
    left open keeps PortAudio's callback thread calling into Python while the process exits.
    A caller that is cancelled first waits up to ``CANCEL_WAIT_S`` for an open in progress, so
    a stop does not leave PortAudio busy on another thread while the program tears it down.
    """
    loop = asyncio.get_running_loop()
    future: asyncio.Future[T] = loop.create_future()

    def run() -> None:
        try:
            result, error = call(), None
        except BaseException as exc:  # handed over to the awaiting task
            result, error = None, exc
        try:
            loop.call_soon_threadsafe(_settle, future, result, error)
        except RuntimeError:  # the loop has closed: nobody will take it
            _close(result)

    threading.Thread(target=run, daemon=True, name="device-open").start()
    try:
        return await asyncio.wait_for(asyncio.shield(future), timeout)
    except asyncio.CancelledError:
        with contextlib.suppress(Exception, asyncio.CancelledError):  # its outcome is not ours
            await asyncio.wait_for(asyncio.shield(future), CANCEL_WAIT_S)
        if future.done() and not future.cancelled() and future.exception() is None:
            _close(future.result())  # opened, but the caller has gone
        raise
    finally:
        future.cancel()  # settled: nothing happens; else given up on: ``_settle`` closes it


def _settle(future: asyncio.Future[Any], result: Any, error: BaseException | None) -> None:
    if future.done():
        _close(result)  # opened after the caller gave up on it
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(result)


def _close(result: Any) -> None:
    """Release a device nobody will use."""
    if hasattr(result, "close"):
        result.close()
