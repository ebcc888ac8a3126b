"""Reading CAP 1.2 XML into the typed model, only after the document has passed validation.

Building the model from an invalid document would need a second, weaker set of rules; instead an invalid
document yields its problems and no model, so downstream code only ever sees alerts that are valid CAP.
"""

from __future__ import annotations

from dataclasses import dataclass

from lxml import etree

from sotong_alerting.cap.datetimes import parse_cap_datetime
from sotong_alerting.cap.model import (
    CAP_NAMESPACE,
    Alert,
    Area,
    Category,
    Certainty,
    Circle,
    Info,
    MsgType,
    NamedValue,
    Point,
    Reference,
    Resource,
    ResponseType,
    Scope,
    Severity,
    Status,
    Urgency,
)
from sotong_alerting.cap.validate import (
    MAX_DOCUMENT_BYTES,
    Problem,
    check_element,
    read_xml,
    split_quoted_list,
)

_NS = "{" + CAP_NAMESPACE + "}"


@dataclass(frozen=True, slots=True)
class CapDocument:
    """The outcome of reading a CAP document: the alert when valid, else None and the problems.

    `warnings` are findings that do not stop the document (UTC written as +00:00), for the caller to log or show.
    """

    alert: Alert | None
    problems: tuple[Problem, ...]
    warnings: tuple[Problem, ...] = ()

    @property
    def valid(self) -> bool:
        return not self.problems


def _opt(parent: etree._Element, name: str) -> str | None:
    element = parent.find(_NS + name)
    return None if element is None else (element.text or "")


def _req(parent: etree._Element, name: str) -> str:
    value = _opt(parent, name)
    if value is None:  # validation guarantees presence; this guards against misuse
        raise ValueError(f"missing <{name}>")
    return value


def _all(parent: etree._Element, name: str) -> list[str]:
    return [element.text or "" for element in parent.findall(_NS + name)]


def _named(parent: etree._Element, name: str) -> tuple[NamedValue, ...]:
    return tuple(
        NamedValue(_req(element, "valueName"), _req(element, "value")) for element in parent.findall(_NS + name)
    )


def _point(pair: str) -> Point:
    lat, lon = pair.split(",")
    return Point(float(lat), float(lon))


def _number(text: str | None) -> float | None:
    return None if text is None else float(text)


def _area(element: etree._Element) -> Area:
    circles = []
    for text in _all(element, "circle"):
        centre, radius = text.split()
        circles.append(Circle(_point(centre), float(radius)))
    return Area(
        area_desc=_req(element, "areaDesc"),
        polygons=tuple(tuple(_point(pair) for pair in text.split()) for text in _all(element, "polygon")),
        circles=tuple(circles),
        geocodes=_named(element, "geocode"),
        altitude=_number(_opt(element, "altitude")),
        ceiling=_number(_opt(element, "ceiling")),
    )


def _resource(element: etree._Element) -> Resource:
    size = _opt(element, "size")
    return Resource(
        resource_desc=_req(element, "resourceDesc"),
        mime_type=_req(element, "mimeType"),
        size=None if size is None else int(size),
        uri=_opt(element, "uri"),
        deref_uri=_opt(element, "derefUri"),
        digest=_opt(element, "digest"),
    )


def _info(element: etree._Element) -> Info:
    times = {name: _opt(element, name) for name in ("effective", "onset", "expires")}
    return Info(
        language=_opt(element, "language") or "en-US",
        categories=tuple(Category(value) for value in _all(element, "category")),
        event=_req(element, "event"),
        response_types=tuple(ResponseType(value) for value in _all(element, "responseType")),
        urgency=Urgency(_req(element, "urgency")),
        severity=Severity(_req(element, "severity")),
        certainty=Certainty(_req(element, "certainty")),
        audience=_opt(element, "audience"),
        event_codes=_named(element, "eventCode"),
        effective=None if times["effective"] is None else parse_cap_datetime(times["effective"]),
        onset=None if times["onset"] is None else parse_cap_datetime(times["onset"]),
        expires=None if times["expires"] is None else parse_cap_datetime(times["expires"]),
        sender_name=_opt(element, "senderName"),
        headline=_opt(element, "headline"),
        description=_opt(element, "description"),
        instruction=_opt(element, "instruction"),
        web=_opt(element, "web"),
        contact=_opt(element, "contact"),
        parameters=_named(element, "parameter"),
        resources=tuple(_resource(child) for child in element.findall(_NS + "resource")),
        areas=tuple(_area(child) for child in element.findall(_NS + "area")),
    )


def element_to_alert(root: etree._Element) -> Alert:
    """Build the model from a document that has already passed `validate_element`."""
    references = _opt(root, "references")
    addresses = _opt(root, "addresses")
    incidents = _opt(root, "incidents")
    return Alert(
        identifier=_req(root, "identifier"),
        sender=_req(root, "sender"),
        sent=parse_cap_datetime(_req(root, "sent")),
        status=Status(_req(root, "status")),
        msg_type=MsgType(_req(root, "msgType")),
        source=_opt(root, "source"),
        scope=Scope(_req(root, "scope")),
        restriction=_opt(root, "restriction"),
        addresses=tuple(split_quoted_list(addresses)) if addresses else (),
        codes=tuple(_all(root, "code")),
        note=_opt(root, "note"),
        references=tuple(Reference(*entry.split(",")) for entry in references.split()) if references else (),
        incidents=tuple(split_quoted_list(incidents)) if incidents else (),
        infos=tuple(_info(child) for child in root.findall(_NS + "info")),
    )


def parse_cap(data: bytes, *, max_bytes: int = MAX_DOCUMENT_BYTES, strict: bool = False) -> CapDocument:
    """Read untrusted CAP bytes: the typed alert when valid CAP 1.2, otherwise every problem found.

    The document's declared encoding (UTF-8, UTF-16, ISO-8859-1, EUC-KR, ...) is honoured by the XML parser;
    an enveloped XML signature (ds:Signature, which the CAP 1.2 schema allows at the end of <alert>) is read
    past, not verified: who may speak for a sender is decided by the caller's credentials (see
    `sotong_alerting.ingest`).
    """
    root, problems = read_xml(data, max_bytes=max_bytes)
    if root is None:
        return CapDocument(None, tuple(problems))
    checked = check_element(root, strict=strict)
    if checked.problems:
        return CapDocument(None, checked.problems, checked.warnings)
    try:
        alert = element_to_alert(root)
    except (ValueError, TypeError) as error:  # defence in depth: validation should make this unreachable
        return CapDocument(None, (Problem(None, "", f"valid by the rules but unreadable: {error}"),))
    return CapDocument(alert, (), checked.warnings)
