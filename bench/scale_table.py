"""bench/scale.py's results as tables: plain text for the terminal, Markdown for the README."""

from __future__ import annotations

from typing import Any

Table = tuple[str, list[str], list[list[str]]]  # title, header, rows


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f} ms"


def _x(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}x"


def _cores(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def _answered(row: dict[str, Any]) -> str:
    extra = "".join(f", {row[k]} {k}" for k in ("early", "none") if row[k])
    return f"{row['answered']}/{row['turns']}{extra}"


def _local(rows: list[dict[str, Any]]) -> Table:
    header = ["sessions", "v2v p50", "v2v p95", "p50 vs 1", "cores", "per session", "vs 1"]
    body = [
        [
            str(r["sessions"]),
            _ms(r["v2v_p50_ms"]),
            _ms(r["v2v_p95_ms"]),
            _x(r["vs_first"]["v2v_p50"]),
            _cores(r["cpu_cores"]["assistant"]),
            _cores(r["cpu_cores_per_session"]["assistant"]),
            _x(r["vs_first"]["assistant_cores_per_session"]),
            _answered(r),
            f"{r['load_average']:.1f}",
        ]
        for r in rows
    ]
    title = f"Capacity, every model in `assistant serve` (idle: {_idle(rows)})"
    return title, [*header, "answered", "load"], body


def _idle(rows: list[dict[str, Any]]) -> str:
    """The processes' cores with no session open, as measured before the levels."""
    used = rows[0]["idle_cores"]
    return ", ".join(f"{name} {_cores(cores)} cores" for name, cores in used.items())


def _remote(rows: list[dict[str, Any]], speech: str) -> Table:
    header = ["sessions", "v2v p50", "v2v p95", "p50 vs local", "assistant cores"]
    header += ["per session", "vs local", "model servers cores", "calls/turn", "answered", "load"]
    body = []
    for r in rows:
        local = r.get("vs_local", {})
        calls = r.get("remote_calls_per_turn", {})
        body.append(
            [
                str(r["sessions"]),
                _ms(r["v2v_p50_ms"]),
                _ms(r["v2v_p95_ms"]),
                _x(local.get("v2v_p50")),
                _cores(r["cpu_cores"]["assistant"]),
                _cores(r["cpu_cores_per_session"]["assistant"]),
                _x(local.get("assistant_cores")),
                _cores(r["model_servers_cores"]),
                " ".join(f"{k.rsplit('/', 1)[-1]} {v:.1f}" for k, v in calls.items()) or "-",
                _answered(r),
                f"{r['load_average']:.1f}",
            ]
        )
    title = f"Capacity, every model on a loopback server (speech: {speech}; idle: {_idle(rows)})"
    return title, header, body


def _overhead(o: dict[str, Any]) -> Table:
    header = ["call", "project's class p50", "direct p50", "ratio p50", "ratio best"]
    body = [
        [
            {"stt": "transcribe", "tts": "synthesize (to the end)"}[role],
            _ms(o[role]["p50_ms"]),
            _ms(o[role]["raw_p50_ms"]),
            _x(o[role]["ratio_p50"]),
            _x(o[role]["ratio_best"]),
        ]
        for role in ("stt", "tts")
    ]
    t = o["tts"]
    first = [_ms(t["first_audio_p50_ms"]), _ms(t["raw_first_audio_p50_ms"])]
    body.append(["synthesize, first audio", *first, _x(t["first_audio_ratio_p50"]), "-"])
    return "Remote speech: the project's classes against calling the server directly", header, body


def _kiosk(k: dict[str, Any]) -> Table:
    names = {
        "idle_rss_mb": ("resident memory, idle", "{:.0f} MB"),
        "turn_peak_rss_mb": ("resident memory, peak in a turn", "{:.0f} MB"),
        "idle_cpu_cores": ("CPU idle (cores)", "{:.3f}"),
        "turn_cpu_cores": ("CPU during a turn (cores)", "{:.3f}"),
    }
    body = []
    for key, (label, form) in names.items():
        local, thin = form.format(k["local"][key]), form.format(k["thin"][key])
        body.append([label, local, thin, _x(k["thin_vs_local"].get(key))])
    header = ["figure", "all-local", "thin", "thin / local"]
    return "Thin kiosk (chat, recognition, synthesis remote) against all-local", header, body


def tables(results: dict[str, Any]) -> list[Table]:
    """The tables of the parts that ran."""
    out = []
    if "local" in results:
        out.append(_local(results["local"]))
    if "remote" in results:
        out.append(_remote(results["remote"], results["settings"]["speech"]))
    if "overhead" in results:
        out.append(_overhead(results["overhead"]))
    if "kiosk" in results:
        out.append(_kiosk(results["kiosk"]))
    return out


def print_tables(results: dict[str, Any]) -> None:
    """Fixed-width tables for the terminal."""
    for title, header, body in tables(results):
        widths = [max(len(c) for c in column) for column in zip(header, *body, strict=True)]
        print(f"\n{title}")
        for row in (header, *body):
            print(
                "  ".join(
                    c.rjust(w) if i else c.ljust(w)
                    for i, (c, w) in enumerate(zip(row, widths, strict=True))
                )
            )


def print_markdown(results: dict[str, Any]) -> None:
    """Markdown tables, with the run's settings under them."""
    for title, header, body in tables(results):
        print(f"**{title}**\n")
        print("| " + " | ".join(header) + " |")
        print("|" + " --- |" * len(header))
        for row in body:
            print("| " + " | ".join(row) + " |")
        print()
    s = results["settings"]
    levels = ",".join(map(str, s["levels"]))
    print(
        f"(`python bench/scale.py --levels {levels} --turns {s['turns']} --speech {s['speech']}`,"
        f" {s['cpus']} cores)"
    )
