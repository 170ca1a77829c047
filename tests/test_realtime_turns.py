"""Realtime turn taking as OpenAI defines it: server_vad's defaults, and merged turns.

A merged turn leaves the client holding exactly the server's conversation, on /v1/realtime
and on /ws/voice.
"""

import asyncio
import json
import re
import time
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
from websockets.sync.client import connect

from assistant.doors.realtime.events import Emitter
from assistant.models.piper import PiperTTS
from assistant.pipeline.events import (
    Event,
    EventBus,
    PartialTranscript,
    SpeechStarted,
    Transcript,
    Utterance,
)
from tests import media
from tests.realtime_wire import (
    RT_RATE,
    SERVER_EVENT,
    Microphone,
    Wire,
    assert_transcription_adds_up,
    replay,
    words,
)
from tests.serving import start

QUESTION = "What is the capital of France?"
LONG_ANSWERS = "Answer every question with a long story of at least ten sentences."
CONTINUATION = "And of Spain?"


@pytest.fixture(scope="module")
def merging_server() -> Iterator[str]:
    """A real server, greedy, with the default end-of-turn model.

    Its merge window is the longest there is: these tests are about what a client sees of a
    merge, and on a loaded machine the end of a turn can be decided seconds late.
    """
    merging = {"ASSISTANT_VAD__TURN_MERGE_MS": "5000", "ASSISTANT_VAD__TURN_MERGE_HEARD_MS": "5000"}
    proc, url = start(env={"ASSISTANT_LLM__PRESET": "greedy", **merging})
    try:
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def _trimmed(pcm: np.ndarray, floor: int = 300) -> np.ndarray:
    """``pcm`` without the voice's own silence around it, so a pause is what the test says."""
    loud = np.flatnonzero(np.abs(pcm.astype(np.int32)) > floor)
    return pcm[loud[0] : loud[-1] + 1]


def _two_words(tts: PiperTTS, first: str, second: str, pause_s: float) -> np.ndarray:
    a, b = (_trimmed(media.speech(tts, word, RT_RATE)) for word in (first, second))
    quiet = media.silence
    return np.concatenate([quiet(0.5, RT_RATE), a, quiet(pause_s, RT_RATE), b, quiet(2.5, RT_RATE)])


@pytest.mark.parametrize(
    ("detection", "turns"),
    [
        ({"type": "server_vad"}, 1),  # OpenAI's 500 ms of silence: one turn
        ({"type": "server_vad", "silence_duration_ms": 200}, 2),  # the pause is a real one
    ],
)
def test_server_vad_defaults_hold_a_two_word_question_with_a_270_ms_pause(
    merging_server: str, tts: PiperTTS, detection: dict[str, Any], turns: int
) -> None:
    async def talk() -> tuple[dict[str, Any], list[dict[str, Any]]]:
        async with Wire.open(merging_server) as wire, Microphone(wire) as mic:
            turn_taking = {"input": {"turn_detection": detection}}
            session = await wire.update(output_modalities=["text"], audio=turn_taking)
            mic.say(_two_words(tts, "Front", "center?", 0.27))
            await wire.until("response.done")
            await wire.quiet(3.0)  # a second turn would begin in this time
            return session["audio"]["input"]["turn_detection"], wire.events

    described, events = asyncio.run(talk())
    defaults = {"threshold": 0.5, "prefix_padding_ms": 300, "silence_duration_ms": 500}
    assert described == {**defaults, "idle_timeout_ms": None, "create_response": True,
                         "interrupt_response": True, **detection}  # fmt: skip
    committed = [e for e in events if e["type"] == "input_audio_buffer.committed"]
    assert len(committed) == turns, [e["type"] for e in events]
    if turns == 1:
        heard = next(e for e in events if e["type"].endswith("transcription.completed"))
        assert {"front", "center"} <= set(re.findall(r"[a-z]+", heard["transcript"].lower()))


@pytest.mark.parametrize(
    ("detection", "said"),
    [
        ({"type": "server_vad", "threshold": 2}, "threshold"),
        ({"type": "server_vad", "silence_duration_ms": 5}, "silence_duration_ms"),
        ({"type": "server_vad", "prefix_padding_ms": "300"}, "prefix_padding_ms"),
    ],
)
def test_server_vad_fields_out_of_range_are_refused_by_name(
    merging_server: str, detection: dict[str, Any], said: str
) -> None:
    async def talk() -> None:
        async with Wire.open(merging_server) as wire:
            turn_taking = {"input": {"turn_detection": detection}}
            await wire.send("session.update", session={"type": "realtime", "audio": turn_taking})
            error = (await wire.until("error", errors=True))[-1]["error"]
            assert said in error["message"], error
            after = await wire.update()
            assert after["audio"]["input"]["turn_detection"]["type"] == "semantic_vad"

    asyncio.run(talk())


