"""Reopening a device: an open that ends after its caller gave up is closed, never leaked.

A stop (SIGTERM) can land while a microphone or speaker is being reopened on its daemon
thread. Whatever that open returns afterwards must be released: a PortAudio stream left
running keeps its callback thread calling into Python while the process exits.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from assistant.audio.devices import Device
from assistant.pipeline.events import EventBus
from assistant.pipeline.stages import reconnect

DEVICE = Device(index=0, name="stand-in", hostapi="none", channels=1, default_rate=16000)


class Opened:
    """What an opener returns: a stand-in for a Capture or Player, which knows if it was closed."""

    def __init__(self) -> None:
        self.closed = threading.Event()
        self.closed_on = ""

    def close(self) -> None:
        self.closed_on = threading.current_thread().name
        self.closed.set()


class SlowOpener:
    """Opens after ``seconds``, like PortAudio on a sound server that is slow to answer."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.opened: list[Opened] = []
        self.done = threading.Event()

    def __call__(self, device: Device) -> Opened:
        time.sleep(self.seconds)
        opened = Opened()
        self.opened.append(opened)
        self.done.set()
        return opened


@pytest.fixture(autouse=True)
def stand_in_device(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(reconnect, "pick_device", lambda kind, spec: DEVICE)


@pytest.fixture
def thread_errors() -> Iterator[list[str]]:
    """What any thread raised without handling it (the default hook would print it)."""
    errors: list[str] = []
    before = threading.excepthook
    threading.excepthook = lambda args: errors.append(f"{args.thread}: {args.exc_value!r}")
    try:
        yield errors
    finally:
        threading.excepthook = before


async def _cancelled_reopen(opener: SlowOpener, after: float) -> None:
    task = asyncio.ensure_future(reconnect.reopen("input", "", 10.0, opener, EventBus()))
    await asyncio.sleep(after)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


def test_a_reopen_cancelled_mid_open_closes_what_the_open_returns(
    thread_errors: list[str],
) -> None:
    opener = SlowOpener(0.3)

    async def main() -> None:
        await _cancelled_reopen(opener, after=0.05)
        # the stop waited for the open under way (within CANCEL_WAIT_S) and closed it
        assert opener.done.is_set() and opener.opened[0].closed.is_set()

    asyncio.run(main())
    assert not thread_errors


def test_an_open_that_ends_after_the_loop_has_closed_is_closed_on_its_thread(
    thread_errors: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(reconnect, "CANCEL_WAIT_S", 0.05)
    opener = SlowOpener(0.4)

    async def main() -> None:
        await _cancelled_reopen(opener, after=0.05)
        assert not opener.done.is_set()  # still opening when the program moves on

    asyncio.run(main())
    assert opener.done.wait(5)
    assert opener.opened[0].closed.wait(5), "a stream opened after the stop was left open"
    assert opener.opened[0].closed_on == "device-open"
    assert not thread_errors, thread_errors  # no "Event loop is closed" from the thread


def test_an_open_that_times_out_is_closed_when_it_ends(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(reconnect, "OPEN_S", 0.05)
    opener = SlowOpener(0.3)

    async def main() -> Any:
        with pytest.raises(Exception, match="did not come back"):
            await reconnect.reopen("input", "", 0.1, opener, EventBus())
        await asyncio.sleep(0.5)  # the open ends meanwhile, on a loop that still runs

    asyncio.run(main())
    assert opener.opened and all(o.closed.is_set() for o in opener.opened)
