"""Open311 GeoReport v2: the city's services and service requests in the open standard's JSON and XML.

Civic apps written for other cities (FixMyStreet, SeeClickFix-style clients) speak GeoReport v2; offering it lets
them report to Seoul unchanged. These are pure functions from our domain to the standard's shapes and back; the
HTTP routes (`GET services.json`, `GET services/{code}.xml`, `POST requests.json`, `GET requests/{id}.json`),
API keys and the store are the service's.

Choices worth knowing:
- service_code is our category code; every service is `realtime` (the id is returned at once).
- service names, descriptions and groups are Korean by default, English with `lang="en"`.
- `description` follows the standard's 4,000-character limit, stricter than our general 5,000.
- errors use the standard's shape, `[{"code": 400, "description": "…"}]`, one entry per field violation.
- times are ISO 8601 with an offset, written in KST (+09:00) as Seoul's clients expect.
- XML is UTF-8 with the XML declaration, as the standard requires.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from enum import StrEnum
from typing import Any
from xml.etree import ElementTree as ET

from sotong_common.geo import Seoul
from sotong_intake.category import Category, active_categories, category
from sotong_intake.submission import (
    Channel,
    Contact,
    FieldViolation,
    GeoPoint,
    Location,
    Submission,
    validate_submission,
)

KST = timezone(timedelta(hours=9))
MAX_DESCRIPTION_CHARS = 4_000
JURISDICTION_ID = "seoul.go.kr"

FormValue = str | Sequence[str]


class Status(StrEnum):
    OPEN = "open"
    CLOSED = "closed"


class Open311RequestError(ValueError):
    """A POSTed request that cannot be accepted; render `errors()` with status 400 in JSON or XML."""

    def __init__(self, violations: Sequence[FieldViolation], code: int = 400) -> None:
        super().__init__("; ".join(f"{v.field}: {v.description}" for v in violations))
        self.violations = list(violations)
        self.code = code

    def errors(self) -> list[dict[str, Any]]:
        return errors_json(self.violations, self.code)


def errors_json(violations: Iterable[FieldViolation], code: int = 400) -> list[dict[str, Any]]:
    """The standard's error list; the field name leads the description so clients can point at the input."""
    return [{"code": code, "description": f"{v.field}: {v.description}"} for v in violations]


def errors_xml(violations: Iterable[FieldViolation], code: int = 400) -> str:
    root = ET.Element("errors")
    for error in errors_json(violations, code):
        node = ET.SubElement(root, "error")
        _child(node, "code", str(error["code"]))
        _child(node, "description", error["description"])
    return _to_xml(root)


# -- services ----------------------------------------------------------------------------------------------------


def service(item: Category, lang: str = "ko") -> dict[str, Any]:
    return {
        "service_code": item.code,
        "service_name": item.name(lang),
        "description": item.description_en if lang == "en" else item.description_ko,
        "metadata": bool(item.attributes),
        "type": "realtime",
        "keywords": ",".join(item.keywords),
        "group": item.group_en if lang == "en" else item.group_ko,
    }


def service_list(lang: str = "ko") -> list[dict[str, Any]]:
    """`GET services`: every active category."""
    return [service(c, lang) for c in active_categories()]


def service_list_xml(lang: str = "ko") -> str:
    root = ET.Element("services")
    for entry in service_list(lang):
        node = ET.SubElement(root, "service")
        for key, value in entry.items():
            _child(node, key, _xml_value(value))
    return _to_xml(root)


def service_definition(code: str, lang: str = "ko") -> dict[str, Any] | None:
    """`GET services/{service_code}`: the extra attributes a category asks for, or None for an unknown code."""
    item = category(code)
    if item is None or not item.active:
        return None
    attributes = []
    for order, attribute in enumerate(item.attributes, start=1):
        entry: dict[str, Any] = {
            "variable": True,
            "code": attribute.code,
            "datatype": str(attribute.datatype),
            "required": attribute.required,
            "datatype_description": None,
            "order": order,
            "description": attribute.description_en if lang == "en" else attribute.description_ko,
        }
        if attribute.values:
            entry["values"] = [
                {"key": v.key, "name": v.name_en if lang == "en" else v.name_ko} for v in attribute.values
            ]
        attributes.append(entry)
    return {"service_code": item.code, "attributes": attributes}


