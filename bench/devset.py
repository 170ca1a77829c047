"""The end-of-turn dev set: real human speech from Debian's pocketsphinx-testdata, labelled.

``python bench/devset.py --align`` (maintenance only) transcribes the 12 usable recordings
with faster-whisper tiny.en, finds the word boundaries (snapped to the quietest 10 ms frame),
picks the seeded mid-sentence cut points and writes them with the transcripts and the
tuning / held-out split to bench/data/devset.json, which is committed: the set does not move
with the model under test. ``python bench/devset.py`` (or ``load()``) builds the turns from
it into bench/results/devset/ (WAVs and index.json, never committed).

Each recording gives these turns, all on its side of the split:
- ``clean``: the recording, trimmed and padded with its own room tone (0.5 s before, 3 s after);
- ``paused``: 0.3-1.5 s of room tone inserted at 1-2 word boundaries (recordings of 3+ words);
- ``phone`` / ``noisy``: that turn through a telephone band, and with white noise at 10 dB SNR;
- ``piper-0.8`` / ``piper-1.2``: the same words and pauses spoken by Piper, fast and slow;
- ``espeak``: the same by espeak-ng, only when it is installed.
Every silence of 100 ms or more inside a turn is a ``hold`` span, the silence after it ``eot``.
"""

from __future__ import annotations

import argparse
import functools
import itertools
import json
import shutil
import subprocess
import sys
import zlib
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from assistant.types import Pcm16
from bench import devset_audio as audio
from tests import media

SOURCE = Path("/usr/share/pocketsphinx/test/data")
MANIFEST = Path(__file__).with_name("data") / "devset.json"
CACHE = Path(__file__).with_name("results") / "devset"
MODELS = Path(__file__).resolve().parents[1] / "models"
LIBRIVOX = [(n, "tuning") for n in ("0870", "0880", "0890")] + [
    (n, "heldout") for n in ("0920", "0930")
]
# (id, file under SOURCE, split); texts come from the package's transcriptions or, for the two
# raw files without one, from the grammar (goforward) and the file name (tidigits).
RECORDINGS = [
    *((f"cards-00{i}", f"cards/00{i}.wav", "tuning" if i <= 3 else "heldout") for i in range(1, 6)),
    ("goforward", "goforward.raw", "tuning"),
    ("tidigits-2934z", "tidigits/dhd.2934z.raw", "heldout"),
    *(
        (f"librivox-{n}", f"librivox/sense_and_sensibility_01_austen_64kb-{n}.wav", split)
        for n, split in LIBRIVOX
    ),
]
TEXTS = {"goforward": "go forward ten meters", "tidigits-2934z": "two nine three four zero"}
PAUSES_S = (0.3, 0.6, 1.0, 1.5)
PIPER_SPEEDS = (0.8, 1.2)  # Piper length_scale: 0.8 is faster than its default, 1.2 slower
SNR_DB = 10.0
LEAD_S, TAIL_S, TRIM_S = 0.5, 3.0, 0.3
GROUPS = {"clean": "human", "paused": "human", "phone": "telephone", "noisy": "noisy"}


@dataclass(frozen=True)
class Turn:
    """One labelled turn: its WAV under CACHE and its silences (seconds)."""

    id: str
    recording: str
    split: str  # "tuning" or "heldout"
    variant: str
    text: str
    holds: list[tuple[float, float]]  # silences inside the turn
    start: float  # start of speech
    end: float  # end of speech: the eot span runs from here to the end of the file

    @property
    def group(self) -> str:
        """human, telephone, noisy, piper or espeak."""
        return GROUPS.get(self.variant, self.variant.split("-")[0])

    @property
    def path(self) -> Path:
        """The turn's audio."""
        return CACHE / f"{self.id}.wav"


def _turn(entry: dict[str, Any], variant: str, pcm: Pcm16) -> tuple[Turn, Pcm16]:
    """Label a built clip: its speech end and the silences inside it."""
    start, end = audio.speech_bounds(pcm)
    turn = Turn(
        id=f"{entry['id']}.{variant}",
        recording=entry["id"],
        split=entry["split"],
        variant=variant,
        text=entry["text"],
        holds=audio.gaps(pcm, start, end),
        start=start,
        end=end,
    )
    return turn, pcm


def _human(entry: dict[str, Any], cuts: list[dict[str, Any]]) -> Pcm16:
    pcm = audio.read_pcm(SOURCE / entry["file"])
    first, last = audio.speech_bounds(pcm)
    lo, hi = max(0.0, first - TRIM_S), min(len(pcm) / audio.RATE, last + TRIM_S)
    parts, at = [audio.room_tone(pcm, LEAD_S)], lo
    for cut in cuts:
        parts += [pcm[int(at * audio.RATE) : int(cut["t"] * audio.RATE)]]
        parts += [audio.room_tone(pcm, cut["pause_s"])]
        at = cut["t"]
    parts += [pcm[int(at * audio.RATE) : int(hi * audio.RATE)], audio.room_tone(pcm, TAIL_S)]
    return np.concatenate(parts)


