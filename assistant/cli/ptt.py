"""Push-to-talk on a terminal: each Enter opens or closes the microphone."""

from __future__ import annotations

import asyncio
import sys

import click


class EnterToggle:
    """Reads lines from stdin on the event loop; ``__call__`` says whether the mic is open."""

    def __init__(self) -> None:
        self.open = False

    def __call__(self) -> bool:
        """Whether the user is talking."""
        return self.open

    def attach(self, loop: asyncio.AbstractEventLoop) -> None:
        """Start following Enter presses."""
        loop.add_reader(sys.stdin.fileno(), self._on_line)
        click.echo(click.style("[press Enter to talk]", dim=True))

    def detach(self, loop: asyncio.AbstractEventLoop) -> None:
        """Stop reading stdin."""
        loop.remove_reader(sys.stdin.fileno())

    def _on_line(self) -> None:
        if not sys.stdin.readline():  # end of input: keep the mic closed
            asyncio.get_running_loop().remove_reader(sys.stdin.fileno())
            return
        self.open = not self.open
        hint = "talking; Enter when done" if self.open else "press Enter to talk"
        click.echo(click.style(f"[{hint}]", dim=True))
