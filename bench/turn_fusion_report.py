"""The end-of-turn fusion against today's rule, eot-bench style (bench/fit_turn_fusion.py runs it).

Four decision rules are scored on the rows of bench/data/turn_features.jsonl, per split and
group (human: the dev set's clean and paused recordings; piper: its Piper variants; synth: the
Piper-spoken tuning turns of bench/turn_texts.py):
- ``rule``: today's (pipeline/stages/tentative.py): Smart Turn at or over the threshold or a
  question mark, vetoed by an open ending; an empty transcript confirms;
- ``audio``: Smart Turn's probability alone;
- ``text``: a regression on the text's features alone (no audio), fitted as the fusion is;
- ``both``: the fusion. ``text`` and ``both`` wait on an empty transcript.
False cut-offs are per hold span (any checkpoint fired in it); latency is at the end of the
turn (the first checkpoint that fired, or the 2 s long limit). Prints a Markdown table and
writes bench/results/eot_fusion.png (human) and eot_fusion_piper.png.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from assistant.pipeline.turn_taking import sounds_unfinished
from bench import turn_texts
from bench.eot_plot import plot
from bench.fit_turn_fusion import (
    Outcome,
    Rows,
    Spans,
    choose_threshold,
    fit_file,
    probabilities,
    sweep,
)
from bench.report import RESULTS

GROUPS = {"clean": "human", "paused": "human", "piper-0.8": "piper", "piper-1.2": "piper"}
COLUMNS = [("tuning", "human"), ("heldout", "human"), ("tuning", "piper"), ("heldout", "piper")]
COLUMNS += [("tuning", "synth")]
COLOURS = {"rule": (130, 130, 130), "audio": (30, 90, 200), "text": (220, 120, 0)}
COLOURS["both"] = (0, 150, 60)
EXAMPLES = ("Hello world.", "Thanks.", "Yes.", "Tell me about the history of Rome.")


def group(row: dict[str, Any]) -> str:
    """human, piper, synth, or the variant itself (phone, noisy, espeak)."""
    variant = str(row["variant"])
    return "synth" if variant.startswith("synth") else GROUPS.get(variant, variant)


def score(rows: Rows, fired: np.ndarray, split: str, of: str | None = None) -> Outcome:
    """The outcome on one split (and one group, or every group of the dev set)."""
    keep = [
        i
        for i, r in enumerate(rows)
        if r["split"] == split and (group(r) == of if of else group(r) != "synth")
    ]
    return Spans([rows[i] for i in keep]).outcome(fired[keep])


def fit_summary(rows: Rows, fired: np.ndarray) -> dict[str, float]:
    """The fit's figures for the TOML: cut-off rate and mean latency by split (and human)."""
    out: dict[str, float] = {}
    tuning = [i for i, r in enumerate(rows) if r["split"] == "tuning"]
    every = Spans([rows[i] for i in tuning]).outcome(fired[tuning])
    out["tuning_cutoff_rate"] = round(every.cutoff_rate, 4)
    out["tuning_latency_mean_ms"] = round(every.mean_ms, 1)
    for split in ("tuning", "heldout"):
        human = score(rows, fired, split, "human")
        out[f"{split}_human_cutoff_rate"] = round(human.cutoff_rate, 4)
        out[f"{split}_human_latency_mean_ms"] = round(human.mean_ms, 1)
    heldout = score(rows, fired, "heldout")
    out["heldout_cutoff_rate"] = round(heldout.cutoff_rate, 4)
    out["heldout_latency_mean_ms"] = round(heldout.mean_ms, 1)
    return out


def rules(rows: Rows, x: np.ndarray, weights: np.ndarray, bias: float) -> dict[str, Any]:
    """Each curve's decision at a threshold: name -> (threshold -> fired rows)."""
    empty = np.array([r["empty"] for r in rows], dtype=bool)
    texts = [str(r["text"]).strip() for r in rows]
    p_audio = np.array([r["p_audio"] for r in rows])
    asked = np.array([t.endswith("?") for t in texts])
    vetoed = np.array([bool(t) and sounds_unfinished(t) for t in texts])
    text_w, text_b = fit_file(columns=list(range(1, x.shape[1])))
    p_text = np.where(empty, 0.0, probabilities(x[:, 1:], text_w, text_b))
    p_both = np.where(empty, 0.0, probabilities(x, weights, bias))

    def rule(t: float) -> np.ndarray:
        return np.asarray(empty | (((p_audio >= t) | asked) & ~vetoed))

    curves: dict[str, Callable[[float], np.ndarray]] = {
        "rule": rule,
        "audio": lambda t: np.asarray(p_audio >= t),
        "text": lambda t: np.asarray(p_text >= t),
        "both": lambda t: np.asarray(p_both >= t),
    }
    tuning = [i for i, r in enumerate(rows) if r["split"] == "tuning"]
    spans = Spans([rows[i] for i in tuning])
    text_t = choose_threshold(p_text[tuning], spans)
    # "both" at the latency of today's rule on tuning: the fewest cut-offs that fast
    today = spans.outcome(rule(0.5)[tuning]).mean_ms
    fast = [(o.cutoff_rate, o.mean_ms, t) for t, o in sweep(p_both[tuning], spans)]
    matched = min(c for c in fast if c[1] <= today)[2]
    return {"curves": curves, "text_threshold": text_t, "p_both": p_both, "matched": matched}


