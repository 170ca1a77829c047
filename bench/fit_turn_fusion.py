"""Fit the end-of-turn fusion (assistant/pipeline/turn_fusion.py) and write its weights.

Run with ``python bench/fit_turn_fusion.py`` after bench/turn_features.py. It reads
bench/data/turn_features.jsonl, turns each row into ``TurnFeatures`` with the runtime's own
``features()``, and fits a logistic regression by Newton's method (IRLS) with an L2 penalty
of ``L2`` on the weights (not on the bias) on the tuning split only: the dev set's tuning
recordings, all variants, and the Piper-spoken tuning turns. Rows on an empty transcript are
left out (the decision waits on them whatever the weights say), and so are checkpoints after
``FIT_MAX_PAUSE_MS``: no pause inside a turn of the set lasts longer, so later checkpoints
would teach ``pause_s`` the set's layout rather than how people pause.

The threshold is the one with the lowest mean latency at the end of the turn (the first
checkpoint that fires, or the 2 s long limit) whose false cut-offs (hold spans in which any
checkpoint fires) stay at most ``MAX_CUTOFFS`` of the tuning hold spans. It writes
assistant/pipeline/turn_fusion.toml and prints the comparison of bench/turn_fusion_report.py.
"""

from __future__ import annotations

import hashlib
import json
import sys
from dataclasses import astuple, dataclass
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from assistant.llm.turn_end import TurnEndScore
from assistant.pipeline.turn_fusion import DEFAULT, TurnFeatures, features

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "bench" / "data" / "turn_features.jsonl"
L2 = 1.0
FIT_MAX_PAUSE_MS = 1320
MAX_CUTOFFS = 0.05
LONG_MS = 2000  # vad.turn_long_ms: the turn ends here whatever the decision says
Rows = list[dict[str, Any]]


def load(path: Path = DATA) -> Rows:
    """The rows of the features file, in its order."""
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def design(rows: Rows) -> np.ndarray:
    """One ``TurnFeatures`` per row, as the runtime computes it, stacked into a matrix."""
    return np.array(
        [
            astuple(features(r["p_audio"], TurnEndScore(r["p_end"], r["p_stop"], 0), r["text"]))
            for r in rows
        ],
        dtype=np.float64,
    ).reshape(len(rows), len(TurnFeatures.names()))


def fit(x: np.ndarray, y: np.ndarray, l2: float = L2) -> tuple[np.ndarray, float]:
    """Logistic regression by Newton's method; weights and bias, the bias unpenalised."""
    a = np.hstack([x, np.ones((len(x), 1))])
    penalty = np.diag([l2] * x.shape[1] + [0.0])
    beta = np.zeros(a.shape[1])
    for _ in range(200):
        p = 1.0 / (1.0 + np.exp(-(a @ beta)))
        gradient = a.T @ (p - y) + penalty @ beta
        hessian = a.T @ (a * (p * (1.0 - p))[:, None]) + penalty
        step = np.linalg.solve(hessian, gradient)
        beta = beta - step
        if np.max(np.abs(step)) < 1e-12:
            break
    return beta[:-1], float(beta[-1])


def fit_rows(rows: Rows) -> Rows:
    """The rows the regression learns from: tuning, words heard, within the pauses' range."""
    return [
        r
        for r in rows
        if r["split"] == "tuning" and not r["empty"] and r["pause_ms"] <= FIT_MAX_PAUSE_MS
    ]


def fit_file(path: Path = DATA, columns: list[int] | None = None) -> tuple[np.ndarray, float]:
    """The fitted weights and bias for the rows of ``path`` (over ``columns`` of the features)."""
    chosen = fit_rows(load(path))
    x = design(chosen)
    y = np.array([r["label"] for r in chosen], dtype=np.float64)
    return fit(x if columns is None else x[:, columns], y)


def probabilities(x: np.ndarray, weights: np.ndarray, bias: float) -> np.ndarray:
    """The fused probability of each row."""
    return np.asarray(1.0 / (1.0 + np.exp(-(x @ weights + bias))))


@dataclass(frozen=True)
class Outcome:
    """A decision rule's results on a set of spans."""

    holds: int
    cutoffs: int  # hold spans in which a checkpoint fired
    latencies: list[float]  # per eot span: the first checkpoint that fired, or LONG_MS

    @property
    def cutoff_rate(self) -> float:
        """False cut-offs per hold span."""
        return self.cutoffs / self.holds if self.holds else 0.0

    @property
    def mean_ms(self) -> float:
        """Mean latency at the end of the turn."""
        return float(np.mean(self.latencies)) if self.latencies else float("nan")

    @property
    def p50_ms(self) -> float:
        """Median latency (nearest rank, as bench/voice.py's ``pct``)."""
        ordered = sorted(self.latencies)
        return ordered[round(0.5 * (len(ordered) - 1))] if ordered else float("nan")


