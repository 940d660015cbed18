"""The report's charts: inline SVG drawn from published numbers only, each with a title
and a description (the same numbers are in the tables beside them)."""

from __future__ import annotations

from collections.abc import Sequence
from html import escape
from typing import Any

from bot.report.formatting import count_text, month_label
from bot.report.results import SCALE, LoopResult, ScaleResult, ThemeMonths
from bot.report.style import GRID, INK, MUTED, NO_THEME_COLOUR, theme_colours


def _axis(value: float) -> tuple[int, int]:
    """A round axis maximum at or above `value`, and its step (about five gridlines)."""
    step = 1
    while step * 5 < value:
        step = step * 5 // 2 if str(step).startswith("2") else step * 2
    return max(-(-int(value) // step), 1) * step, step


def _svg_text(x: float, y: float, text: str, **attrs: Any) -> str:
    extra = " ".join(f'{k.replace("_", "-")}="{escape(str(v))}"' for k, v in attrs.items())
    return f'<text x="{x:.1f}" y="{y:.1f}" {extra}>{escape(text)}</text>'


def month_chart(table: ThemeMonths) -> str:
    """Stacked columns: each month's published theme cells, hidden ones as one hatched part."""
    width, height, left, right, top, bottom = 880, 290, 44, 8, 22, 30
    colours = theme_colours()
    stacks: list[list[tuple[str, float, str]]] = []
    heights: list[float] = []
    for i, month in enumerate(table.months):
        parts: list[tuple[str, float, str]] = []
        for series in table.themes:
            n = series.months[i]
            if isinstance(n, int) and n:
                title = f"{series.label}, {month_label(month, True)}: {n:,} views"
                parts.append((colours.get(series.key, NO_THEME_COLOUR), n, title))
        shown = sum(p[1] for p in parts)
        total = table.totals[i]
        if isinstance(total, int) and total > shown:
            title = f"Themes with small numbers, {month_label(month, True)} (hidden)"
            parts.append(("url(#hatch)", total - shown, title))
        stacks.append(parts)
        heights.append(total if isinstance(total, int) else shown)
    peak, step = _axis(max(heights, default=0))
    plot_h = height - top - bottom
    slot = (width - left - right) / max(len(table.months), 1)
    bar_w = min(slot * 0.62, 56)
    out = [
        f'<svg viewBox="0 0 {width} {height}" role="img" aria-labelledby="months-title '
        'months-desc" font-family="inherit" font-size="11">',
        '<title id="months-title">Views per theme per month</title>',
        '<desc id="months-desc">A stacked column for each month, one colour per theme; the '
        "same numbers are in the table below.</desc>",
        '<defs><pattern id="hatch" width="5" height="5" patternUnits="userSpaceOnUse" '
        'patternTransform="rotate(45)"><rect width="5" height="5" fill="#eef0f3"/>'
        '<rect width="2" height="5" fill="#c4cad1"/></pattern></defs>',
    ]
    for tick in range(0, peak + 1, step):
        y = height - bottom - plot_h * tick / peak
        out.append(
            f'<line x1="{left}" x2="{width - right}" y1="{y:.1f}" y2="{y:.1f}" '
            f'stroke="{GRID if tick else "#b8c0c9"}"/>'
        )
        out.append(_svg_text(left - 6, y + 4, f"{tick:,}", text_anchor="end", fill=MUTED))
    every = max(1, -(-len(table.months) // 12))
    for i, (month, parts) in enumerate(zip(table.months, stacks, strict=True)):
        x = left + i * slot + (slot - bar_w) / 2
        y = float(height - bottom)
        for colour, size, title in parts:
            h = size / peak * plot_h
            y -= h
            out.append(
                f'<rect x="{x:.1f}" y="{y:.1f}" width="{bar_w:.1f}" height="{h:.1f}" '
                f'fill="{colour}"><title>{escape(title)}</title></rect>'
            )
        label_y = (y if parts else height - bottom) - 5
        out.append(
            _svg_text(
                x + bar_w / 2,
                label_y,
                count_text(table.totals[i]),
                text_anchor="middle",
                fill=INK,
                font_weight="600",
            )
        )
        if i % every == 0:
            out.append(
                _svg_text(
                    x + bar_w / 2,
                    height - bottom + 17,
                    month_label(month),
                    text_anchor="middle",
                    fill=MUTED,
                )
            )
    out.append("</svg>")
    return "".join(out)


def loop_chart(loops: Sequence[LoopResult]) -> str:
    """Horizontal bars per theme: residents who spoke (light), of them told (dark)."""
    rows = [r for r in loops if r.spoke != 0]
    if not rows:
        return ""
    width, label_w, row_h, top = 880, 190, 30, 8
    height = top + row_h * len(rows) + 6
    peak = max([r.spoke for r in rows if isinstance(r.spoke, int)] or [1])
    plot_w = width - label_w - 150
    out = [
        f'<svg viewBox="0 0 {width} {height}" role="img" aria-labelledby="loop-title loop-desc"'
        ' font-family="inherit" font-size="12">',
        '<title id="loop-title">Residents who spoke, and how many were told of a change</title>',
        '<desc id="loop-desc">For each theme, a light bar for the residents who spoke and a '
        "dark bar for those told of a change; the numbers are in the table below.</desc>",
    ]
    for i, row in enumerate(rows):
        y = top + i * row_h
        out.append(_svg_text(label_w - 10, y + 17, row.label, text_anchor="end", fill=INK))
        end: float = label_w
        if isinstance(row.spoke, int):
            w = row.spoke / peak * plot_w
            end = label_w + w
            out.append(
                f'<rect x="{label_w}" y="{y + 4}" width="{w:.1f}" height="18" rx="2" '
                f'fill="#c9d6e3"><title>{escape(row.label)}: {row.spoke:,} residents spoke'
                "</title></rect>"
            )
            if isinstance(row.told, int) and row.told:
                tw = row.told / peak * plot_w
                out.append(
                    f'<rect x="{label_w}" y="{y + 8}" width="{tw:.1f}" height="10" rx="1" '
                    f'fill="#2f6690"><title>{escape(row.label)}: {row.told:,} told of a change'
                    "</title></rect>"
                )
        text = f"{count_text(row.spoke)} spoke \u00b7 {count_text(row.told)} told"
        out.append(_svg_text(end + 8, y + 17, text, fill=MUTED))
    out.append("</svg>")
    return "".join(out)


def scale_chart(result: ScaleResult) -> str:
    """Five small columns, answers 1 to 5; a hidden count shows `*` and no column."""
    width, height, bottom, top = 150, 58, 14, 12
    numbers = [n for n in result.distribution if isinstance(n, int)]
    peak = max([*numbers, 1])
    slot = width / 5
    words = ", ".join(
        f"{r}: {count_text(n)}" for r, n in zip(SCALE, result.distribution, strict=True)
    )
    out = [
        f'<svg viewBox="0 0 {width} {height}" width="{width}" height="{height}" role="img" '
        f'aria-label="{escape(f"Answers {words}")}" font-family="inherit" font-size="9.5">'
    ]
    for i, (rating, n) in enumerate(zip(SCALE, result.distribution, strict=True)):
        x = i * slot + slot * 0.18
        w = slot * 0.64
        base = height - bottom
        if isinstance(n, int) and n:
            h = n / peak * (base - top)
            out.append(
                f'<rect x="{x:.1f}" y="{base - h:.1f}" width="{w:.1f}" height="{h:.1f}" '
                f'rx="1.5" fill="#2f6690"/>'
            )
            label_y = base - h - 2.5
        else:
            label_y = base - 2.5
        out.append(_svg_text(x + w / 2, label_y, count_text(n), text_anchor="middle", fill=INK))
        out.append(_svg_text(x + w / 2, height - 2, str(rating), text_anchor="middle", fill=MUTED))
    out.append(f'<line x1="0" x2="{width}" y1="{height - bottom}" y2="{height - bottom}" '
               'stroke="#b8c0c9"/></svg>')  # fmt: skip
    return "".join(out)
