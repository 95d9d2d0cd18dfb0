"""The relay: delivers queued invitations and announcements after the commit that queued them (I/O).

For each item, exactly one message arrives, even with several relays at once or one killed mid-send:

1. claim: ``queued -> claimed`` by one conditional UPDATE (messaging/claims.py), so no two relays hold
   the same item;
2. decide: the delivery policy (messaging/policy.py) picks the channel from the contact's status;
3. record the attempt: a Delivery row in ``sending``, with a fresh key that the message also carries
   (Message-ID, SMS client reference, outbox file name), COMMITTED before the hand-over;
4. hand over, then record what the provider said: ``sent``; a refusal that marks the contact
   unreachable and moves on to the other channel; a transient failure retried later (after
   MAX_ATTEMPTS on one channel, the other channel is used); or ``in_doubt`` when the connection broke
   mid-hand-over;
5. recovery (at the start of every run): an item claimed by a relay that died or ran out of time is
   taken over, and its attempt left in ``sending`` is settled by asking the provider or the delivery log
   (messaging/recovery.py): sent, never sent (sent now), or in doubt (reported, not resent).

Dry runs read the queue and apply the policy, and write and send nothing.
"""

from __future__ import annotations

import time
import uuid
from collections import Counter
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Iterator

import structlog
from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from directory.db import session_factory
from directory.models import ACTIVE, Delivery, District, Guardian, utcnow
from messaging import claims, compose
from messaging import faults
from messaging.classify import Outcome
from messaging.config import MessagingConfig
from messaging.events import Effect, contact_after
from messaging.letters import announcement_letters, invitation_letters
from messaging.outbox_transport import OutboxTransport
from messaging.policy import Choice, ContactPoint, choose_channel
from messaging.recovery import Resolver
from messaging.sms_transport import SmsTransport
from messaging.smtp_transport import SmtpTransport
from messaging.delivery_log import DeliveryLog
from messaging.transport import ACCEPTED, NOT_SENT, OutgoingMessage, Transport, TransportDown
from sync.logs import redact_text

log = structlog.get_logger("rostersync.messaging")

MAX_ATTEMPTS = 3  # transient failures on one channel before the other channel is tried
BACKOFF = (timedelta(minutes=1), timedelta(minutes=5), timedelta(minutes=30))
DEFAULT_TTL = timedelta(minutes=10)  # far longer than one hand-over (30 s timeouts); renewed per item
ITEM_TYPES = ("invitation", "announcement")


@dataclass
class Scope:
    """Which items a run may take: everything, one district, some invitations, one announcement."""

    district_id: int | None = None
    item_types: tuple[str, ...] = ITEM_TYPES
    invitation_where: tuple = ()  # extra SQL conditions on Invitation (a school, a classroom, ids)
    announcement_id: int | None = None

    def where(self, item_type: str) -> tuple:
        model = claims.MODELS[item_type]
        conditions = [model.district_id == self.district_id] if self.district_id is not None else []
        if item_type == "invitation":
            conditions += list(self.invitation_where)
        elif self.announcement_id is not None:
            conditions.append(model.announcement_id == self.announcement_id)
        return tuple(conditions)


@dataclass
class RelayReport:
    dry_run: bool
    transport: dict
    sent: Counter = field(default_factory=Counter)
    would_send: Counter = field(default_factory=Counter)
    fallbacks: int = 0
    unreachable: list = field(default_factory=list)
    failed: list = field(default_factory=list)
    deferred: list = field(default_factory=list)
    in_doubt: list = field(default_factory=list)
    cancelled: list = field(default_factory=list)
    recovered: Counter = field(default_factory=Counter)

    def as_dict(self) -> dict:
        out = {"dry_run": self.dry_run, "transport": self.transport,
               "sent": {c: self.sent.get(c, 0) for c in ("email", "sms")}, "total_sent": sum(self.sent.values()),
               "fallbacks": self.fallbacks, "unreachable": self.unreachable, "failed": self.failed,
               "deferred": self.deferred, "in_doubt": self.in_doubt, "cancelled": self.cancelled,
               "recovered": {k: self.recovered.get(k, 0) for k in ("sent", "requeued", "released", "in_doubt")}}
        if self.dry_run:
            out["would_send"] = {c: self.would_send.get(c, 0) for c in ("email", "sms")}
        return out


def contact_points(g: Guardian) -> dict[str, ContactPoint]:
    return {"email": ContactPoint(bool(g.email), g.email_status, g.email_status_reason),
            "sms": ContactPoint(bool(g.phone), g.phone_status, g.phone_status_reason)}


