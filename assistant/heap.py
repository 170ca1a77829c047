"""Giving freed memory back to the system in long-running processes."""

from __future__ import annotations

import contextlib
import ctypes


def trim_heap() -> None:
    """Glibc's malloc_trim: return free heap pages to the system (a no-op without glibc).

    After a voice turn the heap holds the fragments of its audio and text buffers; trimming
    keeps a process that runs for weeks at the size it really uses.
    """
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)
