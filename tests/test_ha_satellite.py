"""`assistant kiosk --home-assistant`: the kiosk as Home Assistant's voice satellite.

Home Assistant's side is played by aioesphomeapi's APIClient, as Home Assistant's ESPHome
integration uses it, over loopback and with the API's encryption. The kiosk is a real process
on the private PulseAudio (tests/pulse.py): Piper's voice goes into its microphone, and what
it plays is recorded from the speaker's monitor and transcribed.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import socket
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from aioesphomeapi import (
    APIClient,
    InvalidEncryptionKeyAPIError,
    RequiresEncryptionAPIError,
    VoiceAssistantEventType,
    VoiceAssistantTimerEventType,
)

from assistant.models.piper import PiperTTS
from assistant.models.whisper import WhisperSTT
from tests import media
from tests.kiosk_process import Kiosk
from tests.media_server import MediaServer
from tests.pulse import PulseServer, needs_pulse
from tests.serving import free_port

pytestmark = needs_pulse()
KEY = base64.b64encode(bytes(range(32))).decode()
WRONG_KEY = base64.b64encode(bytes(32)).decode()
Ev = VoiceAssistantEventType


@pytest.fixture(scope="module")
def files(tts: PiperTTS, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, str]]:
    """A folder of WAV files and the URL of a local HTTP server serving it."""
    root = tmp_path_factory.mktemp("ha-media")

    def wav(name: str, *parts: np.ndarray) -> None:
        media.write_wav(root / f"{name}.wav", np.concatenate(parts))

    wav("reply", media.speech(tts, "It is twelve o'clock."))
    wav("news", media.speech(tts, "The washing machine has finished."))
    wav("time", media.speech(tts, "Hey Jarvis, what time is it?"), media.silence(1.5))
    wav("capital", media.speech(tts, "Hey Jarvis, what is the capital of France?"))
    wav("wake", media.speech(tts, "Hey Jarvis."), media.silence(0.5))
    story = "The washing machine has finished, and the dryer will start in ten minutes."
    wav("long", *[media.speech(tts, story)] * 3)
    with MediaServer(root) as server:
        yield root, server.url


class Satellite(Kiosk):
    """A kiosk that is Home Assistant's satellite, on ``ha_port``."""

    def __init__(self, pulse: PulseServer) -> None:
        self.ha_port = free_port()
        super().__init__(
            pulse,
            "kiosk.home_assistant=true",
            "kiosk.home_assistant_host=127.0.0.1",
            f"kiosk.home_assistant_port={self.ha_port}",
            f'kiosk.home_assistant_key="{KEY}"',
            "kiosk.wake_word=hey_jarvis",
            "kiosk.device_name=kitchen",
        )


@pytest.fixture(scope="module")
def satellite(pulse: PulseServer) -> Iterator[Satellite]:
    running = Satellite(pulse)
    try:
        running.wait_listening()
        yield running
    finally:
        if running.process.poll() is None:
            running.process.kill()
            running.process.wait()


class HomeAssistant:
    """Home Assistant's ESPHome integration, reduced to what these tests look at."""

    def __init__(self, port: int, key: str | None = KEY) -> None:
        self.client = APIClient("127.0.0.1", port, None, noise_psk=key, client_info="test")
        self.starts: asyncio.Queue[str | None] = asyncio.Queue()
        self.finished: asyncio.Queue[bool] = asyncio.Queue()
        self.audio = bytearray()

    async def connect(self) -> None:
        await self.client.connect(login=True)
        self.client.subscribe_voice_assistant(
            handle_start=self._start,
            handle_stop=self._stop,
            handle_audio=self._audio,
            handle_announcement_finished=self._finished,
        )

    async def _start(
        self, conversation_id: str, flags: int, settings: Any, phrase: str | None
    ) -> int:
        self.audio = bytearray()
        self.starts.put_nowait(phrase)
        return 0  # the audio comes over the API

    async def _stop(self, abort: bool) -> None:
        pass

    async def _audio(self, data: bytes, data2: bytes | None) -> None:
        self.audio += data

    async def _finished(self, message: Any) -> None:
        self.finished.put_nowait(message.success)

    def event(self, kind: VoiceAssistantEventType, **data: str) -> None:
        self.client.send_voice_assistant_event(kind, data or None)


def health(kiosk: Kiosk) -> dict[str, Any]:
    return kiosk.health()["kiosk"]["home_assistant"]


def heard(stt: WhisperSTT, pcm: np.ndarray) -> str:
    return stt.transcribe(pcm.astype(np.float32) / 32768).text.lower()


