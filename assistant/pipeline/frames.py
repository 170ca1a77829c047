"""Typed frames exchanged by pipeline stages.

Data frames flow in order and belong to a turn (``turn_id`` > 0) or to none (0). Control frames
overtake queued data: a stage handles them as soon as they arrive and forwards them at once.
"""

from __future__ import annotations

from dataclasses import dataclass

from assistant.types import Pcm16


@dataclass(kw_only=True)
class Frame:
    """Base of every frame."""

    turn_id: int = 0  # 0 = not bound to a turn


@dataclass(kw_only=True)
class DataFrame(Frame):
    """Ordered payload; dropped once its turn is cancelled."""


@dataclass(kw_only=True)
class ControlFrame(Frame):
    """Overtakes data frames."""


# --- data ---------------------------------------------------------------------------------


@dataclass(kw_only=True)
class AudioFrame(DataFrame):
    """Captured audio, mono int16."""

    pcm: Pcm16
    sample_rate: int  # Hertz
    pts: float  # stream seconds at the first sample
    wall: float  # time.monotonic() when the last sample became available
    vad_pcm: Pcm16 | None = None  # what speech decisions are made on (gated), if not ``pcm``
    device_time: float | None = None  # PortAudio clock at the last sample (live capture only)

    @property
    def end(self) -> float:
        """Stream seconds after the last sample."""
        return self.pts + len(self.pcm) / self.sample_rate


@dataclass(kw_only=True)
class SpeechPauseFrame(DataFrame):
    """Speech paused: the utterance so far, to transcribe speculatively during the hangover."""

    audio: Pcm16
    start: float  # stream seconds
    end: float  # stream seconds


@dataclass(kw_only=True)
class SpeechProgressFrame(DataFrame):
    """Speech is going on: the utterance so far, to recognise while the user still speaks."""

    audio: Pcm16
    start: float  # stream seconds of speech onset
    end: float  # stream seconds at the end of ``audio``


@dataclass(kw_only=True)
class UtteranceFrame(DataFrame):
    """One utterance found by the VAD."""

    audio: Pcm16
    sample_rate: int  # Hertz
    start: float  # stream seconds of speech onset
    end: float  # stream seconds of the true end of speech
    speech_end_wall: float  # monotonic time at which the speech really ended
    # Sent as a pause began, before the end of the turn was decided: its reply is made but
    # held back (HoldStage) until a ConfirmFrame, and thrown away on a RetractFrame.
    tentative: bool = False


@dataclass(frozen=True)
class ReplyRequest:
    """A reply asked for explicitly (``Conversation.respond``), and how it differs."""

    instructions: str | None = None  # its own system prompt (None: the settings')
    max_tokens: int | None = None  # its own length limit
    speak: bool = True  # False: text only, nothing goes to the voice
    remember: bool = True  # False: out of band, the history does not keep it
    say: str | None = None  # these words, as they are, instead of the model's (an announcement)
    tool_choice: str | None = None  # its own tool choice (None: the conversation's)
    follows_result: bool = False  # it answers a tool's result: a forced choice forces no call


@dataclass(kw_only=True)
class TranscriptFrame(DataFrame):
    """The user's words for a turn (from speech, or typed), or a request for a reply."""

    text: str
    speech_end_wall: float  # monotonic time the user stopped (or submitted the text)
    request: ReplyRequest | None = None  # set for a reply asked for, not words of the user
    language: str = ""  # detected by speech recognition ("" = not known)


@dataclass(kw_only=True)
class SpeculativeTranscriptFrame(DataFrame):
    """What the user has said so far, heard at a pause that may become the end of the turn.

    ``open`` marks confirmed words heard while the user is still speaking: more will follow.
    """

    text: str
    open: bool = False


@dataclass(kw_only=True)
class TextFrame(DataFrame):
    """A piece of the assistant's reply as the model streams it."""

    text: str
    language: str = ""  # the reply's language, when it is not the default one


@dataclass(kw_only=True)
class ClauseFrame(DataFrame):
    """A clause of the reply, ready to be spoken."""

    text: str
    language: str = ""  # the voice for it (see TextFrame)


@dataclass(kw_only=True)
class ReplyAudioFrame(DataFrame):
    """Spoken reply audio, mono int16, with the clause it speaks."""

    pcm: Pcm16
    sample_rate: int  # Hertz
    clause: str = ""
    clause_index: int = 0  # counts the clauses of the turn from 1; 0 = not known


@dataclass(kw_only=True)
class ReplyEndFrame(DataFrame):
    """The model finished the reply of this turn (everything of the turn is upstream of it)."""

    text: str
    finish_reason: str  # stop | length | cancelled | error


@dataclass(kw_only=True)
class EndFrame(DataFrame):
    """The input is exhausted; the pipeline finishes once this reaches the sink."""


# --- control ------------------------------------------------------------------------------


@dataclass(kw_only=True)
class InterruptFrame(ControlFrame):
    """Barge-in: every turn up to and including ``turn_id`` is cancelled."""


@dataclass(kw_only=True)
class RetractFrame(ControlFrame):
    """The turn ``turn_id`` is withdrawn (the user went on speaking): nothing of it may remain.

    It cancels that turn's work everywhere, and only that turn's: an earlier reply still being
    made (no barge-in: a file, half duplex) goes on. It leaves no trace: no reply in the
    history, no ``interrupted`` event, no audio.
    """


@dataclass(kw_only=True)
class ConfirmFrame(ControlFrame):
    """The tentative turn ``turn_id`` is the user's turn after all: its reply may be heard."""


@dataclass(kw_only=True)
class HeardFrame(ControlFrame):
    """What the user heard of turn ``turn_id``'s reply when it was cut (a barge-in).

    The sink sends it downstream as it stops the audio, ahead of the InterruptFrame; a
    control frame, because data of the cancelled turn is dropped. The heard stage at the end
    of the pipeline keeps only these words of the reply in the conversation context.
    """

    heard: str


@dataclass(kw_only=True)
class CancelFrame(ControlFrame):
    """Stop the whole pipeline now."""

    reason: str = ""
