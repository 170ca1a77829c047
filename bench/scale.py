"""Scale-out benchmark: voice sessions per machine, remote models, their overhead, a thin kiosk.

Run with ``make bench-scale`` or ``python bench/scale.py [--levels 1,2,4,8] [--turns 3]
[--speech wyoming|openai] [--parts local,remote,overhead,kiosk]``; ``--markdown`` prints the last
results as Markdown tables (for the README) without running. Every figure is a ratio against a
baseline measured in the same run:
- ``local``: N real-time /ws/voice sessions at once (bench/scale_sessions.py: WebSocket clients on
  loopback streaming 16 kHz PCM at real-time pace, the dev set's human questions with think
  times), all models in the one `assistant serve`: voice to voice p50/p95 and the process's CPU
  (cores, and per session) at each N, against N = 1: how the cost grows.
- ``remote``: the same with every model on a loopback server (bench/scale_servers.py: llama.cpp's
  OpenAI server for chat; wyoming-faster-whisper and wyoming-piper, or a second `assistant serve`
  with ``--speech openai``): the `assistant` process's own CPU per session apart from the model
  servers', against the all-local process at the same N. Goal: <= 5 % of a core per session.
  The recognition and synthesis requests each turn costs are counted (recognition during the
  pause must not multiply them).
- ``overhead``: the project's remote speech classes against the same server called directly
  (bench/scale_overhead.py), interleaved. Goal: <= 1.05x.
- ``kiosk``: a thin kiosk against the all-local one (bench/scale_kiosk.py): memory and CPU, idle
  and during a turn.
Prints tables and JSON (also bench/results/scale.json).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import devset
from bench.report import RESULTS, finish
from bench.scale_kiosk import compare
from bench.scale_overhead import measure, raw_client
from bench.scale_servers import (
    CpuMeter,
    Remotes,
    assistant,
    remotes,
    stop_quietly,
    wyoming_offered,
)
from bench.scale_sessions import idle, level, warm
from bench.scale_table import print_markdown, print_tables

TARGETS = {"assistant_cores_per_session_max": 0.05, "overhead_ratio_max": 1.05}
PARTS = ("local", "remote", "overhead", "kiosk")
ASSISTANT = "assistant"  # the CPU meter's name for the `assistant serve` under test


def base_env(max_tokens: int, sessions: int) -> dict[str, str]:
    """What every `assistant serve` here shares: a seeded chat model, room for the sessions."""
    return {
        "ASSISTANT_LLM__SEED": "42",
        "ASSISTANT_LLM__MAX_TOKENS": str(max_tokens),
        "ASSISTANT_SERVER__MAX_VOICE_SESSIONS": str(sessions),
    }


def capacity(
    args: argparse.Namespace, questions: list[devset.Turn], found: Remotes | None = None
) -> list[dict[str, Any]]:
    """Each level of sessions on one `assistant serve` (remote models with ``found``)."""
    env = base_env(args.max_tokens, max(args.levels)) | (found.env if found else {})
    process, url, proc = assistant(env)
    servers = found.processes if found else {}
    rows = []
    try:
        warm(url, questions)
        baseline = idle(CpuMeter({ASSISTANT: proc} | servers))
        for sessions in args.levels:
            before = found.calls() if found else {}
            meter = CpuMeter({ASSISTANT: proc} | servers)
            row = level(url, sessions, args.turns, questions, meter)
            if found:
                after = found.calls()
                row["remote_calls_per_turn"] = {
                    k: (v - before.get(k, 0.0)) / max(1, row["turns"]) for k, v in after.items()
                }
            row["model_servers_cores"] = sum(row["cpu_cores"][n] for n in servers)
            row["idle_cores"] = baseline
            rows.append(row)
            print(f"{'remote' if found else 'local'}: {sessions} sessions done", file=sys.stderr)
    finally:
        stop_quietly(process)
    return with_ratios(rows)


def with_ratios(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each level against the first (one session): voice to voice and CPU per session."""
    base = rows[0]
    for row in rows:
        row["vs_first"] = {
            "v2v_p50": _ratio(row["v2v_p50_ms"], base["v2v_p50_ms"]),
            "v2v_p95": _ratio(row["v2v_p95_ms"], base["v2v_p95_ms"]),
            "assistant_cores_per_session": _ratio(
                row["cpu_cores_per_session"][ASSISTANT], base["cpu_cores_per_session"][ASSISTANT]
            ),
        }
    return rows


