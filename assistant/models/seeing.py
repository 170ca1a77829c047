"""Pictures in a conversation: a LanguageModel handing turns with a picture to the vision model.

``SeeingChatModel`` wraps the chat model. For each turn it asks its ``Eyes`` whether the user's
words come with a picture: an image given with ``--image`` (every turn is about it), or a camera
frame when the words contain a trigger phrase ("what do you see") or when every turn looks
(kiosk mode). With a picture, the vision model answers, with the user's words as the question;
without one the chat model answers as usual. The pipeline around it (speech in, speech out,
barge-in, streaming to the server) does not change: text, image and audio inputs all end as text.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Generator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from assistant.config import Settings
from assistant.errors import DeviceError
from assistant.models.interfaces import ChatMessage, VisionModel, VoiceModel
from assistant.models.request import TextRequest, Usage
from assistant.vision.camera import Camera
from assistant.vision.images import ImageInput, PreparedImage, check_image

if TYPE_CHECKING:
    from assistant.llm.turn_end import TurnEndScore

log = logging.getLogger(__name__)


@dataclass
class Eyes:
    """Decides which turns come with a picture, and takes it."""

    image: ImageInput | None = None  # attached to every turn
    camera: str | None = None  # device for camera turns ("" = the default); None = no camera
    triggers: tuple[str, ...] = ()
    always: bool = False  # every turn looks through the camera
    warmup_s: float = 1.0
    _prepared: PreparedImage | None = field(default=None, init=False, repr=False)

    def show(self, image: ImageInput | None) -> None:
        """Make ``image`` the picture of every turn from now on (None: no picture again)."""
        self.image, self._prepared = image, None

    def picture_for(self, words: str, vision: VisionModel) -> PreparedImage | None:
        """The picture that goes with ``words``, prepared for ``vision``; None for none."""
        if self.image is not None:
            if self._prepared is None:  # decoded and shrunk once, not every turn
                self._prepared = vision.prepare(self.image)
            return self._prepared
        if self.camera is None:
            return None
        spoken = words.lower()
        if not self.always and not any(trigger in spoken for trigger in self.triggers):
            return None
        try:
            with Camera(self.camera, self.warmup_s) as camera:
                return vision.prepare(camera.snapshot())
        except DeviceError as exc:  # the conversation goes on, answered without a picture
            log.warning("%s", exc)
            return None


class SeeingChatModel:
    """A LanguageModel: the vision model for turns with a picture, ``llm`` for the rest.

    ``vision`` may come later (loaded when the first picture arrives); until then every turn
    is the chat model's.
    """

    def __init__(self, llm: VoiceModel, vision: VisionModel | None, eyes: Eyes) -> None:
        self.llm = llm
        self.vision = vision
        self.eyes = eyes
        self.free_grammar = llm.free_grammar  # a reply held to a grammar is the chat model's
        self.scores_turn_end = llm.scores_turn_end  # words without a picture are the chat model's

    def stream_chat(
        self,
        messages: list[ChatMessage],
        request: TextRequest,
        cancel: threading.Event,
        usage: Usage | None = None,
    ) -> Generator[str, None, str]:
        """Yield the reply; return why it ended (stop, length or cancelled).

        A reply held to a grammar (a tool call) is the chat model's, picture or not.
        """
        question = messages[-1].content if messages and messages[-1].role == "user" else ""
        vision = self.vision if request.grammar is None else None
        picture = self.eyes.picture_for(question, vision) if vision is not None else None
        if vision is None or picture is None:
            return (yield from self.llm.stream_chat(messages, request, cancel, usage))
        log.debug("turn answered by the vision model (%dx%d)", picture.width, picture.height)
        temperature = request.params.temperature
        try:
            yield from vision.answer(picture, question, request.max_tokens, temperature, cancel)
        finally:
            if usage is not None:
                usage.prompt_tokens = vision.stats.prompt_tokens
                usage.completion_tokens = vision.stats.completion_tokens
                usage.finish_reason = vision.stats.finish_reason or None
        if cancel.is_set():
            return "cancelled"
        return vision.stats.finish_reason or "stop"

    def prefill(self, messages: list[ChatMessage], open_end: bool = False) -> None:
        """Warm the chat model's cache (the vision model starts afresh per picture)."""
        self.llm.prefill(messages, open_end)

    def turn_end(self, messages: list[ChatMessage]) -> TurnEndScore | None:
        """The chat model's opinion (a picture changes nothing about how the words end)."""
        return self.llm.turn_end(messages)

    def interrupt(self) -> None:
        """Stop the chat model's call (an answer about a picture stops with its ``cancel``)."""
        self.llm.interrupt()

    def fit_history(self, messages: list[ChatMessage], max_tokens: int) -> list[ChatMessage]:
        """The chat model's history fitting."""
        return self.llm.fit_history(messages, max_tokens)

    def close(self) -> None:
        """Close the chat model (the vision model is shared and stays)."""
        self.llm.close()


def eyes_for(settings: Settings, image: Path | None = None) -> Eyes | None:
    """Which turns of a conversation come with a picture; None when none can.

    With ``image`` every turn is about it. Without, when a vision model is configured (here or
    on a server), turns with a trigger phrase (or all, with ``always_attach``) look through
    ``vision.camera``.
    """
    s = settings.vision
    if image is not None:
        check_image(image)
        return Eyes(image=image)
    if not s.configured:
        return None
    return Eyes(
        camera=s.camera,
        triggers=tuple(s.triggers),
        always=s.always_attach,
        warmup_s=s.camera_warmup_s,
    )
