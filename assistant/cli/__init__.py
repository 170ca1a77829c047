"""The ``assistant`` command line: one clear line and exit code 2 for anything a user can fix."""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import sys
from typing import Any, NoReturn

import click

from assistant import __version__
from assistant.catalog.hub import keep_offline
from assistant.cli.ask import ask
from assistant.cli.chat import chat
from assistant.cli.common import State
from assistant.cli.config_cmd import config
from assistant.cli.convert import convert
from assistant.cli.describe import describe
from assistant.cli.devices import devices
from assistant.cli.doctor import doctor
from assistant.cli.kiosk import kiosk
from assistant.cli.models import models
from assistant.cli.serve import serve
from assistant.errors import AssistantError


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="assistant")
@click.option("--config", "config_file", metavar="FILE", help="Read settings from FILE only.")
@click.option(
    "--set",
    "assignments",
    metavar="KEY=VALUE",
    multiple=True,
    help="Override a setting, e.g. --set llm.temperature=0.2 (repeatable).",
)
@click.option("-v", "--verbose", is_flag=True, help="Log what happens, for debugging.")
@click.pass_context
def cli(
    ctx: click.Context, config_file: str | None, assignments: tuple[str, ...], verbose: bool
) -> None:
    """A local, offline voice assistant."""
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    ctx.obj = State(config_file, assignments)


cli.add_command(chat)
cli.add_command(ask)
cli.add_command(models)
cli.add_command(config)
cli.add_command(convert)
cli.add_command(describe)
cli.add_command(devices)
cli.add_command(serve)
cli.add_command(kiosk)
cli.add_command(doctor)


def main(argv: list[str] | None = None) -> None:
    """Entry point: run the CLI and turn every expected failure into one line on stderr."""
    keep_offline()  # models come from packages; only `models pull` goes online
    code = _run(argv)
    sys.stdout.flush()
    if "livekit.rtc" in sys.modules:  # the echo canceller's native threads call into Python
        _exit_now(code)
    sys.exit(code)


def _exit_now(code: int) -> NoReturn:
    """End the process at once, once every log and output stream is flushed.

    Used where livekit's FFI has run (echo cancellation, noise suppression: live audio, the
    kiosk). It hands its Rust log records to Python from tokio worker threads, and its own
    atexit handler logs one last record ("disposing ffi server") as the process ends. A worker
    bringing that record that asks for the GIL after interpreter finalization has begun is
    ended by CPython 3.11 with ``pthread_exit``; its forced unwind through Rust frames that
    cannot unwind makes Rust abort the process ("panic in a function that cannot unwind"):
    SIGABRT instead of the exit code, seen on SIGTERM when the machine was busy enough to
    hold the worker back. Everything the command opened is closed by now; what is skipped
    is the atexit handlers and the interpreter's teardown, during which such threads may
    still call in.
    """
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):  # a closed pipe: nowhere to write
            stream.flush()
    ctypes.CDLL(None).fflush(None)  # what C libraries printed through their own stdio buffers
    os._exit(code)


def _run(argv: list[str] | None) -> int:
    try:
        result: Any = cli.main(args=argv, prog_name="assistant", standalone_mode=False)
        return int(result or 0)
    except click.exceptions.Abort:
        return _fail("interrupted", 130)
    except KeyboardInterrupt:
        return _fail("interrupted", 130)
    except click.UsageError as exc:
        where = (
            f"assistant {exc.ctx.command_path.partition(' ')[2]}".strip()
            if exc.ctx
            else "assistant"
        )
        return _fail(f"{exc.format_message()} (see `{where} --help`)", 2)
    except click.ClickException as exc:
        return _fail(exc.format_message(), exc.exit_code)
    except AssistantError as exc:
        return _fail(str(exc), exc.exit_code)
    except BrokenPipeError:
        return 0
    except Exception as exc:  # a bug, not a user error: one line, details with -v
        logging.getLogger("assistant").debug("internal error", exc_info=True)
        return _fail(f"internal error: {type(exc).__name__}: {exc} (run with -v for details)", 1)


def _fail(message: str, code: int) -> int:
    click.echo(f"error: {message}" if code != 130 else message, err=True)
    return code
