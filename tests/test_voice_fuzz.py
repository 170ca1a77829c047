"""Fuzzing the Realtime and /ws/voice doors of a real server with hypothesis, bounded in time.

Each generated message, and each case of issue 33 (seeded), must get the door's error or its
proper reply on the same connection; afterwards the session still answers, and the server's
log shows no traceback, no exception out of the app and no last-resort catch. Examples are
derived from a fixed seed (``derandomize``), so a run repeats exactly.
"""

import base64
import json
from typing import Any

from hypothesis import HealthCheck, Phase, example, given, settings
from hypothesis import strategies as st

from tests.hostile import REALTIME_CASES, VOICE_CASES, LoggedServer, Realtime, Voice

FUZZ = settings(
    max_examples=60,  # each session.update rebuilds a conversation: the costly example
    deadline=None,  # each example is a loopback round trip on a shared machine
    derandomize=True,
    database=None,
    phases=[Phase.explicit, Phase.generate],  # no shrinking: the session is not replayed
    suppress_health_check=list(HealthCheck),
)

leaf = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**70), 2**70),
    st.floats(),  # NaN and infinities included
    st.text(max_size=12),
)
anything = st.recursive(
    leaf,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=6,
)


def maybe(good: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """A plausible value, or one time in five anything at all.

    Mostly plausible, so that the checks behind the first bad field are reached too.
    """
    return st.integers(0, 4).flatmap(lambda n: anything if n == 0 else good)


def fields(**optional: st.SearchStrategy[Any]) -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries({}, optional=optional)


b64 = st.binary(max_size=64).map(lambda raw: base64.b64encode(raw).decode())
fmt = fields(
    type=maybe(st.sampled_from(["audio/pcm", "audio/pcmu", "audio/pcma"])),
    rate=maybe(st.sampled_from([8000, 24000])),
)
detection = fields(
    type=maybe(st.sampled_from(["server_vad", "semantic_vad"])),
    threshold=maybe(st.floats(0, 1)),
    silence_duration_ms=maybe(st.integers(0, 6000)),
    prefix_padding_ms=maybe(st.integers(0, 3000)),
    eagerness=maybe(st.sampled_from(["low", "medium", "high", "auto"])),
    create_response=maybe(st.booleans()),
    interrupt_response=maybe(st.booleans()),
    idle_timeout_ms=anything,
)
audio = fields(
    input=maybe(fields(format=maybe(fmt), turn_detection=maybe(detection), transcription=anything)),
    output=maybe(fields(format=maybe(fmt), voice=maybe(st.just("alloy")), speed=anything)),
)
session = maybe(
    fields(
        type=maybe(st.just("realtime")),
        instructions=maybe(st.text(max_size=30)),
        output_modalities=maybe(st.sampled_from([["audio"], ["text"]])),
        max_output_tokens=maybe(st.integers(1, 4096) | st.just("inf")),
        temperature=maybe(st.floats(0, 2)),
        audio=maybe(audio),
        tools=anything,
    )
)
part = fields(
    type=maybe(st.sampled_from(["input_text", "input_audio", "input_image"])),
    text=maybe(st.text(max_size=20)),
    audio=maybe(b64),
    image_url=anything,
)
item = maybe(
    fields(
        type=maybe(st.just("message")),
        role=maybe(st.just("user")),
        content=maybe(st.lists(part, max_size=2)),
    )
)
bad_tokens = st.floats() | st.booleans() | st.text(max_size=3).filter(lambda t: t != "inf")
not_a_reply = st.one_of(  # response.create is never valid here: no reply is started
    st.integers(),
    st.text(max_size=8),
    st.lists(leaf, max_size=2),
    st.fixed_dictionaries({"max_output_tokens": bad_tokens}),
)
item_id = maybe(st.text(max_size=12))
truncated = fields(item_id=item_id, content_index=anything, audio_end_ms=anything)
BODIES = {
    "session.update": st.fixed_dictionaries({"session": session}),
    "input_audio_buffer.append": fields(audio=maybe(b64)),
    "input_audio_buffer.commit": fields(),
    "input_audio_buffer.clear": fields(),
    "conversation.item.create": fields(item=item, previous_item_id=anything),
    "conversation.item.retrieve": fields(item_id=item_id),
    "conversation.item.delete": fields(item_id=item_id),
    "conversation.item.truncate": truncated,
    "response.create": st.fixed_dictionaries({"response": not_a_reply}),
    "response.cancel": fields(response_id=anything),
}


@st.composite
def realtime_events(draw: st.DrawFn) -> str:
    # Mostly known types, session.update most of all: it has the most fields to get wrong.
    kind = draw(st.sampled_from([*sorted(BODIES), *["session.update"] * 6, None]))
    kind = draw(anything) if kind is None else kind
    event: dict[str, Any] = {
        "type": kind,
        **draw(BODIES.get(kind, fields()) if isinstance(kind, str) else fields()),
    }
    if draw(st.booleans()):
        event["event_id"] = draw(maybe(st.text(min_size=1, max_size=20)))
    return json.dumps(event)


def _check_realtime(client: Realtime, text: str) -> None:
    replies = client.answers(text)
    errors = [r["error"] for r in replies if r["type"] == "error"]
    assert all(e["type"] == "invalid_request_error" for e in errors), errors  # no server_error
    try:
        event = json.loads(text)
    except (ValueError, RecursionError):  # nested beyond the parser: refused before parsing
        event = {}
    if event.get("type") != "input_audio_buffer.append":  # audio alone has nothing to answer
        assert replies, f"no answer to {text[:200]}"
    given_id = event.get("event_id")
    if errors and isinstance(given_id, str):
        assert errors[0]["event_id"] == given_id, errors


def test_realtime_events_fuzzed(logged_server: LoggedServer) -> None:
    client = Realtime(logged_server)

    @FUZZ
    @given(text=realtime_events())
    def one(text: str) -> None:
        _check_realtime(client, text)

    for text, _param in REALTIME_CASES:
        one = example(text=text)(one)
    try:
        one()
        # The session still works: an update, then a manual turn through the audio buffer.
        manual = {"output_modalities": ["text"], "audio": {"input": {"turn_detection": None}}}
        updated = client.answers({"type": "session.update", "session": manual})[-1]
        assert updated["type"] == "session.updated", updated
        silence = base64.b64encode(bytes(24000)).decode()  # half a second at 24 kHz
        client.send({"type": "input_audio_buffer.append", "audio": silence})
        client.send({"type": "input_audio_buffer.commit"})
        kinds = [e["type"] for e in client.until("conversation.item.done")]
        assert "input_audio_buffer.committed" in kinds, kinds
    finally:
        client.close()
    logged_server.assert_clean()


voice_texts = st.one_of(
    st.fixed_dictionaries(
        {"type": maybe(st.sampled_from(["text", "image", "interrupt", "ping"]))},
        optional={
            "text": anything.filter(lambda v: not isinstance(v, str)) | st.just("   "),
            "data": anything,
        },
    )
    .filter(lambda m: m["type"] != "end")
    .map(json.dumps),
    st.text(max_size=40).filter(lambda t: "end" not in t),
)
voice_messages = voice_texts | st.binary(max_size=64)


def _check_voice(client: Voice, message: str | bytes) -> None:
    replies = client.answers(message)
    errors = [r for r in replies if r["type"] == "error"]
    assert all(e["code"] != "INTERNAL" for e in errors), errors
    if isinstance(message, bytes):
        quiet = len(message) % 2 == 0  # whole samples: audio, nothing to answer
    else:
        try:
            parsed = json.loads(message)
        except (ValueError, RecursionError):
            parsed = None
        quiet = isinstance(parsed, dict) and parsed.get("type") in ("ping", "interrupt")
    assert quiet or errors, f"no answer to {message[:200]!r}"


def test_voice_messages_fuzzed(logged_server: LoggedServer) -> None:
    client = Voice(logged_server)

    @settings(FUZZ, max_examples=100)
    @given(message=voice_messages)
    def one(message: str | bytes) -> None:
        _check_voice(client, message)

    for message, _code, _param in VOICE_CASES:
        one = example(message=message)(one)
    try:
        one()
        client.socket.send(json.dumps({"type": "text", "text": "What is the capital of France?"}))
        assert client.until("reply")[-1]["text"].strip()
    finally:
        client.close()
    logged_server.assert_clean()
