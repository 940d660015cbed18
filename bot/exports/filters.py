"""Which rows an export takes: dates, themes, districts, channel, question, update."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from bot.models import CheckinQuestion, Update
from bot.services.targeting import checked_targets


class ExportError(ValueError):
    """An export that cannot run as asked: the message says why, in one line."""


@dataclass(frozen=True)
class ExportFilter:
    """Which rows: every field empty means everything."""

    since: datetime | None = None
    until: datetime | None = None
    themes: tuple[str, ...] = ()
    areas: tuple[str, ...] = ()
    channel: str | None = None
    question_id: int | None = None
    update_id: int | None = None

    @classmethod
    def checked(
        cls,
        *,
        since: datetime | None = None,
        until: datetime | None = None,
        themes: Iterable[str] = (),
        areas: Iterable[str] = (),
        channel: str | None = None,
        question_id: int | None = None,
        update_id: int | None = None,
    ) -> ExportFilter:
        """A filter with its themes, districts, channel and dates checked (ExportError)."""
        keys, districts = checked_targets(list(themes), list(areas), ExportError)
        if since and until and until <= since:
            raise ExportError("the dates are the wrong way round: --to is before --from")
        if channel not in (None, "sms", "telegram"):
            raise ExportError("--channel must be sms or telegram")
        return cls(since, until, tuple(keys), tuple(districts), channel, question_id, update_id)

    @property
    def described(self) -> dict[str, Any]:
        """The filters that are set, for the audit log (no personal data in any of them)."""
        described = {
            "from": self.since.isoformat() if self.since else None,
            "to": self.until.isoformat() if self.until else None,
            "themes": list(self.themes),
            "areas": list(self.areas),
            "channel": self.channel,
            "question": self.question_id,
            "update": self.update_id,
        }
        return {k: v for k, v in described.items() if v not in (None, [])}

    def check_exist(self, session: Session) -> None:
        """ExportError if the filter names a check-in question or an update that is not there."""
        if self.question_id is not None and session.get(CheckinQuestion, self.question_id) is None:
            raise ExportError(f"there is no check-in question {self.question_id}")
        if self.update_id is not None and session.get(Update, self.update_id) is None:
            raise ExportError(f"there is no update {self.update_id}")

    def refuse(self, *names: str, kind: str) -> None:
        """ExportError if any of the filters `names` (question, update, ...) is set."""
        for name in names:
            if self.described.get(name) is not None:
                raise ExportError(f"--{name} does not apply to an export of {kind}")
