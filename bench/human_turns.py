"""Turn-taking on human speech: the dev set answered voice to voice, configurations side by side.

Run with ``make bench-human`` or ``python bench/human_turns.py [--configs today,new]
[--sets heldout/clean,...] [--turns N]``; ``--markdown`` prints the last results as a Markdown
table (for the README) without running. Every turn of bench/devset.py (Debian's
pocketsphinx-testdata, labelled) is its own conversation in file mode at real-time pace
(``chat_file(realtime=True)``, as bench/turns.py runs Piper's questions), with the end-of-turn
model (``vad.end_of_turn = "model"``), the seeded LLM and short replies (only their start is
timed; a long one would only make the run longer). Sets, each reported on its own:
- ``heldout/*`` (the figure that counts) and ``tuning/*`` (what settings were tuned on):
  ``clean``, ``phone`` (telephone band), ``noisy`` (10 dB SNR); phone and noisy are made from
  the paused turn where a recording has one, so they can be cut off too;
- ``piper-0.8`` / ``piper-1.2``: the same words and pauses spoken by Piper, fast and slow;
- ``paused/human`` and ``paused/piper``: the turns with 0.3-1.5 s pauses inserted mid-sentence,
  for cut-offs.
Per set (bench/human_score.py says how): voice-to-voice p50/p95, the p50 of each step, the
share of turns that ended at the long limit, cut-offs, replies thrown away or merged, and the
word error rate of the final transcripts. Each configuration of ``CONFIGS`` runs in the same
run, turn by turn alternately (load from others on the machine hits both alike), and
``new / today`` ratios follow. "today" answers only the sets the ratios are read on
(``BASELINE_SETS``) unless ``--every-set``; configurations whose settings are the same run
once and share a row. Prints a table and JSON (also bench/results/human_turns.json).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from assistant import config
from assistant.models.loaders import Models, load_models
from assistant.pipeline.conversation import Observers
from assistant.pipeline.events import Event
from assistant.sessions import chat_file
from bench import devset
from bench.human_score import Outcome, as_json, outcome, ratios, summary
from bench.human_table import print_markdown, print_table
from bench.report import RESULTS

# What every configuration shares: the end-of-turn model, a fixed seed, short replies.
# Twelve tokens hold the first clause (tts.first_chunk_words, 6), and the run waits for every
# reply to be played in real time: 24 would add ~3 s a turn.
BASE: dict[str, Any] = {"llm": {"seed": 42, "max_tokens": 12}, "vad": {"end_of_turn": "model"}}
# The settings that turn off the chat model's view of the words in the end-of-turn decision and
# recognition while the user speaks: turn-taking as it was before them, for the ratios.
NEW_FEATURES_OFF: dict[str, dict[str, Any]] = {"vad": {"turn_text": False}, "stt": {"stream_ms": 0}}
# Overrides of BASE per configuration: "today" is turn-taking before them, "new" the defaults.
CONFIGS: dict[str, dict[str, Any]] = {"today": NEW_FEATURES_OFF, "new": {}}
# "today" is there for the ratios: it answers the sets they are read on, which keeps a full run
# under ~20 minutes on 2 cores (``--every-set`` runs every set at every configuration).
BASELINE_SETS = {
    "today": ("heldout/clean", "heldout/phone", "heldout/noisy", "paused/human", "piper-0.8",
              "paused/piper")
}  # fmt: skip
SETS = (
    "heldout/clean",
    "heldout/phone",
    "heldout/noisy",
    "tuning/clean",
    "tuning/phone",
    "tuning/noisy",
    "piper-0.8",
    "piper-1.2",
    "paused/human",
    "paused/piper",
)


def known(overrides: dict[str, dict[str, Any]]) -> tuple[dict[str, Any], list[str]]:
    """The overrides whose keys the settings have, and the dotted names of those left out."""
    kept: dict[str, Any] = {}
    dropped = []
    for section, values in overrides.items():
        fields = config.Settings.model_fields[section].annotation.model_fields  # type: ignore[union-attr]
        for key, value in values.items():
            if key in fields:
                kept.setdefault(section, {})[key] = value
            else:
                dropped.append(f"{section}.{key}")
    return kept, dropped


def members(name: str, turns: list[devset.Turn]) -> list[devset.Turn]:
    """The turns of one set."""
    head, _, tail = name.partition("/")
    if head in ("heldout", "tuning"):
        return [t for t in turns if t.split == head and t.variant == tail]
    if name == "paused/human":
        return [t for t in turns if t.variant == "paused"]
    if name == "paused/piper":
        paused = {t.recording for t in turns if t.variant == "paused"}
        return [t for t in turns if t.group == "piper" and t.recording in paused]
    if name in SETS:
        return [t for t in turns if t.variant == name]
    raise SystemExit(f"unknown set {name!r}; the sets are {', '.join(SETS)}")


def run_turn(settings: config.Settings, models: Models, turn: devset.Turn) -> Outcome:
    """One turn as its own conversation at real-time pace."""
    observers = Observers()
    heard: list[Event] = []
    observers.bus.listen(heard.append)
    reports = asyncio.run(
        chat_file(settings, turn.path, realtime=True, observers=observers, models=models)
    )
    cap_ms = settings.vad.turn_long_ms - settings.vad.frame_ms
    return outcome(turn, reports, heard, cap_ms)


def resolve(names: list[str]) -> tuple[dict[str, config.Settings], dict[str, Any]]:
    """Each configuration's settings; what was applied, left out, or the same as another."""
    every: dict[str, config.Settings] = {}
    notes: dict[str, Any] = {}
    for name in names:
        if name not in CONFIGS:
            raise SystemExit(f"unknown configuration {name!r}; they are {', '.join(CONFIGS)}")
        overrides, dropped = known(CONFIGS[name])
        every[name] = config.load(config.merge(BASE, overrides))
        same = [n for n in every if n != name and every[n].model_dump() == every[name].model_dump()]
        notes[name] = {"overrides": overrides, "not_in_settings": dropped, "same_as": same[:1]}
    return every, notes


