"""What the notifier needs from a provider: send one message, and say how a send failed."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol


class RetryLater(Exception):
    """The provider could not take the message now (busy, rate-limited, down, timed out).

    `in_doubt` means the provider may have accepted it anyway (the answer never arrived).
    """

    def __init__(self, code: str, retry_after: float | None = None, in_doubt: bool = False):
        super().__init__(code)
        self.code = code
        self.retry_after = retry_after
        self.in_doubt = in_doubt


class Undeliverable(Exception):
    """Sending again cannot help: the number is invalid or opted out, the chat blocked us."""

    def __init__(self, code: str, opted_out: bool = False, unreachable: bool = False):
        super().__init__(code)
        self.code = code
        self.opted_out = opted_out
        self.unreachable = unreachable


class Sender(Protocol):
    """Sends notifications on one channel."""

    channel: str
    # True if `find_sent` can tell whether a send whose answer was lost went through.
    can_reconcile: bool

    async def send(self, address: str, text: str) -> str:
        """Send `text`; returns the provider's message id, or raises RetryLater/Undeliverable."""
        ...

    async def find_sent(self, address: str, text: str, since: datetime) -> str | None:
        """The id of `text` sent to `address` since `since`, if the provider has it."""
        ...

    async def close(self) -> None:
        """Release connections opened on the running event loop (a later send reopens)."""
        ...
