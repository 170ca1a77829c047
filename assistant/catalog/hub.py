"""The Hugging Face hub: kept offline, except for a download the user asked for.

Default models come from packages, so at start-up the hub is switched off for every library
that could reach it on its own (faster-whisper resolves model names through it). `assistant
models pull` is the one command meant to go online: it lifts that default for its download,
unless the user set ``HF_HUB_OFFLINE`` themselves.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

_switched_off_here = False  # whether HF_HUB_OFFLINE=1 is our default rather than the user's


def keep_offline() -> None:
    """Switch the hub off for this process unless the user already chose."""
    global _switched_off_here
    if "HF_HUB_OFFLINE" not in os.environ:
        os.environ["HF_HUB_OFFLINE"] = "1"
        _switched_off_here = True


@contextlib.contextmanager
def online() -> Iterator[None]:
    """Let huggingface_hub reach the hub inside the block (if offline was only our default)."""
    from huggingface_hub import constants

    saved = constants.HF_HUB_OFFLINE  # read once at import; is_offline_mode() checks it per call
    if _switched_off_here:
        constants.HF_HUB_OFFLINE = False
    try:
        yield
    finally:
        constants.HF_HUB_OFFLINE = saved
