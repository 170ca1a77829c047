"""`assistant convert`: parallel batches, resuming, per-file failures, kill -9 and Ctrl+C."""

import json
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image

from assistant.convert.audio_decode import decode
from tests import corpus
from tests.conftest import ASSISTANT, REPO, run_cli


@pytest.fixture
def mixed(tmp_path: Path) -> Path:
    """Audio and images, same stems, spaces and non-ASCII names, a sub-folder."""
    src = tmp_path / "in"
    (src / "sub").mkdir(parents=True)
    tone = corpus.tone(1.0)
    corpus.write_audio(src / "song.wav", tone, 44100, "pcm_s16le")
    corpus.write_audio(src / "song.flac", tone, 44100, "flac")
    corpus.write_audio(src / "sub" / "chanson d'été.ogg", tone, 44100, "vorbis")
    corpus.write_audio(src / "voice memo.m4a", tone, 44100, "aac", "ipod")
    return src


def outcomes(report: Path) -> dict[str, dict[str, str]]:
    data = json.loads(report.read_text())
    return {Path(f["source"]).name: f for f in data["files"]}


def test_batch_converts_in_parallel_with_unique_names_and_a_report(
    mixed: Path, tmp_path: Path
) -> None:
    out, report = tmp_path / "out", tmp_path / "report.json"
    res = run_cli(
        "convert",
        str(mixed),
        "--to",
        "mp3",
        "--out",
        str(out),
        "-r",
        "--jobs",
        "2",
        "--sample-rate",
        "22050",
        "--channels",
        "1",
        "--report",
        str(report),
    )
    assert res.returncode == 0, res.stderr
    names = sorted(str(p.relative_to(out)) for p in out.rglob("*.mp3"))
    assert names == ["song-wav.mp3", "song.mp3", "sub/chanson d'été.mp3", "voice memo.mp3"]
    for path in out.rglob("*.mp3"):
        decoded = decode(path)
        assert (decoded.sample_rate, decoded.channels) == (22050, 1)
        assert decoded.seconds == pytest.approx(1.0, abs=0.1)
    data = json.loads(report.read_text())
    assert data["summary"]["converted"] == 4 and data["summary"]["failed"] == 0
    assert "converted 4, skipped 0, failed 0" in res.stderr


