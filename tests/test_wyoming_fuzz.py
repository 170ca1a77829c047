"""Fuzzing the Wyoming door: generated events, each answered, the session alive after each.

Events of every type a client may send (and a few it may not), with data built from the
fields the protocol uses and random JSON, and sometimes a payload. Each is followed by a
``ping`` whose ``pong`` marks the end of its answer, which must hold nothing but an ``error`` or
the protocol's own replies; the same connection must then answer ``describe`` with
``info``, and the server's log must hold no traceback. Seeded with every case of issue 33.
Bounded: 100 examples on one real server (about 5 s).
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from tests.serving import free_port, start
from tests.test_wyoming_hostile import BAD_EVENTS, assert_clean
from tests.wyoming_raw import RawClient, raw_event

KINDS = [
    "describe",
    "ping",
    "transcribe",
    "audio-start",
    "audio-chunk",
    "audio-stop",
    "synthesize",
    "synthesize-start",
    "synthesize-chunk",
    "synthesize-stop",
    "transcript",
    "detect",
]
OTHER_KINDS = ["info", "run-pipeline", "handled", "", "x" * 300]
# What the server may send back, besides ``error``, while answering a client's event.
REPLIES = {
    "info",
    "pong",
    "audio-start",
    "audio-chunk",
    "audio-stop",
    "synthesize-stopped",
    "transcript-start",
    "transcript-chunk",
    "transcript-stop",
    "transcript",
    "handled-start",
    "handled-chunk",
    "handled-stop",
    "handled",
    "detection",
    "not-detected",
    "error",
}
BARRIERS = itertools.count()
FIELDS = ["text", "rate", "width", "channels", "names", "voice", "language", "name", "speaker"]

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**70), 2**70),
    st.sampled_from([1, 2, 4, 8000, 16000, 22050, 48000]),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=40),
    st.sampled_from(["piper-en_US-joe-medium", "hey_jarvis", "en", "nope", "Hello there."]),
)
values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
# Values a field takes in a proper event, so that many generated events are (nearly) right.
PROPER: dict[str, st.SearchStrategy[Any]] = {
    "text": st.text(max_size=60) | st.sampled_from(["Hello there.", "What time is it?"]),
    "rate": st.sampled_from([8000, 16000, 22050, 44100, 48000]),
    "width": st.sampled_from([1, 2, 4]),
    "channels": st.integers(1, 2),
    "names": st.none() | st.lists(st.sampled_from(["hey_jarvis", "alexa", "ok_google"])),
    "voice": st.sampled_from(
        [{"name": "piper-en_US-joe-medium"}, {"language": "en_US"}, {"name": "nope"}, {}]
    ),
    "language": st.sampled_from(["en", "de", "xx"]),
}
random_datas = st.dictionaries(st.sampled_from(FIELDS) | st.text(max_size=8), values, max_size=5)
plausible_datas = st.fixed_dictionaries(
    {}, optional={name: proper | values for name, proper in PROPER.items()}
)
proper_datas = st.fixed_dictionaries({}, optional=PROPER)
datas = random_datas | plausible_datas | proper_datas
payloads = st.one_of(st.just(b""), st.binary(max_size=4096))
events = st.builds(
    lambda kind, data, payload: raw_event(kind, data, payload),
    st.sampled_from(KINDS) | st.sampled_from(OTHER_KINDS),
    datas,
    payloads,
)


@pytest.fixture(scope="module")
def fuzzed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[RawClient, Path]]:
    """One connection to a real server (log in a file), kept across the examples."""
    log = tmp_path_factory.mktemp("fuzz") / "server.log"
    port = free_port()
    with log.open("w") as sink:
        proc, _ = start("--wyoming-port", str(port), log=sink)
    client = RawClient(port)
    try:
        yield client, log
    finally:
        client.close()
        proc.terminate()
        proc.wait(timeout=10)
    assert_clean(log.read_text())


def _seeded(test: Any) -> Any:
    for event, _ in BAD_EVENTS.values():
        test = example(event=event)(test)
    return test


@settings(
    max_examples=100,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(event=events)
@_seeded
def test_every_generated_event_is_answered_and_the_session_goes_on(
    fuzzed: tuple[RawClient, Path], event: bytes
) -> None:
    client, log = fuzzed
    barrier = f"barrier {next(BARRIERS)}"  # what answers this event ends at its pong
    client.send(event + raw_event("ping", {"text": barrier}))
    answered = client.until("pong")
    while answered[-1].data.get("text") != barrier:
        answered += client.until("pong")
    assert {e.type for e in answered} <= REPLIES, [e.type for e in answered]
    if _kind(event) in OTHER_KINDS:  # not a client's event: refused, never ignored in silence
        assert "error" in [e.type for e in answered], (event[:80], answered)
    client.send(raw_event("describe"))
    assert [e.type for e in client.until("info")] == ["info"]  # and the session goes on
    assert_clean(log.read_text())


def _kind(event: bytes) -> str | None:
    """The type in ``event``'s header line, when the header is readable JSON."""
    try:
        header = json.loads(event.split(b"\n", 1)[0])
    except ValueError:
        return None
    kind = header.get("type") if isinstance(header, dict) else None
    return kind if isinstance(kind, str) else None
