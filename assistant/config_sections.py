"""The sections of the configuration, one model each: what every key means and allows.

``assistant.config`` puts them together into ``Settings`` and loads them.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from assistant.config_remote import RemoteRole, named_for_fallback
from assistant.errors import ConfigError

DEFAULT_SYSTEM_PROMPT = (
    "You are a friendly voice assistant. Answer in one or two short sentences of plain "
    "spoken English, without lists, markdown or emojis."
)


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class SttSettings(RemoteRole):
    """Speech to text (faster-whisper here, or a remote server: see ``RemoteRole``)."""

    backend: Literal["local", "openai", "wyoming"] = "local"
    max_text_chars: int = Field(2000, ge=1)  # a remote transcript longer than this is cut off
    model: str = ""  # a manifest name or a path to a CTranslate2 folder; "" = default
    language: str = "en"
    beam_size: int = Field(1, ge=1, le=16)
    # CTranslate2's: int8 (CPU), int8_float16 / float16 (CUDA), float32, auto, ...
    compute_type: Literal[
        "auto", "default", "int8", "int8_float32", "int8_float16", "int8_bfloat16", "int16",
        "float16", "bfloat16", "float32",
    ] = "int8"  # fmt: skip
    device: Literal["cpu", "cuda", "auto"] = "cpu"  # auto: CUDA when CTranslate2 sees a device
    # 0 = one per core, less one beside the end-of-turn model (see models/loaders.stt_threads)
    threads: int = Field(0, ge=0)
    no_speech_threshold: float = Field(0.6, ge=0.0, le=1.0)
    log_prob_threshold: float = Field(-1.0, le=0.0)
    window_s: float = Field(10.0, ge=1.0, le=30.0)  # shortest encoder window; 30 = always full
    # Recognition while the user speaks: a pass on the utterance so far this often (ms of
    # speech; 0 = off, see pipeline/stages/stt.py for why off). With it, "full": the transcript
    # at the pause is the whole utterance decoded, as without; "tail": the words two passes
    # agreed on and a decode of the rest (cheaper, but it cannot mend a confirmed word).
    stream_ms: int = Field(0, ge=0, le=2000)
    stream_final: Literal["tail", "full"] = "full"


class LlmSettings(_Section):
    """The chat model (llama.cpp). Unset sampler fields come from ``preset``."""

    model: str = ""  # a manifest name or a path to a GGUF file; "" = default
    backend: Literal["local", "openai"] = "local"  # openai: an OpenAI-compatible server
    base_url: str = ""  # with backend "openai", e.g. http://127.0.0.1:8080/v1
    api_key: str = ""  # with backend "openai", sent as a Bearer token when set
    remote_model: str = ""  # with backend "openai": the model to ask for; "" = the first listed
    timeout_s: float = Field(60.0, gt=0, le=3600)  # with "openai": silence that fails a reply
    connect_timeout_s: float = Field(10.0, gt=0, le=60)
    retries: int = Field(1, ge=0, le=5)  # a request refused or unreachable before any answer
    # "local": a reply the server fails to start is made by the local ``model`` (fallback_chat.py)
    fallback: Literal["none", "local"] = "none"
    n_ctx: int = Field(2048, ge=128)
    threads: int = Field(0, ge=0)
    gpu_layers: int = Field(0, ge=-1)  # layers offloaded to the GPU (GPU builds); -1 = all
    system_prompt: str = DEFAULT_SYSTEM_PROMPT
    max_tokens: int = Field(128, ge=1)
    preset: Literal["default", "greedy", "precise", "creative"] = "precise"
    temperature: float | None = Field(None, ge=0.0)
    top_k: int | None = Field(None, ge=0)
    top_p: float | None = Field(None, ge=0.0, le=1.0)
    min_p: float | None = Field(None, ge=0.0, le=1.0)
    typical_p: float | None = Field(None, ge=0.0, le=1.0)
    penalty_repeat: float | None = Field(None, ge=0.0)
    penalty_freq: float | None = Field(None, ge=-2.0, le=2.0)
    penalty_present: float | None = Field(None, ge=-2.0, le=2.0)
    penalty_last_n: int | None = Field(None, ge=-1)
    seed: int | None = Field(None, ge=0)  # 0 = random
    stop: list[str] = []

    @model_validator(mode="after")
    def _fallback_knows_the_model(self) -> LlmSettings:
        named_for_fallback("llm", self.backend, self.fallback, self.remote_model)
        return self

    def remote_url(self) -> str:
        """``base_url`` for the openai backend (ConfigError, naming the fix, when unset)."""
        if not self.base_url:
            raise ConfigError('llm.backend "openai" needs llm.base_url (e.g. http://host:8080/v1)')
        return self.base_url.rstrip("/")


class TtsSettings(RemoteRole):
    """Text to speech (Piper here, or a remote server: see ``RemoteRole``)."""

    backend: Literal["local", "openai", "wyoming"] = "local"
    voice: str = ""  # the remote voice to ask for; "" = the server's own choice
    max_audio_s: float = Field(60.0, gt=0, le=3600)  # remote audio for one piece of text, at most

    model: str = ""  # a manifest name or a path to a Piper .onnx (its .onnx.json beside it)
    speaker_id: int | None = Field(None, ge=0)
    length_scale: float | None = Field(None, gt=0.0)  # < 1 speaks faster
    noise_scale: float | None = Field(None, ge=0.0)
    noise_w_scale: float | None = Field(None, ge=0.0)
    volume: float = Field(1.0, gt=0.0)
    threads: int = Field(0, ge=0)
    # onnxruntime's memory arena: ~15 % faster synthesis, but it keeps a block for every
    # clause length it has seen and grows for hours; off keeps an always-on assistant flat.
    memory_arena: bool = False
    # The first chunk of a reply goes to the voice after this many words when no comma or
    # phrase boundary came sooner, so speech starts early even on a long first sentence.
    first_chunk_words: int = Field(6, ge=0, le=50)  # 0 = whole first clauses
    # Language code -> voice (a name from `assistant models list`, or an .onnx path) for
    # replies in that language (stt.language = "auto"); others use tts.model.
    voices: dict[str, str] = Field(default_factory=dict)


class VadSettings(_Section):
    """Voice activity detection and endpointing (webrtcvad)."""

    aggressiveness: int = Field(2, ge=0, le=3)
    frame_ms: Literal[10, 20, 30] = 20
    preroll_ms: int = Field(300, ge=0, le=2000)
    hangover_ms: int = Field(300, ge=20, le=5000)  # silence that ends an utterance
    min_speech_ms: int = Field(200, ge=0)  # shorter bursts are ignored
    max_utterance_s: float = Field(30.0, gt=1.0)  # forced cut
    # How a turn ends. "model": the end-of-turn model listens at each pause (hangover_ms is
    # not used); "silence": a fixed hangover_ms of silence, as before.
    end_of_turn: Literal["model", "silence"] = "model"
    turn_model: str = ""  # a name from `assistant models list` or an .onnx path; "" = default
    turn_threshold: float = Field(0.5, gt=0.0, lt=1.0)  # P(finished) that ends the turn
    # The chat model's opinion at a pause, weighed with the audio's (pipeline/turn_fusion.py);
    # a local chat model only (a remote one leaves the decision to the rule).
    turn_text: bool = True
    # P(finished) of that weighing that ends the turn; 0 = the fitted one (as quick as the
    # audio's rule); turn_fusion.toml's patient_threshold holds more pauses, waits far longer.
    turn_text_threshold: float = Field(0.0, ge=0.0, lt=1.0)
    turn_short_ms: int = Field(120, ge=40, le=2000)  # silence before the model's answer counts
    turn_recheck_ms: int = Field(400, ge=100, le=5000)  # "not finished": asked again this often
    turn_long_ms: int = Field(2000, ge=300, le=10000)  # silence that ends a turn whatever it says
    speculate_ms: int = Field(80, ge=20, le=1000)  # pause at which recognition (and a reply) start
    turn_merge_ms: int = Field(1000, ge=0, le=5000)  # speech this soon after a turn continues it
    turn_merge_heard_ms: int = Field(1000, ge=0, le=5000)  # unless this much reply was heard

    @model_validator(mode="after")
    def _pauses_in_order(self) -> VadSettings:
        if not self.speculate_ms < self.turn_short_ms < self.turn_long_ms:
            raise ValueError(
                "vad.speculate_ms < vad.turn_short_ms < vad.turn_long_ms must hold "
                f"(got {self.speculate_ms}, {self.turn_short_ms}, {self.turn_long_ms})"
            )
        return self


class AudioSettings(_Section):
    """Audio devices, the live front end (noise, echo, barge-in) and the rate of reply audio."""

    input_device: str = ""  # index or name substring; "" = system default
    output_device: str = ""
    output_sample_rate: int = Field(24000, ge=8000, le=192000)  # Hertz, files and speaker
    block_ms: Literal[10, 20, 30, 40] = 20  # capture and playback block
    buffer_s: float = Field(2.0, ge=0.1, le=60.0)  # capture ring; older audio is overwritten
    barge_in: bool = True  # speaking over the reply stops it
    echo_cancellation: bool = True  # WebRTC AEC3 against what the speaker plays
    noise_suppression: bool = False  # WebRTC noise suppressor on the microphone
    gate_threshold_dbfs: float = Field(-55.0, ge=-100.0, le=0.0)  # quieter never opens the gate
    gate_margin_db: float = Field(10.0, ge=0.0, le=60.0)  # above the calibrated noise floor
    gate_attack_ms: float = Field(5.0, ge=0.0, le=1000.0)
    gate_release_ms: float = Field(200.0, ge=0.0, le=5000.0)
    calibrate_ms: int = Field(500, ge=10, le=10000)  # noise floor measured at start
    echo_gate_db: float = Field(20.0, ge=0.0, le=80.0)  # gate raised while speaking, without AEC
    residual_db: float = Field(20.0, ge=0.0, le=80.0)  # echo left after AEC, below the playback
    device_retry_s: float = Field(10.0, ge=0.0, le=600.0)  # how long a lost device is retried


# phrases that make a conversation turn look through the camera
_TRIGGERS = (
    "what do you see", "what can you see", "look at this", "what is this", "what am i holding",
)  # fmt: skip


class VisionSettings(RemoteRole):
    """[vision]: the image model, the camera, and when a conversation looks."""

    backend: Literal["local", "openai"] = "local"  # openai: a server taking OpenAI image input

    model: str = ""  # a preset pulled with `assistant models pull`, or a path to a GGUF file
    mmproj: str = ""  # path to the projector GGUF; "" = the preset's, or beside the model
    handler: Literal[
        "auto", "llava15", "llava16", "moondream", "nanollava", "minicpmv26", "qwen25vl", "mtmd"
    ] = "auto"  # auto = inferred from the GGUF metadata
    n_ctx: int = Field(4096, ge=512)  # room for the image tokens and the answer
    threads: int = Field(0, ge=0)
    gpu_layers: int = Field(0, ge=-1)  # layers offloaded to the GPU (GPU builds); -1 = all
    max_tokens: int = Field(256, ge=1)
    temperature: float = Field(0.1, ge=0.0)
    prompt: str = "Describe this image."  # when the user gives no question
    max_side: int = Field(0, ge=0)  # downscale images to this many pixels; 0 = the model's size
    camera: str = ""  # /dev/video0, a device name, or a video file; "" = the system's first
    camera_warmup_s: float = Field(1.0, ge=0.0, le=30.0)  # frames skipped while exposure settles
    triggers: list[str] = Field(default_factory=lambda: list(_TRIGGERS))
    always_attach: bool = False  # every turn looks through the camera (kiosk mode)

    @model_validator(mode="after")
    def _fallback_knows_the_model(self) -> VisionSettings:
        named_for_fallback("vision", self.backend, self.fallback, self.remote_model)
        return self

    @property
    def configured(self) -> bool:
        """Whether pictures can be answered: a local ``model`` is set, or a server answers them."""
        return self.backend != "local" or bool(self.model)


class McpServerSettings(_Section):
    """One [[tools.mcp]] entry: an MCP server started over stdio, and the tools it may offer."""

    name: str = Field(min_length=1)  # for the log
    command: str = Field(min_length=1)  # the program, found on PATH
    args: list[str] = []
    env: dict[str, str] = {}  # added to a minimal environment (PATH, HOME...)
    allowed: list[str] = []  # tools it may offer; empty = all of them
    timeout_s: float = Field(10.0, gt=0, le=600)  # to start, and per call


BuiltinTool = Literal["clock", "timers", "calculator", "units", "look"]
BUILTIN_TOOLS: tuple[BuiltinTool, ...] = ("clock", "timers", "calculator", "units", "look")


class ToolsSettings(_Section):
    """[tools]: what a spoken turn may do besides answering (see the README's "Tools")."""

    enabled: bool = True
    builtin: list[BuiltinTool] = list(BUILTIN_TOOLS)
    # What the model is allowed: "none" (tools only through the pre-check), "auto" (it may
    # call one), "required" (every turn calls one), or a tool's name (every turn calls it).
    choice: str = Field("none", min_length=1)
    precheck: bool = True  # common requests (time, timers, sums, units, camera) skip the model
    # "auto": a built-in tool's result, a sentence made to be heard, is spoken as it is;
    # "model": the model always words the answer from the result.
    answer: Literal["auto", "model"] = "auto"
    max_steps: int = Field(3, ge=1, le=10)  # tool calls in one turn
    timeout_s: float = Field(10.0, gt=0, le=600)  # per call of a built-in tool
    mcp: list[McpServerSettings] = []


class ServerSettings(_Section):
    """The HTTP server (``assistant serve``)."""

    host: str = "127.0.0.1"  # a non-loopback address needs api_key
    port: int = Field(8765, ge=1, le=65535)
    api_key: str = ""  # required as "Authorization: Bearer <key>" when set
    pool_size: int = Field(2, ge=1, le=64)  # generations at once
    max_queue: int = Field(16, ge=0)  # waiting requests before 429
    request_timeout_s: float = Field(300.0, gt=0)  # a reply not finished by then is a 504
    max_voice_sessions: int = Field(2, ge=1, le=64)  # /ws/voice connections at once
    max_ws_message_bytes: int = Field(1 << 20, ge=1024)  # larger WebSocket messages are refused
    allowed_origins: list[str] = []  # browser origins allowed besides same origin and localhost
    cors_origins: list[str] = []  # origins whose pages may call the HTTP API (CORS); "*" = any
    max_body_bytes: int = Field(25 << 20, ge=1024)  # larger request bodies get 413
    max_audio_s: float = Field(600.0, gt=0)  # longer uploads are refused (400)
    max_image_pixels: int = Field(40_000_000, ge=1)  # larger pictures are refused (400)
    rate_limit_per_minute: int = Field(0, ge=0)  # requests per client address; 0 = no limit
    # Host header names served besides loopback ones and ``host`` itself (DNS rebinding guard);
    # "*" serves any name.
    allowed_hosts: list[str] = []
    model_dirs: list[str] = []  # folders besides models_dir whose GGUF files /api/models/load takes
    max_embedding_inputs: int = Field(256, ge=1)  # texts in one embeddings request
    voice_max_lead_s: float = Field(10.0, gt=0)  # audio a voice client may send ahead of real time
    shutdown_grace_s: float = Field(3.0, ge=0)  # on SIGTERM, time for replies to wind down
    # Unload the chat model after this many seconds unused (-1: never; 0: after each request);
    # the next request loads it again, as Ollama's keep_alive.
    keep_alive: float = Field(-1.0, ge=-1.0)
    # Home Assistant's Wyoming protocol on TCP (doors/wyoming/); 0 = off. Wyoming carries no
    # key, so an address off loopback needs wyoming_allow_network = true.
    wyoming_port: int = Field(0, ge=0, le=65535)
    wyoming_host: str = "127.0.0.1"
    wyoming_allow_network: bool = False
    # Larger events close the connection; 1 MiB as server.max_ws_message_bytes on the other doors.
    wyoming_max_event_bytes: int = Field(1 << 20, ge=1024)
    # Advertise the endpoint over mDNS (_wyoming._tcp) so Home Assistant discovers it; only
    # off loopback. The name Home Assistant shows; "" = assistant-HOSTNAME.
    wyoming_zeroconf: bool = False
    wyoming_zeroconf_name: str = ""
