"""``assistant chat``: a spoken conversation from an audio file, or live on the microphone."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Any

import click

from assistant.cli.common import State, flag_overrides, model_options, run_async
from assistant.cli.printer import ConsolePrinter
from assistant.cli.ptt import EnterToggle
from assistant.config import Settings
from assistant.pipeline.conversation import Observers
from assistant.sessions import chat_file, chat_live


@click.command()
@click.option(
    "--input",
    "-i",
    "input_path",
    type=click.Path(path_type=Path),
    metavar="FILE",
    help="Talk through an audio file (any format) instead of the microphone.",
)
@click.option(
    "--output",
    "-o",
    type=click.Path(path_type=Path),
    metavar="WAV",
    help="Write all reply audio to one WAV file.",
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object per turn.")
@click.option(
    "--no-realtime",
    is_flag=True,
    help="Feed the file as fast as possible instead of at speaking pace.",
)
@click.option(
    "--input-device",
    "audio__input_device",
    metavar="DEVICE",
    help="Microphone: an index or part of a name (see `assistant devices`).",
)
@click.option(
    "--output-device",
    "audio__output_device",
    metavar="DEVICE",
    help="Speaker: an index or part of a name (see `assistant devices`).",
)
@click.option(
    "--no-barge-in",
    "audio__barge_in",
    flag_value=False,
    default=None,
    help="Do not stop the reply when you talk over it (the microphone rests meanwhile).",
)
@click.option(
    "--noise-suppression/--no-noise-suppression",
    "audio__noise_suppression",
    default=None,
    help="Clean the microphone with WebRTC noise suppression.",
)
@click.option("--ptt", is_flag=True, help="Push to talk: Enter starts listening, Enter stops.")
@click.option(
    "--image",
    type=click.Path(path_type=Path),
    default=None,
    help="Talk about this picture (needs a vision model, see `assistant describe`).",
)
@model_options
@click.pass_obj
def chat(
    state: State,
    /,
    input_path: Path | None,
    output: Path | None,
    as_json: bool,
    no_realtime: bool,
    ptt: bool,
    image: Path | None,
    **flags: Any,
) -> int:
    """Talk with the assistant: each utterance is one turn, answered aloud.

    With --input, a turn whose recognition or voice failed (a remote server down) is reported
    and the file goes on; the command then exits with 1.
    """
    settings = state.settings(flag_overrides(flags))
    observers = Observers()
    printer = ConsolePrinter(observers, as_json, live=input_path is None)
    if input_path is None:
        if output is not None or no_realtime:
            raise click.UsageError("--output and --no-realtime need --input FILE")
        if ptt and not sys.stdin.isatty():
            raise click.UsageError("--ptt needs a terminal to read Enter from")
        run_async(_live(settings, observers, EnterToggle() if ptt else None, image))
        return 0
    if ptt:
        raise click.UsageError("--ptt is for the microphone, not --input FILE")
    turns = run_async(
        chat_file(settings, input_path, output, not no_realtime, observers, image=image)
    )
    if printer.failures:  # each was reported as it happened; the rest of the file went on
        return 1
    if not turns:
        click.echo(f"no speech found in {input_path}", err=True)
    return 0


async def _live(
    settings: Settings, observers: Observers, ptt: EnterToggle | None, image: Path | None
) -> None:
    if ptt is None:
        await chat_live(settings, observers, image=image)
        return
    loop = asyncio.get_running_loop()
    ptt.attach(loop)
    try:
        await chat_live(settings, observers, ptt, image)
    finally:
        ptt.detach(loop)
