"""The narrow model interfaces: a new backend (remote, GPU, another library) is one more class."""

from __future__ import annotations

import threading
from collections.abc import Generator, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

# Re-exported: these names were first published here.
from assistant.types import ChatMessage as ChatMessage
from assistant.types import Float32 as Float32
from assistant.types import Pcm16 as Pcm16

if TYPE_CHECKING:
    from assistant.llm.turn_end import TurnEndScore
    from assistant.models.request import TextRequest, Usage
    from assistant.vision.images import ImageInput, PreparedImage


@dataclass(frozen=True)
class Transcript:
    """What a speech-to-text model heard in one utterance."""

    text: str  # "" when the audio held no speech
    language: str
    no_speech_prob: float  # 0..1, the model's belief that there was no speech
    avg_logprob: float  # mean token log-probability of the kept text


class SpeechToText(Protocol):
    """Turns one utterance of audio into text."""

    sample_rate: int  # Hertz the model expects
    # Whether ``transcribe_after`` works; False where it always returns None (recognition
    # while the user speaks then decodes each pass whole).
    continues: bool

    def transcribe(self, audio: Float32) -> Transcript:
        """Transcribe mono float32 audio in [-1, 1] at ``sample_rate``."""
        ...

    def transcribe_after(self, audio: Float32, prefix: str) -> Transcript | None:
        """Transcribe ``audio`` whose words begin with ``prefix``; only what follows is decoded.

        The decoder is forced to start with ``prefix``; ``text`` is the whole utterance
        (``prefix`` and the words after it, ``prefix`` kept as given), or "" when no speech
        was heard. None when the continuation failed to decode (the caller decodes it whole).
        """
        ...


class LanguageModel(Protocol):
    """A chat model that streams its reply: the one way anything chats with a model.

    A conversation holds one of its own (``VoiceModel``); the server lends one of its text
    backend's pool to each chat request (``TextBackend.pooled_chat``). Calls block: callers run
    them on a thread of their own, never on the event loop.
    """

    # Whether any GBNF grammar holds; False where only grammars made from a JSON schema do
    # (an OpenAI-compatible server takes a schema, not a grammar).
    free_grammar: bool
    # Whether ``turn_end`` gives the model's opinion; False where it cannot read its own
    # probabilities (a remote server), and ``turn_end`` then always returns None.
    scores_turn_end: bool

    def stream_chat(
        self,
        messages: list[ChatMessage],
        request: TextRequest,
        cancel: threading.Event,
        usage: Usage | None = None,
    ) -> Generator[str, None, str]:
        """Yield reply text pieces; return why it ended: stop, length or cancelled.

        Generation stops within one token once ``cancel`` is set. With ``request.grammar``
        the reply follows it (a model that cannot hold it raises ModelError before any piece).
        ``usage`` receives the tokens of the prompt and of the reply and the model's own finish
        reason, also when the stream is closed early.
        """
        ...

    def prefill(self, messages: list[ChatMessage], open_end: bool = False) -> None:
        """Process the start of a conversation ahead of time, so the first reply starts sooner.

        ``open_end``: the last message is the user's words so far, and more may follow; the
        prompt is read up to them only, as ``turn_end`` reads it.
        """
        ...

    def turn_end(self, messages: list[ChatMessage]) -> TurnEndScore | None:
        """How likely the model finds it that the last message, the user's words, ends there.

        Read just before the end-of-message token (the words' trailing punctuation left out),
        on the reply's own cached prompt: a reply to the same messages then evaluates only the
        few tokens after the words. Runs on the model's thread like a reply. None where the
        model gives no opinion; ValueError when the last message is not the user's.
        """
        ...

    def interrupt(self) -> None:
        """Stop the call running now (a prefill, a reply) within a moment; later calls run.

        The stopped call raises. For teardown: reading a prompt is otherwise one call that
        cannot be stopped, seconds long on a busy machine.
        """
        ...

    def fit_history(self, messages: list[ChatMessage], max_tokens: int) -> list[ChatMessage]:
        """Drop the oldest turns so the prompt plus ``max_tokens`` fits the context window."""
        ...


class VoiceModel(LanguageModel, Protocol):
    """A chat model of one conversation's own, closed when the conversation ends."""

    def close(self) -> None:
        """Free what the conversation's model holds (shared weights stay)."""
        ...


class TextToSpeech(Protocol):
    """Speaks text."""

    sample_rate: int  # Hertz of the audio it yields
    language: str  # the language code it speaks ("en"), "" where unknown

    def synthesize(self, text: str) -> Iterator[Pcm16]:
        """Yield mono int16 audio for ``text``, sentence by sentence."""
        ...


class EndOfTurn(Protocol):
    """Says whether a speaker has finished their turn, from the sound of it."""

    sample_rate: int  # Hertz of the audio it takes

    def probability(self, audio: Pcm16) -> float:
        """How likely (0..1) the speaker is done, given their utterance up to now."""
        ...


@dataclass
class VisionStats:
    """What a vision model's last answer cost."""

    prompt_tokens: int = 0  # the image's tokens included
    completion_tokens: int = 0
    finish_reason: str = ""  # stop or length ("" when stopped early)
    timings_ms: dict[str, float] = field(default_factory=dict)


class VisionModel(Protocol):
    """Answers questions about pictures, here (llava.py) or on a server (remote_vision.py).

    ``stats`` describes the answer that ended last.
    """

    name: str  # the model that answers
    handler: str  # the prompt format around the image ("openai" where the server chooses)
    stats: VisionStats

    def prepare(self, image: ImageInput) -> PreparedImage:
        """Normalise an image for this model (upright RGB, no larger than it looks at)."""
        ...

    def describe(self, image_png: bytes, prompt: str, cancel: threading.Event) -> Iterator[str]:
        """Yield the answer text for a PNG-encoded image."""
        ...

    def answer(
        self,
        image: PreparedImage | None,
        prompt: str,
        max_tokens: int | None = 256,
        temperature: float = 0.1,
        cancel: threading.Event | None = None,
    ) -> Iterator[str]:
        """Stream the answer about ``image`` (None: the question alone), until ``cancel``."""
        ...

    def close(self) -> None:
        """Free the model, or the connections to its server."""
        ...
