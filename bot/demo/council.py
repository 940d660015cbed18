"""A realistic synthetic council for the demo: residents joining over some weeks, their views
in every theme and several districts, check-ins at their rhythm, and one published "you
said, we did" update with residents' replies.

Everything goes through the service functions the conversation, the scheduler, the notifier
and the console use (consent, views, areas, rhythms, check-in claims, publishing, the
notifier's claim and record of sends, delivery reports, reactions); only the times are
moved into the past afterwards, so that the weeks look lived (not consent events': they are
append-only, so they keep the moment of seeding). The same seed gives the same council,
relative to `now`.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.db import Database
from bot.models import (
    TOLD,
    ChannelIdentity,
    Checkin,
    CheckinKind,
    CheckinRhythm,
    ConsentAnswer,
    DeliveryStatus,
    OutboundMessage,
    OutboxMessage,
    PreferenceEvent,
    Purpose,
    ReactionKind,
    Resident,
    UpdateReaction,
    View,
)
from bot.services import audit
from bot.services.checkins import answer_checkin, claim, due_checkins, mark_sent, resident_wrote
from bot.services.consent import opt_out, record_consent
from bot.services.delivery import Sent, record_status
from bot.services.identities import resident_for
from bot.services.outbox import claim_due, mark_all_sent
from bot.services.preferences import set_rhythm
from bot.services.reactions import record_reaction
from bot.services.updates import UpdateDraft, draft_update, publish
from bot.services.views import set_area, store_view
from bot.settings import PROJECT_ROOT
from bot.themes import theme_keys

K = TypeVar("K")
MAX_RESIDENTS = 800  # SMS numbers come from Ofcom's drama range, 07700 900100-900999
CONSENT_WORDING = (
    "Can we keep what you tell us and message you now and then (about once a month)? "
    "Reply YES or NO. Reply STOP at any time to stop."
)
# Leeds districts and how many residents live in each (relative); a few never say.
DISTRICTS = {"LS6": 18, "LS8": 16, "LS7": 14, "LS9": 12, "LS11": 12, "LS12": 10, "LS4": 10,
             "LS1": 8}  # fmt: skip
NO_AREA = 0.08
# How often each theme comes up (relative); a theme added to data/themes.yml later gets 6.
THEME_WEIGHTS = {
    "roads_transport": 18, "waste_recycling": 12, "housing": 12, "community_safety": 10,
    "health_social_care": 10, "cost_of_living": 9, "parks_green_spaces": 8,
    "community_facilities": 8, "children_young_people": 7, "environment_climate": 6,
}  # fmt: skip
OTHER_THEME_WEIGHT = 6
SMS_SHARE = 0.6  # the rest are on Telegram
CONSENT_SHARE = 0.9
SECOND_VIEW = 0.5  # residents who say a second thing when they first write
RHYTHMS = {
    CheckinRhythm.MONTHLY: 0.72,
    CheckinRhythm.FORTNIGHTLY: 0.18,
    CheckinRhythm.UPDATES_ONLY: 0.10,
}
OPT_OUT_SHARE = 0.04
CHECKIN_ANSWERED = 0.55
# The update: bus times in north and east Leeds, 18 days ago.
UPDATE: dict[str, Any] = {
    "title": "Evening buses on the 42 and 56",
    "you_said": "the buses stop too early in the evening",
    "we_did": "The 42 and 56 now run every 20 minutes until 11pm.",
    "themes": ["roads_transport"],
    "areas": ["LS6", "LS7", "LS8"],
}
UPDATE_AGE = timedelta(days=18)
REPLIED = 0.65  # of those told
REACTIONS = {ReactionKind.HELPED: 0.5, ReactionKind.NOT_HELPED: 0.25, ReactionKind.COMMENT: 0.25}
COMMENTS = (
    "much better, i can get home from my shift now",
    "the 42 is still full by the time it gets to my stop",
    "good but sundays still finish at 7",
    "the 56 was late 3 nights this week",
    "can the 49 get the same please",
    "the stop on harehills lane still has no shelter",
    "great news, my son can get back from college now",
    "still not reliable after 9, waited 40 mins on tuesday",
)
SMS_DELIVERED = 0.93  # the rest: Twilio reports the handset unreachable (30003)


@dataclass(frozen=True)
class Council:
    """What was seeded."""

    residents: int
    by_channel: dict[str, int]  # residents by channel
    consented: int
    views: int
    views_by_theme: dict[str, int]  # primary theme
    views_by_district: dict[str, int]
    weeks: int
    first_at: datetime
    checkins: int
    update_id: int
    told: int  # residents the update was sent to
    reactions: dict[str, int]  # by kind

    def summary(self) -> str:
        """One paragraph for the terminal."""
        channels = ", ".join(f"{n} on {c.upper() if c == 'sms' else c.title()}"
                             for c, n in sorted(self.by_channel.items()))  # fmt: skip
        replies = ", ".join(f"{n} {k.replace('_', ' ')}" for k, n in self.reactions.items())
        return (
            f"A synthetic council: {self.residents} residents ({channels}) over "
            f"{self.weeks} weeks, {self.views} views in {len(self.views_by_theme)} themes "
            f"and {len(self.views_by_district)} districts, {self.checkins} check-ins, and "
            f"one published update told to {self.told} residents ({replies})."
        )


def theme_texts(data_dir: Path | None = None) -> dict[str, list[str]]:
    """Realistic words for each theme: the theme training examples (data/nlu/themes)."""
    from bot.nlu.evaluation import THEME_DATA_DIR, load_training_views

    texts, labels = load_training_views(data_dir or PROJECT_ROOT / THEME_DATA_DIR)
    found: dict[str, list[str]] = {key: [] for key in theme_keys()}
    for text, key in zip(texts, labels, strict=True):
        found.setdefault(key, []).append(text)
    return found


def _weighted(rng: random.Random, weights: Mapping[K, float]) -> K:
    return rng.choices(list(weights), weights=list(weights.values()))[0]


def _newest(session: Session, model: Any, resident_id: int) -> Any:
    """The resident's newest row of `model` (to move its time into the past)."""
    return session.scalars(
        select(model).where(model.resident_id == resident_id).order_by(model.id.desc())
    ).first()