def service_definition_xml(code: str, lang: str = "ko") -> str | None:
    definition = service_definition(code, lang)
    if definition is None:
        return None
    root = ET.Element("service_definition")
    _child(root, "service_code", definition["service_code"])
    attributes = ET.SubElement(root, "attributes")
    for entry in definition["attributes"]:
        node = ET.SubElement(attributes, "attribute")
        for key, value in entry.items():
            if key == "values":
                values = ET.SubElement(node, "values")
                for item in value:
                    value_node = ET.SubElement(values, "value")
                    _child(value_node, "key", item["key"])
                    _child(value_node, "name", item["name"])
            else:
                _child(node, key, _xml_value(value))
    return _to_xml(root)


# -- POST requests -------------------------------------------------------------------------------------------------


def submission_from_form(form: Mapping[str, FormValue], seoul: Seoul | None = None) -> Submission:
    """`POST requests`: form fields to a validated submission, or `Open311RequestError` listing every problem.

    Attribute fields arrive as `attribute[code]=value`, multi-value ones as repeated `attribute[code][]`.
    """
    seoul = seoul or Seoul.load()
    violations: list[FieldViolation] = []

    def one(name: str) -> str | None:
        value = form.get(name)
        if value is None:
            return None
        if not isinstance(value, str):
            value = value[0] if value else ""
        value = value.strip()
        return value or None

    code = one("service_code")
    item = category(code) if code else None
    if code is None:
        violations.append(FieldViolation("service_code", "service_code is required"))
    elif item is None or not item.active:
        violations.append(FieldViolation("service_code", f"unknown service_code {code!r}"))

    point = None
    lat_raw, long_raw = one("lat"), one("long")
    if lat_raw is not None and long_raw is not None:
        try:
            point = GeoPoint(float(lat_raw), float(long_raw))
        except ValueError:
            violations.append(FieldViolation("lat", "lat and long must be decimal degrees"))
    elif lat_raw is not None or long_raw is not None:
        violations.append(FieldViolation("long" if long_raw is None else "lat", "lat and long go together"))
    address = one("address_string")
    address_id = one("address_id")
    no_location = lat_raw is None and long_raw is None and address is None and address_id is None
    if no_location:
        violations.append(FieldViolation("lat", "a location is required: lat and long, address_string or address_id"))

    description = one("description") or ""
    if len(description) > MAX_DESCRIPTION_CHARS:
        violations.append(
            FieldViolation("description", f"description must be at most {MAX_DESCRIPTION_CHARS} characters")
        )
    media_url = one("media_url")

    attributes: dict[str, str] = {}
    for key, value in form.items():
        if key.startswith("attribute[") and "]" in key:
            name = key[len("attribute[") : key.index("]")]
            values = [value] if isinstance(value, str) else list(value)
            attributes[name] = ",".join(v.strip() for v in values if v.strip())

    contact = Contact(
        name=_full_name(one("first_name"), one("last_name")),
        phone=one("phone"),
        email=one("email"),
        channel_user_id=one("account_id") or one("device_id"),
    )
    location = Location(point=point, address=address or (f"address_id:{address_id}" if address_id else None))
    submission = Submission(
        kind=item.default_kind if item else "report",
        text=description,
        channel=Channel.OPEN311,
        source=one("jurisdiction_id") or JURISDICTION_ID,
        category=item.code if item else None,
        location=None if location.is_empty else location,
        media=(media_url,) if media_url else (),
        contact=None if contact.is_empty else contact,
        attributes=attributes,
    )
    # Content rules are the same as every channel's; report them in the same answer as the form problems,
    # leaving out the ones the form checks above already explained.
    for violation in _open311_names(validate_submission(submission, seoul)):
        if item is None and (violation.field == "attributes" or violation.field.startswith("attribute[")):
            continue
        if violation.field == "lat" and (no_location or point is None):
            continue
        violations.append(violation)
    if violations:
        raise Open311RequestError(_dedupe(violations))
    return submission


