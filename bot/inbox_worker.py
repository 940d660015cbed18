"""The inbox worker: hands each resident's messages to Rasa, in order, until each is processed.

It claims residents' oldest open messages (bot/services/inbox.py), gives each to Rasa's
private inbox channel, keeps Rasa's replies with the message (and, in the same
transaction, the options they offer), sends them through the channel's Sender
(bot/outbound.py) and only then closes the message; REST's replies go back in its HTTP
answer, so a REST message is closed as its replies are kept. A message Rasa could
not process (Rasa down, the action server down or hanging, the tracker store failing)
stays open and is tried again with a growing delay; the resident's later messages wait
behind it. The webhooks hand a message to `accept`: when idle, the worker claims
it in the transaction that keeps it and starts its turn at once; otherwise they wake the
worker, whose loop claims it.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from bot.db import Database, run_in_transaction
from bot.erasure import Eraser
from bot.models import InboxStatus, utcnow
from bot.outbound import Outbound, Prepared
from bot.rasa_client import RasaUnavailable
from bot.rasa_pool import Rasa
from bot.services.inbound import Accepted, Incoming, accept_message
from bot.services.inbox import (
    Claimed,
    any_unclaimed,
    claim_accepted,
    claim_next,
    mark_done,
    mark_processed,
    mark_retry,
)
from bot.services.reactions import UPDATE_CONTEXT_ACTION, may_reply_to_update
from bot.services.rights import erasure_requested

logger = logging.getLogger(__name__)

LEASE = timedelta(minutes=3)  # longer than any turn can take (RasaClient gives up at 2)
POLL_S = 1.0  # how often to look for retries that have come due without a nudge
CONCURRENCY = 8  # residents whose messages are processed at once
KEEP_FINISHED = 1000
REST = "rest"  # its replies go back in the HTTP answer, not through a Sender


@dataclass(frozen=True)
class Recorded:
    """A turn's answer as recorded: who asked to be erased, where it goes, if it is done."""

    erase_id: int | None = None
    prepared: Prepared | None = None  # None: to prepare when it is delivered
    done: bool = False