def verdict(rows: Rows, curves: dict[str, Any], fitted: float, matched: float) -> None:
    """Held-out human speech: whether the fusion cuts off fewer pauses, no slower than today.

    "No slower" is read at the median, the figure the goals are set in; the mean is printed
    beside it, since the turns the fusion cannot call wait for the long limit.
    """
    rule = score(rows, curves["rule"](0.5), "heldout", "human")
    print(
        f"held-out human, today's rule: {rule.cutoff_rate:.0%} cut-offs, "
        f"p50 {rule.p50_ms:.0f} ms, mean {rule.mean_ms:.0f} ms"
    )
    empty = np.array([r["empty"] for r in rows], dtype=bool)
    for name, t in (("patient (<= 5 % on tuning)", fitted), ("default (today's speed)", matched)):
        both = score(rows, curves["both"](t), "heldout", "human")
        wins = both.cutoff_rate < rule.cutoff_rate and both.p50_ms <= rule.p50_ms
        # what waiting on an empty transcript costs: the same, had it confirmed as today
        confirming = score(rows, curves["both"](t) | empty, "heldout", "human")
        print(
            f"both at the {name} threshold {t:.4g}: {both.cutoff_rate:.0%} cut-offs, p50 "
            f"{both.p50_ms:.0f} ms, mean {both.mean_ms:.0f} ms -> "
            f"{'fewer cut-offs, p50 no slower' if wins else 'slower at p50, or no fewer cut-offs'} "
            "(were an empty transcript "
            f"to confirm: {confirming.cutoff_rate:.0%}, {confirming.mean_ms:.0f} ms)"
        )


def table(rows: Rows, curves: dict[str, Any], settings: dict[str, list[float]]) -> dict[str, Any]:
    """Every curve at its settings on every column: printed as Markdown, returned for the plot."""
    head = "| rule | threshold | " + " | ".join(f"{s} {g}: cut / mean / p50" for s, g in COLUMNS)
    print(head + " |")
    print("|" + " --- |" * (2 + len(COLUMNS)))
    results: dict[str, Any] = {}
    for name, thresholds in settings.items():
        for t in thresholds:
            fired = curves[name](t)
            cells = []
            for split, of in COLUMNS:
                o = score(rows, fired, split, of)
                cells.append(f"{o.cutoff_rate:.0%} of {o.holds} / {o.mean_ms:.0f} / {o.p50_ms:.0f}")
                results[f"{name}-{t:.3g}/{split}/{of}"] = {
                    "span_cutoff_rate": o.cutoff_rate,
                    "span_kept_cutoff_rate": None,
                    "latency_p50_ms": o.p50_ms,
                    "latency_mean_ms": o.mean_ms,
                }
            print(f"| {name} | {t:g} | " + " | ".join(cells) + " |")
    return results


def examples(rows: Rows, p_both: np.ndarray, threshold: float) -> None:
    """Where short finished utterances land at 120 ms, against an unfinished start.

    Each line also gives the checkpoint at which the fusion ends the turn (or "-": never
    before the long limit).
    """
    texts = [*turn_texts.SHORT, *(t for t, _ in turn_texts.CUT)]
    for text in EXAMPLES:
        k = texts.index(text)
        how, kind = ("paused", "hold") if text not in turn_texts.SHORT else ("clean", "eot")
        mine = [
            i
            for i, r in enumerate(rows)
            if r["id"].startswith(f"synth-{k:02d}-{how}.") and r["span"] == 0
        ]
        for i in mine:
            r = rows[i]
            if r["pause_ms"] != 120:
                continue
            same = [j for j in mine if rows[j]["id"] == r["id"]]
            fires = [rows[j]["pause_ms"] for j in same if p_both[j] >= threshold]
            print(
                f"{text!r} ({kind}, {r['variant']}): heard {r['text']!r}, fused "
                f"{p_both[i]:.3f}, p_audio {r['p_audio']:.3f}, p_stop {r['p_stop']:.3g}; "
                f"ends at {fires[0] if fires else '-'} ms"
            )


def main(rows: Rows, x: np.ndarray, weights: np.ndarray, bias: float, threshold: float) -> None:
    """Print the table and the examples, and draw the plots."""
    built = rules(rows, x, weights, bias)
    grid = [0.3, 0.5, 0.7, 0.9]
    settings = {
        "rule": grid,
        "audio": grid,
        "text": [built["text_threshold"], 0.5, 0.7, 0.9],
        "both": [threshold, built["matched"], 0.5, 0.7, 0.9],
    }
    results = table(rows, built["curves"], settings)
    verdict(rows, built["curves"], threshold, built["matched"])
    examples(rows, built["p_both"], built["matched"])
    legend = "grey: today's rule  blue: audio only  orange: text only  green: both (fusion)"
    for of, name in (("human", "eot_fusion.png"), ("piper", "eot_fusion_piper.png")):
        plot({"results": results}, RESULTS / name, of, COLOURS, legend, "latency_mean_ms")
    print(f"plots: {RESULTS / 'eot_fusion.png'}, {RESULTS / 'eot_fusion_piper.png'}")
