"""The report as one self-contained HTML page: six sections and a note on the numbers,
drawn from the `Report` alone. Inline CSS and SVG, no script, nothing fetched; every text
escaped."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from html import escape
from typing import Any
from zoneinfo import ZoneInfo

from bot.report.charts import loop_chart, month_chart, scale_chart
from bot.report.formatting import count_html, day_text, month_label, percent_html, period_text
from bot.report.results import SCALE, Report
from bot.report.style import CSS, NO_THEME_COLOUR, theme_colours
from bot.report.tables import theme_label
from bot.themes import label


def _column(name: str, num: bool = True) -> str:
    """A column's heading (a column of numbers is right-aligned)."""
    return f'<th scope="col" class="num">{name}</th>' if num else f'<th scope="col">{name}</th>'


def _table(caption: str, heads: str, rows: str, foot: str = "") -> str:
    """A table in a box that scrolls sideways: its caption, its headings, rows and footer."""
    return (
        f'<div class="scroll"><table><caption>{caption}</caption><thead><tr>{heads}</tr></thead>'
        f"<tbody>{rows}</tbody>{f'<tfoot>{foot}</tfoot>' if foot else ''}</table></div>"
    )


def _summary(report: Report) -> str:
    s = report.summary
    tiles = [
        ("period", escape(period_text(report.since, report.until, short=True)), "Period covered"),
        ("", count_html(s.views), "Views shared"),
        ("", count_html(s.residents), "Residents who spoke"),
        ("", count_html(s.updates), "\u201cYou said, we did\u201d updates published"),
    ]
    return '<div class="tiles">' + "".join(
        f'<div class="tile {cls}"><span class="value">{value}</span>'
        f'<span class="what">{what}</span></div>'
        for cls, value, what in tiles
    ) + "</div>"  # fmt: skip


def _months(report: Report) -> str | None:
    table = report.theme_months
    if not table.themes:
        return None
    colours = theme_colours()
    legend = "".join(
        f'<li><span class="swatch" style="background:{colours.get(s.key, NO_THEME_COLOUR)}">'
        f"</span>{escape(s.label)}</li>"
        for s in table.themes
        if any(isinstance(n, int) and n for n in s.months)  # drawn in the chart
    )
    chart = month_chart(table)
    if 'url(#hatch)"' in chart:
        legend += '<li><span class="swatch hidden-cells"></span>Small numbers (hidden)</li>'
    months = "".join(_column(month_label(m)) for m in table.months)
    rows = "".join(
        f'<tr><th scope="row"><span class="swatch" style="background:'
        f'{colours.get(s.key, NO_THEME_COLOUR)}"></span> {escape(s.label)}</th>'
        + "".join(f'<td class="num">{count_html(n)}</td>' for n in s.months)
        + f'<td class="num"><strong>{count_html(s.total)}</strong></td></tr>'
        for s in table.themes
    )
    foot = (
        '<tr><th scope="row">All themes</th>'
        + "".join(f'<td class="num">{count_html(n)}</td>' for n in table.totals)
        + f'<td class="num">{count_html(table.total)}</td></tr>'
    )
    return f'<figure>{chart}<ul class="legend">{legend}</ul></figure>' + _table(
        "Views per theme per month",
        _column("Theme", num=False) + months + _column("Total"),
        rows,
        foot,
    )


def _areas(report: Report) -> str | None:
    if not report.areas:
        return None
    colours = theme_colours()
    peak = max([a.views for a in report.areas if isinstance(a.views, int)] or [1])
    rows = []
    for area in report.areas:
        chips = (
            "".join(
                f'<span class="chip"><span class="swatch" style="background:'
                f'{colours.get(key, NO_THEME_COLOUR)}"></span>{escape(theme_label(key))} '
                f"<b>{n:,}</b></span>"
                for key, n in area.top
            )
            or '<span class="muted">Numbers too small to show by theme</span>'
        )
        bar = (
            f'<span class="bar" style="width:{max(area.views / peak * 5, 0.2):.2f}rem"></span>'
            if isinstance(area.views, int) and area.views
            else ""
        )
        rows.append(
            f'<tr><th scope="row">{escape(area.label)}</th>'
            f'<td class="num">{bar}{count_html(area.views)}</td>'
            f'<td><div class="chips">{chips}</div></td></tr>'
        )
    return _table(
        "Views by postcode district, with its top themes",
        _column("District", num=False) + _column("Views")
        + _column("Top themes (views)", num=False),
        "".join(rows),
    )  # fmt: skip