def _ratio(value: float | None, base: float | None) -> float | None:
    return value / base if value is not None and base else None


def against_local(remote: list[dict[str, Any]], local: list[dict[str, Any]]) -> None:
    """The remote rows' assistant CPU and voice to voice against the local rows at the same N."""
    by_n = {row["sessions"]: row for row in local}
    for row in remote:
        same = by_n.get(row["sessions"])
        if same is None:
            continue
        row["vs_local"] = {
            "assistant_cores": _ratio(row["cpu_cores"][ASSISTANT], same["cpu_cores"][ASSISTANT]),
            "v2v_p50": _ratio(row["v2v_p50_ms"], same["v2v_p50_ms"]),
        }


def verdicts(results: dict[str, Any]) -> dict[str, bool]:
    """The goals, for the parts that ran."""
    out = {}
    if "remote" in results:
        worst = max(r["cpu_cores_per_session"][ASSISTANT] for r in results["remote"])
        out["assistant_cores_per_session"] = worst <= TARGETS["assistant_cores_per_session_max"]
    if "overhead" in results:
        for role in ("stt", "tts"):
            ratio = results["overhead"][role]["ratio_p50"]
            out[f"{role}_overhead"] = ratio <= TARGETS["overhead_ratio_max"]
    return out


def run(args: argparse.Namespace) -> dict[str, Any]:
    """The chosen parts, in one run."""
    questions = [t for t in devset.load() if t.variant == "clean"]
    results: dict[str, Any] = {
        "targets": TARGETS,
        "settings": vars(args) | {"cpus": psutil.cpu_count()},
        "questions": [q.id for q in questions],
    }
    if "local" in args.parts:
        results["local"] = capacity(args, questions)
    if not {"remote", "overhead", "kiosk"} & set(args.parts):
        return results
    with remotes(args.speech) as found:
        results["servers"] = found.urls
        if "remote" in args.parts:
            results["remote"] = capacity(args, questions, found)
            against_local(results["remote"], results.get("local", []))
        if "overhead" in args.parts:
            settings = found.settings()
            raw = raw_client(args.speech, settings)
            try:
                results["overhead"] = measure(settings, raw, questions[:6], args.rounds)
            finally:
                raw.close()
        if "kiosk" in args.parts:
            with tempfile.TemporaryDirectory() as tmp:
                kiosk_turns = args.kiosk_turns
                results["kiosk"] = compare(Path(tmp), found.assignments(), kiosk_turns)
    return results


def arguments() -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    numbers = lambda text: [int(x) for x in text.split(",")]  # noqa: E731
    parser.add_argument("--levels", type=numbers, default=[1, 2, 4, 8], help="sessions at once")
    parser.add_argument("--turns", type=int, default=4, help="questions per session")
    parser.add_argument("--speech", choices=("wyoming", "openai"), default=default_speech())
    parser.add_argument("--parts", default=",".join(PARTS), help=f"of {', '.join(PARTS)}")
    parser.add_argument("--rounds", type=int, default=3, help="overhead: rounds over the inputs")
    parser.add_argument("--kiosk-turns", type=int, default=3, help="questions per kiosk")
    parser.add_argument("--max-tokens", type=int, default=24, help="reply length (tokens)")
    parser.add_argument("--markdown", action="store_true", help="print the last results only")
    args = parser.parse_args()
    args.parts = args.parts.split(",")
    if unknown := set(args.parts) - set(PARTS):
        parser.error(f"unknown parts {sorted(unknown)}; they are {', '.join(PARTS)}")
    if args.speech == "wyoming" and not wyoming_offered():
        parser.error('this checkout has no stt.backend "wyoming" yet: use --speech openai')
    return args


def default_speech() -> str:
    """Wyoming where this checkout has that backend, else openai (another `assistant serve`)."""
    return "wyoming" if wyoming_offered() else "openai"


def main() -> None:
    """Measure, print the tables and JSON."""
    args = arguments()
    out = RESULTS / "scale.json"
    if args.markdown:
        print_markdown(json.loads(out.read_text()))
        return
    if not devset.SOURCE.exists():
        sys.exit(f"{devset.SOURCE} is missing: apt-get install pocketsphinx-testdata")
    results = run(args)
    results["pass"] = verdicts(results)
    print_tables(results)
    finish("scale", results)


if __name__ == "__main__":
    main()
