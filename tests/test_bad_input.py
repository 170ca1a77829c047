"""Everything a user can get wrong: one clear line on stderr, exit code 2, nothing written."""

from pathlib import Path

import av
import numpy as np
import pytest

from tests.conftest import run_cli


def video_only(path: Path) -> Path:
    with av.open(str(path), "w") as container:
        stream = container.add_stream("mpeg4", rate=10)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        for i in range(10):
            frame = av.VideoFrame.from_ndarray(
                np.full((48, 64, 3), i * 20, np.uint8), format="rgb24"
            )
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    return path


def truncated(path: Path, question_wav: Path) -> Path:
    data = question_wav.read_bytes()
    path.write_bytes(data[: len(data) // 3])
    return path


CASES = {
    "missing": lambda d, q: d / "nope.wav",
    "directory": lambda d, q: d,
    "empty": lambda d, q: _write(d / "empty.wav", b""),
    "garbage": lambda d, q: _write(d / "garbage.mp3", np.random.default_rng(1).bytes(50_000)),
    "text as wav": lambda d, q: _write(d / "notes.wav", b"just some text\n" * 100),
    "truncated": lambda d, q: truncated(d / "cut.wav", q),
    "no audio stream": lambda d, q: video_only(d / "silent-film.mp4"),
}


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def assert_one_line_error(out: "object", *needles: str) -> None:
    assert out.returncode == 2, (out.returncode, out.stdout, out.stderr)  # type: ignore[attr-defined]
    err = out.stderr  # type: ignore[attr-defined]
    assert err.startswith("error: ") and err.count("\n") == 1, err
    assert "Traceback" not in err
    for needle in needles:
        assert needle in err.lower(), err


@pytest.mark.parametrize("case", list(CASES))
def test_bad_input_file(case: str, tmp_path: Path, question_wav: Path) -> None:
    inputs = tmp_path / "in"
    inputs.mkdir()
    path = CASES[case](inputs, question_wav)
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    out = run_cli("chat", "--input", str(path), "--output", str(out_dir / "reply.wav"))
    assert_one_line_error(out)
    assert list(out_dir.iterdir()) == []  # nothing written, not even a temporary file


def test_truncated_file_is_named_truncated(tmp_path: Path, question_wav: Path) -> None:
    out = run_cli("chat", "--input", str(truncated(tmp_path / "cut.wav", question_wav)))
    assert_one_line_error(out, "truncated")


def test_unknown_flag() -> None:
    out = run_cli("chat", "--no-such-flag")
    assert_one_line_error(out, "--no-such-flag")


def test_bad_flag_value() -> None:
    out = run_cli("chat", "--input", "x.wav", "--temperature", "hot")
    assert_one_line_error(out, "temperature")


def test_bad_config_value_in_file(tmp_path: Path, question_wav: Path) -> None:
    (tmp_path / "assistant.toml").write_text("[vad]\naggressiveness = 9\n")
    out = run_cli("chat", "--input", str(question_wav), cwd=tmp_path)
    assert_one_line_error(out, "vad.aggressiveness")


def test_output_into_missing_folder(question_wav: Path, tmp_path: Path) -> None:
    out = run_cli("chat", "--input", str(question_wav), "--output", str(tmp_path / "no" / "r.wav"))
    assert_one_line_error(out, "does not exist")


def test_missing_model_file_names_the_file_and_the_fix(question_wav: Path, tmp_path: Path) -> None:
    out = run_cli(
        "--set", f"llm.model={tmp_path / 'gone.gguf'}", "chat", "--input", str(question_wav)
    )
    assert_one_line_error(out, "gone.gguf", "llm.model")


def test_corrupt_model_file_names_the_file_and_the_fix(question_wav: Path, tmp_path: Path) -> None:
    bad = _write(tmp_path / "broken.gguf", b"GGUF" + bytes(4096))
    out = run_cli("chat", "--input", str(question_wav), "--llm-model", str(bad))
    assert_one_line_error(out, "broken.gguf", "llm.model")


def test_corrupt_voice_names_the_file(question_wav: Path, tmp_path: Path) -> None:
    voice = _write(tmp_path / "voice.onnx", b"not a model")
    (tmp_path / "voice.onnx.json").write_text("{}")
    out = run_cli("ask", "hi", "--speak", str(tmp_path / "a.wav"), "--tts-model", str(voice))
    assert_one_line_error(out, "voice.onnx", "tts.model")
    assert not (tmp_path / "a.wav").exists()


def test_empty_question() -> None:
    assert_one_line_error(run_cli("ask", "  "), "empty")