def _spoken(tts: PiperTTS, text: str) -> np.ndarray:
    return media.speech(tts, text, RT_RATE)


def test_a_merged_turn_leaves_the_client_with_the_servers_conversation(
    merging_server: str, tts: PiperTTS
) -> None:
    async def talk() -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[Any]]:
        async with Wire.open(merging_server) as wire, Microphone(wire) as mic:
            # semantic_vad, the default. A long answer: the reply must still be running when the
            # continuation comes, however long the decision took (a short one may be complete
            # by the time the turn is confirmed, on a busy machine)
            await wire.update(output_modalities=["text"], instructions=LONG_ANSWERS)
            mic.say(np.concatenate([media.silence(0.4, RT_RATE), _spoken(tts, QUESTION)]))
            await wire.until("response.created")  # the turn was confirmed: go on at once
            mic.say(np.concatenate([_spoken(tts, CONTINUATION), media.silence(2.5, RT_RATE)]))
            await wire.until("conversation.item.deleted")
            while True:  # to the joined turn's reply
                done = (await wire.until("response.done"))[-1]["response"]
                if done["status"] != "cancelled":
                    break
            await wire.quiet(1.0)
            items = replay(wire.events)
            views = []
            for item in items:  # each as the server holds it
                await wire.send("conversation.item.retrieve", item_id=item["id"])
                views.append((await wire.until("conversation.item.retrieved"))[-1]["item"])
            deleted = [e["item_id"] for e in wire.events if e["type"].endswith("item.deleted")]
            for item_id in deleted:
                await wire.send("conversation.item.retrieve", item_id=item_id)
                views.append((await wire.until("error", errors=True))[-1]["error"]["message"])
            return wire.events, items, views

    events, items, views = asyncio.run(talk())
    cut = next(e["response"] for e in events if e["type"] == "response.done")
    assert cut["status"] == "cancelled", cut
    assert cut["status_details"] == {"type": "cancelled", "reason": "turn_detected"}
    gone = [e["item_id"] for e in events if e["type"] == "conversation.item.deleted"]
    first_user = next(e["item_id"] for e in events if e["type"].endswith("buffer.committed"))
    assert gone[0] == first_user and gone[1:] == [item["id"] for item in cut["output"]]
    assert views[: len(items)] == items  # the client's copy is the server's, item by item
    assert all("no item" in message for message in views[len(items) :])
    assert [item["role"] for item in items] == ["user", "assistant"], items
    assert "capital" in words(items[0]) and "spain" in words(items[0]), items[0]
    assert_transcription_adds_up(events)


def test_a_merged_turn_on_ws_voice_is_a_merged_message(merging_server: str, tts: PiperTTS) -> None:
    with connect(merging_server.replace("http://", "ws://") + "/ws/voice") as ws:
        assert json.loads(ws.recv(timeout=30))["type"] == "ready"
        pcm = np.concatenate([media.silence(0.4), media.speech(tts, QUESTION)])
        messages = _feed_until(ws, pcm, lambda m: m["type"] == "transcript" and m["final"])
        first = messages[-1]["turn_id"]
        more = np.concatenate([media.speech(tts, CONTINUATION), media.silence(2.5)])
        messages += _feed_until(ws, more, lambda m: m["type"] == "turn")
    assert {"type": "merged", "turn_id": first} in messages, [m["type"] for m in messages]
    kept = [m for m in messages if m.get("turn_id") != first]  # what the page keeps
    said = [m["text"].lower() for m in kept if m["type"] == "transcript" and m["final"]]
    assert len(said) == 1 and "capital" in said[0] and "spain" in said[0], said
    report = next(m for m in messages if m["type"] == "turn")
    assert report["turn"] != first and report["transcript"].lower() == said[0]


def _feed_until(ws: Any, pcm: np.ndarray, stop: Any, chunk_s: float = 0.1) -> list[dict]:
    """Stream ``pcm`` at real-time pace, then silence, until a message satisfies ``stop``."""
    step, began, sent, got = int(media.RATE * chunk_s), time.monotonic(), 0, []
    deadline = began + 90
    while time.monotonic() < deadline:
        piece = pcm[sent * step : (sent + 1) * step]
        ws.send(np.concatenate([piece, np.zeros(step - len(piece), np.int16)]).tobytes())
        sent += 1
        while (wait := began + sent * chunk_s - time.monotonic()) > 0:
            try:
                message = ws.recv(timeout=wait)
            except TimeoutError:
                break
            if isinstance(message, str):
                got.append(json.loads(message))
                if stop(got[-1]):
                    return got
    raise AssertionError(f"never came; got {[m['type'] for m in got]}")