def _synthetic(entry: dict[str, Any], speak: Any) -> Pcm16:
    """The words between cuts spoken alone, joined by the cuts' pauses of silence."""
    words = entry["text"].split()
    edges = [0, *(c["after"] + 1 for c in entry["cuts"]), len(words)]
    parts = [np.zeros(int(LEAD_S * audio.RATE), np.int16)]
    for k, (a, b) in enumerate(itertools.pairwise(edges)):
        parts.append(speak(" ".join(words[a:b])))
        pause = entry["cuts"][k]["pause_s"] if k < len(entry["cuts"]) else TAIL_S
        parts.append(np.zeros(int(pause * audio.RATE), np.int16))
    return np.concatenate(parts)


def _espeak(text: str) -> Pcm16:
    command = ["espeak-ng", "-v", "en-us", "-s", "175", "--stdout", text]
    out = subprocess.run(command, check=True, capture_output=True).stdout
    return media.speech_to_16k(np.frombuffer(out[44:], np.int16), 22050)  # its WAV is 22050 Hz


def _selected(recordings: int) -> list[dict[str, Any]]:
    """The manifest's recordings; with ``recordings`` only the first so many of each split."""
    entries: list[dict[str, Any]] = json.loads(MANIFEST.read_text())["recordings"]
    if not recordings:
        return entries
    return [
        e
        for s in ("tuning", "heldout")
        for e in [x for x in entries if x["split"] == s][:recordings]
    ]


def _variants(
    entry: dict[str, Any], pipers: dict[float, Any], espeak: bool
) -> list[tuple[Turn, Pcm16]]:
    """Every turn of one recording."""
    built = [_turn(entry, "clean", _human(entry, []))]
    if entry["cuts"]:
        built.append(_turn(entry, "paused", _human(entry, entry["cuts"])))
    base_turn, base = built[-1]  # the noisy and phone turns keep its labels
    seed = zlib.crc32(entry["id"].encode())
    for variant, pcm in (
        ("phone", audio.telephone(base)),
        ("noisy", audio.with_noise(base, SNR_DB, seed)),
    ):
        fields = {**asdict(base_turn), "id": f"{entry['id']}.{variant}", "variant": variant}
        built.append((Turn(**fields), pcm[: len(base)]))
    for speed, tts in pipers.items():
        piper = functools.partial(media.speech, tts)
        built.append(_turn(entry, f"piper-{speed}", _synthetic(entry, piper)))
    if espeak:
        built.append(_turn(entry, "espeak", _synthetic(entry, _espeak)))
    return built


def build(recordings: int = 0) -> list[Turn]:
    """Build every turn (of the first ``recordings`` per split when set) into CACHE."""
    from assistant.models.piper import PiperTTS

    if not SOURCE.is_dir():
        raise SystemExit(
            f"{SOURCE} not found: install Debian's pocketsphinx-testdata (`make bench-eot` does)"
        )
    voice = MODELS / "piper-en_US-joe-medium" / "en_US-joe-medium.onnx"
    pipers = {s: PiperTTS(voice, length_scale=s) for s in PIPER_SPEEDS}
    espeak = shutil.which("espeak-ng") is not None
    if not espeak:
        print("espeak-ng is not installed: its turns are left out", file=sys.stderr)
    CACHE.mkdir(parents=True, exist_ok=True)
    turns = []
    for entry in _selected(recordings):
        for turn, pcm in _variants(entry, pipers, espeak):
            media.write_wav(turn.path, pcm)
            turns.append(turn)
    index: dict[str, Any] = {"manifest": _digest(), "recordings": recordings, "espeak": espeak}
    index["turns"] = [asdict(t) for t in turns]
    (CACHE / "index.json").write_text(json.dumps(index, indent=1))
    return turns


def _digest() -> int:
    return zlib.crc32(
        MANIFEST.read_bytes() + Path(audio.__file__).read_bytes() + Path(__file__).read_bytes()
    )


def load(recordings: int = 0) -> list[Turn]:
    """The turns, built again only when the manifest, the builder or the selection changed."""
    index_path = CACHE / "index.json"
    if index_path.exists():
        index = json.loads(index_path.read_text())
        fresh = index["manifest"] == _digest() and index["recordings"] == recordings
        if fresh and index["espeak"] == (shutil.which("espeak-ng") is not None):
            return [_from_json(t) for t in index["turns"]]
    return build(recordings)


def _from_json(fields: dict[str, Any]) -> Turn:
    return Turn(**{**fields, "holds": [tuple(h) for h in fields["holds"]]})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--align", action="store_true", help="rewrite bench/data/devset.json")
    parser.add_argument("--recordings", type=int, default=0, help="per split (0: all)")
    args = parser.parse_args()
    if not SOURCE.exists():
        sys.exit(f"{SOURCE} is missing: apt-get install pocketsphinx-testdata")
    if args.align:
        from bench.devset_align import align

        align()
    turns = build(args.recordings)
    for turn in turns:
        print(f"{turn.id:<28} {turn.split:<8} end {turn.end:5.2f} s  holds {turn.holds}")


if __name__ == "__main__":
    main()
