"""Contact points: normalizing email and mobile numbers, and the email-and-phone rule (all pure).

The rule the platform promises parents: a guardian may be invited by email and mobile number at once,
but if one of the two already belongs to an account, the parent controls that account. The pair is then
refused ("This email and phone can't be used at the same time"), the existing account is invited to the
class instead, and the parent adds the other contact in their account settings.
"""

from __future__ import annotations

from dataclasses import dataclass

import phonenumbers
from email_validator import EmailNotValidError, validate_email

from directory.errors import InvalidInput

PAIR_REFUSED = "This email and phone can't be used at the same time"

# Numbers that can never receive a text message.
_NOT_MOBILE = {
    phonenumbers.PhoneNumberType.FIXED_LINE: "a landline",
    phonenumbers.PhoneNumberType.TOLL_FREE: "a toll-free number",
    phonenumbers.PhoneNumberType.PREMIUM_RATE: "a premium-rate number",
    phonenumbers.PhoneNumberType.SHARED_COST: "a shared-cost number",
    phonenumbers.PhoneNumberType.PAGER: "a pager number",
    phonenumbers.PhoneNumberType.UAN: "a company number",
    phonenumbers.PhoneNumberType.VOICEMAIL: "a voicemail number",
}


def normalize_email(raw: str | None) -> str | None:
    """Lower-cased, syntax-checked address; None for blank. Deliverability is learnt from bounces."""
    if raw is None or not raw.strip():
        return None
    try:
        result = validate_email(raw.strip(), check_deliverability=False)
    except EmailNotValidError as exc:
        # The library's reason ("The part after the @-sign is not valid...") without the address.
        raise InvalidInput(f"invalid email address: {exc}") from None
    # Identity is case-insensitive in practice: SIS exports mix cases for the same parent.
    return result.normalized.lower()


def normalize_phone(raw: str | None, region: str = "US") -> str | None:
    """E.164 (+15555550123) for a number that can receive SMS; None for blank."""
    if raw is None or not raw.strip():
        return None
    try:
        number = phonenumbers.parse(raw.strip(), region)
    except phonenumbers.NumberParseException:
        raise InvalidInput("invalid mobile number: not a phone number") from None
    if not phonenumbers.is_valid_number(number):
        raise InvalidInput(f"invalid mobile number: not a valid number for region {region}")
    kind = _NOT_MOBILE.get(phonenumbers.number_type(number))
    if kind:
        raise InvalidInput(f"invalid mobile number: it is {kind}, which cannot receive text messages")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


@dataclass(frozen=True)
class Holder:
    """An existing guardian that holds one of the contact points asked for."""

    guardian_id: int
    joined: bool
    email: str | None
    phone: str | None


@dataclass(frozen=True)
class Decision:
    """What to do with a requested (email, phone): one of

    - ``create``: nobody has either; make a new guardian.
    - ``reuse``: one guardian already has everything given; link them.
    - ``extend``: a guardian who has not joined has one of the two; give them the other too.
    - ``refuse``: the pair cannot be used; ``guardian_id`` is the account to invite instead, if any.
    """

    action: str
    guardian_id: int | None = None
    message: str | None = None


def decide_pair(email: str | None, phone: str | None,
                email_holder: Holder | None, phone_holder: Holder | None) -> Decision:
    if email is None and phone is None:
        raise InvalidInput("a guardian needs an email address or a mobile number")
    if email_holder is None and phone_holder is None:
        return Decision("create")
    if email_holder and phone_holder and email_holder.guardian_id != phone_holder.guardian_id:
        owner = email_holder if email_holder.joined or not phone_holder.joined else phone_holder
        return Decision("refuse", owner.guardian_id,
                        f"{PAIR_REFUSED}: the email and the phone belong to two different guardians")
    holder = email_holder or phone_holder
    assert holder is not None
    wanted_other = phone if holder is email_holder else email
    has_other = (holder.phone if holder is email_holder else holder.email) == wanted_other
    if wanted_other is None or has_other or (email_holder and phone_holder):
        return Decision("reuse", holder.guardian_id)
    if holder.joined:
        which = "email" if holder is email_holder else "phone"
        return Decision("refuse", holder.guardian_id,
                        f"{PAIR_REFUSED}: the {which} already belongs to an account; invite that account "
                        "instead, and the parent can add the other contact in their account settings")
    own_other = holder.phone if holder is email_holder else holder.email
    if own_other is not None:
        # The pending guardian already has a different number (or address): which is right is not ours
        # to guess, so an edit of that guardian is the way.
        which = "phone" if holder is email_holder else "email"
        return Decision("refuse", holder.guardian_id,
                        f"{PAIR_REFUSED}: that guardian already has a different {which}; edit the guardian instead")
    return Decision("extend", holder.guardian_id)
