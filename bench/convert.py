"""Conversion benchmark: our parallel batch against the usual sequential loops, in one run.

Run with ``make bench-convert`` (it installs Debian's ffmpeg, which only this benchmark uses).
On a generated corpus it measures:
- audio: 200 short WAVs -> MP3 and -> OGG with ``batch_convert`` vs a sequential loop of the
  ``ffmpeg`` command (target >= 2.0x throughput);
- images: 200 photo-sized JPEGs -> WebP resized to 800x800 with ``batch_convert`` vs a
  sequential Pillow loop (open, resize, save; target >= 1.8x);
- peak memory (max RSS of the parent and of the largest worker) of a 1000-file batch.
Prints a table and JSON (also bench/results/convert.json).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw, ImageOps

from assistant.convert import ConversionConfig, batch_convert

N_AUDIO = 200
N_IMAGES = 200
N_MEMORY = 1000
PHOTO = (2400, 1600)
BOX = (800, 800)
TARGETS = {"audio_ratio_min": 2.0, "image_ratio_min": 1.8}


def make_wavs(folder: Path, count: int, seconds: float) -> list[Path]:
    import wave

    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    t = np.arange(int(seconds * 44100)) / 44100
    paths = []
    for i in range(count):
        tone = 0.2 * np.sin(2 * np.pi * (220 + i) * t) + 0.01 * rng.standard_normal(len(t))
        stereo = np.repeat((tone * 32767).astype(np.int16)[:, None], 2, axis=1)
        path = folder / f"clip{i:04d}.wav"
        with wave.open(str(path), "wb") as w:
            w.setnchannels(2)
            w.setsampwidth(2)
            w.setframerate(44100)
            w.writeframes(stereo.tobytes())
        paths.append(path)
    return paths


def make_photos(folder: Path, count: int) -> list[Path]:
    folder.mkdir(parents=True)
    rng = np.random.default_rng(1)
    base = Image.fromarray(
        rng.integers(0, 255, (PHOTO[1] // 8, PHOTO[0] // 8, 3), np.uint8)
    ).resize(PHOTO)
    paths = []
    for i in range(count):
        image = base.copy()
        ImageDraw.Draw(image).ellipse((i, i, 600 + i, 400 + i), fill=(i % 255, 80, 160))
        path = folder / f"photo{i:04d}.jpg"
        image.save(path, quality=90)
        paths.append(path)
    return paths


def timed(action: Callable[[], None]) -> float:
    start = time.perf_counter()
    action()
    return time.perf_counter() - start


def ffmpeg_loop(wavs: list[Path], out: Path, ext: str) -> None:
    out.mkdir()
    codec = {"mp3": ["-c:a", "libmp3lame"], "ogg": ["-c:a", "libvorbis"]}[ext]
    for wav in wavs:
        subprocess.run(
            [
                "ffmpeg",
                "-nostdin",
                "-loglevel",
                "error",
                "-y",
                "-i",
                str(wav),
                *codec,
                str(out / f"{wav.stem}.{ext}"),
            ],
            check=True,
        )


def pillow_loop(photos: list[Path], out: Path) -> None:
    out.mkdir()
    for photo in photos:
        with Image.open(photo) as image:
            ImageOps.contain(image, BOX, Image.Resampling.LANCZOS).save(out / f"{photo.stem}.webp")


def ours(inputs: list[Path], out: Path, fmt: str, config: ConversionConfig | None = None) -> None:
    results = batch_convert(inputs, out, fmt, config)
    failed = [r for r in results if r.status != "converted"]
    if failed:
        raise RuntimeError(f"{len(failed)} conversions failed, e.g. {failed[0].detail}")


def peak_memory_mb(tmp: Path) -> dict[str, float]:
    """Max RSS of a 1000-file batch: run in a child process so earlier runs do not count."""
    script = (
        "import resource, sys; from pathlib import Path;"
        "from assistant.convert import batch_convert;"
        "batch_convert([Path(sys.argv[1])], Path(sys.argv[2]), 'mp3');"
        "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,"
        " resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)"
    )
    folder = tmp / "memory-in"
    make_wavs(folder, N_MEMORY, 0.5)
    out = subprocess.run(
        [sys.executable, "-c", script, str(folder), str(tmp / "memory-out")],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.split()
    parent_kb, worker_kb = (int(v) for v in out)
    return {"files": N_MEMORY, "parent_mb": parent_kb / 1024, "largest_worker_mb": worker_kb / 1024}


def main() -> None:
    if shutil.which("ffmpeg") is None:
        sys.exit("error: the ffmpeg command is needed for the baseline; run `make bench-convert`")
    results: dict[str, Any] = {"cores": os.cpu_count()}
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        wavs = make_wavs(tmp / "wav", N_AUDIO, 2.0)
        photos = make_photos(tmp / "jpg", N_IMAGES)
        for ext in ("mp3", "ogg"):
            base = timed(lambda ext=ext: ffmpeg_loop(wavs, tmp / f"ffmpeg-{ext}", ext))
            mine = timed(lambda ext=ext: ours(wavs, tmp / f"ours-{ext}", ext))
            results[f"audio_{ext}"] = {"ours_s": mine, "ffmpeg_loop_s": base, "ratio": base / mine}
        config = ConversionConfig(size=BOX, fit="fit")
        base = timed(lambda: pillow_loop(photos, tmp / "pillow"))
        mine = timed(lambda: ours(photos, tmp / "ours-webp", "webp", config))
        results["image_webp"] = {"ours_s": mine, "pillow_loop_s": base, "ratio": base / mine}
        results["memory"] = peak_memory_mb(tmp)
    ratios = [results["audio_mp3"]["ratio"], results["audio_ogg"]["ratio"]]
    results["pass"] = {
        "audio": min(ratios) >= TARGETS["audio_ratio_min"],
        "image": results["image_webp"]["ratio"] >= TARGETS["image_ratio_min"],
    }
    print_table(results)
    out = Path(__file__).with_name("results")
    out.mkdir(exist_ok=True)
    (out / "convert.json").write_text(json.dumps(results, indent=2))
    print(json.dumps(results))


def print_table(r: dict[str, Any]) -> None:
    print(f"{'batch':<28}{'ours (s)':>10}{'baseline (s)':>14}{'ratio':>8}")
    for key, label, base in [
        ("audio_mp3", f"{N_AUDIO} WAV -> MP3", "ffmpeg_loop_s"),
        ("audio_ogg", f"{N_AUDIO} WAV -> OGG", "ffmpeg_loop_s"),
        ("image_webp", f"{N_IMAGES} JPEG -> WebP 800px", "pillow_loop_s"),
    ]:
        row = r[key]
        print(f"{label:<28}{row['ours_s']:>10.2f}{row[base]:>14.2f}{row['ratio']:>8.2f}")
    mem = r["memory"]
    print(
        f"peak memory, {mem['files']} files: parent {mem['parent_mb']:.0f} MB, "
        f"largest worker {mem['largest_worker_mb']:.0f} MB"
    )
    print("targets:", ", ".join(f"{k} {'PASS' if v else 'FAIL'}" for k, v in r["pass"].items()))


if __name__ == "__main__":
    main()
