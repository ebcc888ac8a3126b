"""Merchants and social enterprises: registration rules, contact persons and the verification workflow.

A registration is checked whole (every problem named by its field): the business registration number and its
check digit, the social-enterprise certification for social enterprises, the market street (the shop front must
lie inside the street's boundary), the homepage slug, and the contact persons. Contact persons are personal data:
sealed at rest with the partner key ring (`sotong_common.at_rest`, bound to the merchant id) and shown masked.

The workflow: pending → verified | rejected; verified → suspended → verified (reinstated). Staff decide; a
merchant registered by a staff member is verified by another one (two people, as for real alerts).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sotong_common import at_rest
from sotong_common.errors import FieldViolation
from sotong_partner import business_number
from sotong_partner.catalogue import Problems, check_url
from sotong_partner.streets import Streets

MERCHANT = "merchant"
SOCIAL_ENTERPRISE = "social_enterprise"
KINDS = (MERCHANT, SOCIAL_ENTERPRISE)

PENDING = "pending"
VERIFIED = "verified"
REJECTED = "rejected"
SUSPENDED = "suspended"

APPROVE = "approve"
REJECT = "reject"
SUSPEND = "suspend"
REINSTATE = "reinstate"

# decision -> (from statuses, to status, change name)
TRANSITIONS: dict[str, tuple[frozenset[str], str, str]] = {
    APPROVE: (frozenset({PENDING}), VERIFIED, "verified"),
    REJECT: (frozenset({PENDING}), REJECTED, "rejected"),
    SUSPEND: (frozenset({VERIFIED}), SUSPENDED, "suspended"),
    REINSTATE: (frozenset({SUSPENDED}), VERIFIED, "reinstated"),
}

SLUG = re.compile(r"^[a-z0-9](?:[a-z0-9-]{1,18})[a-z0-9]$")
FEED_GROUP = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,38})[a-z0-9]$")
CERTIFICATION = re.compile(r"^제?\s*(\d{4})\s*-\s*(\d{1,4})\s*호?$")
NAME_MAX = 60
ADDRESS_MAX = 200
DESCRIPTION_MAX = 1000
CONTACTS_MAX = 5
NOTE_MAX = 1000
_PHONE = re.compile(r"^[0-9+\-() ]{7,20}$")
_EMAIL = re.compile(r"^[^@\s<>]{1,64}@[A-Za-z0-9.-]{1,190}\.[A-Za-z]{2,}$")
_CONTACT_AAD = b"sotong.partner.contacts.v1|"


@dataclass(frozen=True)
class ContactPerson:
    name: str
    phone: str = ""
    email: str = ""
    role: str = ""


@dataclass(frozen=True)
class Registration:
    """A checked registration, ready to store."""

    name: str
    kind: str
    business_number: str
    certification: str | None
    slug: str
    street_code: str | None
    address: str
    lat: float
    lng: float
    phone: str
    description: str
    contacts: tuple[ContactPerson, ...]
    consents: dict[str, bool]
    feed_group: str
    shop_url: str | None


@dataclass
class RegistrationInput:
    name: str = ""
    kind: str = ""
    business_number: str = ""
    certification: str = ""
    slug: str = ""
    street_code: str = ""
    address: str = ""
    lat: float | None = None
    lng: float | None = None
    phone: str = ""
    description: str = ""
    contacts: Sequence[ContactPerson] = ()
    consents: Sequence[tuple[str, bool]] = ()
    feed_group: str = ""
    shop_url: str = ""
    extra: list[FieldViolation] = field(default_factory=list)


def _text(value: str, name: str, problems: list[FieldViolation], *, high: int, required: bool = True) -> str:
    text = " ".join(value.split())
    if required and not text:
        problems.append(FieldViolation(name, f"{name} is required"))
    elif len(text) > high:
        problems.append(FieldViolation(name, f"{name} must be at most {high} characters (it has {len(text)})"))
    elif any(ord(c) < 0x20 for c in value.replace("\n", "").replace("\t", "")):
        problems.append(FieldViolation(name, f"{name} must not contain control characters"))
    return text


def certification_number(raw: str) -> str | None:
    """사회적기업 인증번호 as "YYYY-NNN" (제2012-123호 and 2012-123 are both accepted), or None."""
    match = CERTIFICATION.match(raw.strip())
    if not match:
        return None
    year = int(match.group(1))
    if not 2007 <= year <= datetime.now(UTC).year:  # certification began with the 2007 act
        return None
    return f"{year}-{int(match.group(2)):03d}"


def check_registration(
    given: RegistrationInput, streets: Streets, platforms: Iterable[str]
) -> tuple[Registration | None, list[FieldViolation]]:
    problems: list[FieldViolation] = list(given.extra)
    name = _text(given.name, "name", problems, high=NAME_MAX)
    if "<" in name or ">" in name:
        problems.append(FieldViolation("name", "name must not contain < or >"))
    if given.kind not in KINDS:
        problems.append(FieldViolation("kind", "kind must be MERCHANT or SOCIAL_ENTERPRISE"))
    digits = ""
    try:
        digits = business_number.normalize(given.business_number)
    except business_number.BusinessNumberError as exc:
        problems.append(FieldViolation("business_number", str(exc)))
    certification: str | None = None
    if given.kind == SOCIAL_ENTERPRISE:
        certification = certification_number(given.certification)
        if certification is None:
            problems.append(
                FieldViolation(
                    "social_enterprise_certification",
                    "a social enterprise needs its 사회적기업 인증번호, e.g. 2012-123 (year 2007 or later)",
                )
            )
    elif given.certification.strip():
        problems.append(
            FieldViolation("social_enterprise_certification", "only a social enterprise has a certification number")
        )
    slug = given.slug.strip()
    if not SLUG.match(slug):
        problems.append(FieldViolation("slug", "slug must be 3-20 of a-z 0-9 and -, not starting or ending with -"))
    address = _text(given.address, "address", problems, high=ADDRESS_MAX)
    lat, lng = given.lat, given.lng
    if lat is None or lng is None or not (33.0 <= lat <= 39.0 and 124.0 <= lng <= 132.0):
        problems.append(FieldViolation("location", "location must be the shop front's point in Korea (lat, lng)"))
        lat = lng = None
    street_code: str | None = given.street_code.strip() or None
    if street_code is not None:
        street = streets.get(street_code)
        if street is None:
            problems.append(FieldViolation("street_code", f"unknown market street {street_code[:40]!r}"))
        elif lat is not None and lng is not None and not street.contains(lat, lng):
            problems.append(FieldViolation("location", f"the shop front is not inside {street.name}'s boundary"))
    phone = given.phone.strip()
    if phone and not _PHONE.match(phone):
        problems.append(FieldViolation("phone", "phone must be a telephone number such as 02-123-4567"))
    description = given.description.strip()
    if len(description) > DESCRIPTION_MAX:
        problems.append(FieldViolation("description", f"description must be at most {DESCRIPTION_MAX} characters"))
    contacts = check_contacts(given.contacts, problems)
    known = set(platforms)
    consents: dict[str, bool] = {}
    for i, (platform, granted) in enumerate(given.consents):
        if platform not in known:
            problems.append(FieldViolation(f"consents[{i}].platform", f"unknown platform {platform[:40]!r}"))
        else:
            consents[platform] = granted
    feed_group = given.feed_group.strip() or slug
    if given.feed_group.strip() and not FEED_GROUP.match(feed_group):
        problems.append(FieldViolation("feed_group", "feed_group must be 2-40 of a-z 0-9 and -"))
    checker = Problems("")
    shop_url = check_url(given.shop_url.strip(), "shop_url", checker, required=False, schemes=("https",))
    problems.extend(checker.found)
    if problems:
        return None, problems
    assert lat is not None and lng is not None
    return (
        Registration(
            name=name,
            kind=given.kind,
            business_number=digits,
            certification=certification,
            slug=slug,
            street_code=street_code,
            address=address,
            lat=lat,
            lng=lng,
            phone=phone,
            description=description,
            contacts=contacts,
            consents=consents,
            feed_group=feed_group,
            shop_url=shop_url,
        ),
        [],
    )


def check_contacts(contacts: Sequence[ContactPerson], problems: list[FieldViolation]) -> tuple[ContactPerson, ...]:
    if len(contacts) > CONTACTS_MAX:
        problems.append(FieldViolation("contact_persons", f"at most {CONTACTS_MAX} contact persons"))
        return ()
    out: list[ContactPerson] = []
    for i, person in enumerate(contacts):
        at = f"contact_persons[{i}]"
        name = " ".join(person.name.split())
        if not 1 <= len(name) <= 40:
            problems.append(FieldViolation(f"{at}.name", "name must be 1-40 characters"))
        if not person.phone and not person.email:
            problems.append(FieldViolation(at, "a contact person needs a phone number or an e-mail address"))
        if person.phone and not _PHONE.match(person.phone.strip()):
            problems.append(FieldViolation(f"{at}.phone", "phone must be a telephone number such as 010-1234-5678"))
        if person.email and not _EMAIL.match(person.email.strip()):
            problems.append(FieldViolation(f"{at}.email", "email must be an e-mail address"))
        if len(person.role) > 20:
            problems.append(FieldViolation(f"{at}.role", "role must be at most 20 characters"))
        out.append(ContactPerson(name, person.phone.strip(), person.email.strip(), person.role.strip()))
    return tuple(out)


def transition(decision: str, status: str, note: str) -> tuple[str, str]:
    """(new status, change name) for a staff decision; raises ValueError naming the field when not allowed."""
    if decision not in TRANSITIONS:
        raise ValueError("decision: must be APPROVE, REJECT, SUSPEND or REINSTATE")
    allowed, to, change = TRANSITIONS[decision]
    if status not in allowed:
        raise ValueError(f"decision: a {status} merchant cannot be {change} (only from {', '.join(sorted(allowed))})")
    if decision in (REJECT, SUSPEND) and not note.strip():
        raise ValueError("note: a rejection or suspension must say why")
    if len(note) > NOTE_MAX:
        raise ValueError(f"note: must be at most {NOTE_MAX} characters")
    return to, change


# -- contact persons at rest -------------------------------------------------------------------------------------


def seal_contacts(contacts: Sequence[ContactPerson], ring: at_rest.KeyRing, merchant_id: str) -> bytes | None:
    if not contacts:
        return None
    plaintext = json.dumps(
        [{"name": c.name, "phone": c.phone, "email": c.email, "role": c.role} for c in contacts],
        ensure_ascii=False,
        separators=(",", ":"),
    ).encode()
    return at_rest.seal(plaintext, ring, _CONTACT_AAD + merchant_id.encode()).to_bytes()


def open_contacts(sealed: bytes | None, ring: at_rest.KeyRing, merchant_id: str) -> list[ContactPerson]:
    if not sealed:
        return []
    raw = at_rest.open_sealed(
        at_rest.Sealed.from_bytes(sealed), ring, _CONTACT_AAD + merchant_id.encode(), what="contact persons"
    )
    return [ContactPerson(**entry) for entry in json.loads(raw)]


def mask_name(name: str) -> str:
    """김민수 -> 김*수, 이수 -> 이*."""
    name = name.strip()
    if len(name) <= 1:
        return "*" * len(name)
    if len(name) == 2:
        return name[0] + "*"
    return name[0] + "*" * (len(name) - 2) + name[-1]


def mask_phone(phone: str) -> str:
    """010-1234-5678 -> 010-****-5678."""
    digits = [c for c in phone if c.isdigit()]
    if len(digits) < 8:
        return "*" * len(digits)
    keep_head, keep_tail = 3, 4
    out: list[str] = []
    seen = 0
    for c in phone:
        if c.isdigit():
            seen += 1
            out.append(c if seen <= keep_head or seen > len(digits) - keep_tail else "*")
        else:
            out.append(c)
    return "".join(out)


def mask_email(email: str) -> str:
    local, at, domain = email.partition("@")
    return (local[:1] or "*") + "***@" + domain if at else "***"


def masked(person: ContactPerson) -> ContactPerson:
    return ContactPerson(
        mask_name(person.name),
        mask_phone(person.phone) if person.phone else "",
        mask_email(person.email) if person.email else "",
        person.role,
    )