def _scales(report: Report) -> str | None:
    if not report.scales:
        return None
    rows = "".join(
        f'<tr><td class="question">{escape(s.wording)}</td>'
        f'<td class="num">{count_html(s.answers)}</td>'
        + "".join(f'<td class="num">{count_html(n)}</td>' for n in s.distribution)
        + '<td class="num">'
        + ('<span class="muted">&ndash;</span>' if s.mean is None else f"{s.mean:.1f}")
        + f"</td><td>{scale_chart(s)}</td></tr>"
        for s in report.scales
    )
    ratings = "".join(_column(str(r)) for r in SCALE)
    return _table(
        "Answers to each rating question, by rating",
        _column("Question", num=False) + _column("Answers") + ratings + _column("Average")
        + _column("Spread", num=False),
        rows,
    )  # fmt: skip


def _updates(report: Report) -> str | None:
    if not report.updates:
        return None
    rows = []
    for u in report.updates:
        tags = "".join(f'<span class="tag">{escape(label(k))}</span>' for k in u.themes)
        tags += "".join(f'<span class="tag">{escape(a)}</span>' for a in u.areas)
        if u.coming:
            tags += '<span class="tag coming">Still to happen</span>'
        asked = '<td class="num"><span class="muted">n/a</span></td>'
        rows.append(
            f'<tr><td><strong>{escape(u.title)}</strong>'
            f'<span class="meta">Published {day_text(u.published_at)}</span>{tags}</td>'
            f'<td class="num">{count_html(u.residents)}</td>'
            f'<td class="num">{count_html(u.sent)}</td>'
            f'<td class="num">{count_html(u.delivered)}</td>'
            + (asked * 2 if u.coming else
               f'<td class="num">{count_html(u.helped)}</td>'
               f'<td class="num">{count_html(u.not_helped)}</td>')
            + f'<td class="num">{count_html(u.comments)}</td></tr>'
        )  # fmt: skip
    heads = ("Residents", "Sent", "Delivered", "Helped", "Didn\u2019t help", "Comments")
    return (
        _table(
            "Updates, their reach and residents\u2019 replies",
            _column("Update", num=False) + "".join(_column(h) for h in heads),
            "".join(rows),
        )
        + '<p class="about">Residents: those the update was for. Sent: messages that left us. '
        "Delivered: confirmed by the phone network (text messages only). Helped, didn\u2019t "
        "help and comments count residents who replied.</p>"
    )


def _loops(report: Report) -> str | None:
    if not any(r.spoke != 0 for r in report.loops):
        return None
    rows = "".join(
        f'<tr><th scope="row">{escape(r.label)}</th><td class="num">{count_html(r.spoke)}</td>'
        f'<td class="num">{count_html(r.told)}</td>'
        f'<td class="num">{percent_html(r.told_share)}</td>'
        f'<td class="num">{count_html(r.answered)}</td>'
        f'<td class="num">{percent_html(r.helped_share)}</td>'
        "</tr>"
        for r in report.loops
    )
    legend = (
        '<ul class="legend"><li><span class="swatch" style="background:#c9d6e3"></span>'
        'Residents who spoke</li><li><span class="swatch" style="background:#2f6690"></span>'
        "Of them, told of a change</li></ul>"
    )
    heads = ("Spoke", "Told", "Share told", "Answered", "Said it helped")
    return (
        f"<figure>{loop_chart(report.loops)}{legend}</figure>"
        + _table(
            "Residents who spoke, were told of a change, and said it helped",
            _column("Theme", num=False) + "".join(_column(h) for h in heads),
            rows,
        )
        + '<p class="about">Spoke: residents with a view about the theme in this period. Told: '
        "of them, those an update about the theme was sent to (at any time). Answered: of "
        "those told, residents who replied whether it helped; said it helped is their "
        "share.</p>"
    )


