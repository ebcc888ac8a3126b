"""Builders for realistic Seoul alerts, so each test states only what it is about."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path

from sotong_alerting.cap import (
    SEOUL,
    Alert,
    Area,
    Category,
    Certainty,
    Info,
    MsgType,
    NamedValue,
    Point,
    ResponseType,
    Scope,
    Severity,
    Status,
    Urgency,
)

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
SENT = datetime(2026, 7, 14, 14, 0, tzinfo=SEOUL)
DOBONG_RING = (
    Point(37.69, 127.01),
    Point(37.69, 127.06),
    Point(37.63, 127.06),
    Point(37.63, 127.01),
    Point(37.69, 127.01),
)


def dobong_area(language: str = "ko") -> Area:
    return Area(
        area_desc="도봉구" if language == "ko" else "Dobong-gu",
        polygons=(DOBONG_RING,),
        geocodes=(NamedValue("SIG_CD", "11320"),),
    )


def korean_info(**changes: object) -> Info:
    info = Info(
        language="ko-KR",
        categories=(Category.MET,),
        event="호우경보",
        response_types=(ResponseType.AVOID,),
        urgency=Urgency.IMMEDIATE,
        severity=Severity.SEVERE,
        certainty=Certainty.OBSERVED,
        effective=SENT,
        expires=SENT + timedelta(hours=9),
        sender_name="서울특별시",
        headline="도봉구 호우경보 발령",
        description="도봉구에 시간당 50mm 이상의 강한 비가 내리고 있습니다.",
        instruction="하천변 산책로 이용을 자제하세요.",
        web="https://safecity.seoul.go.kr/",
        areas=(dobong_area("ko"),),
    )
    return replace(info, **changes)  # type: ignore[arg-type]


def english_info(**changes: object) -> Info:
    info = korean_info(
        language="en-US",
        event="Heavy rain warning",
        sender_name="Seoul Metropolitan Government",
        headline="Heavy rain warning for Dobong-gu",
        description="Heavy rain of more than 50 mm per hour is falling in Dobong-gu.",
        instruction="Stay away from riverside paths.",
        areas=(dobong_area("en"),),
    )
    return replace(info, **changes)  # type: ignore[arg-type]


def make_alert(**changes: object) -> Alert:
    alert = Alert(
        identifier="SEOUL-2026-0001",
        sender="alert@seoul.go.kr",
        sent=SENT,
        status=Status.ACTUAL,
        msg_type=MsgType.ALERT,
        scope=Scope.PUBLIC,
        infos=(korean_info(), english_info()),
    )
    return replace(alert, **changes)  # type: ignore[arg-type]
