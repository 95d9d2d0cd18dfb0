"""Built-in word lists and small pure helpers for the synthetic district (see ``sync.synthetic``).

Everything here is plain data or a pure function of its arguments, so a district generated from a seed is
the same on every machine and every run.
"""

from __future__ import annotations

import gc
import unicodedata
from contextlib import contextmanager
from datetime import date
from functools import lru_cache
from itertools import repeat

# Given names. A few carry accents or diaereses on purpose (José, Zoë, Chloé, Renée, Siobhán, Søren, Ngọc)
# so that every layer downstream is exercised with non-ASCII text.
FEMALE = (
    "Olivia", "Emma", "Charlotte", "Amelia", "Sophia", "Mia", "Isabella", "Ava", "Evelyn", "Harper",
    "Luna", "Camila", "Sofia", "Scarlett", "Elizabeth", "Eleanor", "Emily", "Chloé", "Mila", "Violet",
    "Penelope", "Gianna", "Aria", "Abigail", "Ella", "Avery", "Hazel", "Nora", "Layla", "Lily",
    "Aurora", "Nova", "Ellie", "Madison", "Grace", "Isla", "Willow", "Zoë", "Riley", "Stella",
    "Hannah", "Sara", "Katherine", "Maria", "Guadalupe", "Ximena", "Valentina", "Fatima", "Aisha", "Priya",
    "Ananya", "Mei", "Yuna", "Ngọc", "Linh", "Renée", "Siobhán", "Ingrid", "Amara", "Chiamaka",
    "Leah", "Naomi", "Ruth", "Esther", "Lucia", "Daniela", "Jasmine", "Keisha", "Imani", "Destiny",
)
MALE = (
    "Liam", "Noah", "Oliver", "James", "Elijah", "William", "Henry", "Lucas", "Benjamin", "Theodore",
    "Mateo", "Levi", "Sebastian", "Daniel", "Jack", "Michael", "Alexander", "Owen", "Asher", "Samuel",
    "Ethan", "Leo", "Jackson", "Mason", "Ezra", "John", "Hudson", "Luca", "Aiden", "Joseph",
    "David", "Jacob", "Logan", "Luke", "Julian", "Gabriel", "Grayson", "Wyatt", "Matthew", "Maverick",
    "José", "Juan", "Santiago", "Diego", "Carlos", "Miguel", "Ahmed", "Omar", "Yusuf", "Arjun",
    "Rohan", "Wei", "Hiroshi", "Minh", "Duc", "Søren", "Kwame", "Chinedu", "Tyrone", "DeShawn",
    "Malik", "Isaiah", "Andre", "Marcus", "Patrick", "Sean", "Connor", "Declan", "Ivan", "Dmitri",
)
GIVEN = FEMALE + MALE

# Family names: common US surnames plus a spread of origins; O'Brien and D'Angelo carry apostrophes,
# Nguyễn and Peña non-ASCII letters, Smith-Jones a hyphen.
FAMILY = (
    "Smith", "Johnson", "Williams", "Brown", "Jones", "Garcia", "Miller", "Davis", "Rodriguez", "Martinez",
    "Hernandez", "Lopez", "Gonzalez", "Wilson", "Anderson", "Thomas", "Taylor", "Moore", "Jackson", "Martin",
    "Lee", "Perez", "Thompson", "White", "Harris", "Sanchez", "Clark", "Ramirez", "Lewis", "Robinson",
    "Walker", "Young", "Allen", "King", "Wright", "Scott", "Torres", "Nguyễn", "Hill", "Flores",
    "Green", "Adams", "Nelson", "Baker", "Hall", "Rivera", "Campbell", "Mitchell", "Carter", "Roberts",
    "Gomez", "Phillips", "Evans", "Turner", "Diaz", "Parker", "Cruz", "Edwards", "Collins", "Reyes",
    "Stewart", "Morris", "Morales", "Murphy", "Cook", "Rogers", "Gutierrez", "Ortiz", "Morgan", "Cooper",
    "Peterson", "Bailey", "Reed", "Kelly", "Howard", "Ramos", "Kim", "Cox", "Ward", "Richardson",
    "Watson", "Brooks", "Chavez", "Wood", "James", "Bennett", "Gray", "Mendoza", "Ruiz", "Hughes",
    "Price", "Alvarez", "Castillo", "Sanders", "Patel", "Myers", "Long", "Ross", "Foster", "Jimenez",
    "O'Brien", "D'Angelo", "Peña", "Smith-Jones", "Chen", "Wang", "Li", "Zhang", "Tran", "Le",
    "Pham", "Singh", "Kumar", "Shah", "Khan", "Ali", "Hassan", "Okafor", "Adeyemi", "Mensah",
    "Yamamoto", "Tanaka", "Park", "Choi", "Kowalski", "Novak", "Schmidt", "Müller", "Rossi", "Russo",
    "Johansson", "Larsen", "Murray", "Sullivan", "Kennedy", "Fitzgerald", "Washington", "Jefferson", "Banks", "Holmes",
)

