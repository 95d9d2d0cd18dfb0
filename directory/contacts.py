"""Contact points: normalizing email and mobile numbers, and the email-and-phone rule (all pure).

The rule the platform promises parents: a guardian may be invited by email and mobile number at once,
but if one of the two already belongs to an account, the parent controls that account. The pair is then
refused ("This email and phone can't be used at the same time"), the existing account is invited to the
class instead, and the parent adds the other contact in their account settings.
"""

from __future__ import annotations

import re
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
    return _mobile_e164(number, region)


def _mobile_e164(number: phonenumbers.PhoneNumber, region: str, number_type: int | None = None) -> str:
    # One type lookup answers both questions: a number is valid exactly when its type is known
    # (phonenumbers' is_valid_number is that same lookup), and that lookup is most of the cost.
    if number_type is None:
        number_type = phonenumbers.number_type(number)
    if number_type == phonenumbers.PhoneNumberType.UNKNOWN:
        raise InvalidInput(f"invalid mobile number: not a valid number for region {region}")
    kind = _NOT_MOBILE.get(number_type)
    if kind:
        raise InvalidInput(f"invalid mobile number: it is {kind}, which cannot receive text messages")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


# -- many at once: the sync ---------------------------------------------------------------------------------
# A sync normalizes every guardian's email and phone, every night: with the libraries that is about 0.1 ms
# per value, 30 s for a district of 100,000 students. The normalizer below gives exactly the same answers
# (tests/test_bench.py checks it against the functions above) and pays the libraries' price only where
# it must: once per distinct value, once per email domain, and not at all for a phone number that the
# directory already holds in the form the library would produce.

# A local part the email library takes as it is: plain ASCII "dot-atom" text (a subset of its own rule).
_SIMPLE_LOCAL = re.compile(r"[A-Za-z0-9_+-]+(?:\.[A-Za-z0-9_+-]+)*\Z")
# How the library checks lengths: the whole address (254) and, to be safe, the part before the @ (64).
_EMAIL_MAX, _LOCAL_MAX = 254, 64
# Regions whose numbers are written as ten digits (area code first) and need no parsing rules but that.
_NANP_REGIONS = frozenset({"US", "CA"})
_NANP_DIGITS = re.compile(r"[2-9][0-9]{9}\Z")
_NOT_DIGIT = re.compile(r"[ ().-]+")


class ContactNormalizer:
    """``normalize_email`` / ``normalize_phone`` for many values, the same answers, far fewer library calls.

    - Every answer (a value or the InvalidInput to raise) is remembered per raw value: a family's contact
      named on each child's row (Clever CSV) is checked once.
    - An email whose part before the @ is plain ASCII text is valid exactly when its domain is: the
      library's verdict on the domain is asked once per domain (most parents share a few dozen).
    - A number written in the plain national form of a North American region, e.g. "(201) 555-0123"
      in the US, is its ten digits after +1: parsing it needs no library (phonenumbers gives the same,
      having only the digits to go on). Whether it can take texts is still the library's question ...
    - ... unless it is one of ``known_phones``, E.164 numbers the directory holds, each made by
      ``normalize_phone`` (so valid and able to take texts): an unchanged number costs nothing.
    """

    def __init__(self, region: str = "US", known_phones: frozenset[str] | set[str] = frozenset()):
        self.region = region
        self.known_phones = known_phones
        # raw value -> the normalized value, or the InvalidInput's message
        self._emails: dict[str, str | None | _Refused] = {}
        self._phones: dict[str, str | None | _Refused] = {}
        self._domains: dict[str, str | None] = {}  # domain -> its normalized form, None when not simple
        self._nanp = region in _NANP_REGIONS

    def email(self, raw: str | None) -> str | None:
        if raw is None:
            return None
        answer = self._emails.get(raw, _MISSING)
        if answer is _MISSING:
            answer = self._emails[raw] = _answer(self._email, raw)
        if isinstance(answer, _Refused):
            raise InvalidInput(answer.message)  # a new exception each time: one traceback per raise
        return answer

    def phone(self, raw: str | None) -> str | None:
        if raw is None:
            return None
        answer = self._phones.get(raw, _MISSING)
        if answer is _MISSING:
            answer = self._phones[raw] = _answer(self._phone, raw)
        if isinstance(answer, _Refused):
            raise InvalidInput(answer.message)  # a new exception each time: one traceback per raise
        return answer

    def _email(self, raw: str) -> str | None:
        text = raw.strip()
        local, at, domain = text.rpartition("@")
        if at and len(text) <= _EMAIL_MAX and len(local) <= _LOCAL_MAX and text.isascii() \
                and _SIMPLE_LOCAL.match(local):
            normalized_domain = self._domain(domain)
            if normalized_domain is not None:
                return f"{local}@{normalized_domain}".lower()
        return normalize_email(raw)

    def _domain(self, domain: str) -> str | None:
        """The normalized domain when any simple local part at it is valid as it is; None otherwise."""
        if domain not in self._domains:
            try:
                probe = validate_email(f"x@{domain}", check_deliverability=False)
            except EmailNotValidError:
                self._domains[domain] = None  # the full check gives the exact reason
            else:
                # Only a plain ASCII domain that normalizes to itself in lower case: then the address's
                # length is the same in every form the library measures.
                same = probe.domain == probe.ascii_domain == domain.lower()
                self._domains[domain] = probe.domain if same else None
        return self._domains[domain]

    def _phone(self, raw: str) -> str | None:
        if self._nanp:
            digits = _NOT_DIGIT.sub("", raw.strip())
            if _NANP_DIGITS.match(digits):
                e164 = "+1" + digits
                if e164 in self.known_phones:
                    return e164
                return _mobile_e164(phonenumbers.PhoneNumber(country_code=1, national_number=int(digits)),
                                    self.region, _NANP_TYPES.number_type(digits))
        return normalize_phone(raw, self.region)