def address_of(g: Guardian, channel: str) -> str | None:
    return g.email if channel == "email" else g.phone


def why_cancel(item_type: str, item, guardian: Guardian) -> str | None:
    if guardian.status != ACTIVE:
        return "the guardian was removed before it was sent"
    if item_type == "invitation" and item.kind == "invite" and guardian.state == "joined":
        return "the guardian joined before it was sent"
    return None


def set_contact_status(guardian: Guardian, channel: str, effect: Effect) -> None:
    prefix = "email" if channel == "email" else "phone"
    status, reason = contact_after(getattr(guardian, f"{prefix}_status"), getattr(guardian, f"{prefix}_status_reason"),
                                   effect)
    setattr(guardian, f"{prefix}_status", status)
    setattr(guardian, f"{prefix}_status_reason", reason)


def _skips(item) -> set[str]:
    return {c for c in (item.skip_channels or "").split(",") if c}


def _add_skip(item, channel: str) -> None:
    item.skip_channels = ",".join(sorted(_skips(item) | {channel}))


def _release(item, status: str, error: str | None = None) -> None:
    item.status, item.error = status, error
    item.claimed_by = item.claim_expires_at = None


def _no_channel_status(choice: Choice) -> str:
    """Blocked by the contact's own state (or a channel this deployment lacks): unreachable; blocked
    because the message itself failed on a channel for a reason of ours (a refusal that says nothing about
    the contact): failed."""
    return "failed" if "failed" in choice.blocked.values() else "unreachable"


def describe_blocked(blocked: dict[str, str]) -> str:
    return "; ".join(f"{c}: {why}" for c, why in blocked.items())


