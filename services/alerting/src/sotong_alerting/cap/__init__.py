"""OASIS Common Alerting Protocol 1.2: typed model, XML rendering, safe parsing and validation."""

from __future__ import annotations

from sotong_alerting.cap.datetimes import SEOUL, format_cap_datetime, parse_cap_datetime, to_seoul
from sotong_alerting.cap.model import (
    CAP_MIME_TYPE,
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
from sotong_alerting.cap.parse import CapDocument, parse_cap
from sotong_alerting.cap.render import render_cap
from sotong_alerting.cap.validate import MAX_DOCUMENT_BYTES, CapCheck, Problem, check_cap, validate_cap


def validate_alert(alert: Alert) -> list[Problem]:
    """Problems of an alert built in code, judged exactly like received XML: render, then validate."""
    try:
        data = render_cap(alert)
    except ValueError as error:  # e.g. a naive datetime, which CAP cannot express
        return [Problem(None, "", str(error))]
    return validate_cap(data)


__all__ = [
    "CAP_MIME_TYPE",
    "CAP_NAMESPACE",
    "MAX_DOCUMENT_BYTES",
    "SEOUL",
    "Alert",
    "Area",
    "CapCheck",
    "CapDocument",
    "Category",
    "Certainty",
    "Circle",
    "Info",
    "MsgType",
    "NamedValue",
    "Point",
    "Problem",
    "Reference",
    "Resource",
    "ResponseType",
    "Scope",
    "Severity",
    "Status",
    "Urgency",
    "check_cap",
    "format_cap_datetime",
    "parse_cap",
    "parse_cap_datetime",
    "render_cap",
    "to_seoul",
    "validate_alert",
    "validate_cap",
]
