"""Compose a CAP 1.2 alert from a drafter's request, naming every field that is wrong.

The drafter writes the words (Korean and English at least); the service adds what it knows (sender, the
incident's districts as SIG_CD geocodes, times, references). Problems come back as (field, description) pairs
in the request's own field names, so the console can put each message next to its input box.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import TypeVar

from sotong.alerting.v1 import alerting_service_pb2 as pb
from sotong_alerting.cap import (
    Alert,
    Area,
    Category,
    Certainty,
    Info,
    MsgType,
    Point,
    Scope,
    Severity,
    Status,
    Urgency,
)
from sotong_alerting.districts import district, district_area

E = TypeVar("E", Severity, Urgency, Certainty, Category)

REQUIRED_LANGUAGES = ("ko", "en")
MAX_EXPIRES_HOURS = 72
CAP_LANGUAGE = {"ko": "ko-KR", "en": "en-US"}
SENDER_NAME = {"ko": "서울특별시", "en": "Seoul Metropolitan Government"}
DRAFTABLE_STATUSES = {"Actual": Status.ACTUAL, "Exercise": Status.EXERCISE, "Test": Status.TEST}


@dataclass(frozen=True, slots=True)
class Problem:
    field: str
    description: str


@dataclass(frozen=True, slots=True)
class Draft:
    alert: Alert
    short_texts: dict[str, str]


def _enum(kind: type[E], raw: str, name: str, problems: list[Problem]) -> E:
    for member in kind:
        if member.value.casefold() == raw.strip().casefold():
            return member
    problems.append(Problem(name, f"{raw!r} is not a CAP {name}; one of {', '.join(m.value for m in kind)}"))
    return next(iter(kind))


def _areas(
    request: pb.DraftAlertRequest, default_codes: Sequence[str], language: str, problems: list[Problem]
) -> tuple[Area, ...]:
    codes = list(request.area_codes) or list(default_codes)
    for index, code in enumerate(request.area_codes):
        try:
            district(code)
        except KeyError as error:
            problems.append(Problem(f"area_codes[{index}]", str(error.args[0])))
    good = [code for code in codes if _is_district(code)]
    areas = []
    if good:
        areas.append(district_area(good, language))
    for index, polygon in enumerate(request.polygons):
        points = tuple(Point(p.lat, p.lon) for p in polygon.points)
        if len(points) < 4 or points[0] != points[-1]:
            problems.append(
                Problem(f"polygons[{index}]", "a polygon needs at least 4 points and must be closed (first == last)")
            )
            continue
        if any(not (-90 <= p.lat <= 90 and -180 <= p.lon <= 180) for p in points):
            problems.append(Problem(f"polygons[{index}]", "latitudes must be within ±90 and longitudes within ±180"))
            continue
        areas.append(Area(area_desc="지정 구역" if language == "ko" else "Designated area", polygons=(points,)))
    if not areas:
        problems.append(Problem("area_codes", "an alert needs an area: district codes or a polygon"))
    return tuple(areas)


def _is_district(code: str) -> bool:
    try:
        district(code)
    except KeyError:
        return False
    return True


def compose(
    request: pb.DraftAlertRequest,
    *,
    identifier: str,
    sender: str,
    incident_id: str,
    incident_area: Sequence[str],
    at: datetime,
) -> Draft | list[Problem]:
    """The drafted Alert (msgType Alert) or every problem of the request."""
    problems: list[Problem] = []
    texts: dict[str, pb.AlertText] = {}
    for index, text in enumerate(request.texts):
        language = text.language.strip().lower()
        if language not in CAP_LANGUAGE:
            problems.append(Problem(f"texts[{index}].language", f"{text.language!r}: use ko or en"))
            continue
        if language in texts:
            problems.append(Problem(f"texts[{index}].language", f"{language} is given twice"))
            continue
        for name in ("event", "headline", "description", "instruction"):
            if not getattr(text, name).strip():
                problems.append(Problem(f"texts[{index}].{name}", f"{name} is required"))
        texts[language] = text
    for language in REQUIRED_LANGUAGES:
        if language not in texts:
            problems.append(Problem("texts", f"a text in {language} is required (alerts go out in Korean and English)"))
    severity = _enum(Severity, request.severity or "", "severity", problems)
    urgency = _enum(Urgency, request.urgency or "", "urgency", problems)
    certainty = _enum(Certainty, request.certainty or "", "certainty", problems)
    category = _enum(Category, request.category or "Met", "category", problems)
    status = DRAFTABLE_STATUSES.get(request.status or "Actual")
    if status is None:
        problems.append(Problem("status", f"{request.status!r}: use Actual, Exercise or Test"))
        status = Status.ACTUAL
    hours = request.expires_hours or 6
    if not 1 <= hours <= MAX_EXPIRES_HOURS:
        problems.append(Problem("expires_hours", f"expires_hours must be between 1 and {MAX_EXPIRES_HOURS}"))
    if request.web and not request.web.startswith(("https://", "http://")):
        problems.append(Problem("web", "web must be an absolute http(s) URL"))
    infos = []
    for language in REQUIRED_LANGUAGES:
        chosen = texts.get(language)
        if chosen is None:
            continue
        infos.append(
            Info(
                event=chosen.event.strip(),
                categories=(category,),
                urgency=urgency,
                severity=severity,
                certainty=certainty,
                language=CAP_LANGUAGE[language],
                effective=at,
                expires=at + timedelta(hours=hours),
                sender_name=SENDER_NAME[language],
                headline=chosen.headline.strip(),
                description=chosen.description.strip(),
                instruction=chosen.instruction.strip(),
                web=request.web or None,
                areas=_areas(request, incident_area, language, problems if language == "ko" else []),
            )
        )
    if problems:
        return problems
    alert = Alert(
        identifier=identifier,
        sender=sender,
        sent=at,
        status=status,
        msg_type=MsgType.ALERT,
        scope=Scope.PUBLIC,
        incidents=(incident_id,),
        infos=tuple(infos),
    )
    shorts = {language: text.short_text.strip() for language, text in texts.items() if text.short_text.strip()}
    return Draft(alert, shorts)


def replaced_texts(
    original: Alert, texts: Sequence[pb.AlertText]
) -> tuple[tuple[Info, ...], dict[str, str], list[Problem]]:
    """An update's info blocks: the original's, with the headline/description/instruction the drafter changed."""
    problems: list[Problem] = []
    by_language: dict[str, pb.AlertText] = {}
    for index, text in enumerate(texts):
        language = text.language.strip().lower()
        if language not in CAP_LANGUAGE:
            problems.append(Problem(f"texts[{index}].language", f"{text.language!r}: use ko or en"))
            continue
        by_language[language] = text
    infos = []
    for info in original.infos:
        language = info.language.split("-")[0].lower()
        change = by_language.get(language)
        if change is None:
            infos.append(info)
            continue
        infos.append(
            replace(
                info,
                headline=change.headline.strip() or info.headline,
                description=change.description.strip() or info.description,
                instruction=change.instruction.strip() or info.instruction,
            )
        )
    shorts = {lang: t.short_text.strip() for lang, t in by_language.items() if t.short_text.strip()}
    return tuple(infos), shorts, problems
