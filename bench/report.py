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
