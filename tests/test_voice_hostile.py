"""The Realtime and /ws/voice doors under hostile input, hang-ups and shutdown (issue 33's cases).

Each bad message gets the door's error, naming the field, and the session goes on as it was;
a session's place is free as soon as its client has gone; a stop ends every session cleanly.
Every server's log is checked for tracebacks and tasks left behind.
"""

import json
import signal
import time
from pathlib import Path
from typing import Any

import pytest
from websockets.exceptions import ConnectionClosed

from assistant.server.wire_check import MAX_DEPTH, BadMessage, depth, loads
from tests.hostile import (
    DEEP,
    REALTIME_CASES,
    VOICE_CASES,
    LoggedServer,
    Realtime,
    Voice,
    server_vad,
)


def test_json_depth_is_measured_on_the_text_before_parsing() -> None:
    assert depth('{"a": [1, {"b": "[[[{{{"}], "c": "\\"]]]"}') == 3
    assert depth('"unterminated [[[ \\" {{{') == 0  # a string left open hides nothing
    assert depth('"\\"' * 200_000) == 0  # escaped quotes: linear, not quadratic
    with pytest.raises(BadMessage, match="nested over"):
        loads("[" * 1_000_000 + "]" * 1_000_000, 4 << 20)  # json.loads would recurse
    nested = "[" * (MAX_DEPTH - 1) + "]" * (MAX_DEPTH - 1)
    assert loads(f'{{"a": {nested}}}', 1000)["a"]  # as deep as allowed
    with pytest.raises(BadMessage, match="nested over"):
        loads(f'{{"a": [{nested}]}}', 1000)
    with pytest.raises(BadMessage, match="limited to 100 bytes"):
        loads("{" + " " * 100 + "}", 100)


@pytest.mark.parametrize(("text", "param"), REALTIME_CASES)
def test_each_realtime_case_gets_an_error_and_the_session_is_untouched(
    logged_server: LoggedServer, text: str, param: str | None
) -> None:
    client = Realtime(logged_server)
    try:
        replies = client.answers(text)
        assert [r["type"] for r in replies] == ["error"], replies
        error = replies[0]["error"]
        assert error["type"] == "invalid_request_error" and error["message"]
        sent = json.loads(text) if text is not DEEP else None
        if sent is not None:  # parsed: the error names the event and the field
            assert error["event_id"] == sent["event_id"]
            assert error["param"] == param, error
        else:
            assert error["code"] == "invalid_json" and "nested" in error["message"]
        # Nothing of the bad update stayed: a later update rebuilds from the old settings.
        after = client.answers({"type": "session.update", "session": {"instructions": "Hi."}})
        session = after[-1]["session"]
        assert after[-1]["type"] == "session.updated", after
        assert session["audio"]["input"]["turn_detection"]["type"] == "semantic_vad"
        assert session["audio"]["input"]["format"]["type"] == "audio/pcm"
    finally:
        client.close()


def test_a_good_server_vad_update_still_applies(logged_server: LoggedServer) -> None:
    client = Realtime(logged_server)
    try:
        fields = {"silence_duration_ms": 400, "prefix_padding_ms": 200, "threshold": 0.6}
        updated = client.answers(server_vad(**fields))[-1]
        detection = updated["session"]["audio"]["input"]["turn_detection"]
        assert detection["type"] == "server_vad" and detection["silence_duration_ms"] == 400
        refused = client.answers(server_vad(threshold=2))[-1]["error"]
        assert refused["param"] == "session.audio.input.turn_detection.threshold"
    finally:
        client.close()