async def _until(check: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, what
        await asyncio.sleep(0.1)


def test_home_assistant_connects_with_the_key_and_sees_the_device(satellite: Satellite) -> None:
    port = satellite.ha_port

    async def scenario() -> None:
        for key, refusal in ((WRONG_KEY, InvalidEncryptionKeyAPIError),
                             (None, RequiresEncryptionAPIError)):  # fmt: skip
            with pytest.raises(refusal):
                await HomeAssistant(port, key).client.connect(login=True)
        with socket.create_connection(("127.0.0.1", port), timeout=5) as raw:
            raw.sendall(b"\x05\x00\x00")  # no frame of the protocol starts so
            raw.settimeout(5)
            with contextlib.suppress(ConnectionError):
                while raw.recv(4096):
                    pass  # closed by the kiosk: recv returns b""
        ha = HomeAssistant(port)
        await ha.connect()
        info = await ha.client.device_info()
        assert info.name == "kitchen" and len(info.mac_address) == 17
        assert info.voice_assistant_feature_flags & 1  # a voice assistant
        entities, _ = await ha.client.list_entities_services()
        assert {e.object_id for e in entities} == {"media_player", "mute"}
        config = await ha.client.get_voice_assistant_configuration(5)
        assert config.active_wake_words == ["hey_jarvis"]
        assert "okay_nabu" in [w.id for w in config.available_wake_words]
        await _until(lambda: health(satellite)["connected"], 5, "subscription not seen")
        assert health(satellite)["answering"] == "home_assistant"
        for word in ("okay_nabu", "hey_jarvis"):  # chosen in Home Assistant, and back
            await ha.client.set_voice_assistant_configuration([word])
            await _until(lambda w=word: health(satellite)["wake_word"] == w, 5, f"not {word}")
        await ha.client.disconnect()
        await _until(lambda: not health(satellite)["connected"], 5, "disconnect not seen")
        assert health(satellite)["answering"] == "local"

    asyncio.run(scenario())


def test_a_spoken_question_is_a_run_and_its_reply_is_played(
    satellite: Satellite, pulse: PulseServer, files: tuple[Path, str], stt: WhisperSTT,
    tmp_path: Path,
) -> None:  # fmt: skip
    root, url = files

    async def scenario() -> None:
        ha = HomeAssistant(satellite.ha_port)
        await ha.connect()
        await asyncio.to_thread(pulse.play, root / "time.wav")
        assert await asyncio.wait_for(ha.starts.get(), 10) == "hey jarvis"
        await _until(lambda: len(ha.audio) > 32000 * 1.0, 10, "no audio streamed")
        question = np.frombuffer(bytes(ha.audio), np.int16)
        assert "time" in heard(stt, question), heard(stt, question)
        for kind in (Ev.VOICE_ASSISTANT_RUN_START, Ev.VOICE_ASSISTANT_STT_VAD_END):
            ha.event(kind)
        ha.event(Ev.VOICE_ASSISTANT_INTENT_END, conversation_id="c1", continue_conversation="1")
        with pulse.record(tmp_path / "speaker.wav") as recording:
            ha.event(Ev.VOICE_ASSISTANT_TTS_END, url=f"{url}/reply.wav")
            ha.event(Ev.VOICE_ASSISTANT_RUN_END)
            assert await asyncio.wait_for(ha.finished.get(), 20) is True
        played, _ = media.read_wav(recording)
        assert "o'clock" in heard(stt, played) or "12" in heard(stt, played)
        # The conversation continues: the next run opens without the wake word.
        assert await asyncio.wait_for(ha.starts.get(), 5) is None
        ha.event(Ev.VOICE_ASSISTANT_RUN_END)
        await _until(lambda: health(satellite)["state"] == "idle", 5, "the run did not end")
        assert health(satellite)["runs"] >= 2
        await ha.client.disconnect()

    asyncio.run(scenario())


def test_an_announcement_plays_and_then_listens_without_the_wake_word(
    satellite: Satellite, files: tuple[Path, str]
) -> None:
    _, url = files

    async def scenario() -> None:
        ha = HomeAssistant(satellite.ha_port)
        await ha.connect()
        answer = await ha.client.send_voice_assistant_announcement_await_response(
            f"{url}/news.wav", 30, preannounce_media_id=f"{url}/wake.wav", start_conversation=True
        )
        assert answer.success
        assert await asyncio.wait_for(ha.starts.get(), 5) is None  # no wake word: it listens
        ha.event(Ev.VOICE_ASSISTANT_RUN_END)
        await ha.client.disconnect()

    asyncio.run(scenario())


def test_a_finished_timer_rings_until_stopped(
    satellite: Satellite, pulse: PulseServer, files: tuple[Path, str], tmp_path: Path
) -> None:
    root, _ = files

    async def scenario() -> None:
        ha = HomeAssistant(satellite.ha_port)
        await ha.connect()
        finished = VoiceAssistantTimerEventType.VOICE_ASSISTANT_TIMER_FINISHED
        ha.client.send_voice_assistant_timer_event(finished, "t1", "pasta", 60, 0, False)
        await _until(lambda: bool(health(satellite)["timers"]), 5, "timer not kept")
        assert health(satellite)["timers"][0]["name"] == "pasta"
        with pulse.record(tmp_path / "ringing.wav") as ringing:
            await asyncio.sleep(2.0)
        assert media.rms_dbfs(media.read_wav(ringing)[0]) > -40  # it rings
        await asyncio.to_thread(pulse.play, root / "wake.wav")  # "stop"
        await _until(lambda: not health(satellite)["timers"], 5, "still ringing")
        await asyncio.sleep(0.5)
        with pulse.record(tmp_path / "after.wav") as after:
            await asyncio.sleep(1.5)
        assert media.rms_dbfs(media.read_wav(after)[0]) < -60  # silent
        assert ha.starts.empty()  # "stop" opened no run
        await ha.client.disconnect()

    asyncio.run(scenario())


def test_when_home_assistant_leaves_mid_run_the_kiosk_answers_locally(
    satellite: Satellite, pulse: PulseServer, files: tuple[Path, str]
) -> None:
    root, _ = files

    async def scenario() -> None:
        ha = HomeAssistant(satellite.ha_port)
        await ha.connect()
        player = pulse.play_async(root / "capital.wav")
        assert await asyncio.wait_for(ha.starts.get(), 10) == "hey jarvis"
        await ha.client.disconnect(force=True)  # gone mid-run
        await asyncio.to_thread(player.wait)
        await _until(lambda: health(satellite)["answering"] == "local", 5, "still remote")
        assert health(satellite)["state"] == "idle"

    asyncio.run(scenario())
    pulse.play(root / "capital.wav")  # the wake word again: answered by the local models
    turn = satellite.turn(timeout=60)
    assert "capital" in turn["transcript"].lower() and turn["reply"]


def test_the_media_player_plays_stops_on_the_wake_word_and_the_switch_mutes(
    satellite: Satellite, pulse: PulseServer, files: tuple[Path, str], tmp_path: Path
) -> None:
    from aioesphomeapi import MediaPlayerEntityState, MediaPlayerState, SwitchState

    def shown(states: list[Any]) -> MediaPlayerState | None:
        """The media player's state as last pushed."""
        pushed = [s.state for s in states if isinstance(s, MediaPlayerEntityState)]
        return pushed[-1] if pushed else None

    root, url = files

    async def scenario() -> None:
        ha = HomeAssistant(satellite.ha_port)
        await ha.connect()
        entities, _ = await ha.client.list_entities_services()
        keys = {e.object_id: e.key for e in entities}
        states: list[Any] = []
        ha.client.subscribe_states(states.append)
        ha.client.media_player_command(keys["media_player"], media_url=f"{url}/long.wav")
        await _until(lambda: shown(states) == MediaPlayerState.PLAYING, 5, "never playing")
        with pulse.record(tmp_path / "media.wav") as recording:
            await asyncio.sleep(1.0)
        assert media.rms_dbfs(media.read_wav(recording)[0]) > -40  # heard
        await asyncio.to_thread(pulse.play, root / "wake.wav")  # barge-in: it stops, a run opens
        assert await asyncio.wait_for(ha.starts.get(), 5) == "hey jarvis"
        await _until(lambda: shown(states) == MediaPlayerState.IDLE, 5, "still playing")
        ha.event(Ev.VOICE_ASSISTANT_RUN_END)
        ha.client.switch_command(keys["mute"], True)  # the microphone muted: no wake word
        await _until(lambda: any(isinstance(s, SwitchState) and s.state for s in states), 5,
                     "mute not shown")  # fmt: skip
        assert health(satellite)["microphone_muted"]
        await asyncio.to_thread(pulse.play, root / "wake.wav")
        await asyncio.sleep(1.0)
        assert ha.starts.empty()
        ha.client.switch_command(keys["mute"], False)
        await _until(lambda: not health(satellite)["microphone_muted"], 5, "still muted")
        await ha.client.disconnect()

    asyncio.run(scenario())
