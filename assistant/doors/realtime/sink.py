"""The Realtime API's sink: reply audio as ``response.output_audio.delta`` events."""

from __future__ import annotations

from assistant.doors.realtime.audio import AudioOut
from assistant.doors.realtime.events import Emitter
from assistant.doors.realtime.items import SpokenReplies
from assistant.doors.socket_audio import PlayedSink
from assistant.pipeline.frames import ReplyAudioFrame


class RealtimeSink(PlayedSink):
    """Reply audio as ``response.output_audio.delta`` events."""

    def __init__(self, emitter: Emitter, audio_out: AudioOut, spoken: SpokenReplies) -> None:
        super().__init__("realtime-sink")
        self.emitter, self.audio_out, self.spoken = emitter, audio_out, spoken

    async def send_audio(self, frame: ReplyAudioFrame) -> None:
        """Encode the piece in the session's format and queue it."""
        self.spoken.add(frame)
        self.emitter.audio_delta(frame.turn_id, self.audio_out.encode(frame.pcm))