def test_ws_voice_hears_words_spoken_from_the_first_sample(
    merging_server: str, tts: PiperTTS
) -> None:
    # A client that talks as soon as the session is ready: the gate measures the room over the
    # first half second, which is speech here; that audio must still reach recognition.
    with connect(merging_server.replace("http://", "ws://") + "/ws/voice") as ws:
        assert json.loads(ws.recv(timeout=30))["type"] == "ready"
        pcm = np.concatenate([_trimmed(media.speech(tts, QUESTION)), media.silence(2.5)])
        messages = _feed_until(ws, pcm, lambda m: m["type"] == "turn")
    said = [m["text"].lower() for m in messages if m["type"] == "transcript" and m["final"]]
    assert said and said[-1].startswith("what") and "capital" in said[-1], said


def _told(said: list[Event]) -> list[dict[str, Any]]:
    """The server events the Realtime door's emitter sends for ``said``, published on a bus.

    Last, a manual turn (``input_audio_buffer.commit``) is transcribed, as input.commit does.
    """
    sent: list[dict[str, Any]] = []

    async def send(event: dict[str, Any]) -> None:
        SERVER_EVENT.validate_python(event)  # the SDK's own model of it
        sent.append(event)

    async def run() -> None:
        bus, emitter = EventBus(), Emitter(send, audio=False)
        bus.listen(emitter.on_event)
        for event in said:
            bus.publish(event)
        emitter.commit("item_manual")
        emitter.transcribed("item_manual", "How many legs?")
        await emitter.close()

    asyncio.run(run())
    return sent


def test_words_confirmed_while_speaking_are_transcription_deltas_that_add_up() -> None:
    """Realtime transcription deltas while the user speaks, and the final's rest.

    The door's input is the conversation's event bus: the partial transcripts a streaming
    recognizer publishes while the user speaks are published onto a real bus here, in a
    known order, and the door's real emitter turns them into server events (checked against
    the `openai` SDK's types).
    """

    def partial(text: str, stable: str, restarted: bool = False) -> Event:
        return PartialTranscript(text=text, stable=stable, start=0.5, restarted=restarted)

    sent = _told([
        partial("What", ""),  # nothing confirmed yet
        SpeechStarted(turn_id=1, start=0.5),
        partial("What is the", "What is"),
        partial("What is the capital", "What is the"),
        partial("What is the", ""),  # a pause's partial confirms nothing
        Utterance(turn_id=1, start=0.5, end=2.0, speech_end_wall=0.0),
        Transcript(turn_id=1, text="What is the capital of France?", stt_ms=5.0),
        partial("And", "And"),  # after the turn, before new speech: no item to add to
        SpeechStarted(turn_id=2, start=4.0),
        partial("Was it in", "Was it"),
        partial("Where is", "Where", restarted=True),  # begun again: it does not extend "Was it"
        Utterance(turn_id=2, start=4.0, end=5.0, speech_end_wall=0.0),
        Transcript(turn_id=2, text="Where is Spain?", stt_ms=5.0),
    ])  # fmt: skip
    first, second = (e["item_id"] for e in sent if e["type"].endswith("speech_started"))

    def told(item_id: str, kind: str) -> list[Any]:
        return [(i, e.get("delta", e.get("transcript"))) for i, e in enumerate(sent)
                if e.get("item_id") == item_id and e["type"].endswith(kind)]  # fmt: skip

    deltas = told(first, "transcription.delta")
    assert [d for _, d in deltas] == ["What is", " the", " capital of France?"]
    committed = told(first, "buffer.committed")[0][0]
    assert deltas[1][0] < committed < deltas[2][0]  # confirmed words come before the commit
    assert told(first, "transcription.completed")[0][1] == "".join(d for _, d in deltas)
    # A hypothesis begun again sends nothing that would not add up; `completed` has the say.
    assert [d for _, d in told(second, "transcription.delta")] == ["Was it"]
    assert [t for _, t in told(second, "transcription.completed")] == ["Where is Spain?"]
    # A manual turn is transcribed whole: one delta, then `completed`.
    assert [d for _, d in told("item_manual", "transcription.delta")] == ["How many legs?"]
    assert_transcription_adds_up([e for e in sent if e.get("item_id") != second])