def _full_name(first: str | None, last: str | None) -> str | None:
    """Korean names are written family name first and unspaced (홍 + 길동 = 홍길동); others "First Last"."""
    if not first and not last:
        return None
    if first and last and all("가" <= ch <= "힣" for ch in first + last):
        return last + first
    return " ".join(p for p in (first, last) if p)


_FIELD_TO_OPEN311 = {
    "text": "description",
    "location": "lat",
    "location.lat": "lat",
    "location.lng": "long",
    "location.address": "address_string",
    "media": "media_url",
    "media[0]": "media_url",
    "contact.email": "email",
    "contact.phone": "phone",
    "contact.name": "first_name",
    "contact.channel_user_id": "account_id",
    "category": "service_code",
}


def _open311_names(violations: Iterable[FieldViolation]) -> list[FieldViolation]:
    """Speak the client's field names: it posted `long`, not `location.lng`; `attributes.x` becomes attribute[x]."""
    renamed = []
    for v in violations:
        if v.field.startswith("attributes."):
            name = f"attribute[{v.field.removeprefix('attributes.')}]"
        else:
            name = _FIELD_TO_OPEN311.get(v.field, v.field)
        renamed.append(FieldViolation(name, v.description))
    return renamed


def _dedupe(violations: Iterable[FieldViolation]) -> list[FieldViolation]:
    seen: dict[tuple[str, str], FieldViolation] = {}
    for v in violations:
        seen.setdefault((v.field, v.description), v)
    return list(seen.values())


def created_json(service_request_id: str, service_notice: str | None = None) -> list[dict[str, Any]]:
    """The answer to a successful POST: realtime services return the id at once."""
    return [{"service_request_id": service_request_id, "service_notice": service_notice, "account_id": None}]


def created_xml(service_request_id: str, service_notice: str | None = None) -> str:
    root = ET.Element("service_requests")
    node = ET.SubElement(root, "request")
    for key, value in created_json(service_request_id, service_notice)[0].items():
        _child(node, key, _xml_value(value))
    return _to_xml(root)


# -- GET requests ------------------------------------------------------------------------------------------------

EARLIEST_QUERY_TIME = datetime(1970, 1, 1, tzinfo=UTC)
LATEST_QUERY_TIME = datetime(9999, 1, 1, tzinfo=UTC)
"""Bounds of start_date and end_date. Python's datetime ends at the years 1 and 9999, so 0001-01-01T00:00+09:00
is year 0 in UTC and `end_date - 90 days` of 0001-01-01 does not exist: both were 500s. Nothing was reported
before 1970 or after 9998, so a date outside is a mistake worth naming."""