class _Seeder:
    """Lives through the weeks day by day, in one transaction."""

    def __init__(
        self, session: Session, rng: random.Random, now: datetime, texts: dict[str, list[str]]
    ) -> None:
        self.s, self.rng, self.now = session, rng, now
        self.texts = {key: rng.sample(pool, len(pool)) for key, pool in texts.items() if pool}
        self.themes = {key: THEME_WEIGHTS.get(key, OTHER_THEME_WEIGHT) for key in self.texts}
        self.next_text: Counter[str] = Counter()
        self.channel_of: dict[int, str] = {}
        self.checkins = 0

    def text(self, theme: str) -> str:
        """The next unused words on `theme` (round again once all are used)."""
        pool = self.texts[theme]
        words = pool[self.next_text[theme] % len(pool)]
        self.next_text[theme] += 1
        return words

    def view(self, resident: Resident, at: datetime) -> View:
        """A view on a likely theme, as the classifier would have filed it, at `at`."""
        theme = _weighted(self.rng, self.themes)
        view = store_view(
            self.s, resident, text=self.text(theme), theme_key=theme,
            confidence=round(self.rng.uniform(0.55, 0.99), 3),
            channel=self.channel_of[resident.id],
        )  # fmt: skip
        view.created_at = at
        return view

    def join(self, number: int, at: datetime) -> Resident:
        """A resident writes for the first time: consent, one or two views, their district."""
        rng = self.rng
        if rng.random() < SMS_SHARE:
            channel, address = "sms", f"+447700900{100 + number:03d}"
        else:
            channel, address = "telegram", str(5_100_000_000 + 7919 * number)
        resident = resident_for(self.s, channel, address)
        resident.created_at = at
        _newest(self.s, ChannelIdentity, resident.id).created_at = at
        self.channel_of[resident.id] = channel
        given = rng.random() < CONSENT_SHARE
        record_consent(self.s, resident, given=given, wording=CONSENT_WORDING, channel=channel)
        if not given:
            return resident
        self.view(resident, at + timedelta(minutes=2))
        if rng.random() < SECOND_VIEW:
            self.view(resident, at + timedelta(minutes=4))
        if rng.random() >= NO_AREA:
            set_area(self.s, resident, _weighted(rng, DISTRICTS))
        rhythm = _weighted(rng, RHYTHMS)
        if rhythm != CheckinRhythm.MONTHLY:
            set_rhythm(self.s, resident, rhythm)
            _newest(self.s, PreferenceEvent, resident.id).created_at = at + timedelta(minutes=6)
        return resident

    def leave(self, resident: Resident, at: datetime) -> None:
        """The resident sends STOP."""
        if opt_out(self.s, resident, channel=self.channel_of[resident.id]):
            resident.opted_out_at = at

    def checkin_pass(self, at: datetime) -> None:
        """What the scheduler would have sent at `at`, and the answers that came back."""
        for due in due_checkins(self.s, at, jitter_minutes=240):
            checkin_id = claim(self.s, due, at)
            if checkin_id is None:
                continue
            mark_sent(self.s, checkin_id, at)
            self.s.get(Checkin, checkin_id).created_at = at
            self.checkins += 1
            answered_at = at + timedelta(minutes=self.rng.uniform(5, 600))
            if due.kind != CheckinKind.CHECKIN or answered_at > self.now:
                continue
            if self.rng.random() >= CHECKIN_ANSWERED:
                continue
            resident = self.s.get(Resident, due.resident_id)
            resident_wrote(self.s, resident, answered_at)
            theme = _weighted(self.rng, self.themes)
            answer_checkin(
                self.s, checkin_id, due.conversation_id, text=self.text(theme), theme_key=theme,
                confidence=round(self.rng.uniform(0.55, 0.99), 3), channel=due.channel,
            )  # fmt: skip
            _newest(self.s, View, resident.id).created_at = answered_at

    def publish_update(self, officer: str, at: datetime) -> tuple[int, list[OutboxMessage]]:
        """The officer writes and publishes the update at `at`; the notifier sends it."""
        update = draft_update(self.s, UpdateDraft(**UPDATE), created_by=officer)
        update.created_at = at - timedelta(hours=3)
        audit.record(self.s, actor=officer, action="update.draft", target=f"update:{update.id}",
                     detail={"title": update.title})  # fmt: skip
        queued = publish(self.s, update.id, now=at)
        audit.record(self.s, actor=officer, action="update.publish",
                     target=f"update:{update.id}", detail={"queued": queued})  # fmt: skip
        rows = list(
            self.s.scalars(select(OutboxMessage).where(OutboxMessage.update_id == update.id))
        )
        for row in rows:
            row.created_at = at
        self.s.flush()
        sent_at = at + timedelta(minutes=2)
        for channel in ("sms", "telegram"):
            taken = claim_due(self.s, channel, sent_at, limit=10_000, lease=timedelta(minutes=1))
            sent = [
                Sent(item.resident_id, channel, Purpose.UPDATE, self._provider_id(channel),
                     DeliveryStatus.SENT, outbox_id=item.outbox_id, claim_token=item.claim_token)
                for item in taken.items
            ]  # fmt: skip
            mark_all_sent(self.s, sent, sent_at)
            for one in sent if channel == "sms" else []:
                delivered = self.rng.random() < SMS_DELIVERED
                record_status(self.s, "sms", one.provider_id or "",
                              DeliveryStatus.DELIVERED if delivered else DeliveryStatus.UNDELIVERED,
                              None if delivered else "30003")  # fmt: skip
        for message in self.s.scalars(
            select(OutboundMessage).where(OutboundMessage.outbox_id.in_([row.id for row in rows]))
        ):
            message.updated_at = sent_at + timedelta(seconds=self.rng.uniform(2, 30))
        for row in rows:  # the notifier's writes went round the ORM
            self.s.refresh(row)
        return update.id, rows

    def _provider_id(self, channel: str) -> str:
        if channel == "sms":
            return f"SM{self.rng.getrandbits(128):032x}"
        return str(self.rng.randrange(10_000, 10_000_000))

    def react(self, rows: list[OutboxMessage], at: datetime) -> None:
        """Some of those told reply: it helped, it did not, or a comment."""
        for row in rows:
            if row.status not in TOLD or self.rng.random() >= REPLIED:
                continue
            when = at + timedelta(hours=min(self.rng.expovariate(1 / 8), 24 * 6))
            if when > self.now:
                continue
            resident = self.s.get(Resident, row.resident_id)
            if resident.opted_out_at is not None:
                continue  # they sent STOP instead
            kind = _weighted(self.rng, REACTIONS)
            words = self.rng.choice(COMMENTS) if kind == ReactionKind.COMMENT else ""
            reaction = record_reaction(
                self.s, row.id, resident.conversation_id, kind=kind, channel=row.channel,
                text=words, theme_key="roads_transport" if words else None,
                confidence=0.93 if words else None,
            )  # fmt: skip
            if reaction is None:
                continue
            reaction.created_at = when
            if reaction.view_id is not None:
                self.s.get(View, reaction.view_id).created_at = when


