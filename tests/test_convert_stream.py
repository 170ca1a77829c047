"""Streaming decoding: compressed audio fed in small chunks comes out as PCM while it arrives."""

import time
from pathlib import Path

import numpy as np
import pytest

from assistant.convert import api
from assistant.convert.audio_decode import decode
from assistant.convert.stream import StreamDecoder
from assistant.errors import InputError
from tests import corpus


@pytest.mark.parametrize(
    ("fmt", "container"), [("mp3", None), ("webm", "webm"), ("ogg", None), ("opus", "ogg")]
)
def test_chunks_in_pcm_out(tmp_path: Path, fmt: str, container: str | None) -> None:
    source = tmp_path / f"s.{fmt}"
    api.convert_audio(
        corpus.write_audio(tmp_path / "t.wav", corpus.tone(3.0), 44100, "pcm_s16le"), source
    )
    data = source.read_bytes()
    decoder = StreamDecoder(16000, 1, container)
    early: list[np.ndarray] = []
    for start in range(0, len(data), 1024):
        early += decoder.feed(data[start : start + 1024])
        time.sleep(0.002)  # bytes arrive over time, as from a socket
    late = decoder.close()
    pcm = np.concatenate(early + late)
    assert len(pcm) / 16000 == pytest.approx(decode(source, 16000, 1).seconds, abs=0.05)
    assert len(early) > 0  # audio came out before the stream ended
    assert np.abs(pcm).max() > 5000


def test_garbage_stream_is_an_input_error() -> None:
    decoder = StreamDecoder()
    decoder.feed(bytes(range(256)) * 40)
    with pytest.raises(InputError, match="could not be decoded"):
        decoder.close()
