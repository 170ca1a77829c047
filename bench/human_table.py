"""The tables of bench/human_turns.py: plain text for the terminal, Markdown for the README."""

from __future__ import annotations

from typing import Any

HEAD = (
    "set",
    "config",
    "turns",
    "v2v p50",
    "v2v p95",
    "endpoint",
    "STT after end",
    "LLM 1st token",
    "LLM 1st clause",
    "TTS 1st audio",
    "at cap",
    "cut-offs",
    "thrown / merged",
    "WER",
)
RATIO_HEAD = ("set", "v2v p50", "v2v p95", "endpoint p50", "at cap")


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f}"


def _share(value: float | None) -> str:
    return "-" if value is None else f"{value:.0%}"


def rows(results: dict[str, Any]) -> list[list[str]]:
    """One row per set and configuration (times in ms, p50 unless named).

    Configurations with the same settings share a row ("today = new").
    """
    out = []
    table = results["results"]
    for set_name in results["sets"]:
        groups: dict[str, list[str]] = {}
        for name, note in results["configs"].items():
            if f"{name}/{set_name}" in table:
                groups.setdefault((note["same_as"] or [name])[0], []).append(name)
        for group in groups.values():
            r = table[f"{group[0]}/{set_name}"]
            out.append(
                [
                    set_name,
                    " = ".join(group),
                    str(r["turns"]),
                    _ms(r["v2v_p50_ms"]),
                    _ms(r["v2v_p95_ms"]),
                    *(_ms(v) for v in r["p50_ms"].values()),
                    _share(r["at_cap"]),
                    f"{r['cut_offs']}/{r['turns']}",
                    f"{r['thrown_away']} / {r['merged']}",
                    _share(r["wer"]),
                ]
            )
    return out


def ratio_rows(results: dict[str, Any]) -> list[list[str]]:
    """One row per set: new / today."""
    ratio = results.get("ratios_new_vs_today") or {}
    return [[s, *("-" if v is None else f"{v:.2f}x" for v in r.values())] for s, r in ratio.items()]


def print_table(results: dict[str, Any]) -> None:
    """Fixed-width columns, then the ratios and any configuration that was not fully applied."""
    widths = [15, 12, *(max(7, len(h) + 1) for h in HEAD[2:])]
    for row in [list(HEAD), *rows(results)]:
        print(
            "".join(
                f"{c:<{w}}" if i < 2 else f"{c:>{w}}"
                for i, (c, w) in enumerate(zip(row, widths, strict=True))
            )
        )
    if ratio := ratio_rows(results):
        print("new / today:")
        for row in [list(RATIO_HEAD), *ratio]:
            print(f"{row[0]:<15}" + "".join(f"{c:>14}" for c in row[1:]))
    for name, note in results["configs"].items():
        if note["not_in_settings"]:
            print(
                f"{name}: not in the settings yet, left out: {', '.join(note['not_in_settings'])}"
            )
    print(f"seconds per configuration: {results['seconds']}")


def markdown(head: tuple[str, ...], body: list[list[str]], left: int = 2) -> str:
    """A Markdown table, its first ``left`` columns (names) left-aligned, the numbers right."""
    align = ["---" if i < left else "---:" for i in range(len(head))]
    lines = [list(head), align, *body]
    return "\n".join("| " + " | ".join(cells) + " |" for cells in lines)


def print_markdown(results: dict[str, Any]) -> None:
    """The results as Markdown tables, ready for the README's performance section."""
    print(markdown(HEAD, rows(results)))
    if ratio := ratio_rows(results):
        print()
        print(markdown(RATIO_HEAD, ratio, left=1))
