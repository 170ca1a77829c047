"""The heard stage: what the user heard of a cut reply goes into the conversation context.

It is the last stage, after the sink (pipecat's assistant context aggregator sits after the
output transport for the same reason): the sink knows what was played, and sends it down as a
``HeardFrame`` when a barge-in stops the audio. By then the InterruptFrame has passed the LLM
stage, which has recorded the reply as far as it was made, so the order is the pipeline's own.
"""

from __future__ import annotations

from assistant.pipeline.context import ConversationContext
from assistant.pipeline.frames import Frame, HeardFrame
from assistant.pipeline.processor import FrameProcessor


class HeardStage(FrameProcessor):
    """Cuts the context's reply of an interrupted turn to the words the user heard."""

    def __init__(self, context: ConversationContext) -> None:
        super().__init__("heard")
        self.context = context

    async def queue_frame(self, frame: Frame) -> None:
        """Apply a ``HeardFrame`` on arrival; every frame goes on as usual."""
        if isinstance(frame, HeardFrame):
            self.context.interrupted(frame.turn_id, frame.heard)
        await super().queue_frame(frame)