# Spelling variants a clerk might correct (or introduce); used by mutate_district for a "changed name".
VARIANTS = {
    "Sara": "Sarah", "Katherine": "Catherine", "John": "Jon", "Aiden": "Aidan", "José": "Jose",
    "Zoë": "Zoe", "Chloé": "Chloe", "Renée": "Renee", "Siobhán": "Siobhan", "Søren": "Soren",
    "Isabella": "Izabella", "Sofia": "Sophia", "Sophia": "Sofia", "Hannah": "Hanna", "Leah": "Lea",
    "Luca": "Luka", "Mateo": "Matteo", "Theodore": "Theodor", "Elijah": "Elija", "Riley": "Rylee",
    "O'Brien": "OBrien", "D'Angelo": "DAngelo", "Nguyễn": "Nguyen", "Peña": "Pena", "Müller": "Mueller",
    "Smith-Jones": "Smith Jones",
}


def respell(name: str) -> str:
    """A different but plausible spelling: a known variant, else two inner letters swapped (a typo)."""
    if name in VARIANTS:
        return VARIANTS[name]
    for i in range(1, len(name) - 1):
        if name[i] != name[i + 1]:
            return name[:i] + name[i + 1] + name[i] + name[i + 2:]
    return name + "e"


# Letters that Unicode does not decompose into a base letter plus accents.
_UNDECOMPOSED = str.maketrans({"ø": "o", "Ø": "O", "æ": "ae", "Æ": "AE", "ß": "ss", "đ": "d", "Đ": "D", "ł": "l",
                               "Ł": "L", "œ": "oe", "Œ": "OE"})


def slug(name: str) -> str:
    """ASCII, lower-case, letters and digits only: 'José' -> 'jose', "O'Brien" -> 'obrien', 'Søren' -> 'soren'."""
    folded = unicodedata.normalize("NFKD", name.translate(_UNDECOMPOSED)).encode("ascii", "ignore").decode("ascii")
    return "".join(ch for ch in folded.lower() if ch.isalnum())


class _Slugs(dict):
    """name -> slug(name), computed once per distinct name (a plain dict lookup after that)."""

    def __missing__(self, name: str) -> str:
        value = self[name] = slug(name)
        return value


SLUGS = _Slugs()


# Only reserved example domains (RFC 2606), so no generated message can reach a real mailbox.
EMAIL_DOMAINS = ("example.org", "example.com", "example.net")

# US area codes in service (all validated by the tests with phonenumbers). Numbers are built in the 555
# exchange first: it is the one most associated with fictional use and libphonenumber accepts every line
# in it, which gives 321 x 10,000 distinct valid numbers before other exchanges are needed.
AREA_CODES = tuple(int(c) for c in """
201 202 203 205 206 207 208 209 210 212 213 214 215 216 217 218 219 220 223 224 225 227 228 229 231 234 239
240 248 251 252 253 254 256 260 262 267 269 270 272 276 279 281 301 302 303 304 305 307 308 309 310 312 313
314 315 316 317 318 319 320 321 323 325 326 330 331 332 334 336 337 339 341 346 347 351 352 360 361 364 380
385 386 401 402 404 405 406 407 408 409 410 412 413 414 415 417 419 423 424 425 430 432 434 435 440 442 443
445 458 463 469 470 475 478 479 480 484 501 502 503 504 505 507 508 509 510 512 513 515 516 517 518 520 530
531 534 539 540 541 551 559 561 562 563 564 567 570 571 573 574 575 580 585 586 601 602 603 605 606 607 608
609 610 612 614 615 616 617 618 619 620 623 626 628 629 630 631 636 641 646 650 651 657 660 661 662 667 669
678 680 681 682 689 701 702 703 704 706 707 708 712 713 714 715 716 717 718 719 720 724 725 726 727 731 732
734 737 740 743 747 754 757 760 762 763 765 769 770 772 773 774 775 779 781 785 786 801 802 803 804 805 806
808 810 812 813 814 815 816 817 818 820 828 830 831 832 838 843 845 847 848 850 854 856 857 858 859 860 862
863 864 865 870 872 878 901 903 904 906 907 908 909 910 912 913 914 915 916 917 918 919 920 925 928 929 930
931 934 936 937 938 940 941 947 949 951 952 954 956 959 970 971 972 973 978 979 980 984 985 989
""".split())
# Exchanges used only once the 555 block is exhausted (districts far beyond a million students).
_MORE_EXCHANGES = tuple(x for x in range(201, 1000) if x % 100 != 11 and x != 555)
_BLOCK = len(AREA_CODES) * 10_000
# Multiplier coprime with the block size: consecutive serials land on scattered area codes and lines, so
# the numbers do not look sequential, while the map stays one-to-one.
_SPREAD = 7_777_777
assert _SPREAD % 2 and _SPREAD % 5 and all(_SPREAD % p for p in (3, 107))  # 321 = 3 * 107


# Pieces joined by phone_for: building a million numbers by concatenation is several times faster than
# formatting each one.
_PREFIX_555 = tuple(f"({area}) 555-" for area in AREA_CODES)
_LINES = tuple(f"{line:04d}" for line in range(10_000))


