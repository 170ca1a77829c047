"""Batch conversion across processes: planning names, resuming, collecting failures.

Each input gets one output in the target folder (a folder of frames for a video converted to
an image format). Inputs found under a folder given on the command line keep their relative
sub-folders; inputs whose names would collide get a suffix made from their original extension
(``song-flac.mp3``), then a short hash of their path, so reruns pick the same names. Outputs are
written under a temporary name and renamed when complete; a rerun skips outputs that exist and
removes temporary files a killed run left behind.
"""

from __future__ import annotations

import hashlib
import os
import signal
import time
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ProcessPoolExecutor, as_completed
from dataclasses import asdict, dataclass
from multiprocessing import get_context
from pathlib import Path

from assistant.convert.api import convert_file, frames_target
from assistant.convert.atomic import PART_SUFFIX, remove, remove_stale_parts
from assistant.convert.formats import AudioFormat, ImageFormat, target_format
from assistant.convert.options import ConversionConfig
from assistant.errors import AssistantError

Format = AudioFormat | ImageFormat


@dataclass(frozen=True)
class Job:
    """One input and where its output goes."""

    source: Path
    target: Path


@dataclass(frozen=True)
class Outcome:
    """What happened to one input."""

    source: str
    target: str
    status: str  # converted | skipped | failed
    detail: str  # output description, or the reason it failed
    seconds: float


def expand_inputs(inputs: Iterable[Path], recursive: bool) -> list[tuple[Path, Path]]:
    """(file, folder it was found under or its own parent), in a stable order."""
    found: list[tuple[Path, Path]] = []
    for item in inputs:
        if item.is_dir():
            pattern = item.rglob("*") if recursive else item.glob("*")
            files = sorted(p for p in pattern if p.is_file() and not p.name.endswith(PART_SUFFIX))
            found += [(p, item) for p in files]
        else:
            found.append((item, item.parent))
    return found


def plan(
    inputs: Iterable[Path], out_dir: Path, fmt: Format, recursive: bool, config: ConversionConfig
) -> list[Job]:
    """Decide every output name; the same inputs always get the same names."""
    jobs: list[Job] = []
    taken: set[Path] = set()
    for source, base in expand_inputs(inputs, recursive):
        folder = out_dir / source.parent.relative_to(base) if source.parent != base else out_dir
        ext = (
            ""
            if isinstance(fmt, ImageFormat) and _is_frames(source, fmt, config)
            else fmt.extension
        )
        candidates = [
            folder / f"{source.stem}{ext}",
            folder / f"{source.stem}-{source.suffix.lstrip('.').lower() or 'file'}{ext}",
            folder / f"{source.stem}-{hashlib.sha1(str(source).encode()).hexdigest()[:8]}{ext}",
        ]
        target = next(c for c in candidates if c not in taken)
        taken.add(target)
        jobs.append(Job(source, target))
    return jobs


def _is_frames(source: Path, fmt: ImageFormat, config: ConversionConfig) -> bool:
    try:
        return source.is_file() and frames_target(source, fmt, config)
    except AssistantError:
        return False  # the conversion itself will report what is wrong with it


def run_batch(
    jobs: list[Job],
    fmt: Format,
    config: ConversionConfig,
    workers: int,
    overwrite: bool = False,
    on_outcome: Callable[[Outcome], None] | None = None,
) -> list[Outcome]:
    """Convert every job on ``workers`` processes; outcomes come back as they finish."""
    report = on_outcome or (lambda _o: None)
    outcomes: list[Outcome] = []
    for folder in {job.target.parent for job in jobs}:
        if folder.is_dir():
            remove_stale_parts(folder)
    todo = []
    for job in jobs:
        if job.target.exists() and not overwrite:
            outcomes.append(
                Outcome(str(job.source), str(job.target), "skipped", "already converted", 0.0)
            )
            report(outcomes[-1])
        else:
            todo.append(job)
    # Ctrl+C reaches the whole process group; only this process acts on it: queued files are
    # dropped and the files being converted finish, so nothing is left half-written.
    pool = ProcessPoolExecutor(
        max_workers=max(1, workers), mp_context=get_context("spawn"), initializer=_ignore_interrupts
    )
    with pool:
        futures: dict[Future[tuple[str, str, float]], Job] = {
            pool.submit(convert_one, job.source, job.target, fmt, config, overwrite): job
            for job in todo
        }
        try:
            for future in as_completed(futures):
                job = futures[future]
                status, detail, seconds = future.result()
                outcomes.append(Outcome(str(job.source), str(job.target), status, detail, seconds))
                report(outcomes[-1])
        except BaseException:
            pool.shutdown(wait=True, cancel_futures=True)
            raise
    return outcomes


def _ignore_interrupts() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def convert_one(
    source: Path, target: Path, fmt: Format, config: ConversionConfig, overwrite: bool
) -> tuple[str, str, float]:
    """Runs in a worker process: convert one file and say how it went (never raises)."""
    started = time.perf_counter()
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        if overwrite and target.is_dir():
            remove(target)  # a folder of frames cannot be renamed over
        detail = convert_file(source, target, fmt, config)
        status = "converted"
    except AssistantError as exc:
        status, detail = "failed", str(exc)
    except PermissionError as exc:
        status, detail = "failed", f"permission denied: {exc.filename}"
    except Exception as exc:  # a library failing on odd input: still one file's failure
        status, detail = "failed", f"{type(exc).__name__}: {exc}"
    return status, detail, time.perf_counter() - started


def summary(outcomes: list[Outcome], seconds: float) -> dict[str, object]:
    """Counts and rate of a finished batch."""
    counts = {s: sum(o.status == s for o in outcomes) for s in ("converted", "skipped", "failed")}
    return {
        **counts,
        "total": len(outcomes),
        "seconds": round(seconds, 3),
        "files_per_second": round(counts["converted"] / seconds, 2) if seconds else 0.0,
    }


def report_json(outcomes: list[Outcome], seconds: float) -> dict[str, object]:
    """The --report document."""
    return {"summary": summary(outcomes, seconds), "files": [asdict(o) for o in outcomes]}


def batch_convert(
    inputs: Iterable[Path | str],
    out_dir: Path | str,
    fmt: str,
    config: ConversionConfig | None = None,
    jobs: int | None = None,
    recursive: bool = False,
    overwrite: bool = False,
    on_outcome: Callable[[Outcome], None] | None = None,
) -> list[Outcome]:
    """Convert files and folders to ``fmt`` in ``out_dir`` on ``jobs`` processes (default: all)."""
    config = config or ConversionConfig()
    target = target_format(fmt)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    work = plan([Path(p) for p in inputs], out, target, recursive, config)
    return run_batch(work, target, config, jobs or os.cpu_count() or 1, overwrite, on_outcome)