@dataclass(frozen=True)
class Section:
    """One numbered section of the page: a heading, a sentence saying what it shows, and
    its body (None: nothing in the period, and `empty` says so)."""

    title: str
    lede: str
    body: Callable[[Report], str | None]
    empty: str = "No views in this period."

    def html(self, number: int, report: Report) -> str:
        """The section, numbered `number`."""
        body = self.body(report)
        if body is None:
            body = f'<p class="empty">{self.empty}</p>'
        return (
            f'<section aria-labelledby="s{number}"><h2 id="s{number}">'
            f'<span class="n">{number}</span>{escape(self.title)}</h2>'
            f'<p class="lede">{self.lede}</p>{body}</section>'
        )


SECTIONS = (
    Section(
        "Summary",
        "What residents told us in this period, and how many changes we reported back.",
        _summary,
    ),
    Section(
        "Views per theme per month",
        "How many views residents shared about each theme, month by month. A view about two "
        "themes counts under each, so the totals can be more than the number of views.",
        _months,
    ),
    Section(
        "Top themes by area",
        "Where views came from, by postcode district, and the themes raised most in each. "
        "Themes with small numbers in a district are left out of its list.",
        _areas,
    ),
    Section(
        "Check-in ratings",
        "Answers to check-in questions asked on a scale of 1 to 5, with the average where "
        "enough residents answered for it to be shown.",
        _scales,
        empty="No rating questions were answered in this period.",
    ),
    Section(
        "\u201cYou said, we did\u201d updates",
        "Each \u201cyou said, we did\u201d update published in this period: who it was for, "
        "how many messages went out, and what residents replied so far.",
        _updates,
        empty="No updates were published in this period.",
    ),
    Section(
        "Closing the loop",
        "For each theme: the residents who raised it in this period, how many of them have "
        "been told of a change about it, and whether those who answered said it helped.",
        _loops,
    ),
)


def _filters_text(filters: Mapping[str, Any]) -> str:
    parts = []
    if filters.get("themes"):
        parts.append(", ".join(label(k) for k in filters["themes"]))
    if filters.get("areas"):
        parts.append(", ".join(filters["areas"]))
    if filters.get("channel"):
        parts.append({"sms": "text messages", "telegram": "Telegram"}[filters["channel"]])
    return f"Only: {'; '.join(parts)}" if parts else ""


def render_report(report: Report) -> str:
    """The whole page, from the report's published numbers only (every text escaped)."""
    period = period_text(report.since, report.until)
    zone = ZoneInfo(report.timezone)
    generated = report.generated_at.astimezone(zone)
    stamp = f"{day_text(generated)} at {generated:%H:%M} ({report.timezone})"
    filters = _filters_text(report.filters)
    lo, hi = 1, report.minimum - 1
    about = (
        '<section class="about" aria-labelledby="about"><h2 id="about">About these numbers'
        "</h2><dl>"
        f"<dt>*</dt><dd>A number from {lo} to {hi}, too small to publish without risk of "
        "identifying someone, or a number hidden so that a total cannot give a small one "
        "away.</dd>"
        "<dt>&ndash;</dt><dd>A share or average left out because a number it rests on is "
        "hidden.</dd></dl>"
        "<p>Views are what residents told us by text message or Telegram, each stored under "
        "one or more themes; answers to check-in questions and comments on updates are views "
        "too, but ratings (1 to 5) are counted in section 4 only. Months run in UTC. No "
        "resident\u2019s words, phone number or name appear in this report.</p></section>"
    )
    body = "".join(s.html(n, report) for n, s in enumerate(SECTIONS, 1)) + about
    return (
        '<!DOCTYPE html>\n<html lang="en-GB"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(report.org_name)}: engagement report, {escape(period)}</title>"
        f'<style>{CSS}</style></head><body><div class="page">'
        f'<header class="masthead"><p class="org">{escape(report.org_name)}</p>'
        "<h1>Engagement report</h1>"
        f'<p class="period">{escape(period)}</p>'
        + (f'<p class="filters">{escape(filters)}</p>' if filters else "")
        + f"</header><main>{body}</main>"
        f"<footer><span>{escape(report.org_name)} \u00b7 engagement report</span>"
        f"<span>Generated {escape(stamp)}</span></footer></div></body></html>\n"
    )
