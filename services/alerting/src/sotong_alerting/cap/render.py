"""Rendering `Alert` values to CAP 1.2 XML.

Elements are written in the order the XSD's sequences demand, so that an alert built from sound values always
validates; whatever the values themselves get wrong is then reported by `validate_cap`, not hidden here.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from lxml import etree

from sotong_alerting.cap.datetimes import format_cap_datetime
from sotong_alerting.cap.model import CAP_NAMESPACE, Alert, Area, Info, NamedValue, Point, Resource

_NS = "{" + CAP_NAMESPACE + "}"


def format_decimal(value: float) -> str:
    """Write a number as an xs:decimal (never in exponent form) with at most 6 decimals (about 0.1 m)."""
    text = f"{value:.6f}".rstrip("0").rstrip(".")
    return "0" if text in {"", "-0"} else text


def format_point(point: Point) -> str:
    """CAP writes coordinates "latitude,longitude"."""
    return f"{format_decimal(point.lat)},{format_decimal(point.lon)}"


def quote_list(items: Iterable[str]) -> str:
    """CAP's space-delimited lists (addresses, incidents) put items containing whitespace in double quotes."""
    return " ".join(f'"{item}"' if any(ch.isspace() for ch in item) else item for item in items)


def _sub(parent: etree._Element, name: str, text: str | None) -> etree._Element | None:
    if text is None:
        return None
    child = etree.SubElement(parent, _NS + name)
    child.text = text
    return child


def _named_values(parent: etree._Element, name: str, values: Iterable[NamedValue]) -> None:
    for named in values:
        holder = etree.SubElement(parent, _NS + name)
        _sub(holder, "valueName", named.name)
        _sub(holder, "value", named.value)


def _time(moment: datetime | None) -> str | None:
    return None if moment is None else format_cap_datetime(moment)


def _resource(parent: etree._Element, resource: Resource) -> None:
    node = etree.SubElement(parent, _NS + "resource")
    _sub(node, "resourceDesc", resource.resource_desc)
    _sub(node, "mimeType", resource.mime_type)
    _sub(node, "size", None if resource.size is None else str(resource.size))
    _sub(node, "uri", resource.uri)
    _sub(node, "derefUri", resource.deref_uri)
    _sub(node, "digest", resource.digest)


def _area(parent: etree._Element, area: Area) -> None:
    node = etree.SubElement(parent, _NS + "area")
    _sub(node, "areaDesc", area.area_desc)
    for ring in area.polygons:
        _sub(node, "polygon", " ".join(format_point(point) for point in ring))
    for circle in area.circles:
        _sub(node, "circle", f"{format_point(circle.center)} {format_decimal(circle.radius_km)}")
    _named_values(node, "geocode", area.geocodes)
    _sub(node, "altitude", None if area.altitude is None else format_decimal(area.altitude))
    _sub(node, "ceiling", None if area.ceiling is None else format_decimal(area.ceiling))


def _info(parent: etree._Element, info: Info) -> None:
    node = etree.SubElement(parent, _NS + "info")
    _sub(node, "language", info.language)
    for category in info.categories:
        _sub(node, "category", category.value)
    _sub(node, "event", info.event)
    for response in info.response_types:
        _sub(node, "responseType", response.value)
    _sub(node, "urgency", info.urgency.value)
    _sub(node, "severity", info.severity.value)
    _sub(node, "certainty", info.certainty.value)
    _sub(node, "audience", info.audience)
    _named_values(node, "eventCode", info.event_codes)
    _sub(node, "effective", _time(info.effective))
    _sub(node, "onset", _time(info.onset))
    _sub(node, "expires", _time(info.expires))
    _sub(node, "senderName", info.sender_name)
    _sub(node, "headline", info.headline)
    _sub(node, "description", info.description)
    _sub(node, "instruction", info.instruction)
    _sub(node, "web", info.web)
    _sub(node, "contact", info.contact)
    _named_values(node, "parameter", info.parameters)
    for resource in info.resources:
        _resource(node, resource)
    for area in info.areas:
        _area(node, area)


def alert_to_element(alert: Alert) -> etree._Element:
    """The alert as an lxml element tree (for embedding, e.g. in a signed envelope)."""
    root = etree.Element(_NS + "alert", nsmap={None: CAP_NAMESPACE})
    _sub(root, "identifier", alert.identifier)
    _sub(root, "sender", alert.sender)
    _sub(root, "sent", format_cap_datetime(alert.sent))
    _sub(root, "status", alert.status.value)
    _sub(root, "msgType", alert.msg_type.value)
    _sub(root, "source", alert.source)
    _sub(root, "scope", alert.scope.value)
    _sub(root, "restriction", alert.restriction)
    _sub(root, "addresses", quote_list(alert.addresses) if alert.addresses else None)
    for code in alert.codes:
        _sub(root, "code", code)
    _sub(root, "note", alert.note)
    _sub(root, "references", " ".join(str(ref) for ref in alert.references) if alert.references else None)
    _sub(root, "incidents", quote_list(alert.incidents) if alert.incidents else None)
    for info in alert.infos:
        _info(root, info)
    return root


def render_cap(alert: Alert) -> bytes:
    """The alert as a UTF-8 CAP 1.2 XML document (with XML declaration, pretty-printed for people)."""
    return bytes(etree.tostring(alert_to_element(alert), xml_declaration=True, encoding="UTF-8", pretty_print=True))
