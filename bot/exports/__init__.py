"""Exports for analysts: pseudonymised, redacted, suppressed, streamed to a file.

Every row-level export goes through here: the resident is a keyed pseudonym (never a
number, chat id or conversation id) and free text passes `bot.redaction.redact`. Rows are
read in batches and written as they come, so memory does not grow with the row count;
the file appears only when it is complete. Counts are suppressed (`bot.disclosure`).
"""

from bot.exports.counts import DIMENSIONS, parse_by
from bot.exports.filters import ExportError, ExportFilter
from bot.exports.formats import FORMATS, MEDIA_TYPES, export_to, format_of
from bot.exports.run import KINDS, ExportRequest, export, export_views
from bot.exports.views import VIEW_COLUMNS, view_rows

__all__ = [
    "DIMENSIONS",
    "FORMATS",
    "KINDS",
    "MEDIA_TYPES",
    "VIEW_COLUMNS",
    "ExportError",
    "ExportFilter",
    "ExportRequest",
    "export",
    "export_to",
    "export_views",
    "format_of",
    "parse_by",
    "view_rows",
]