def seed_council(
    database: Database,
    *,
    officer: str,
    residents: int = 300,
    weeks: int = 12,
    now: datetime | None = None,
    seed: int = 18,
    texts: dict[str, list[str]] | None = None,
) -> Council:
    """Seed an empty database with a synthetic council (see the module docstring)."""
    if not 1 <= residents <= MAX_RESIDENTS:
        raise ValueError(f"the demo seeds 1 to {MAX_RESIDENTS} residents")
    now = now or datetime.now(timezone.utc)
    rng = random.Random(seed)  # noqa: S311 - synthetic data, reproducible by design
    start = now - timedelta(weeks=weeks)
    span = (now - start - timedelta(hours=6)).total_seconds()
    joins = sorted(start + timedelta(seconds=rng.uniform(0, span)) for _ in range(residents))
    published_at = now - UPDATE_AGE
    with database.transaction() as session:
        seeder = _Seeder(session, rng, now, texts or theme_texts())
        leaving: list[tuple[datetime, int]] = []
        update_id, told = 0, 0
        day, number = start, 0
        while day < now:
            until = min(day + timedelta(days=1), now)
            while number < residents and joins[number] < until:
                resident = seeder.join(number, joins[number])
                number += 1
                if resident.consent == ConsentAnswer.GIVEN and rng.random() < OPT_OUT_SHARE:
                    leaving.append((joins[number - 1] + timedelta(days=rng.uniform(3, 40)),
                                    resident.id))  # fmt: skip
            for when, resident_id in [item for item in leaving if item[0] < until]:
                seeder.leave(session.get(Resident, resident_id), when)
                leaving.remove((when, resident_id))
            if not update_id and published_at < until:
                update_id, rows = seeder.publish_update(officer, published_at)
                told = sum(row.status in TOLD for row in rows)
                seeder.react(rows, published_at)
            seeder.checkin_pass(until)
            day = until
        return _counted(session, residents, weeks, start, seeder.checkins, update_id, told)


def _counted(
    session: Session,
    residents: int,
    weeks: int,
    start: datetime,
    checkins: int,
    update_id: int,
    told: int,
) -> Council:
    """What the database now holds."""
    views = session.execute(select(View.theme_key, View.area)).all()
    return Council(
        residents=residents,
        by_channel=dict(
            Counter(session.scalars(select(ChannelIdentity.channel)).all()).most_common()
        ),
        consented=len(
            session.scalars(
                select(Resident.id).where(Resident.consent == ConsentAnswer.GIVEN)
            ).all()
        ),
        views=len(views),
        views_by_theme=dict(Counter(theme for theme, _ in views if theme).most_common()),
        views_by_district=dict(Counter(area for _, area in views if area).most_common()),
        weeks=weeks,
        first_at=start,
        checkins=checkins,
        update_id=update_id,
        told=told,
        reactions=dict(
            Counter(
                session.scalars(
                    select(UpdateReaction.kind).where(UpdateReaction.update_id == update_id)
                ).all()
            ).most_common()
        ),
    )
