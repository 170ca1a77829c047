"""Turn-taking on real human speech: read sentences with pauses put in mid-sentence.

The recordings are Debian's pocketsphinx-testdata (people reading, with transcripts), cut and
paused by bench/devset.py at word boundaries, 0.3-1.5 s at a time. Every such sentence is one
turn: in file mode at real-time pace and through a Realtime session with ``semantic_vad``.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Iterator
from typing import Any

import pytest

from assistant import config
from assistant.models.loaders import Models
from assistant.pipeline.conversation import Observers
from assistant.sessions import chat_file
from bench import devset
from bench.devset_audio import read_pcm
from tests import media
from tests.realtime_wire import RT_RATE, Microphone, Wire
from tests.serving import start

pytestmark = pytest.mark.skipif(
    not devset.SOURCE.is_dir(), reason="needs Debian's pocketsphinx-testdata (make test-deps)"
)
# The default decision cuts 2 of the 7 held-out human pauses in the fit's figures: the two
# 1.5 s pauses after which the words so far sound finished to tiny.en ("How do you marry the
# more?", "8 of spades, 4 of close, 7 of hard."). Whether they hold turns on small timing
# differences, so they are expected failures that may pass; the patient threshold
# (turn_fusion.toml) holds both, at ~2 s for most finished turns (README: the trade).
_KNOWN = pytest.mark.xfail(strict=False, reason="a 1.5 s pause after finished-sounding words")
_EDGE = {"librivox-0920", "cards-005"}
PAUSED = [
    pytest.param(r["id"], marks=[_KNOWN] if r["id"] in _EDGE else [])
    for r in json.loads(devset.MANIFEST.read_text())["recordings"]
    if r["cuts"]
]


@pytest.fixture(scope="module")
def turns() -> dict[str, devset.Turn]:
    return {t.id: t for t in devset.load()}


_DIGITS = "zero one two three four five six seven eight nine ten".split()


def _words(text: str) -> set[str]:
    """The words of ``text``, lower case, with numbers up to ten spelled out as read."""
    found = re.findall(r"[a-z']+|\d+", text.lower())
    return {_DIGITS[int(w)] if w.isdigit() and int(w) <= 10 else w for w in found}


def _both_sides(turn: devset.Turn, heard: str) -> bool:
    """Whether ``heard`` holds a word from before the first pause and one from after it.

    (A part after a later pause that became a turn of its own shows as a second turn.)
    """
    entry = next(r for r in json.loads(devset.MANIFEST.read_text())["recordings"]
                 if r["id"] == turn.recording)  # fmt: skip
    words, cut = turn.text.split(), entry["cuts"][0]["after"] + 1
    before, after = words[:cut], words[cut:]
    return bool(_words(heard) & set(before)) and bool(_words(heard) & set(after))


@pytest.mark.parametrize("recording", PAUSED)
def test_a_human_sentence_paused_mid_way_is_one_turn_in_file_mode(
    recording: str, turns: dict[str, devset.Turn], models: Models
) -> None:
    turn = turns[f"{recording}.paused"]
    reports = asyncio.run(
        chat_file(config.load(), turn.path, realtime=True, observers=Observers(), models=models)
    )
    heard = [r.transcript for r in reports]
    assert len(reports) == 1, (turn.holds, heard)
    # words from both sides of the pauses are in it: the part before a pause was not a turn of
    # its own that Whisper heard as nothing
    assert _both_sides(turn, heard[0]), (turn.text, heard)


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    """A real server with the default end-of-turn settings, greedy."""
    proc, url = start(env={"ASSISTANT_LLM__PRESET": "greedy"})
    try:
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@pytest.mark.parametrize(
    "recording",
    [
        "librivox-0930",  # held out: 1.0 s after "he might even"
        pytest.param("librivox-0920", marks=_KNOWN),  # held out: 1.5 s after "had he married a"
    ],
)
def test_a_human_sentence_paused_mid_way_is_one_realtime_turn_with_semantic_vad(
    server: str, turns: dict[str, devset.Turn], recording: str
) -> None:
    turn = turns[f"{recording}.paused"]
    pcm = media.speech_to_rate(read_pcm(turn.path), RT_RATE)

    async def talk() -> list[dict[str, Any]]:
        async with Wire.open(server) as wire, Microphone(wire) as mic:
            session = await wire.update(output_modalities=["text"])
            assert session["audio"]["input"]["turn_detection"]["type"] == "semantic_vad"
            mic.say(pcm)
            await wire.until("response.done")
            await wire.quiet(3.0)  # a second turn would begin in this time
            return wire.events

    events = asyncio.run(talk())
    # turns with words: a click in the room tone before the speech may be committed on its own,
    # with no words and no reply, as a server's VAD commits any sound it takes for speech
    heard = [e["transcript"] for e in events if e["type"].endswith("transcription.completed")]
    worded = [t for t in heard if t.strip()]
    assert len(worded) == 1, (heard, [e["type"] for e in events])
    assert _both_sides(turn, worded[0]), (turn.text, worded[0])
    answered = [e for e in events if e["type"] == "response.done"]
    assert len(answered) == 1, [e["response"]["status"] for e in answered]
