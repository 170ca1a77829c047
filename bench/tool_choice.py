"""How often a spoken request gets the right tool, or none (``make bench-tools``).

Three sets of spoken-style requests (bench/data): the one the pre-check was written against,
a held-out one (measured, then two bugs it showed were fixed: "p.m.", "what time it is"), and
a fresh one written after that and measured once. Each request is asked as a typed turn of a fresh
conversation through the real LLM stage (the voice loop), in three ways:

- ``model``: the default chat model chooses (``tools.choice = "auto"``, no pre-check);
- ``precheck``: the deterministic pre-check alone (``tools.choice = "none"``, the default);
- ``precheck + model``: the pre-check, and the model for what it does not recognise.

"look" is left out (no camera here), so its requests are not counted. A row is right when the
turn called the expected tool (or none when none was expected); arguments are right when the
expected ones (a timer's seconds, an alarm's time) match, and a value is right when the tool's
result holds the expected number. Prints a table and JSON (also bench/results/tool_choice.json).
"""

from __future__ import annotations

import asyncio
import json
import os
import tempfile
from pathlib import Path
from typing import Any

from assistant import config
from assistant.models.loaders import Models, load_models
from assistant.pipeline.conversation import Conversation, Observers
from assistant.pipeline.events import Event, ToolCalled, ToolResult
from assistant.pipeline.stages.sink import AudioSink

REPO = Path(__file__).resolve().parents[1]
SETS = {
    "written against": "tool_requests.json",
    "held out": "tool_requests_heldout.json",
    "fresh": "tool_requests_fresh.json",
}
WAYS = {
    "model": {"choice": "auto", "precheck": False},
    "precheck": {"choice": "none", "precheck": True},
    "precheck + model": {"choice": "auto", "precheck": True},
}


async def ask(settings: config.Settings, models: Models, text: str) -> list[Event]:
    """The tool events of one typed turn in a fresh conversation."""
    seen: list[Event] = []
    observers = Observers()
    observers.bus.listen(
        lambda e: seen.append(e) if isinstance(e, ToolCalled | ToolResult) else None
    )
    conversation = Conversation(settings, models, None, AudioSink(), observers=observers)
    await conversation.start()
    await conversation.say(text)
    await conversation.finish()
    return seen


def score(request: dict[str, Any], seen: list[Event]) -> dict[str, bool | None]:
    """Right tool; right arguments and value where the set gives them (None: not given)."""
    calls = [e for e in seen if isinstance(e, ToolCalled)]
    results = [e for e in seen if isinstance(e, ToolResult)]
    first = calls[0] if calls else None
    right = (first.name if first else None) == request["tool"]
    expected = request.get("arguments")
    args = (
        None
        if expected is None
        else bool(right and first and all(first.arguments.get(k) == v for k, v in expected.items()))
    )
    value = request.get("value")
    valued = None if value is None else bool(right and results and value in results[0].result)
    return {"tool": right, "arguments": args, "value": valued}


def measure(models: Models, way: dict[str, Any], requests: list[dict[str, Any]]) -> dict[str, Any]:
    settings = config.load(
        {"tools": {**way, "builtin": ["clock", "timers", "calculator", "units"]}}
    )
    marks = [score(r, asyncio.run(ask(settings, models, r["text"]))) for r in requests]

    def share(key: str) -> str:
        counted = [m[key] for m in marks if m[key] is not None]
        return f"{sum(counted)}/{len(counted)}"

    calls = [r["tool"] is None and not m["tool"] for r, m in zip(requests, marks, strict=True)]
    return {
        "right_tool": share("tool"),
        "right_arguments": share("arguments"),
        "right_value": share("value"),
        "false_calls": f"{sum(calls)}/{sum(r['tool'] is None for r in requests)}",
    }


def main() -> None:
    os.environ["XDG_DATA_HOME"] = tempfile.mkdtemp(prefix="bench-tools-")  # timers set here
    models = load_models(config.load(), ("llm",))
    table: dict[str, dict[str, Any]] = {}
    for set_name, file in SETS.items():
        requests = json.loads((REPO / "bench" / "data" / file).read_text())
        requests = [r for r in requests if r["tool"] != "look"]
        for way_name, way in WAYS.items():
            table[f"{set_name} / {way_name}"] = measure(models, way, requests)
    print(f"{'set / way':34} {'right tool':>11} {'arguments':>10} {'value':>8} {'false calls':>12}")
    for row, m in table.items():
        print(
            f"{row:34} {m['right_tool']:>11} {m['right_arguments']:>10} {m['right_value']:>8}"
            f" {m['false_calls']:>12}"
        )
    out = REPO / "bench" / "results" / "tool_choice.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(table, indent=1))
    print(json.dumps(table))


if __name__ == "__main__":
    main()
