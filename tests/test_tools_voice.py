"""Tools in spoken turns, end to end: the real CLI on Piper-spoken files, real MCP servers."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from assistant.models.piper import PiperTTS
from tests import media
from tests.conftest import run_cli

MCP_SERVER = """
import os
from pathlib import Path

from mcp.server.mcpserver import MCPServer

server = MCPServer("notes")


@server.tool()
def remember(note: str) -> str:
    \"\"\"Write down a note for the user.\"\"\"
    Path(os.environ["NOTES"]).write_text(note)
    return f"Noted: {note}"


@server.tool()
def wipe_disk() -> str:
    \"\"\"Never allowed by the settings.\"\"\"
    Path(os.environ["NOTES"] + ".wiped").write_text("wiped")
    return "wiped"


server.run()
"""


def spoken(tts: PiperTTS, path: Path, text: str, after_s: float) -> Path:
    pcm = media.speech(tts, text)
    return media.write_wav(path, np.concatenate([media.silence(0.5), pcm, media.silence(after_s)]))


def lines(stdout: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stdout.splitlines() if line.startswith("{")]


def test_a_spoken_timer_goes_off_and_is_announced(tts: PiperTTS, tmp_path: Path) -> None:
    wav = spoken(tts, tmp_path / "timer.wav", "Set a timer for two seconds.", after_s=5.0)
    data = tmp_path / "data"
    out = run_cli(
        "chat", "--input", str(wav), "--output", str(tmp_path / "reply.wav"), "--json",
        env={"XDG_DATA_HOME": str(data)},
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    objects = lines(out.stdout)
    calls = [o for o in objects if o.get("event") == "tool_call"]
    assert [(c["name"], c["arguments"], c["by"]) for c in calls] == [
        ("set_timer", {"seconds": 2}, "precheck")
    ]
    turns = [o for o in objects if "turn" in o and "event" not in o]
    assert turns[0]["reply"] == "A 2 second timer is set; it goes off in 2 seconds."
    assert turns[0]["timings_ms"]["tools"] is not None
    assert turns[1]["transcript"] == "" and turns[1]["reply"] == "Your 2 second timer is done."
    assert turns[1]["reply_audio_s"] > 0.5  # spoken into --output
    assert json.loads((data / "assistant" / "timers.json").read_text()) == []


def test_a_timer_survives_a_restart_and_is_announced_as_missed(
    tts: PiperTTS, tmp_path: Path
) -> None:
    data = tmp_path / "data"
    env = {"XDG_DATA_HOME": str(data)}
    first = spoken(tts, tmp_path / "set.wav", "Set a timer for one minute.", after_s=1.0)
    assert run_cli("chat", "--input", str(first), "--no-realtime", env=env).returncode == 0
    stored = json.loads((data / "assistant" / "timers.json").read_text())
    assert [(t["kind"], t["length_s"]) for t in stored] == [("timer", 60.0)]
    stored[0]["due"] -= 3600  # it went off an hour ago, while nothing ran
    (data / "assistant" / "timers.json").write_text(json.dumps(stored))
    quiet = media.write_wav(tmp_path / "quiet.wav", media.silence(2.0))
    out = run_cli("chat", "--input", str(quiet), "--json", env=env)
    assert out.returncode == 0, out.stderr
    (turn,) = lines(out.stdout)
    assert turn["reply"].startswith("While I was not running, your 1 minute timer went off at")


def test_spoken_arithmetic_and_the_clock_come_from_tools(tts: PiperTTS, tmp_path: Path) -> None:
    pcm = np.concatenate(
        [
            media.speech(tts, "What is 12 times 7?"),
            media.silence(2.5),
            media.speech(tts, "What time is it?"),
            media.silence(1.5),
        ]
    )
    wav = media.write_wav(tmp_path / "ask.wav", pcm)
    out = run_cli("chat", "--input", str(wav), "--no-realtime", "--json")
    assert out.returncode == 0, out.stderr
    turns = [o for o in lines(out.stdout) if "event" not in o]
    assert turns[0]["tool_calls"][0]["name"] == "calculate"
    assert turns[0]["reply"].endswith("= 84")
    assert turns[1]["tool_calls"][0]["name"] == "get_time"
    assert turns[1]["reply"].startswith("It is ")


def _mcp_config(tmp_path: Path, notes: Path) -> Path:
    script = tmp_path / "notes_server.py"
    script.write_text(MCP_SERVER)
    config = tmp_path / "assistant.toml"
    python = json.dumps(sys.executable)
    config.write_text(
        f"""
[tools]
choice = "remember"
precheck = false

[[tools.mcp]]
name = "notes"
command = {python}
args = [{json.dumps(str(script))}]
env = {{ NOTES = {json.dumps(str(notes))} }}
allowed = ["remember"]

[[tools.mcp]]
name = "broken"
command = "/nonexistent/mcp-server"
timeout_s = 5
"""
    )
    return config


def test_an_mcp_server_is_called_from_a_spoken_turn(tts: PiperTTS, tmp_path: Path) -> None:
    notes = tmp_path / "notes.txt"
    config = _mcp_config(tmp_path, notes)
    wav = spoken(tts, tmp_path / "note.wav", "Remember to buy milk and eggs.", after_s=1.5)
    out = run_cli("--config", str(config), "chat", "--input", str(wav), "--no-realtime", "--json")
    assert out.returncode == 0, out.stderr
    objects = lines(out.stdout)
    call = next(o for o in objects if o.get("event") == "tool_call")
    result = next(o for o in objects if o.get("event") == "tool_result")
    assert call["name"] == "remember" and call["by"] == "model"
    assert isinstance(call["arguments"]["note"], str)
    assert result["ok"] and result["result"] == f"Noted: {call['arguments']['note']}"
    assert notes.read_text() == call["arguments"]["note"]
    assert not Path(f"{notes}.wiped").exists()  # not allowed: never offered, never run
    turn = next(o for o in objects if "event" not in o)
    assert turn["reply"] and not turn["reply"].lstrip().startswith("{")  # words after the call
    failures = [line for line in out.stderr.splitlines() if "broken" in line]
    assert len(failures) == 1 and "going on without it" in failures[0], out.stderr


@pytest.mark.parametrize("choice", ["wipe_disk"])
def test_a_tool_outside_the_allow_list_cannot_be_forced(
    tts: PiperTTS, tmp_path: Path, choice: str
) -> None:
    notes = tmp_path / "notes.txt"
    config = _mcp_config(tmp_path, notes)
    config.write_text(config.read_text().replace('choice = "remember"', f'choice = "{choice}"'))
    wav = spoken(tts, tmp_path / "note.wav", "Wipe the disk.", after_s=1.5)
    out = run_cli("--config", str(config), "chat", "--input", str(wav), "--no-realtime", "--json")
    assert out.returncode == 0, out.stderr
    assert not any(o.get("event") == "tool_call" for o in lines(out.stdout))
    assert not Path(f"{notes}.wiped").exists()
    assert "tools.choice: there is no tool 'wipe_disk'" in out.stderr


def test_no_tool_events_for_ordinary_questions(question_wav: Path) -> None:
    out = run_cli("chat", "--input", str(question_wav), "--no-realtime", "--json")
    assert out.returncode == 0, out.stderr
    assert [o for o in lines(out.stdout) if "event" in o or "tool_calls" in o] == []
    assert os.environ.get("XDG_DATA_HOME")  # conftest keeps timers out of the user's dir
