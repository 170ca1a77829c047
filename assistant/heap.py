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


def resident_bytes() -> int | None:
    """The memory the process holds now (resident set), or None where it cannot be read."""
    import os
    from pathlib import Path

    try:
        pages = int(Path("/proc/self/statm").read_text(encoding="ascii").split()[1])
        return pages * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return None