def test_an_item_placed_before_the_last_is_refused_by_name(logged_server: LoggedServer) -> None:
    client = Realtime(logged_server)
    try:

        def item(text: str) -> dict[str, Any]:
            return {"type": "message", "role": "user",
                    "content": [{"type": "input_text", "text": text}]}  # fmt: skip

        first = client.answers({"type": "conversation.item.create", "item": item("Hello.")})
        first_id = first[-1]["item"]["id"]
        misplaced = {"type": "conversation.item.create", "event_id": "p1",
                     "previous_item_id": "root", "item": item("Hi.")}  # fmt: skip
        error = client.answers(misplaced)[-1]["error"]
        assert (error["param"], error["event_id"]) == ("previous_item_id", "p1"), error
        at_end = {"type": "conversation.item.create", "previous_item_id": first_id,
                  "item": item("Hi.")}  # fmt: skip
        added = client.answers(at_end)
        assert added[-1]["type"] == "conversation.item.done", added
    finally:
        client.close()


def test_each_voice_case_gets_an_error_and_the_session_goes_on(logged_server: LoggedServer) -> None:
    client = Voice(logged_server)
    try:
        for message, code, param in VOICE_CASES:
            replies = client.answers(message)
            errors = [r for r in replies if r["type"] == "error"]
            assert [e["code"] for e in errors] == [code], (message[:60], replies)
            assert errors[0].get("param") == param, errors
        client.socket.send(json.dumps({"type": "text", "text": "What is the capital of France?"}))
        reply = client.until("reply")[-1]
        assert reply["text"].strip() and reply["finish_reason"] in ("stop", "length")
    finally:
        client.close()


def _busy_realtime(server: LoggedServer) -> Realtime:
    """A Realtime session giving a reply: its cleanup has a reply to stop."""
    client = Realtime(server)
    words = {"type": "input_text", "text": "Tell me a long story about a dragon."}
    ask = {"type": "message", "role": "user", "content": [words]}
    client.send({"type": "conversation.item.create", "item": ask})
    client.send({"type": "response.create"})
    client.until("response.output_audio_transcript.delta")
    return client


def test_a_reconnect_right_after_a_hang_up_is_admitted(logged_server: LoggedServer) -> None:
    sessions = 2  # server.max_voice_sessions, the default
    clients = [_busy_realtime(logged_server) for _ in range(sessions)]
    for _round in range(3):
        for client in clients:
            client.close()  # hung up mid-reply
        clients = [Realtime(logged_server) for _ in range(sessions)]  # each gets session.created
        for client in clients:
            client.send({"type": "session.update", "session": {}})
            client.until("session.updated")
    for client in clients:
        client.close()
    voices = [Voice(logged_server) for _ in range(sessions)]
    for _round in range(5):  # rapid reconnects through the other door
        for voice in voices:
            voice.close()
        voices = [Voice(logged_server) for _ in range(sessions)]
    for voice in voices:
        voice.close()


def test_a_stop_ends_every_voice_session_cleanly(tmp_path: Path) -> None:
    running = LoggedServer(tmp_path, env={"ASSISTANT_SERVER__MAX_VOICE_SESSIONS": "4"})
    try:
        realtime = [_busy_realtime(running) for _ in range(2)]
        speaking = Voice(running)
        speaking.socket.send(json.dumps({"type": "text", "text": "Tell me a long story."}))
        speaking.until("token")
        ending = Voice(running)  # its input is over: it waits for its reply when stopped
        ending.socket.send(json.dumps({"type": "text", "text": "Tell me about castles."}))
        ending.socket.send(json.dumps({"type": "end"}))
        ending.until("token")
        running.proc.send_signal(signal.SIGTERM)
        assert running.proc.wait(timeout=60) == 0
        for client, codes in [*((c, {1012}) for c in realtime), (speaking, {1012}),
                              (ending, {1000, 1012})]:  # fmt: skip
            with pytest.raises(ConnectionClosed) as closed:
                deadline = time.monotonic() + 30
                while time.monotonic() < deadline:
                    client.socket.recv(timeout=30)
            assert closed.value.rcvd is not None and closed.value.rcvd.code in codes
    finally:
        running.stop()
    running.assert_clean()
