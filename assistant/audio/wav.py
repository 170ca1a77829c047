"""WAV output written to a temporary file and renamed into place, so it is never half-written."""

from __future__ import annotations

import os
import wave
from pathlib import Path
from types import TracebackType

from assistant.convert.atomic import remove, temporary_name
from assistant.errors import InputError
from assistant.types import Pcm16


def check_writable(path: Path) -> None:
    """Raise InputError unless a file can be created at ``path``."""
    parent = path.parent if str(path.parent) else Path()
    if path.is_dir():
        raise InputError(f"output {path} is a directory; give a file name such as reply.wav")
    if not parent.is_dir():
        raise InputError(f"output folder {parent} does not exist; create it first")
    if not os.access(parent, os.W_OK):
        raise InputError(f"output folder {parent} is not writable")


class AtomicWavWriter:
    """Mono 16-bit WAV; the file appears at ``path`` only when the writer closes cleanly."""

    def __init__(self, path: Path, sample_rate: int) -> None:
        check_writable(path)
        self.path = path
        self._tmp = temporary_name(path)
        self._wav = wave.open(str(self._tmp), "wb")  # noqa: SIM115 - closed in commit/abort
        self._wav.setnchannels(1)
        self._wav.setsampwidth(2)
        self._wav.setframerate(sample_rate)
        self.frames = 0

    def write(self, pcm: Pcm16) -> None:
        """Append samples."""
        self._wav.writeframes(pcm.astype("<i2").tobytes())
        self.frames += len(pcm)

    def commit(self) -> None:
        """Finish the header and move the file into place."""
        self._wav.close()
        self._tmp.replace(self.path)

    def abort(self) -> None:
        """Drop everything written."""
        self._wav.close()
        remove(self._tmp)

    def __enter__(self) -> AtomicWavWriter:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is None:
            self.commit()
        else:
            self.abort()
