"""The end-of-turn benchmark's plot (Pillow): false cut-offs against latency, a panel per split."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PIL import Image, ImageDraw

PANEL_W, PANEL_H, MARGIN = 420, 320, 50
MAX_MS = 2200.0  # the x axis: past the 2 s long limit
COLOURS = {"silence": (130, 130, 130), "model": (30, 90, 200)}
LEGEND = "grey: silence timeout   blue: Smart Turn threshold   hollow: kept (not merged back)"
Colours = dict[str, tuple[int, int, int]]


def plot(
    results: dict[str, Any],
    path: Path,
    group: str = "all",
    colours: Colours = COLOURS,
    legend: str = LEGEND,
    latency: str = "latency_p50_ms",
) -> None:
    """Write a PNG: per split, each setting's span cut-off rate against its latency.

    A setting is named ``family-value``; ``colours`` maps each family to its colour;
    ``latency`` names the figure on the x axis (another statistic, such as a mean).
    """
    splits = ("tuning", "heldout")
    image = Image.new("RGB", (PANEL_W * len(splits), PANEL_H + 30), "white")
    draw = ImageDraw.Draw(image)
    for k, split in enumerate(splits):
        _panel(draw, results["results"], split, group, k * PANEL_W, (colours, latency))
    draw.text((10, PANEL_H + 10), legend, "black")
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path)


def _panel(
    draw: ImageDraw.ImageDraw,
    table: dict[str, Any],
    split: str,
    group: str,
    x0: int,
    style: tuple[Colours, str],
) -> None:
    colours, latency = style
    left, top = x0 + MARGIN, 30
    width, height = PANEL_W - 2 * MARGIN + 20, PANEL_H - top - MARGIN
    rows = {key.split("/")[0]: r for key, r in table.items() if key.endswith(f"/{split}/{group}")}
    rates = [r["span_cutoff_rate"] or 0.0 for r in rows.values()]
    top_rate = max(0.1, *rates) if rates else 0.1

    def at(ms: float, rate: float) -> tuple[float, float]:
        return left + width * min(ms, MAX_MS) / MAX_MS, top + height * (1 - rate / top_rate)

    draw.rectangle((left, top, left + width, top + height), outline="black")
    draw.text(
        (x0 + 10, 8),
        f"{split} ({group}): false cut-offs per hold span vs {latency.split('_')[1]}",
        "black",
    )
    for ms in (0, 500, 1000, 1500, 2000):
        x, y = at(ms, 0.0)
        draw.text((x - 8, y + 4), f"{ms}", "black")
    for frac in (0.0, 0.5, 1.0):
        x, y = at(0.0, top_rate * frac)
        draw.text((x0 + 6, y - 6), f"{top_rate * frac:.0%}", "black")
    for family, colour in colours.items():
        points = [
            (name, at(r[latency], r["span_cutoff_rate"] or 0.0))
            for name, r in sorted(rows.items())
            if name.startswith(family) and r[latency] is not None
        ]
        if len(points) > 1:
            draw.line([p for _, p in sorted(points, key=lambda q: q[1][0])], fill=colour, width=2)
        for name, (x, y) in points:
            draw.ellipse((x - 4, y - 4, x + 4, y + 4), fill=colour)
            draw.text((x + 6, y - 12), name.split("-", 1)[1], colour)
            kept = rows[name]["span_kept_cutoff_rate"]
            if kept is not None and family == "model":  # the silence timeout merges nothing
                kx, ky = at(rows[name][latency], kept)
                draw.ellipse((kx - 4, ky - 4, kx + 4, ky + 4), outline=colour)
