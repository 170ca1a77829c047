"""The command line: models, live mode without devices, Ctrl+C, help."""

import json
import signal
import subprocess
from pathlib import Path

import numpy as np
import pytest

from assistant.models.piper import PiperTTS
from tests import media
from tests.conftest import ASSISTANT, REPO, run_cli


def test_models_list_json_shows_the_four_defaults_in_use() -> None:
    out = run_cli("models", "list", "--json")
    assert out.returncode == 0, out.stderr
    rows = json.loads(out.stdout)
    assert {r["kind"] for r in rows if r["in_use"]} == {"stt", "llm", "tts", "turn"}
    turn = next(r for r in rows if r["kind"] == "turn")
    assert turn["name"] == "smart-turn-v3.2" and turn["license"] == "BSD-2-Clause"
    for row in rows:
        assert row["size"] > 1_000_000 and Path(row["path"]).exists() and not row["error"]
        assert row["source"].startswith("package ")


def test_models_list_text() -> None:
    out = run_cli("models", "list")
    assert out.returncode == 0
    assert "smollm2-135m-instruct" in out.stdout and "(in use)" in out.stdout


@pytest.mark.parametrize(
    ("name", "suffix"), [("llm", ".gguf"), ("tts", ".onnx"), ("stt", "whisper-tiny.en")]
)
def test_models_path_by_role(name: str, suffix: str) -> None:
    out = run_cli("models", "path", name)
    assert out.returncode == 0, out.stderr
    path = Path(out.stdout.strip())
    assert path.exists() and str(path).endswith(suffix)


def test_models_path_by_name_and_unknown_name() -> None:
    out = run_cli("models", "path", "piper-en_US-joe-medium")
    assert out.returncode == 0 and out.stdout.strip().endswith("en_US-joe-medium.onnx")
    bad = run_cli("models", "path", "gpt-17")
    assert bad.returncode == 2 and "gpt-17" in bad.stderr and bad.stderr.count("\n") == 1


def test_models_list_reports_a_configured_path(tmp_path: Path) -> None:
    out = run_cli("--set", f"llm.model={tmp_path / 'missing.gguf'}", "models", "list", "--json")
    rows = json.loads(out.stdout)
    configured = [r for r in rows if r["kind"] == "llm" and r["in_use"]]
    assert len(configured) == 1 and "missing.gguf" in configured[0]["error"]


def test_models_link_is_idempotent() -> None:
    for _ in range(2):
        out = run_cli("models", "link")
        assert out.returncode == 0, out.stderr
    assert (REPO / "models" / "smollm2-135m-instruct").is_dir()


def test_live_chat_without_audio_devices_says_so(tmp_path: Path) -> None:
    sd = pytest.importorskip("sounddevice")
    if any(d["max_input_channels"] > 0 for d in sd.query_devices()):
        pytest.skip("this machine has a microphone")  # the live path is tested by the audio issue
    out = run_cli("chat")
    assert out.returncode == 2
    assert out.stderr.count("\n") == 1 and "no microphone" in out.stderr and "--input" in out.stderr


def test_help_and_version() -> None:
    assert run_cli("--help").returncode == 0
    out = run_cli("--version")
    assert out.returncode == 0 and "assistant" in out.stdout


def test_ctrl_c_during_a_turn_exits_with_130_and_writes_nothing(
    tts: PiperTTS, tmp_path: Path
) -> None:
    question = media.speech(tts, "Tell me a very long story about a brave knight and a dragon.")
    pcm = np.concatenate([media.silence(0.3), question, media.silence(20.0)])
    path = media.write_wav(tmp_path / "long.wav", pcm)
    reply = tmp_path / "reply.wav"
    proc = subprocess.Popen(
        [*ASSISTANT, "chat", "--input", str(path), "--output", str(reply), "--max-tokens", "400"],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()  # "you: ..." appears once the turn is under way
    assert line.startswith("you:"), line
    proc.send_signal(signal.SIGINT)  # the reply is being written; 20 s of input are still to come
    proc.wait(timeout=60)  # only against a hang: how fast it exits is bench/stops.py's
    assert proc.returncode == 130  # the interrupt's exit, not the end of the input's (0)
    assert proc.stderr is not None and "Traceback" not in proc.stderr.read()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["long.wav"]  # no reply, no temporary file


def test_kiosk_that_cannot_start_says_why_in_one_line() -> None:
    from tests.serving import free_port

    out = run_cli("--set", "llm.model=/nonexistent/x.gguf", "kiosk", "--port", str(free_port()))
    assert out.returncode == 2 and out.stderr.count("\n") == 1, out.stderr
    assert out.stderr.startswith("error:") and "llm.model" in out.stderr
    empty = run_cli("kiosk", "--wake-phrase", "!!!")
    assert empty.returncode == 2 and "no words" in empty.stderr and "Traceback" not in empty.stderr


def test_live_printer_grows_one_line_of_confirmed_words(capsys: pytest.CaptureFixture[str]) -> None:
    from assistant.cli.printer import ConsolePrinter
    from assistant.pipeline.conversation import Observers
    from assistant.pipeline.events import LlmToken, PartialTranscript, ReplyDone, Transcript

    observers = Observers()
    ConsolePrinter(observers, live=True)
    said = [
        PartialTranscript(text="What", stable=""),  # a pause's partial: a line of its own
        Transcript(turn_id=1, text="What?", stt_ms=1.0),
        PartialTranscript(text="What is the", stable="What is"),
        PartialTranscript(text="What is the capitol", stable="What is the"),
        PartialTranscript(text="What is the capital", stable="What is the"),  # nothing new
        PartialTranscript(text="What is the capital of", stable="What is the capital"),
        PartialTranscript(text="What is the capital of France", stable=""),  # at the pause
        Transcript(turn_id=2, text="What is the capital of France?", stt_ms=1.0),
        PartialTranscript(text="Where is", stable="Where is"),  # while the reply is written
        LlmToken(turn_id=2, text="Paris."),
        ReplyDone(turn_id=2, text="Paris.", finish_reason="stop", tokens=2),
    ]
    for event in said:
        observers.bus.publish(event)
    assert capsys.readouterr().out.splitlines() == [
        "  (hearing) What",
        "you: What?",
        "  (hearing) What is the capital",
        "you: What is the capital of France?",
        "  (hearing) Where is",
        "assistant: Paris.",
    ]
