"""The engagement report: one self-contained HTML file to share beyond the team.

`gather_report` (gather.py) reads the numbers (dialect-neutral queries; months bucketed in
Python) and suppresses them as the counts export does: a count from 1 to `minimum - 1` is
`*`, and so is any cell a total would give away (`bot.disclosure`); the two tables of views
share their totals, so they are suppressed together (tables.py). A share is shown only when
both of its counts are, a mean only when its number of answers is (results.py).
`render_report` (page.py) draws the page from those published numbers alone: inline CSS
(style.py) and SVG (charts.py), no script, nothing fetched. `write_report` (write.py)
writes the file all or nothing and audits it. No resident's words, number, chat id or name
is ever read: only officers' titles and questions appear as text.
"""

from bot.report.charts import loop_chart, month_chart, scale_chart
from bot.report.formatting import period_text
from bot.report.gather import (
    gather_report,
    loop_results,
    scale_results,
    summary,
    update_results,
)
from bot.report.page import render_report
from bot.report.results import (
    HIDDEN,
    SCALE,
    AreaThemes,
    Count,
    LoopResult,
    Report,
    ScaleResult,
    Summary,
    ThemeMonths,
    ThemeSeries,
    UpdateResult,
    published,
    share,
)
from bot.report.tables import area_themes, theme_months, views_table
from bot.report.write import describe, write_atomically, write_report

__all__ = [
    "HIDDEN",
    "SCALE",
    "AreaThemes",
    "Count",
    "LoopResult",
    "Report",
    "ScaleResult",
    "Summary",
    "ThemeMonths",
    "ThemeSeries",
    "UpdateResult",
    "area_themes",
    "describe",
    "gather_report",
    "loop_chart",
    "loop_results",
    "month_chart",
    "period_text",
    "published",
    "render_report",
    "scale_chart",
    "scale_results",
    "share",
    "summary",
    "theme_months",
    "update_results",
    "views_table",
    "write_atomically",
    "write_report",
]
