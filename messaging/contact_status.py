"""Applying delivery events and resets to guardians' contact status, and re-sending what bounced (I/O).

The decisions are messaging/events.py's; this module finds who an event is about and writes the result:

- by message key (our Delivery.key, from a Message-ID or a client reference) or the SMS provider's
  message id: that delivery's guardian, and the delivery's status;
- by address (an email or a number, e.g. an inbound STOP): every guardian with it, in every district,
  because an opt-out is the person's, whichever school's message they answered.

A message that did not arrive (a bounce, an undelivered SMS) is put back in the queue with that channel
skipped, so the relay sends it by the other one; once only: an item that was already sent again is left.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from directory import audit
from directory.audit import Actor
from directory.errors import InvalidInput, NotFound
from directory.models import Delivery, District, Guardian
from messaging import claims
from messaging.events import Event, effect_of
from messaging.relay import set_contact_status

FIELD = {"email": "email", "sms": "phone"}


def _find_delivery(session: Session, event: Event) -> Delivery | None:
    if event.key:
        found = session.scalar(select(Delivery).where(Delivery.key == event.key))
        if found is not None:
            return found
    if event.provider_id:
        return session.scalar(select(Delivery).where(Delivery.provider_id == event.provider_id))
    return None


def _find_guardians(session: Session, event: Event) -> list[Guardian]:
    if not event.address:
        return []
    if event.channel == "email":
        return list(session.scalars(select(Guardian).where(Guardian.email == event.address.strip().lower())))
    from directory.contacts import normalize_phone

    try:
        phone = normalize_phone(event.address, "US")
    except Exception:  # noqa: BLE001 - an unparseable number matches nobody
        return []
    return list(session.scalars(select(Guardian).where(Guardian.phone == phone)))


def _requeue(session: Session, delivery: Delivery) -> dict | None:
    model = claims.MODELS[delivery.item_type]
    item = session.get(model, delivery.item_id)
    latest = session.scalar(select(Delivery.id).where(Delivery.item_type == delivery.item_type,
                                                      Delivery.item_id == delivery.item_id)
                            .order_by(Delivery.id.desc()).limit(1))
    if item is None or item.status != "sent" or latest != delivery.id:
        return None  # already sent again, or resent by hand: nothing more to do
    skips = {c for c in (item.skip_channels or "").split(",") if c} | {delivery.channel}
    item.skip_channels = ",".join(sorted(skips))
    item.status, item.sent_at, item.error, item.not_before = "queued", None, f"{delivery.channel}: did not arrive", None
    return {"item": delivery.item_type, "id": item.id}


def apply_event(session: Session, event: Event) -> dict:
    """Apply one event; returns what it changed (ids and statuses, never addresses)."""
    effect = effect_of(event)
    delivery = _find_delivery(session, event)
    guardians = [session.get(Guardian, delivery.guardian_id)] if delivery else _find_guardians(session, event)
    channel = delivery.channel if delivery else event.channel
    result: dict = {"type": event.kind, "channel": channel, "delivery_id": delivery.id if delivery else None,
                    "guardian_ids": [g.id for g in guardians], "requeued": None, "matched": bool(guardians)}
    for g in guardians:
        set_contact_status(g, channel, effect)
    if guardians:
        g = guardians[0]
        result["contact_status"] = getattr(g, f"{FIELD[channel]}_status")
        result["contact_reason"] = getattr(g, f"{FIELD[channel]}_status_reason")
    if delivery is not None and effect.delivery_status and delivery.status in ("sent", "delivered"):
        delivery.status = effect.delivery_status
        if event.error_code:
            delivery.detail = f"error {event.error_code}"
    if delivery is not None and effect.fall_back:
        result["requeued"] = _requeue(session, delivery)
    return result


def reset_contact(session: Session, actor: Actor, district: District, guardian_id: int,
                  channel: str | None = None) -> dict:
    """Staff say a contact works again (the family fixed their inbox, the SIS has a new address): its
    status goes back to ok, so the preferred channel is used again. An opt-out is the family's to lift
    (by texting START), so it is never reset here."""
    guardian = session.get(Guardian, guardian_id)
    if guardian is None or guardian.district_id != district.id:
        raise NotFound(f"unknown guardian {guardian_id} in district {district.slug!r}")
    channels = [channel] if channel else ["email", "sms"]
    before, after, kept = {}, {}, []
    for ch in channels:
        prefix = FIELD[ch]
        status = getattr(guardian, f"{prefix}_status")
        if status == "opted_out":
            if channel:
                raise InvalidInput(f"guardian {guardian.id} opted out of text messages (STOP); only they can opt "
                                   "back in, by texting START")
            kept.append(ch)
            continue
        if status != "ok":
            before[f"{prefix}_status"] = status
            before[f"{prefix}_status_reason"] = getattr(guardian, f"{prefix}_status_reason")
            setattr(guardian, f"{prefix}_status", "ok")
            setattr(guardian, f"{prefix}_status_reason", None)
            after[f"{prefix}_status"] = "ok"
    if before:
        audit.record(session, actor, "guardian.contact_reset", "guardian", guardian.id, district.id,
                     before=before, after=after)
    return {"guardian_id": guardian.id,
            "reset": sorted("sms" if k.startswith("phone") else "email" for k in after),
            "email_status": guardian.email_status, "sms_status": guardian.phone_status,
            "kept_opted_out": kept}