def test_rerun_skips_finished_outputs_and_overwrite_redoes_them(
    mixed: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    assert run_cli("convert", str(mixed), "--to", "wav", "--out", str(out)).returncode == 0
    again = run_cli("convert", str(mixed), "--to", "wav", "--out", str(out))
    assert again.returncode == 0 and "converted 0, skipped 3" in again.stderr
    redo = run_cli("convert", str(mixed), "--to", "wav", "--out", str(out), "--overwrite")
    assert "converted 3, skipped 0" in redo.stderr


def test_bad_files_fail_alone_with_reasons(tmp_path: Path, question_wav: Path) -> None:
    src = tmp_path / "in"
    src.mkdir()
    corpus.write_audio(src / "good.wav", corpus.tone(0.5), 44100, "pcm_s16le")
    (src / "empty.mp3").write_bytes(b"")
    (src / "noise.mp3").write_bytes(os.urandom(20_000))
    data = question_wav.read_bytes()
    (src / "cut.wav").write_bytes(data[: len(data) // 3])
    corpus.photo(src / "photo.mp3")  # an image with an audio extension
    corpus.write_audio(
        src / "really-flac.jpg", corpus.tone(0.5), 44100, "flac", "flac"
    )  # wrong ext
    out, report = tmp_path / "out", tmp_path / "r.json"
    res = run_cli("convert", str(src), "--to", "opus", "--out", str(out), "--report", str(report))
    assert res.returncode == 1
    files = outcomes(report)
    assert (
        files["good.wav"]["status"] == "converted"
        and files["really-flac.jpg"]["status"] == "converted"
    )
    assert "empty" in files["empty.mp3"]["detail"]
    assert "not a readable audio file" in files["noise.mp3"]["detail"]
    assert "truncated" in files["cut.wav"]["detail"]
    assert "no audio stream" in files["photo.mp3"]["detail"]
    assert "Traceback" not in res.stderr + res.stdout
    assert sorted(p.name for p in out.iterdir()) == [
        "good.opus",
        "really-flac.opus",
    ]  # nothing partial


def test_image_batch_with_bombs_and_damaged_files(tmp_path: Path) -> None:
    src = tmp_path / "in"
    src.mkdir()
    corpus.photo(src / "ok.jpg", orientation=8)
    corpus.png_bomb(src / "bomb.png")
    good = (src / "ok.jpg").read_bytes()
    (src / "half.jpg").write_bytes(good[: len(good) // 2])
    (src / "garbage.png").write_bytes(os.urandom(5000))
    out, report = tmp_path / "out", tmp_path / "r.json"
    res = run_cli(
        "convert",
        str(src),
        "--to",
        "webp",
        "--out",
        str(out),
        "--size",
        "100x100",
        "--strip",
        "--report",
        str(report),
    )
    assert res.returncode == 1
    files = outcomes(report)
    assert files["ok.jpg"]["status"] == "converted"
    assert "too large" in files["bomb.png"]["detail"]
    assert files["half.jpg"]["status"] == "failed" and files["garbage.png"]["status"] == "failed"
    image = Image.open(out / "ok.webp")
    assert image.size == (67, 100) and not image.getexif()  # rotated upright, fitted, stripped
    assert sorted(p.name for p in out.iterdir()) == ["ok.webp"]


def test_video_to_frames_folder(tmp_path: Path) -> None:
    video = corpus.write_video(tmp_path / "clip.mp4", seconds=2.0, fps=10)
    out = tmp_path / "out"
    res = run_cli("convert", str(video), "--to", "png", "--out", str(out), "--fps", "2")
    assert res.returncode == 0, res.stderr
    frames = sorted((out / "clip").glob("*.png"))
    assert len(frames) == 4 and Image.open(frames[0]).size == (96, 64)


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--to", "xyz"], "unsupported target format"),
        (["--to", "mp3", "--size", "big"], "widthxheight"),
    ],
)
def test_usage_errors_are_one_line(tmp_path: Path, args: list[str], needle: str) -> None:
    corpus.write_audio(tmp_path / "a.wav", corpus.tone(0.2), 44100, "pcm_s16le")
    res = run_cli("convert", str(tmp_path / "a.wav"), "--out", str(tmp_path / "o"), *args)
    assert res.returncode == 2 and res.stderr.count("\n") == 1 and needle in res.stderr.lower()


def test_output_folder_that_is_a_file(tmp_path: Path) -> None:
    corpus.write_audio(tmp_path / "a.wav", corpus.tone(0.2), 44100, "pcm_s16le")
    (tmp_path / "taken").write_text("x")
    res = run_cli(
        "convert", str(tmp_path / "a.wav"), "--to", "mp3", "--out", str(tmp_path / "taken")
    )
    assert res.returncode == 2 and "is a file" in res.stderr


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files whatever their permissions")
def test_unreadable_file_fails_alone(tmp_path: Path) -> None:
    src = tmp_path / "in"
    src.mkdir()
    corpus.write_audio(src / "locked.wav", corpus.tone(0.2), 44100, "pcm_s16le").chmod(0)
    corpus.write_audio(src / "open.wav", corpus.tone(0.2), 44100, "pcm_s16le")
    res = run_cli("convert", str(src), "--to", "mp3", "--out", str(tmp_path / "o"))
    assert res.returncode == 1 and (tmp_path / "o" / "open.mp3").exists()


def _big_batch(tmp_path: Path, count: int) -> Path:
    src = tmp_path / "in"
    src.mkdir()
    samples = corpus.tone(8.0)
    for i in range(count):
        corpus.write_audio(src / f"track {i:02d}.wav", samples, 44100, "pcm_s16le")
    return src


@pytest.fixture
def batches() -> Iterator[list[subprocess.Popen[str]]]:
    """Batch processes started by a test; whatever happens, none outlives it."""
    started: list[subprocess.Popen[str]] = []
    yield started
    for proc in started:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def _start(src: Path, out: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [*ASSISTANT, "convert", str(src), "--to", "m4a", "--out", str(out), "--jobs", "2"],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )


def _wait_for_outputs(out: Path, n: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if out.is_dir() and len(list(out.glob("*.m4a"))) >= n:
            return
        time.sleep(0.05)
    raise AssertionError("the batch did not start")


Batches = list[subprocess.Popen[str]]


def test_kill_9_mid_batch_then_rerun_resumes(tmp_path: Path, batches: Batches) -> None:
    src, out = _big_batch(tmp_path, 16), tmp_path / "out"
    proc = _start(src, out)
    batches.append(proc)
    _wait_for_outputs(out, 2)
    os.killpg(proc.pid, signal.SIGKILL)  # the batch and its workers, mid-file
    proc.wait(timeout=10)
    finished = {p.name for p in out.glob("*.m4a")}
    assert 2 <= len(finished) < 16
    for name in finished:  # every visible output is complete
        assert decode(out / name).seconds == pytest.approx(8.0, abs=0.1)
    res = run_cli("convert", str(src), "--to", "m4a", "--out", str(out), "--jobs", "2")
    assert res.returncode == 0, res.stderr
    assert f"skipped {len(finished)}" in res.stderr
    assert sorted(p.name for p in out.iterdir()) == sorted(f"track {i:02d}.m4a" for i in range(16))
    for path in out.iterdir():
        assert decode(path).seconds == pytest.approx(8.0, abs=0.1)


def test_ctrl_c_stops_cleanly(tmp_path: Path, batches: Batches) -> None:
    src, out = _big_batch(tmp_path, 16), tmp_path / "out"
    proc = _start(src, out)
    batches.append(proc)
    _wait_for_outputs(out, 1)
    os.killpg(proc.pid, signal.SIGINT)
    _, err = proc.communicate(timeout=20)
    assert proc.returncode == 130, err
    assert "Traceback" not in err
    assert [p.name for p in out.iterdir() if p.name.endswith(".part")] == []
