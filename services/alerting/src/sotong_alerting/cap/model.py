"""CAP 1.2 (OASIS Common Alerting Protocol) as frozen, typed dataclasses.

The model is frozen on purpose: an approved alert must never change, so the type system should not offer a way
to change one. Updates and cancellations are new `Alert` values that reference the original (see
`sotong_alerting.approval`).

The model is deliberately permissive about *content* (an open polygon or a missing reference can be built):
every rule is checked in one place, on the XML the model renders to (`sotong_alerting.cap.validate`), so that
alerts we build and alerts we receive from upstream are judged by exactly the same code.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from sotong_alerting.cap.datetimes import format_cap_datetime

CAP_NAMESPACE = "urn:oasis:names:tc:emergency:cap:1.2"
"""XML namespace of CAP 1.2 documents."""

CAP_MIME_TYPE = "application/cap+xml"
"""Media type used when linking to a CAP document (feeds, HTTP responses)."""


class Status(StrEnum):
    """<status>: who the alert is for. Only Actual alerts are real; the rest must look different to people."""

    ACTUAL = "Actual"
    EXERCISE = "Exercise"
    SYSTEM = "System"
    TEST = "Test"
    DRAFT = "Draft"


class MsgType(StrEnum):
    """<msgType>: every value except Alert refers to earlier messages through <references>."""

    ALERT = "Alert"
    UPDATE = "Update"
    CANCEL = "Cancel"
    ACK = "Ack"
    ERROR = "Error"


class Scope(StrEnum):
    """<scope>: Restricted needs <restriction>, Private needs <addresses>."""

    PUBLIC = "Public"
    RESTRICTED = "Restricted"
    PRIVATE = "Private"


class Category(StrEnum):
    """<category> of the subject event."""

    GEO = "Geo"
    MET = "Met"
    SAFETY = "Safety"
    SECURITY = "Security"
    RESCUE = "Rescue"
    FIRE = "Fire"
    HEALTH = "Health"
    ENV = "Env"
    TRANSPORT = "Transport"
    INFRA = "Infra"
    CBRNE = "CBRNE"
    OTHER = "Other"


class ResponseType(StrEnum):
    """<responseType>: the action recommended to the audience."""

    SHELTER = "Shelter"
    EVACUATE = "Evacuate"
    PREPARE = "Prepare"
    EXECUTE = "Execute"
    AVOID = "Avoid"
    MONITOR = "Monitor"
    ASSESS = "Assess"
    ALL_CLEAR = "AllClear"
    NONE = "None"


class Urgency(StrEnum):
    """<urgency>."""

    IMMEDIATE = "Immediate"
    EXPECTED = "Expected"
    FUTURE = "Future"
    PAST = "Past"
    UNKNOWN = "Unknown"


class Severity(StrEnum):
    """<severity>."""

    EXTREME = "Extreme"
    SEVERE = "Severe"
    MODERATE = "Moderate"
    MINOR = "Minor"
    UNKNOWN = "Unknown"


class Certainty(StrEnum):
    """<certainty>."""

    OBSERVED = "Observed"
    LIKELY = "Likely"
    POSSIBLE = "Possible"
    UNLIKELY = "Unlikely"
    UNKNOWN = "Unknown"


@dataclass(frozen=True, slots=True)
class NamedValue:
    """A <valueName>/<value> pair, used by eventCode, parameter and geocode."""

    name: str
    value: str


@dataclass(frozen=True, slots=True)
class Reference:
    """One entry of <references>: the "sender,identifier,sent" triple naming an earlier message.

    `sent` is kept as the exact string of the earlier message, because references are matched textually and
    re-formatting a time could silently break the match.
    """

    sender: str
    identifier: str
    sent: str

    def __str__(self) -> str:
        return f"{self.sender},{self.identifier},{self.sent}"


@dataclass(frozen=True, slots=True)
class Point:
    """A WGS 84 coordinate. CAP writes it "latitude,longitude" (latitude first, unlike GeoJSON)."""

    lat: float
    lon: float

    def __reduce__(self) -> tuple[type[Point], tuple[float, float]]:
        # A polygon may hold tens of thousands of points, and documents cross a process boundary when they are
        # read off the event loop (cap.reader); the default pickling of a frozen dataclass is 2.5x slower.
        return (Point, (self.lat, self.lon))


@dataclass(frozen=True, slots=True)
class Circle:
    """<circle>: a centre and a radius in kilometres."""

    center: Point
    radius_km: float


@dataclass(frozen=True, slots=True)
class Area:
    """<area>: free-text description plus any of polygons, circles and geocodes.

    Polygons are plain coordinate lists (each ring as CAP writes it, first point repeated at the end) so that
    geometry from `sotong_common.geo` can be passed in without this package depending on a geometry library.
    """

    area_desc: str
    polygons: tuple[tuple[Point, ...], ...] = ()
    circles: tuple[Circle, ...] = ()
    geocodes: tuple[NamedValue, ...] = ()
    altitude: float | None = None
    ceiling: float | None = None


@dataclass(frozen=True, slots=True)
class Resource:
    """<resource>: a file (image, audio, map) supplementing the info block."""

    resource_desc: str
    mime_type: str
    size: int | None = None
    uri: str | None = None
    deref_uri: str | None = None
    digest: str | None = None


@dataclass(frozen=True, slots=True)
class Info:
    """<info>: one language's description of the event. Multilingual alerts carry one Info per language."""

    event: str
    categories: tuple[Category, ...]
    urgency: Urgency
    severity: Severity
    certainty: Certainty
    language: str = "en-US"
    response_types: tuple[ResponseType, ...] = ()
    audience: str | None = None
    event_codes: tuple[NamedValue, ...] = ()
    effective: datetime | None = None
    onset: datetime | None = None
    expires: datetime | None = None
    sender_name: str | None = None
    headline: str | None = None
    description: str | None = None
    instruction: str | None = None
    web: str | None = None
    contact: str | None = None
    parameters: tuple[NamedValue, ...] = ()
    resources: tuple[Resource, ...] = ()
    areas: tuple[Area, ...] = ()


@dataclass(frozen=True, slots=True)
class Alert:
    """<alert>: the message envelope. `sent` must be timezone-aware; CAP forbids times without an offset."""

    identifier: str
    sender: str
    sent: datetime
    status: Status
    msg_type: MsgType
    scope: Scope
    source: str | None = None
    restriction: str | None = None
    addresses: tuple[str, ...] = ()
    codes: tuple[str, ...] = ()
    note: str | None = None
    references: tuple[Reference, ...] = ()
    incidents: tuple[str, ...] = ()
    infos: tuple[Info, ...] = ()

    @property
    def reference(self) -> Reference:
        """How later messages (Update, Cancel) must name this one."""
        return Reference(self.sender, self.identifier, format_cap_datetime(self.sent))

    def info_for(self, language: str) -> Info | None:
        """The info block for a language ("ko" matches "ko-KR"), or None when the alert has none for it."""
        wanted = language.lower()
        for info in self.infos:
            if info.language.lower() == wanted:
                return info
        for info in self.infos:
            if info.language.lower().split("-")[0] == wanted.split("-")[0]:
                return info
        return None