def parse_query_datetime(raw: str, name: str) -> datetime:
    """A listing's start_date or end_date (W3C date-time with an offset or Z), as an aware UTC datetime.

    ValueError, with a message naming `name`, for anything else: no offset, not a date-time, or outside
    1970-01-01..9999-01-01 in UTC.
    """
    example = "such as 2026-11-01T00:00:00Z or 2026-11-01T09:00:00+09:00"
    try:
        moment = datetime.fromisoformat(raw.strip().replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise ValueError(f"{name} must be a W3C datetime {example}") from None
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{name} needs a time zone offset, {example}")
    try:
        utc = moment.astimezone(UTC)
    except (OverflowError, ValueError):
        raise ValueError(f"{name} must lie between 1970-01-01 and 9999-01-01") from None
    if not EARLIEST_QUERY_TIME <= utc <= LATEST_QUERY_TIME:
        raise ValueError(f"{name} must lie between 1970-01-01 and 9999-01-01")
    return utc


@dataclass(frozen=True, slots=True)
class ServiceRequestView:
    """What GeoReport shows about a request; built by the service from its stored submission and status.

    No contact field exists here on purpose: the standard's public request list must never carry personal data.
    """

    service_request_id: str
    status: Status
    service_code: str
    requested_datetime: datetime
    description: str = ""
    status_notes: str | None = None
    agency_responsible: str | None = None
    service_notice: str | None = None
    updated_datetime: datetime | None = None
    expected_datetime: datetime | None = None
    address: str | None = None
    lat: float | None = None
    long: float | None = None
    media_url: str | None = None
    lang: str = "ko"

    @property
    def service_name(self) -> str:
        item = category(self.service_code)
        return item.name(self.lang) if item else self.service_code

    def to_json(self) -> dict[str, Any]:
        item = category(self.service_code)
        return {
            "service_request_id": self.service_request_id,
            "status": str(self.status),
            "status_notes": self.status_notes,
            "service_name": self.service_name,
            "service_code": self.service_code,
            "description": self.description,
            "agency_responsible": self.agency_responsible or (item.agency if item else None),
            "service_notice": self.service_notice,
            "requested_datetime": _iso(self.requested_datetime),
            "updated_datetime": _iso(self.updated_datetime),
            "expected_datetime": _iso(self.expected_datetime),
            "address": self.address,
            "address_id": None,
            "zipcode": None,
            "lat": self.lat,
            "long": self.long,
            "media_url": self.media_url,
        }


def requests_json(views: Iterable[ServiceRequestView]) -> str:
    """`GET requests.json` / `GET requests/{id}.json` body (the standard answers a list even for one id)."""
    return json.dumps([v.to_json() for v in views], ensure_ascii=False)


def requests_xml(views: Iterable[ServiceRequestView]) -> str:
    root = ET.Element("service_requests")
    for view in views:
        node = ET.SubElement(root, "request")
        for key, value in view.to_json().items():
            _child(node, key, _xml_value(value))
    return _to_xml(root)


# -- XML plumbing ------------------------------------------------------------------------------------------------


def _iso(moment: datetime | None) -> str | None:
    if moment is None:
        return None
    if moment.tzinfo is None:
        raise ValueError("Open311 times must carry a time zone")
    return moment.astimezone(KST).isoformat(timespec="seconds")


def _xml_value(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _child(parent: ET.Element, tag: str, text: str | None) -> None:
    ET.SubElement(parent, tag).text = text


def _to_xml(root: ET.Element) -> str:
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode")


# -- service discovery -----------------------------------------------------------------------------------------

SPECIFICATION = "http://wiki.open311.org/GeoReport_v2"
CONTACT = "서울특별시 120다산콜재단 (Seoul Dasan Call Center), +82-2-120"
KEY_SERVICE = "api_key는 서울특별시 열린데이터광장에서 발급받습니다 (apply for an api_key at data.seoul.go.kr)"
DISCOVERY_CHANGESET = datetime(2026, 12, 3, tzinfo=KST)
"""When the endpoint list below last changed (the discovery document's changeset)."""


def discovery(base_url: str, endpoint_type: str = "production") -> dict[str, Any]:
    """The Open311 service discovery document: where GeoReport v2 lives here and in which formats.

    Clients (and Open311 directories) read it first, so a newcomer's client needs only the host.
    """
    changeset = _iso(DISCOVERY_CHANGESET)
    return {
        "changeset": changeset,
        "contact": CONTACT,
        "key_service": KEY_SERVICE,
        "endpoints": [
            {
                "specification": SPECIFICATION,
                "url": base_url.rstrip("/") + "/open311/v2",
                "changeset": changeset,
                "type": endpoint_type,
                "formats": ["application/json", "text/xml"],
            }
        ],
    }


def discovery_xml(base_url: str, endpoint_type: str = "production") -> str:
    found = discovery(base_url, endpoint_type)
    root = ET.Element("discovery")
    for key in ("changeset", "contact", "key_service"):
        _child(root, key, found[key])
    endpoints = ET.SubElement(root, "endpoints")
    for item in found["endpoints"]:
        endpoint = ET.SubElement(endpoints, "endpoint")
        for key in ("specification", "url", "changeset", "type"):
            _child(endpoint, key, item[key])
        formats = ET.SubElement(endpoint, "formats")
        for fmt in item["formats"]:
            _child(formats, "format", fmt)
    return _to_xml(root)
