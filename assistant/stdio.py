"""The process's standard streams, which native libraries are kept quiet on.

Two things point file descriptor 1 or 2 elsewhere and back: ``quiet_native_stderr`` (ALSA and
PortAudio chatter while a device opens) and llama-cpp-python's own silencer, which its
high-level ``Llama`` and multimodal chat handlers use at load and while encoding an image
(fds 1 and 2 and ``sys.stdout``/``sys.stderr`` go to /dev/null and back). Two such sections at
once restore each other's /dev/null and the process's output is lost for good, so every one
holds ``SILENCER_LOCK``. Our own llama.cpp loads need no silencing: its logs go through the
log callback (assistant.llm.backend.quiet_logs).
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
from collections.abc import Iterator

SILENCER_LOCK = threading.Lock()


@contextlib.contextmanager
def quiet_native_stderr() -> Iterator[None]:
    """Silence what native code prints straight to file descriptor 2 within the block.

    ALSA's and PortAudio's diagnostics of a failed open would bury the one line the caller
    reports instead. While another silencer holds the lock (a vision model loading, which
    takes seconds) the block runs unsilenced rather than waiting: a device open must not
    stall behind a model load, and a few lines of ALSA chatter are the lesser harm.
    """
    if not SILENCER_LOCK.acquire(blocking=False):
        yield
        return
    try:
        sys.stderr.flush()
        saved = os.dup(2)
        try:
            null = os.open(os.devnull, os.O_WRONLY)
            os.dup2(null, 2)
            os.close(null)
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)
    finally:
        SILENCER_LOCK.release()
