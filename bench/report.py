"""What the stop and kiosk benchmarks end with: a PASS/FAIL line, their JSON kept and printed."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"


def finish(name: str, results: dict[str, Any]) -> None:
    """Print ``results["pass"]`` as one line, write bench/results/NAME.json and print the JSON."""
    verdicts = (f"{k} {'PASS' if v else 'FAIL'}" for k, v in results["pass"].items())
    print("targets:", ", ".join(verdicts))
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"{name}.json").write_text(json.dumps(results, indent=2))
    print(json.dumps(results))


def words(text: str) -> list[str]:
    """The words of ``text`` as WER counts them: case and punctuation aside, hyphens split."""
    from assistant.pipeline.partial_words import norm

    return [w for w in (norm(x) for x in text.replace("-", " ").split()) if w]


def wer(reference: str, hypothesis: str) -> float:
    """Word error rate: word edits (substituted, inserted, deleted) per reference word."""
    ref, hyp = words(reference), words(hypothesis)
    row = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, 1):
        diagonal, row[0] = row[0], i
        for j, h in enumerate(hyp, 1):
            diagonal, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, diagonal + (r != h))
    return row[-1] / max(1, len(ref))
