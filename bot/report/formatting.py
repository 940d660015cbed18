"""Numbers, months, days and the period as the page writes them."""

from __future__ import annotations

from datetime import datetime, timedelta

from bot.report.results import Count
from bot.report.style import DASH


def count_html(value: Count) -> str:
    """A published count for HTML: 1,234, a muted 0, or a muted `*`."""
    if isinstance(value, str):
        return '<span class="star">*</span>'
    return '<span class="zero">0</span>' if value == 0 else f"{value:,}"


def count_text(value: Count) -> str:
    return value if isinstance(value, str) else f"{value:,}"


def percent_html(value: float | None) -> str:
    return '<span class="muted">&ndash;</span>' if value is None else f"{value:.0%}"


def month_label(month: str, long: bool = False) -> str:
    return datetime.strptime(month, "%Y-%m").strftime("%B %Y" if long else "%b %Y")


def day_text(value: datetime) -> str:
    return f"{value.day} {value:%B %Y}"


def period_text(since: datetime | None, until: datetime | None, short: bool = False) -> str:
    """The period in words: "1 September 2026 to 30 November 2026", or "All time"."""
    last = until - timedelta(days=1) if until else None

    def day(value: datetime) -> str:
        return f"{value.day} {value:%b %Y}" if short else day_text(value)

    if since and last:
        if short and since.year == last.year:
            return f"{since.day} {since:%b} {DASH} {day(last)}"
        return f"{day(since)} {DASH if short else 'to'} {day(last)}"
    if since:
        return f"From {day(since)}"
    if last:
        return f"Up to {day(last)}"
    return "All time"
