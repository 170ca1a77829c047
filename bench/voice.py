"""Voice benchmark: spoken prompts through file mode at real-time pace, against the bare libraries.

Run with ``make bench``. Prints a table and JSON (also written to bench/results/voice.json):
voice-to-voice p50/p95 with the per-stage breakdown, then in the same run
- STT: our WhisperSTT vs bare ``faster_whisper.WhisperModel.transcribe`` on the same audio,
- LLM: decode tokens/s of our streaming chat vs bare ``llama_cpp.Llama.create_completion``
  on the same prompt tokens (greedy, so both produce the same tokens),
each as a ratio. Targets (2-core machine): v2v p50 <= 900 ms, STT <= 1.05x, LLM >= 0.97x.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import tempfile
import threading
import time
import wave
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from assistant import config
from assistant.catalog import ModelStore
from assistant.convert.resample import StreamResampler
from assistant.llm.sampling import SamplerParams
from assistant.models.llama_chat import LlamaChatModel
from assistant.models.loaders import Models, load_models
from assistant.sessions import chat_file
from assistant.types import ChatMessage, Pcm16

PROMPTS = [
    "What is the capital of France?",
    "How many legs does a spider have?",
    "Tell me a joke about computers.",
    "Why is the sky blue?",
    "What should I cook for dinner tonight?",
    "How far away is the moon?",
    "Can you recommend a good book?",
    "What is the boiling point of water?",
    "Give me a tip for sleeping better.",
    "Who wrote Romeo and Juliet?",
    "What time zone is London in?",
    "How do I make a cup of tea?",
]
RATE = 16000
TARGETS = {"voice_to_voice_p50_ms": 900.0, "stt_ratio_max": 1.05, "llm_ratio_min": 0.97}
LLM_TOKENS = 64
BENCH_SEED = 42
STAGES = (
    "endpoint",
    "stt",
    "llm_first_token",
    "llm_first_clause",
    "tts_first_audio",
    "voice_to_voice",
)


def speak(models: Models, text: str) -> Pcm16:
    assert models.tts is not None
    pcm = np.concatenate(list(models.tts.synthesize(text)))
    resampler = StreamResampler(models.tts.sample_rate, RATE)
    return np.concatenate([resampler.process(pcm), resampler.process(pcm[:0], last=True)])


def write_wav(path: Path, pcm: Pcm16) -> None:
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(RATE)
        w.writeframes(pcm.tobytes())


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def run_voice(
    settings: config.Settings, models: Models, clips: list[Pcm16]
) -> list[dict[str, Any]]:
    """Each prompt as its own file-mode conversation at real-time pace."""
    reports = []
    with tempfile.TemporaryDirectory() as tmp:
        for i, clip in enumerate(clips):
            path = Path(tmp) / f"prompt{i}.wav"
            write_wav(
                path,
                np.concatenate([np.zeros(RATE // 2, np.int16), clip, np.zeros(RATE * 3, np.int16)]),
            )
            turns = asyncio.run(chat_file(settings, path, realtime=True, models=models))
            if len(turns) != 1:
                raise RuntimeError(f"prompt {i}: expected one turn, got {len(turns)}")
            reports.append(turns[0].to_json())
    return reports


def bench_stt(settings: config.Settings, models: Models, clips: list[Pcm16]) -> dict[str, float]:
    """Ours and bare faster-whisper on the same utterances (pre-roll and hangover included)."""
    from faster_whisper import WhisperModel

    assert models.stt is not None
    path = ModelStore(settings.models_dir).resolve("stt", settings.stt.model).path
    bare = WhisperModel(str(path), device="cpu", compute_type=settings.stt.compute_type)
    pad = np.zeros(int(0.3 * RATE), np.int16)
    audios = [np.concatenate([pad, c, pad]).astype(np.float32) / 32768 for c in clips]
    bare_ms, ours_ms = [], []
    for audio in audios:
        for _ in range(2):  # the first call of each pair warms caches for that length
            t = time.perf_counter()
            segments, _info = bare.transcribe(audio, language=settings.stt.language, beam_size=1)
            _ = [s.text for s in segments]
            bare_t = time.perf_counter() - t
            t = time.perf_counter()
            models.stt.transcribe(audio)
            ours_t = time.perf_counter() - t
        bare_ms.append(bare_t * 1000)
        ours_ms.append(ours_t * 1000)
    return {
        "ours_p50_ms": statistics.median(ours_ms),
        "bare_p50_ms": statistics.median(bare_ms),
        "ratio": statistics.median(ours_ms) / statistics.median(bare_ms),
    }


def bench_llm(
    settings: config.Settings, models: Models, transcripts: list[str]
) -> dict[str, float]:
    """Decode speed of our streaming chat vs bare create_completion on identical prompt tokens."""
    from llama_cpp import Llama

    ours = models.llm
    assert isinstance(ours, LlamaChatModel)
    s = settings.llm
    bare = Llama(
        model_path=str(ours.path),
        n_ctx=s.n_ctx,
        n_threads=ours.threads or None,
        n_threads_batch=ours.threads or None,
        verbose=False,
    )
    params = SamplerParams.greedy()
    ours_rate, bare_rate = [], []
    for text in transcripts:
        msgs = [ChatMessage("system", s.system_prompt), ChatMessage("user", text)]
        prompt = ours.prompt_tokens(msgs)
        for repeat in range(4):  # alternate who goes first, so drift hits both alike
            runs = [
                ("ours", _ours_stream(ours, prompt, params)),
                ("bare", _bare_stream(bare, prompt, params)),
            ]
            for name, stream in runs if repeat % 2 else reversed(runs):
                ours.reset()
                bare.reset()
                (ours_rate if name == "ours" else bare_rate).append(_rate(stream))
    ours_tps, bare_tps = statistics.median(ours_rate), statistics.median(bare_rate)
    return {"ours_tok_s": ours_tps, "bare_tok_s": bare_tps, "ratio": ours_tps / bare_tps}


def _ours_stream(model: LlamaChatModel, prompt: list[int], params: SamplerParams) -> Iterator[str]:
    return model.stream_tokens(prompt, params, LLM_TOKENS, [], threading.Event())


def _bare_stream(llama: Any, prompt: list[int], params: SamplerParams) -> Iterator[str]:
    chunks = llama.create_completion(
        prompt,
        max_tokens=LLM_TOKENS,
        stream=True,
        temperature=0.0,
        top_k=1,
        repeat_penalty=params.penalty_repeat,
        top_p=params.top_p,
        min_p=params.min_p,
        seed=1,
    )
    return (c["choices"][0]["text"] for c in chunks)


def _rate(stream: Iterator[str]) -> float:
    """Tokens per second after the first token (decode speed); empty pieces are not tokens."""
    first, n = 0.0, 0
    for piece in stream:
        if not piece:
            continue
        n += 1
        if n == 1:
            first = time.perf_counter()
    end = time.perf_counter()
    return (n - 1) / (end - first) if n > 1 and end > first else 0.0


def main() -> None:
    # A fixed seed: the same replies every run, so runs compare (first clauses differ in length).
    settings = config.load({"llm": {"seed": BENCH_SEED}})
    models = load_models(settings)
    clips = [speak(models, p) for p in PROMPTS]
    turns = run_voice(settings, models, clips)
    stt = bench_stt(settings, models, clips)
    llm = bench_llm(settings, models, [t["transcript"] for t in turns])
    stages = {
        k: [t["timings_ms"][k] for t in turns if t["timings_ms"][k] is not None] for k in STAGES
    }
    summary = {
        "prompts": len(turns),
        "stages_ms": {k: {"p50": pct(v, 0.5), "p95": pct(v, 0.95)} for k, v in stages.items() if v},
        "stt": stt,
        "llm": llm,
        "targets": TARGETS,
    }
    v2v = summary["stages_ms"]["voice_to_voice"]  # type: ignore[index]
    summary["pass"] = {
        "voice_to_voice_p50": v2v["p50"] <= TARGETS["voice_to_voice_p50_ms"],
        "stt_ratio": stt["ratio"] <= TARGETS["stt_ratio_max"],
        "llm_ratio": llm["ratio"] >= TARGETS["llm_ratio_min"],
    }
    print_table(summary, turns)
    out = Path(__file__).with_name("results")
    out.mkdir(exist_ok=True)
    (out / "voice.json").write_text(json.dumps({"summary": summary, "turns": turns}, indent=2))
    print(json.dumps(summary))


def print_table(summary: dict[str, Any], turns: list[dict[str, Any]]) -> None:
    print(f"{'stage (ms)':<20}{'p50':>9}{'p95':>9}")
    for name, row in summary["stages_ms"].items():
        print(f"{name:<20}{row['p50']:>9.0f}{row['p95']:>9.0f}")
    stt, llm = summary["stt"], summary["llm"]
    print(f"{'':<20}{'ours':>9}{'bare':>9}{'ratio':>9}")
    rows = [
        ("stt p50 (ms)", stt["ours_p50_ms"], stt["bare_p50_ms"], stt["ratio"]),
        ("llm decode (tok/s)", llm["ours_tok_s"], llm["bare_tok_s"], llm["ratio"]),
    ]
    for name, ours, bare, ratio in rows:
        print(f"{name:<20}{ours:>9.1f}{bare:>9.1f}{ratio:>9.3f}")
    print(
        "targets:", ", ".join(f"{k} {'PASS' if v else 'FAIL'}" for k, v in summary["pass"].items())
    )
    for t in turns:
        v2v = t["timings_ms"]["voice_to_voice"]
        print(f"  {v2v:>6.0f} ms  {t['transcript']!r} -> {t['reply'][:60]!r}")


if __name__ == "__main__":
    main()