class Relay:
    def __init__(self, engine: Engine, config: MessagingConfig, scope: Scope | None = None, *,
                 owner: str | None = None, batch_size: int = 50, ttl: timedelta = DEFAULT_TTL,
                 dry_run: bool = False):
        self.factory = session_factory(engine)
        self.config = config
        self.scope = scope or Scope()
        self.owner = owner or claims.make_owner()
        self.batch_size = batch_size
        self.ttl = ttl
        self.dry_run = dry_run
        self.report = RelayReport(dry_run, config.describe())
        self._transports: dict[str, Transport] = {}
        self._down: dict[str, str] = {}  # channel -> why, for the rest of this run
        self._resolver = Resolver(config)

    @contextmanager
    def tx(self) -> Iterator[Session]:
        with self.factory.begin() as session:
            yield session

    # -- transports ----------------------------------------------------------------------------------
    def transport(self, channel: str) -> Transport:
        if channel not in self._transports:
            c = self.config
            if c.offline:
                t: Transport = OutboxTransport(c.outbox_dir, channel, c.mail_from)
            elif channel == "email":
                t = SmtpTransport(c.smtp, c.mail_from, DeliveryLog(c.delivery_log))
            else:
                t = SmsTransport(c.sms)
            self._transports[channel] = t
        return self._transports[channel]

    def close(self) -> None:
        for t in self._transports.values():
            t.close()
        self._transports.clear()
        self._resolver.close()

    # -- a run ---------------------------------------------------------------------------------------
    def run_once(self) -> RelayReport:
        if self.dry_run:
            return self.plan()
        try:
            self.recover()
            for item_type in self.scope.item_types:
                self._drain(item_type)
        finally:
            self.close()
        return self.report

    def _drain(self, item_type: str) -> None:
        where = self.scope.where(item_type)
        idle = 0
        while True:
            with self.tx() as s:
                ids = claims.claim(s, item_type, self.owner, utcnow(), self.ttl, self.batch_size, where)
            faults.checkpoint("relay_claimed")
            if not ids:
                with self.tx() as s:
                    if not claims.any_due(s, item_type, utcnow(), where):
                        return
                idle += 1  # another relay holds the rows we saw (PostgreSQL skips locked rows): look again
                if idle > 200:
                    return
                time.sleep(0.05)
                continue
            idle = 0
            for item_id in ids:
                self.deliver(item_type, item_id)

    # -- one item ------------------------------------------------------------------------------------
    def _letter(self, s: Session, item_type: str, item) -> compose.Letter:
        if item_type == "invitation":
            return invitation_letters(s, [item], self.config.join_url)[item.id]
        return announcement_letters(s, [item])[item.id]

    def _defer(self, item, item_type: str, channel: str, detail: str) -> None:
        item.attempts += 1
        if item.attempts >= MAX_ATTEMPTS:
            _add_skip(item, channel)  # this channel keeps failing: the next pass uses the other one
            item.attempts = 0
        item.not_before = utcnow() + BACKOFF[min(item.attempts, len(BACKOFF) - 1)]
        _release(item, "queued", detail)
        self.report.deferred.append({"item": item_type, "id": item.id, "guardian_id": item.guardian_id,
                                     "channel": channel, "detail": detail})

    def deliver(self, item_type: str, item_id: int) -> None:
        model = claims.MODELS[item_type]
        for _ in range(4):  # preferred channel, fallback; each may be refused once
            with self.tx() as s:
                if not claims.renew(s, item_type, item_id, self.owner, utcnow(), self.ttl):
                    return  # recovery elsewhere took it over: it is theirs now
                item = s.get(model, item_id)
                guardian = s.get(Guardian, item.guardian_id)
                district = s.get(District, item.district_id)
                ref = {"item": item_type, "id": item.id, "guardian_id": guardian.id}
                cancel = why_cancel(item_type, item, guardian)
                if cancel:
                    _release(item, "cancelled", cancel)
                    self.report.cancelled.append({**ref, "reason": cancel})
                    return
                choice = choose_channel(district.default_channel, contact_points(guardian), self.config.channels,
                                        _skips(item))
                if choice.channel is None:
                    status = _no_channel_status(choice)
                    _release(item, status, describe_blocked(choice.blocked))
                    (self.report.failed if status == "failed" else self.report.unreachable).append(
                        {**ref, "reasons": choice.blocked})
                    log.info("message_not_sent", item=item_type, item_id=item.id, outcome=status,
                             reasons=choice.blocked)
                    return
                channel = choice.channel
                if channel in self._down:
                    self._defer(item, item_type, channel, self._down[channel])
                    return
                letter = self._letter(s, item_type, item)
                subject, text = compose.email(letter) if channel == "email" else ("", compose.sms(letter))
                key = f"rs-{uuid.uuid4().hex}"
                message = OutgoingMessage(key, channel, address_of(guardian, channel), subject, text)
                s.add(Delivery(key=key, district_id=item.district_id, guardian_id=guardian.id, item_type=item_type,
                               item_id=item.id, channel=channel, transport=self.config.transport_of(channel),
                               status="sending", owner=self.owner))
            # Committed: the attempt is on record before the provider sees the message.
            faults.checkpoint("relay_attempt_recorded")
            try:
                outcome, provider_id = self.transport(channel).send(message)
            except TransportDown as exc:
                self._down[channel] = str(exc)
                outcome, provider_id = Outcome("transient", "unavailable", str(exc)[:300]), None
            if self._record(item_type, item_id, key, channel, choice, outcome, provider_id):
                return

    def _record(self, item_type: str, item_id: int, key: str, channel: str, choice: Choice, outcome: Outcome,
                provider_id: str | None) -> bool:
        """Write what the provider said; True when this item is done for this run."""
        model = claims.MODELS[item_type]
        with self.tx() as s:
            delivery = s.scalar(select(Delivery).where(Delivery.key == key))
            item = s.get(model, item_id)
            guardian = s.get(Guardian, item.guardian_id)
            # Servers quote the address back ("<m@example.org> no such user"): stored without it.
            outcome = Outcome(outcome.kind, outcome.reason, redact_text(outcome.detail or "")[:300])
            delivery.detail = outcome.detail or None
            if outcome.kind == "accepted":
                delivery.status, delivery.provider_id = "sent", provider_id
                _release(item, "sent")
                item.channel, item.sent_at = channel, utcnow()
                self.report.sent[channel] += 1
                self.report.fallbacks += choice.fallback
                log.info("message_sent", item=item_type, item_id=item_id, channel=channel, delivery_id=delivery.id,
                         fallback=choice.fallback)
                faults.checkpoint("relay_result_pending")
                return True
            if outcome.kind == "in_doubt":
                delivery.status = "in_doubt"
                _release(item, "in_doubt", outcome.detail)
                self.report.in_doubt.append({"item": item_type, "id": item_id, "guardian_id": guardian.id,
                                             "channel": channel, "delivery_key": key, "detail": outcome.detail})
                log.warning("message_in_doubt", item=item_type, item_id=item_id, channel=channel,
                            delivery_id=delivery.id)
                return True
            if outcome.kind == "rejected":
                delivery.status, delivery.reason = "failed", outcome.reason or "rejected"
                if outcome.reason:
                    set_contact_status(guardian, channel, Effect(
                        "opted_out" if outcome.reason == "opted_out" else "unreachable",
                        None if outcome.reason == "opted_out" else outcome.reason))
                _add_skip(item, channel)
                log.info("message_refused", item=item_type, item_id=item_id, channel=channel,
                         reason=delivery.reason, delivery_id=delivery.id)
                return False  # next pass: the other channel, or reported unreachable
            delivery.status, delivery.reason = "failed", outcome.reason or "transient"
            log.info("message_deferred", item=item_type, item_id=item_id, channel=channel, delivery_id=delivery.id)
            self._defer(item, item_type, channel, outcome.detail)
            return True

    # -- recovery ------------------------------------------------------------------------------------
    def recover(self) -> None:
        for item_type in self.scope.item_types:
            model = claims.MODELS[item_type]
            where = self.scope.where(item_type)
            now = utcnow()
            with self.tx() as s:
                stale = claims.take_over_stale(s, item_type, self.owner, now, self.ttl, where)
                # In-doubt attempts that a peer can still settle (SMS provider, outbox folder): take them too.
                doubtful = list(s.scalars(
                    select(model.id).join(Delivery, (Delivery.item_type == item_type) & (Delivery.item_id == model.id))
                    .where(model.status == "in_doubt", Delivery.status == "in_doubt",
                           Delivery.transport.in_(("http", "outbox")), *where).distinct()))
                for item_id in doubtful:
                    taken = s.execute(model.__table__.update().where(model.id == item_id, model.status == "in_doubt")
                                      .values(status="claimed", claimed_by=self.owner,
                                              claim_expires_at=now + self.ttl))
                    if taken.rowcount == 1:
                        stale.append(item_id)
            for item_id in stale:
                self._settle(item_type, item_id)

    def _settle(self, item_type: str, item_id: int) -> None:
        model = claims.MODELS[item_type]
        now = utcnow()
        with self.tx() as s:
            delivery = s.scalar(select(Delivery).where(Delivery.item_type == item_type, Delivery.item_id == item_id)
                                .order_by(Delivery.id.desc()).limit(1))
            if delivery is None or delivery.status not in ("sending", "in_doubt"):
                item = s.get(model, item_id)
                if item.claimed_by == self.owner:
                    _release(item, "queued")  # never handed to anyone: it goes out in this run
                    self.report.recovered["released"] += 1
                return
            s.expunge(delivery)
        answer = self._resolver.resolve(delivery, now)
        with self.tx() as s:
            row = s.get(Delivery, delivery.id)
            item = s.get(model, item_id)
            if item.claimed_by != self.owner:
                return
            row.detail = answer.detail[:300]
            if answer.state == ACCEPTED:
                row.status, row.provider_id = "sent", answer.provider_id or row.provider_id
                _release(item, "sent")
                item.channel, item.sent_at = row.channel, now
                self.report.recovered["sent"] += 1
            elif answer.state == NOT_SENT:
                row.status, row.reason = "failed", "not_sent"
                _release(item, "queued")
                self.report.recovered["requeued"] += 1
            else:
                row.status = "in_doubt"
                _release(item, "in_doubt", answer.detail)
                self.report.recovered["in_doubt"] += 1
                self.report.in_doubt.append({"item": item_type, "id": item_id, "guardian_id": item.guardian_id,
                                             "channel": row.channel, "delivery_key": row.key,
                                             "detail": answer.detail})
            log.info("attempt_settled", item=item_type, item_id=item_id, delivery_id=row.id, state=answer.state)

    # -- dry run -------------------------------------------------------------------------------------
    def plan(self) -> RelayReport:
        with self.tx() as s:
            for item_type in self.scope.item_types:
                model = claims.MODELS[item_type]
                items = list(s.scalars(select(model).where(model.status == "queued", *self.scope.where(item_type))
                                       .order_by(model.id)))
                guardians = {g.id: g for g in s.scalars(select(Guardian).where(
                    Guardian.id.in_({i.guardian_id for i in items})))} if items else {}
                districts = {d.id: d for d in s.scalars(select(District))}
                for item in items:
                    g = guardians[item.guardian_id]
                    ref = {"item": item_type, "id": item.id, "guardian_id": g.id}
                    cancel = why_cancel(item_type, item, g)
                    if cancel:
                        self.report.cancelled.append({**ref, "reason": cancel})
                        continue
                    choice = choose_channel(districts[item.district_id].default_channel, contact_points(g),
                                            self.config.channels, _skips(item))
                    if choice.channel is None:
                        self.report.unreachable.append({**ref, "reasons": choice.blocked})
                    else:
                        self.report.would_send[choice.channel] += 1
                        self.report.fallbacks += choice.fallback
        return self.report