class Spans:
    """Rows grouped into their spans, for scoring many decision rules fast."""

    def __init__(self, rows: Rows) -> None:
        keys = [(r["id"], r["span"]) for r in rows]
        index = {k: i for i, k in enumerate(dict.fromkeys(keys))}
        self.span = np.array([index[k] for k in keys], dtype=np.int64)
        kinds = {index[k]: r["kind"] for k, r in zip(keys, rows, strict=True)}
        self.hold = np.array([kinds[i] == "hold" for i in range(len(index))], dtype=bool)
        self.pause = np.array([r["pause_ms"] for r in rows], dtype=np.float64)

    def outcome(self, fired: np.ndarray) -> Outcome:
        """Cut-offs and latencies when the rows marked in ``fired`` decide "the turn is over"."""
        first = np.full(len(self.hold), float(LONG_MS))
        np.minimum.at(first, self.span, np.where(fired, self.pause, float(LONG_MS)))
        cut = first[self.hold] < LONG_MS
        return Outcome(int(self.hold.sum()), int(cut.sum()), list(first[~self.hold]))


def sweep(p: np.ndarray, spans: Spans) -> list[tuple[float, Outcome]]:
    """The outcome at every distinct threshold, from the highest down.

    Candidates lie halfway between consecutive distinct probabilities (rounded to 6 places),
    so a tiny difference in arithmetic cannot move a row across the threshold.
    """
    values = np.unique(np.round(p, 6))
    candidates = np.round((values[:-1] + values[1:]) / 2, 6) if len(values) > 1 else values
    return [(float(t), spans.outcome(p >= t)) for t in candidates[::-1]]


def choose_threshold(p: np.ndarray, spans: Spans, limit: float = MAX_CUTOFFS) -> float:
    """The threshold of least mean latency with at most ``limit`` false cut-offs.

    Of thresholds with equal latency, the highest is kept.
    """
    best: tuple[float, float] = (float(LONG_MS) + 1, 1.0)
    for t, result in sweep(p, spans):
        if result.cutoff_rate <= limit and result.mean_ms < best[0]:
            best = (result.mean_ms, t)
    return best[1]


def sha256(path: Path) -> str:
    """The data file's checksum, which the TOML records."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


def write_toml(
    weights: np.ndarray, bias: float, threshold: float, fit_table: dict[str, Any], path: Path
) -> None:
    """The fitted weights as ``TurnFusion.load`` reads them (floats written exactly)."""
    names = ", ".join(f'"{n}"' for n in TurnFeatures.names())
    lines = [
        "# Written by bench/fit_turn_fusion.py from its [fit] data; refit rather than edit.",
        "version = 1",
        f"features = [{names}]",
        f"weights = [{', '.join(repr(float(w)) for w in weights)}]",
        f"bias = {bias!r}",
        f"threshold = {threshold!r}",
        "",
        "[fit]",
    ]
    for key, value in fit_table.items():
        lines.append(f"{key} = {json.dumps(value)}")
    path.write_text("\n".join(lines) + "\n")


def main() -> None:
    from bench import turn_fusion_report as report

    rows = load()
    chosen = fit_rows(rows)
    weights, bias = fit_file()
    x = design(rows)
    p = np.where([r["empty"] for r in rows], 0.0, probabilities(x, weights, bias))
    tuning = [i for i, r in enumerate(rows) if r["split"] == "tuning"]
    # The default: the fewest tuning cut-offs at no more mean latency than the audio's rule
    # there. The patient threshold (at most MAX_CUTOFFS of the tuning pauses cut off) is
    # recorded beside it: it holds every held-out pause, but voice to voice it left most
    # finished turns to the long limit (p50 1.8-2.1 s, see the README).
    patient = choose_threshold(p[tuning], Spans([rows[i] for i in tuning]))
    threshold = report.rules(rows, x, weights, bias)["matched"]
    summary = report.fit_summary(rows, p >= threshold)
    table = {
        "data": str(DATA.relative_to(ROOT)),
        "sha256": sha256(DATA),
        "examples": len(chosen),
        "l2": L2,
        "max_pause_ms": FIT_MAX_PAUSE_MS,
        "policy": "fewest tuning cut-offs at no more mean latency than the audio's rule",
        "patient_threshold": patient,
        "patient_max_cutoffs": MAX_CUTOFFS,
        **summary,
    }
    write_toml(weights, bias, threshold, table, DEFAULT)
    print(f"wrote {DEFAULT} (threshold {threshold}, {len(chosen)} examples)")
    report.main(rows, x, weights, bias, patient)


if __name__ == "__main__":
    main()