def execute(
    jobs: dict[str, dict[str, devset.Turn]], every: dict[str, config.Settings], models: Models
) -> tuple[dict[str, dict[str, Outcome]], dict[str, float]]:
    """Each configuration's turns, turn by turn, the configurations in turns going first."""
    ordered = list({i: t for turns in jobs.values() for i, t in turns.items()}.values())
    names = list(jobs)
    outcomes: dict[str, dict[str, Outcome]] = {n: {} for n in names}
    seconds = dict.fromkeys(names, 0.0)
    for i, turn in enumerate(ordered):
        for name in names if i % 2 == 0 else names[::-1]:
            if turn.id in jobs[name]:
                started = time.monotonic()
                outcomes[name][turn.id] = run_turn(every[name], models, turn)
                seconds[name] += time.monotonic() - started
        print(f"{i + 1}/{len(ordered)} {turn.id}", file=sys.stderr)
    return outcomes, {n: round(v, 1) for n, v in seconds.items()}


def run(names: list[str], set_names: list[str], limit: int, every_set: bool) -> dict[str, Any]:
    """The chosen turns at each configuration; summaries per configuration and set."""
    turns = devset.load()
    chosen = {s: members(s, turns)[: limit or None] for s in set_names}
    every, notes = resolve(names)
    wanted = {n: [s for s in chosen if every_set or s in BASELINE_SETS.get(n, SETS)] for n in names}
    # configurations with the same settings run once, for all the sets any of them wants
    runner = {n: (notes[n]["same_as"] or [n])[0] for n in names}
    jobs: dict[str, dict[str, devset.Turn]] = {}
    for name in names:
        for set_name in wanted[name]:
            jobs.setdefault(runner[name], {}).update({t.id: t for t in chosen[set_name]})
    # the models do not depend on what the configurations change (turn-taking, the STT stage)
    outcomes, seconds = execute(jobs, every, load_models(every[names[-1]]))
    results = {
        f"{n}/{s}": summary([outcomes[runner[n]][t.id] for t in chosen[s]])
        for n in names
        for s in wanted[n]
    }
    return {
        "configs": notes,
        "base": BASE,
        "sets": {s: [t.id for t in ts] for s, ts in chosen.items()},
        "seconds": seconds,
        "results": results,
        "turns": {n: [as_json(o) for o in v.values()] for n, v in outcomes.items()},
    }


def compare(results: dict[str, Any], names: list[str]) -> dict[str, Any]:
    """The ratios new / today per set that both answered, when both ran (and differ)."""
    if not {"today", "new"} <= set(names) or results["configs"]["new"]["same_as"]:
        return {}
    table = results["results"]
    both = [s for s in results["sets"] if f"today/{s}" in table and f"new/{s}" in table]
    return {s: ratios(table[f"new/{s}"], table[f"today/{s}"]) for s in both}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--configs", default=",".join(CONFIGS), help="comma-separated names")
    parser.add_argument("--sets", default=",".join(SETS), help="comma-separated set names")
    parser.add_argument("--turns", type=int, default=0, help="the first N of each set (0: all)")
    parser.add_argument("--every-set", action="store_true", help="every set at every config")
    parser.add_argument("--markdown", action="store_true", help="print the last results only")
    args = parser.parse_args()
    out = RESULTS / "human_turns.json"
    if args.markdown:
        print_markdown(json.loads(out.read_text()))
        return
    if not devset.SOURCE.exists():
        sys.exit(f"{devset.SOURCE} is missing: apt-get install pocketsphinx-testdata")
    names = args.configs.split(",")
    results = run(names, args.sets.split(","), args.turns, args.every_set)
    results["ratios_new_vs_today"] = compare(results, names)
    print_table(results)
    RESULTS.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2))
    print(json.dumps({k: v for k, v in results.items() if k != "turns"}))


if __name__ == "__main__":
    main()
