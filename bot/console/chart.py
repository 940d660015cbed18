"""Bar charts laid out for inline SVG (no script): views per theme per week, stacked, and a
small one of a scale question's ratings."""

from __future__ import annotations

from dataclasses import dataclass

from bot.services.dashboard import WeeklyCounts
from bot.themes import catalogue, label

# Colour-blind-friendly palette (Okabe-Ito and Tol), one per theme in catalogue order.
PALETTE = (
    "#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9",
    "#D55E00", "#332288", "#882255", "#117733", "#999933", "#777777",
)  # fmt: skip
WIDTH, HEIGHT, LEFT, BOTTOM, TOP = 720, 260, 40, 30, 10


@dataclass(frozen=True)
class Bar:
    """One theme's part of one week's bar."""

    x: float
    y: float
    width: float
    height: float
    colour: str
    title: str


@dataclass(frozen=True)
class Chart:
    """Everything the template draws."""

    bars: list[Bar]
    week_labels: list[tuple[float, str]]  # (x, "3 Nov")
    ticks: list[tuple[float, int]]  # (y, value)
    legend: list[tuple[str, str, int]]  # (colour, theme label, total)
    width: int = WIDTH
    height: int = HEIGHT
    left: int = LEFT
    baseline: int = HEIGHT - BOTTOM


def _nice_max(value: int) -> int:
    for step in (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000):
        if value <= step * 4:
            return step * 4
    return value


def build(counts: WeeklyCounts) -> Chart:
    """Lay out the bars, axis labels and legend for `counts`."""
    keys: list[str | None] = [t.key for t in catalogue()] + [None]
    colours = dict(zip(keys, PALETTE, strict=False))
    weeks = len(counts.weeks)
    totals = [sum(series[i] for series in counts.by_theme.values()) for i in range(weeks)]
    top = _nice_max(max(totals, default=0) or 1)
    plot_h = HEIGHT - BOTTOM - TOP
    slot = (WIDTH - LEFT) / max(weeks, 1)
    bars: list[Bar] = []
    for i, monday in enumerate(counts.weeks):
        y = float(HEIGHT - BOTTOM)
        for key in keys:
            n = counts.by_theme.get(key, [0] * weeks)[i]
            if not n:
                continue
            h = n / top * plot_h
            y -= h
            title = f"{label(key)}, week of {monday:%-d %b}: {n}"
            bars.append(Bar(LEFT + i * slot + slot * 0.15, y, slot * 0.7, h, colours[key], title))
    return Chart(
        bars=bars,
        week_labels=[(LEFT + (i + 0.5) * slot, f"{m:%-d %b}") for i, m in enumerate(counts.weeks)],
        ticks=[(HEIGHT - BOTTOM - plot_h * k / 4, top * k // 4) for k in range(5)],
        legend=[
            (colours[k], label(k), sum(counts.by_theme[k])) for k in keys if k in counts.by_theme
        ],
    )


SMALL_WIDTH, SMALL_HEIGHT, SMALL_LEFT = 240, 120, 28


def distribution(counts: dict[int, int], what: str = "rated") -> Chart:
    """A small bar chart of how many gave each value (a scale question's 1 to 5)."""
    values = list(counts)
    top = _nice_max(max(counts.values(), default=0) or 1)
    plot_h = SMALL_HEIGHT - BOTTOM - TOP
    slot = (SMALL_WIDTH - SMALL_LEFT) / max(len(values), 1)
    bars = []
    for i, value in enumerate(values):
        n = counts[value]
        h = n / top * plot_h
        bars.append(
            Bar(SMALL_LEFT + i * slot + slot * 0.2, SMALL_HEIGHT - BOTTOM - h, slot * 0.6, h,
                PALETTE[0], f"{n} {what} {value}")
        )  # fmt: skip
    return Chart(
        bars=bars,
        week_labels=[(SMALL_LEFT + (i + 0.5) * slot, str(v)) for i, v in enumerate(values)],
        ticks=[(SMALL_HEIGHT - BOTTOM - plot_h * k / 2, top * k // 2) for k in range(3)],
        legend=[],
        width=SMALL_WIDTH,
        height=SMALL_HEIGHT,
        left=SMALL_LEFT,
        baseline=SMALL_HEIGHT - BOTTOM,
    )
