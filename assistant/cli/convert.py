"""``assistant convert``: batch conversion of audio and images, in parallel, resumable."""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import click
from tqdm import tqdm

from assistant.convert.atomic import atomic_output
from assistant.convert.batch import Outcome, plan, report_json, run_batch, summary
from assistant.convert.formats import target_format
from assistant.convert.options import FILTERS, ConversionConfig
from assistant.errors import UserError


def _size(
    _ctx: click.Context, _param: click.Parameter, value: str | None
) -> tuple[int, int] | None:
    if value is None:
        return None
    try:
        width, height = (int(v) for v in value.lower().split("x"))
    except ValueError:
        raise click.BadParameter(f"{value!r} is not WIDTHxHEIGHT, e.g. 640x480") from None
    if width < 1 or height < 1:
        raise click.BadParameter(f"{value!r}: both sides must be at least 1 pixel")
    return width, height


@click.command()
@click.argument("inputs", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option(
    "--to",
    "to",
    required=True,
    metavar="FORMAT",
    help="Target: wav, mp3, flac, ogg, opus, m4a, aac, webm, jpeg, png, webp, tiff, bmp, gif.",
)
@click.option(
    "--out",
    "out_dir",
    required=True,
    type=click.Path(path_type=Path),
    help="Output folder (created if missing).",
)
@click.option(
    "--jobs",
    "-j",
    type=click.IntRange(1, 256),
    default=None,
    help="Worker processes [default: number of cores].",
)
@click.option("--recursive", "-r", is_flag=True, help="Descend into sub-folders of folder inputs.")
@click.option(
    "--skip-existing/--overwrite",
    default=True,
    help="Keep outputs that exist (resume) [default] or redo them.",
)
@click.option(
    "--report", type=click.Path(path_type=Path), help="Write a JSON report of every file."
)
@click.option("--sample-rate", type=click.IntRange(1000, 384000), help="Audio: sample rate in Hz.")
@click.option("--channels", type=click.IntRange(1, 8), help="Audio: channel count.")
@click.option(
    "--sample-format",
    type=click.Choice(["s16", "s24", "s32", "f32", "u8"]),
    help="WAV sample format.",
)
@click.option("--bitrate", type=click.IntRange(6, 640), help="Lossy audio: bit rate in kbit/s.")
@click.option(
    "--quality",
    type=click.IntRange(1, 100),
    help="JPEG/WebP quality, or lossy audio quality (1-100).",
)
@click.option(
    "--loudness",
    type=float,
    metavar="DBFS",
    help="Audio: normalise loudness to this RMS level, e.g. -20.",
)
@click.option("--trim-silence", is_flag=True, help="Audio: cut leading and trailing silence.")
@click.option("--gain", type=float, default=0.0, metavar="DB", help="Audio: gain in dB.")
@click.option("--size", callback=_size, metavar="WxH", help="Images: resize to this box.")
@click.option(
    "--fit",
    type=click.Choice(["fit", "fill", "exact"]),
    default="fit",
    help="fit inside / fill and crop / exact stretch.",
)
@click.option(
    "--filter",
    "resample",
    type=click.Choice(list(FILTERS)),
    default="lanczos",
    help="Resize filter.",
)
@click.option("--strip", is_flag=True, help="Images: drop EXIF/ICC metadata.")
@click.option(
    "--background", default="#ffffff", help="Colour behind transparency for formats without alpha."
)
@click.option("--all-frames", is_flag=True, help="Animated images: keep every frame.")
@click.option(
    "--fps",
    type=click.FloatRange(0.001, 240),
    default=1.0,
    help="Video to images: frames per second.",
)
@click.option(
    "--max-pixels",
    type=click.IntRange(1),
    help="Largest image accepted (decompression-bomb guard).",
)
def convert(
    inputs: tuple[Path, ...],
    to: str,
    out_dir: Path,
    jobs: int | None,
    recursive: bool,
    skip_existing: bool,
    report: Path | None,
    **options: object,
) -> int:
    """Convert INPUT files or folders to another format, in parallel and resumably."""
    fmt = target_format(to)
    config = _config(options)
    _check_out_dir(out_dir)
    missing = [p for p in inputs if not p.exists()]
    if missing:
        raise UserError(f"input {missing[0]} not found; check the path")
    work = plan(inputs, out_dir, fmt, recursive, config)
    if not work:
        raise UserError(
            "no input files found (folders are read one level deep without --recursive)"
        )
    started = time.perf_counter()
    show = _Progress(len(work))
    try:
        outcomes = run_batch(
            work, fmt, config, jobs or os.cpu_count() or 1, not skip_existing, show
        )
    finally:
        show.close()
    seconds = time.perf_counter() - started
    totals = summary(outcomes, seconds)
    click.echo(
        f"converted {totals['converted']}, skipped {totals['skipped']}, failed {totals['failed']} "
        f"in {seconds:.1f} s ({totals['files_per_second']} files/s)",
        err=True,
    )
    if report is not None:
        with atomic_output(report) as tmp:
            tmp.write_text(json.dumps(report_json(outcomes, seconds), indent=2, ensure_ascii=False))
    return 1 if totals["failed"] else 0


def _config(options: dict[str, object]) -> ConversionConfig:
    bitrate = options.pop("bitrate")
    loudness = options.pop("loudness")
    gain = options.pop("gain")
    return ConversionConfig(
        bitrate=int(bitrate) * 1000 if isinstance(bitrate, int) else None,
        loudness_dbfs=float(loudness) if isinstance(loudness, float) else None,
        gain_db=float(gain) if isinstance(gain, float) else 0.0,
        **{k: v for k, v in options.items() if v is not None},  # type: ignore[arg-type]
    )


def _check_out_dir(out_dir: Path) -> None:
    if out_dir.exists() and not out_dir.is_dir():
        raise UserError(f"--out {out_dir} is a file, not a folder")
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UserError(f"cannot create output folder {out_dir} ({exc.strerror})") from None
    if not os.access(out_dir, os.W_OK | os.X_OK):
        raise UserError(f"output folder {out_dir} is not writable; choose another --out")


class _Progress:
    """A bar with rate and ETA on a terminal; one plain line per file otherwise."""

    def __init__(self, total: int) -> None:
        self.tty = sys.stderr.isatty()
        self.bar = tqdm(total=total, unit="file", disable=not self.tty, file=sys.stderr)
        self.done = 0
        self.total = total

    def __call__(self, outcome: Outcome) -> None:
        self.done += 1
        line = _line(outcome)
        if self.tty:
            if outcome.status == "failed":
                self.bar.write(line, file=sys.stderr)
            self.bar.update()
        else:
            click.echo(f"[{self.done}/{self.total}] {line}")

    def close(self) -> None:
        self.bar.close()


def _line(o: Outcome) -> str:
    if o.status == "failed":
        return f"FAILED {o.source}: {o.detail}"
    if o.status == "skipped":
        return f"skipped {o.source} ({o.detail})"
    return f"ok {o.source} -> {o.target} ({o.detail})"