def phone_for(serial: int) -> str:
    """The serial-th distinct US number, formatted as a SIS would export it: '(201) 555-0123'."""
    tier, k = divmod(serial, _BLOCK)
    line, area = divmod(k * _SPREAD % _BLOCK, len(AREA_CODES))
    if tier == 0:
        return _PREFIX_555[area] + _LINES[line]
    return f"({AREA_CODES[area]}) {_MORE_EXCHANGES[(tier - 1) % len(_MORE_EXCHANGES)]}-{_LINES[line]}"


def phones_for(serials: list[int]) -> list[str]:
    """``[phone_for(s) for s in serials]``, with the arithmetic in C when all are in the 555 block."""
    if not serials or not 0 <= min(serials) <= max(serials) < _BLOCK:
        return [phone_for(s) for s in serials]
    prefix, lines = _PREFIX_555, _LINES
    return [prefix[area] + lines[line] for line, area in
            map(divmod, map(_BLOCK.__rmod__, map(_SPREAD.__mul__, serials)), repeat(len(AREA_CODES)))]


_AREA_INDEX = {area: i for i, area in enumerate(AREA_CODES)}
_EXCHANGE_TIER = {exchange: i + 1 for i, exchange in enumerate(_MORE_EXCHANGES)} | {555: 0}
_UNSPREAD = pow(_SPREAD, -1, _BLOCK)


def serial_of_phone(phone: str | None) -> int | None:
    """The serial ``phone_for`` made this number from; None for a number it cannot have made."""
    if not phone or len(phone) != 14 or phone[0] != "(" or phone[4:6] != ") " or phone[9] != "-":
        return None
    area, exchange, line = phone[1:4], phone[6:9], phone[10:14]
    if not (area.isdigit() and exchange.isdigit() and line.isdigit()):
        return None
    area, exchange = int(area), int(exchange)
    if area not in _AREA_INDEX or exchange not in _EXCHANGE_TIER:
        return None
    k = (int(line) * len(AREA_CODES) + _AREA_INDEX[area]) * _UNSPREAD % _BLOCK
    return _EXCHANGE_TIER[exchange] * _BLOCK + k


def email_for(given: str, family: str, serial: int, domain: str) -> str:
    """'firstname.lastname<serial>@domain'; the serial makes it unique across the district."""
    return f"{SLUGS[given]}.{SLUGS[family]}{serial}@{domain}"


GRADES = ("K", "1", "2", "3", "4", "5", "6", "7", "8", "9", "10", "11", "12")


def grade_word(grade: int) -> str:
    return "Kindergarten" if grade == 0 else f"Grade {grade}"


@lru_cache(maxsize=None)
def birth_dates(school_year: int) -> tuple[tuple[str, ...], ...]:
    """Per grade (0 = K), every ISO birth date consistent with it in the school year starting that fall.

    The usual US cut-off: a kindergartner turns 5 by September 1. The strings are built once and shared by
    all students, which keeps a million-student district lean.
    """
    out = []
    for grade in range(13):
        first = date(school_year - 6 - grade, 9, 2).toordinal()
        last = date(school_year - 5 - grade, 9, 1).toordinal()
        out.append(tuple(date.fromordinal(d).isoformat() for d in range(first, last + 1)))
    return tuple(out)


# School bands: (label, grades served, subjects taught in every grade, one class per period).
ELEMENTARY = ("Elementary School", range(0, 6), ("Homeroom", "Reading", "Math", "Science", "Art", "Music"))
MIDDLE = ("Middle School", range(6, 9), ("English", "Math", "Science", "Social Studies", "PE", "Spanish"))
HIGH = ("High School", range(9, 13), ("English", "Math", "Science", "History", "PE & Health", "Spanish"))
SECONDARY = ("Secondary School", range(6, 13), ("English", "Math", "Science", "History", "PE & Health", "Spanish"))
K12 = ("K-12 School", range(0, 13), ("Homeroom", "English", "Math", "Science", "Social Studies", "Arts"))

# Names schools are named after (with the district's own place name for the first of each band).
NAMESAKES = (
    "Lincoln", "Washington", "Roosevelt", "Jefferson", "Franklin", "Kennedy", "King", "Madison", "Adams",
    "Jackson", "Hamilton", "Douglass", "Tubman", "Chavez", "Parks", "Carver", "Edison", "Whitman",
    "Oak Grove", "Maple Hill", "Cedar Ridge", "Pine Valley", "Riverside", "Lakeview", "Hillcrest", "Sunnyside",
    "Brookside", "Meadowbrook", "Fairview", "Highland", "Westwood", "Eastgate", "Northfield", "Southport",
)


@contextmanager
def gc_paused():
    """Pause the cyclic garbage collector while millions of records are built.

    The records form no reference cycles, yet each allocation burst would make the collector rescan every
    young record again and again (measured: about a third of the build time at 1M students). The previous
    state is restored, so a caller that disabled it keeps it disabled.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