_MISSING = object()


class _TypeLookup:
    """``phonenumbers.number_type`` for the numbers of one calling code, same answers, a third of the cost.

    The library's own lookup, step for step (find the region: by its leading digits, or as the first region
    where the number has a type; then the type in the library's order: premium rate, toll free, shared
    cost, VoIP, personal, pager, UAN, voicemail, fixed line / mobile), over the library's own metadata.
    What it saves is the library's per-call work around the patterns: fetching metadata by name and
    compiled patterns from a cache, per type, twice per number. tests/test_contacts.py compares the two
    on every kind of North American number.
    """

    _ORDER = (("premium_rate", phonenumbers.PhoneNumberType.PREMIUM_RATE),
              ("toll_free", phonenumbers.PhoneNumberType.TOLL_FREE),
              ("shared_cost", phonenumbers.PhoneNumberType.SHARED_COST),
              ("voip", phonenumbers.PhoneNumberType.VOIP),
              ("personal_number", phonenumbers.PhoneNumberType.PERSONAL_NUMBER),
              ("pager", phonenumbers.PhoneNumberType.PAGER),
              ("uan", phonenumbers.PhoneNumberType.UAN),
              ("voicemail", phonenumbers.PhoneNumberType.VOICEMAIL))

    def __init__(self, country_code: int):
        from phonenumbers.phonemetadata import PhoneMetadata

        self.regions = []
        for region in phonenumbers.COUNTRY_CODE_TO_REGION_CODE.get(country_code, ()):
            meta = PhoneMetadata.metadata_for_region(region.upper(), None)
            if meta is None:
                continue
            leading = re.compile(meta.leading_digits) if meta.leading_digits is not None else None
            self.regions.append((leading, self._table(meta)))

    @staticmethod
    def _desc(desc):
        # (possible lengths or None for any, compiled pattern), or None when the type has no pattern
        if desc is None or not desc.national_number_pattern:
            return None
        return (frozenset(desc.possible_length) or None, re.compile(desc.national_number_pattern))

    def _table(self, meta):
        return (self._desc(meta.general_desc),
                [(t, d) for name, t in self._ORDER if (d := self._desc(getattr(meta, name))) is not None],
                self._desc(meta.fixed_line), self._desc(meta.mobile), meta.same_mobile_and_fixed_line_pattern)

    @staticmethod
    def _matches(number: str, desc) -> bool:
        if desc is None:
            return False
        lengths, pattern = desc
        return (lengths is None or len(number) in lengths) and pattern.fullmatch(number) is not None

    def _type_in(self, number: str, table) -> int:
        general, ordered, fixed, mobile, same = table
        if not self._matches(number, general):
            return phonenumbers.PhoneNumberType.UNKNOWN
        for number_type, desc in ordered:
            if self._matches(number, desc):
                return number_type
        if self._matches(number, fixed):
            if same or self._matches(number, mobile):
                return phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE
            return phonenumbers.PhoneNumberType.FIXED_LINE
        if not same and self._matches(number, mobile):
            return phonenumbers.PhoneNumberType.MOBILE
        return phonenumbers.PhoneNumberType.UNKNOWN

    def number_type(self, national_number: str) -> int:
        """The type of the number whose national significant number is ``national_number``."""
        for leading, table in self.regions:
            if leading is not None:
                if leading.match(national_number):
                    return self._type_in(national_number, table)
            else:
                number_type = self._type_in(national_number, table)
                if number_type != phonenumbers.PhoneNumberType.UNKNOWN:
                    return number_type
        return phonenumbers.PhoneNumberType.UNKNOWN


_NANP_TYPES = _TypeLookup(1)


@dataclass(frozen=True, slots=True)
class _Refused:
    message: str


def _answer(normalize, raw: str) -> str | None | _Refused:
    try:
        return normalize(raw)
    except InvalidInput as exc:
        return _Refused(str(exc))


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