class InboxWorker:
    """Processes the inbox: `run_forever`, or `run_once` in tests."""

    def __init__(
        self,
        database: Database,
        rasa: Rasa,
        outbound: Outbound,
        *,
        clock: Callable[[], datetime] = utcnow,
        concurrency: int = CONCURRENCY,
        lease: timedelta = LEASE,
        eraser: Eraser | None = None,
    ) -> None:
        self.database = database
        self.rasa = rasa
        self.outbound = outbound
        self.clock = clock
        self.concurrency = concurrency
        self._refill_at = max(1, concurrency // 2)
        self.lease = lease
        self.eraser = eraser
        self._wake = asyncio.Event()
        self._running: set[asyncio.Task] | None = None  # None: the loop is not running
        self._reserved = 0  # places held for messages being accepted
        self._more = True  # messages may be waiting that no claim has seen yet
        self._nudges = 0
        self._waiters: dict[int, asyncio.Future] = {}
        # REST replies finished before anyone waited for them (kept briefly, newest last).
        self._finished: OrderedDict[int, list[dict[str, Any]]] = OrderedDict()

    def nudge(self) -> None:
        """Something arrived: look at the inbox now."""
        self._more = True
        self._nudges += 1
        self._wake.set()

    async def replies_to(self, inbox_id: int, timeout: float) -> list[dict[str, Any]] | None:
        """Wait for the bot's replies to one message (REST); None if not processed in time."""
        if inbox_id in self._finished:
            return self._finished.pop(inbox_id)
        future = self._waiters.setdefault(inbox_id, asyncio.get_running_loop().create_future())
        try:
            return await asyncio.wait_for(asyncio.shield(future), timeout)
        except asyncio.TimeoutError:
            return None
        finally:
            self._waiters.pop(inbox_id, None)

    async def accept(self, incoming: Incoming) -> Accepted:
        """Keep an incoming message in the inbox (committed before this returns).

        When the worker is idle (no turn in flight, nothing known to be waiting), the
        message is claimed in the same transaction and its turn starts at once: no claim
        of its own, no wait for the loop. Otherwise the loop is woken to claim it in turn:
        under load the loop's claims take the oldest messages first, several at once
        (turns started one by one as they arrive cost Rasa and the gateway more CPU a
        turn, docs/BENCHMARKS.md).
        """
        now = self.clock()
        if not self._idle():
            accepted = await asyncio.to_thread(accept_message, self.database, incoming, now)
            if accepted.inbox_id is not None:
                self.nudge()
            return accepted
        self._reserved += 1
        job = asyncio.ensure_future(
            asyncio.to_thread(
                accept_message, self.database, incoming, now, claim=self._claim_accepted
            )
        )
        # The turn starts even if the webhook's request is cancelled meanwhile: a message
        # claimed and left would wait for its lease to run out.
        job.add_done_callback(self._start_accepted)
        return await asyncio.shield(job)

    def _claim_accepted(
        self, session: Session, accepted: Accepted, incoming: Incoming, now: datetime
    ) -> Claimed | None:
        """In the accepting transaction: the message, claimed, unless it must wait its turn."""
        inbox_id, resident_id = accepted.inbox_id, accepted.resident_id
        conversation_id, text = accepted.conversation_id, accepted.text
        assert inbox_id and resident_id and conversation_id and text  # all kept with a message
        claimed = claim_accepted(
            session, inbox_id, resident_id, conversation_id, incoming.channel, text, now, self.lease
        )
        if claimed is None:
            return None
        asking = may_reply_to_update(session, [claimed.conversation_id], now)
        return replace(claimed, may_reply_to_update=bool(asking))

    def _start_accepted(self, job: asyncio.Future) -> None:
        """The accepting transaction ended: start the turn it claimed, or wake the loop."""
        self._reserved -= 1
        if job.cancelled() or job.exception() is not None:
            return  # nothing was kept; the webhook answers with an error
        accepted: Accepted = job.result()
        if accepted.claimed is None:
            if accepted.inbox_id is not None:
                self.nudge()  # behind another of the resident's messages: the loop takes it
        elif self._running is not None:
            self._start(accepted.claimed)
        # else the worker stopped meanwhile: the claim's lease runs out and it is retried.

    def _idle(self) -> bool:
        """Running, with no turn in flight or being accepted, and nothing known to wait."""
        return self._running is not None and not (self._running or self._reserved or self._more)

    def _free_places(self) -> int:
        return self.concurrency - len(self._running or ()) - self._reserved

    def _start(self, item: Claimed) -> None:
        """Start a claimed message's turn in one of the places."""
        assert self._running is not None
        task = asyncio.create_task(self._process(item))
        self._running.add(task)
        task.add_done_callback(self._ended)

    def _ended(self, task: asyncio.Task) -> None:
        if self._running is not None:
            self._running.discard(task)
        if not task.cancelled() and task.exception() is not None:
            # The database went away mid-turn: the message's lease runs out, it is retried.
            logger.warning("A turn failed (%s).", type(task.exception()).__name__)
        if self._more:
            self._wake.set()

    async def run_forever(self) -> None:
        """Process the inbox until cancelled, with up to `concurrency` turns in flight.

        Places are filled as they free (once half are free: a claim is a transaction, and
        Rasa stays busy with the other half), so one slow turn holds up no other resident
        and Rasa never idles while a batch waits for its slowest turn. A resident's next
        message cannot be claimed while their last is in flight (only a resident's oldest
        open message is claimable), so each resident's messages still go in order. A turn
        that ends wakes the loop only if something may be waiting (the last claim left an
        open message unclaimed, or a nudge came since): one turn at a time, a claim that
        found nothing after every turn cost the gateway a transaction a turn.
        """
        running: set[asyncio.Task] = set()
        self._running = running
        try:
            while True:
                self._wake.clear()  # before claiming: a nudge from now on is not lost
                places = self._free_places()
                claimed = []
                if places >= self._refill_at:
                    claimed = await self._claim_safely(places)
                for item in claimed:
                    self._start(item)
                if len(claimed) < places or places < 1:  # nothing more now, or no place
                    await self._woken(POLL_S)
        finally:
            self._running = None
            for task in running:
                task.cancel()
            await asyncio.gather(*running, return_exceptions=True)

    async def _claim_safely(self, limit: int) -> list[Claimed]:
        """Claim up to `limit` messages; none, with a warning, while the database is down."""
        try:
            return await self._claim_up_to(limit)
        except Exception as exc:  # wait, then try again
            logger.warning("Inbox pass failed (%s); trying again.", type(exc).__name__)
            self._more = True
            return []

    async def _woken(self, timeout: float) -> None:
        """Wait until nudged, or for `timeout` seconds.

        Not `asyncio.wait_for`: on Python 3.10 it swallows a cancellation that arrives as
        the event is set (a nudge as the gateway stops), and the worker never stops.
        """
        waiter = asyncio.ensure_future(self._wake.wait())
        try:
            await asyncio.wait({waiter}, timeout=timeout)
        finally:
            waiter.cancel()

    async def run_once(self) -> int:
        """Claim and process one batch; returns how many messages it took."""
        claimed = await self._claim_up_to(self.concurrency)
        await asyncio.gather(*(self._process(item) for item in claimed))
        return len(claimed)

    async def _claim_up_to(self, limit: int) -> list[Claimed]:
        """Claim up to `limit` messages in a transaction of their own."""
        now, nudges = self.clock(), self._nudges
        claimed, left = await run_in_transaction(
            self.database, lambda s: self._claim(s, now, limit)
        )
        # What arrived after the claim's snapshot was taken has nudged since.
        self._more = left or self._nudges != nudges
        return claimed

    def _claim(self, session: Session, now: datetime, limit: int) -> tuple[list[Claimed], bool]:
        """Claim up to `limit` messages, noting which cannot be replies to an update; and
        whether an open message is left unclaimed."""
        claimed = claim_next(session, now, limit, self.lease)
        asking = may_reply_to_update(session, [item.conversation_id for item in claimed], now)
        claimed = [
            replace(item, may_reply_to_update=item.conversation_id in asking) for item in claimed
        ]
        return claimed, any_unclaimed(session, now)

    async def _process(self, item: Claimed) -> None:
        replies = item.replies
        recorded = Recorded()
        if item.status == InboxStatus.PENDING:
            try:
                replies = await self.rasa.handle(
                    item.conversation_id,
                    item.text,
                    item.inbox_id,
                    item.channel,
                    retry=item.attempts > 1,
                    skip=() if item.may_reply_to_update else (UPDATE_CONTEXT_ACTION,),
                )
            except RasaUnavailable as exc:
                await self._retry_later(item, str(exc))
                return
            kept = await run_in_transaction(
                self.database, lambda s: self._processed(s, item, replies)
            )
            if kept is None:
                return  # another worker took it over after our lease ran out
            recorded = kept
        await self.outbound.deliver(
            item.conversation_id, item.channel, replies, prepared=recorded.prepared
        )
        # Asked to be forgotten: erased now that the confirmation has gone, before their
        # next message can reach Rasa (the message goes with everything else of theirs).
        # Only the turn itself asks (actions/rights.py), so whether it did is read as the
        # turn is recorded; a message taken over with its replies unsent is asked afresh.
        erased = False
        if self.eraser is not None and recorded.erase_id is not None:
            erased = (
                await asyncio.to_thread(self.eraser.erase, recorded.erase_id, "resident")
                is not None
            )
        elif self.eraser is not None and item.status != InboxStatus.PENDING:
            erased = await asyncio.to_thread(self.eraser.erase_if_asked, item.conversation_id)
        if not erased and not recorded.done:
            await run_in_transaction(self.database, lambda s: mark_done(s, item))
        if item.channel == REST:
            self._hand_back(item.inbox_id, replies)

    def _processed(
        self, session: Session, item: Claimed, replies: list[dict[str, Any]]
    ) -> Recorded | None:
        """Record Rasa's replies and prepare their delivery, in one transaction (None if the
        claim was lost). Replies no provider sends (REST's) finish the message here too,
        unless the turn asked to be erased.

        Whether it asked is read before the update, so that it does not lengthen the time
        the update holds SQLite's write lock.
        """
        asked = None
        if self.eraser is not None:
            asked = erasure_requested(session, item.conversation_id)
        if not mark_processed(session, item, replies, self.clock()):
            return None
        prepared = self.outbound.prepare(session, item.conversation_id, item.channel, replies)
        done = asked is None and not self.outbound.sends(item.channel)
        if done:
            mark_done(session, item)
        return Recorded(asked, prepared, done)

    async def _retry_later(self, item: Claimed, error: str) -> None:
        status = await run_in_transaction(
            self.database, lambda s: mark_retry(s, item, error, self.clock())
        )
        if status == InboxStatus.FAILED:
            logger.error("Gave up on inbox message %d: %s.", item.inbox_id, error)
        else:
            logger.info("Inbox message %d not processed yet (%s).", item.inbox_id, error)

    def _hand_back(self, inbox_id: int, replies: list[dict[str, Any]]) -> None:
        """Give a REST message's replies to whoever waits for them (or keep them briefly)."""
        waiter = self._waiters.get(inbox_id)
        if waiter is not None:
            if not waiter.done():
                waiter.set_result(replies)
            return
        self._finished[inbox_id] = replies
        while len(self._finished) > KEEP_FINISHED:
            self._finished.popitem(last=False)
