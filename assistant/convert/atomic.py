"""Outputs that appear whole or not at all: write to a temporary name, then rename into place."""

from __future__ import annotations

import contextlib
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

PART_SUFFIX = ".part"


def temporary_name(path: Path) -> Path:
    """A hidden name beside ``path`` that cannot clash with another writer's."""
    return path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}{PART_SUFFIX}")


@contextlib.contextmanager
def atomic_output(path: Path) -> Iterator[Path]:
    """Yield a temporary path (file or folder) that becomes ``path`` only if the block succeeds."""
    tmp = temporary_name(path)
    try:
        yield tmp
        tmp.replace(path)
    except BaseException:
        remove(tmp)
        raise


def remove(path: Path) -> None:
    """Delete a file or a folder, if it exists."""
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


def remove_stale_parts(folder: Path) -> int:
    """Delete temporary outputs a killed run left behind; returns how many."""
    stale = [p for p in folder.glob(f".*{PART_SUFFIX}") if p.name.count(".") >= 3]
    for path in stale:
        remove(path)
    return len(stale)
