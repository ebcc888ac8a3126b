"""The catalogue of what citizens report, shared by every channel and by the Open311 service list.

Open311 clients and the city's app show these as the services one can request; chat and SNS channels map free
text onto them later (or leave them empty for a classifier). The codes are stable identifiers that appear in
events and statistics, so they are never renamed: a retired category stays in the catalogue, marked inactive.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum


class Datatype(StrEnum):
    """Open311 attribute datatypes; the catalogue only uses these so every client can render a form."""

    STRING = "string"
    NUMBER = "number"
    DATETIME = "datetime"
    TEXT = "text"
    SINGLEVALUELIST = "singlevaluelist"
    MULTIVALUELIST = "multivaluelist"


@dataclass(frozen=True, slots=True)
class AttributeValue:
    key: str
    name_ko: str
    name_en: str


@dataclass(frozen=True, slots=True)
class Attribute:
    """An extra question a category asks (Open311 service definition attribute)."""

    code: str
    datatype: Datatype
    description_ko: str
    description_en: str
    required: bool = False
    values: tuple[AttributeValue, ...] = ()
    max_length: int = 100

    def accepts(self, value: str) -> bool:
        """Whether a submitted value fits; list types must name one (or several, comma-separated) known keys."""
        if self.datatype is Datatype.SINGLEVALUELIST:
            return value in {v.key for v in self.values}
        if self.datatype is Datatype.MULTIVALUELIST:
            keys = {v.key for v in self.values}
            parts = [p.strip() for p in value.split(",") if p.strip()]
            return bool(parts) and all(p in keys for p in parts)
        if self.datatype is Datatype.NUMBER:
            try:
                float(value)
            except ValueError:
                return False
            return True
        return len(value) <= self.max_length


@dataclass(frozen=True, slots=True)
class Category:
    """One kind of issue; `default_kind` is the submission kind a report in this category usually is."""

    code: str
    name_ko: str
    name_en: str
    description_ko: str
    description_en: str
    group_ko: str
    group_en: str
    keywords: tuple[str, ...]
    agency: str
    default_kind: str = "report"
    attributes: tuple[Attribute, ...] = field(default=())
    active: bool = True

    def name(self, lang: str = "ko") -> str:
        return self.name_en if lang == "en" else self.name_ko


_SIZE = (
    AttributeValue("small", "작음 (손바닥 크기)", "small (palm-sized)"),
    AttributeValue("medium", "보통 (타이어 크기)", "medium (tyre-sized)"),
    AttributeValue("large", "큼 (차로 절반 이상)", "large (half a lane or more)"),
)

CATALOGUE: tuple[Category, ...] = (
    Category(
        code="road-damage",
        name_ko="도로 파손",
        name_en="Road damage",
        description_ko="포트홀, 보도블록 파손, 맨홀 뚜껑 이탈 등 도로와 보도의 파손",
        description_en="Potholes, broken pavement, displaced manhole covers and other road or sidewalk damage",
        group_ko="도로·교통",
        group_en="Roads and traffic",
        keywords=("포트홀", "pothole", "보도블록", "sidewalk", "맨홀", "manhole", "도로 파손", "도로파손"),
        agency="도시기반시설본부 / 자치구 도로과",
        attributes=(
            Attribute("hazard_size", Datatype.SINGLEVALUELIST, "파손 크기", "Size of the damage", values=_SIZE),
        ),
    ),
    Category(
        code="illegal-parking",
        name_ko="불법 주정차",
        name_en="Illegal parking",
        description_ko="소화전, 교차로, 버스정류장, 어린이보호구역 등의 불법 주정차",
        description_en="Vehicles parked at hydrants, crossings, bus stops, school zones and other no-parking places",
        group_ko="도로·교통",
        group_en="Roads and traffic",
        keywords=("주정차", "주차", "parking", "견인"),
        agency="자치구 주차관리과",
        default_kind="complaint",
        attributes=(
            Attribute("vehicle_number", Datatype.STRING, "차량 번호", "Vehicle registration number", max_length=20),
        ),
    ),
    Category(
        code="streetlight",
        name_ko="가로등·보안등 고장",
        name_en="Streetlight out",
        description_ko="꺼지거나 깜박이는 가로등과 보안등",
        description_en="Streetlights and security lights that are out or flickering",
        group_ko="도로·교통",
        group_en="Roads and traffic",
        keywords=("가로등", "보안등", "streetlight", "lamp"),
        agency="자치구 건설관리과",
        attributes=(
            Attribute("pole_number", Datatype.STRING, "전주 관리번호", "Pole number on the lamp post", max_length=30),
        ),
    ),
    Category(
        code="garbage",
        name_ko="쓰레기 무단투기",
        name_en="Illegal dumping and garbage",
        description_ko="무단투기, 수거되지 않은 쓰레기, 넘치는 쓰레기통",
        description_en="Illegal dumping, uncollected garbage, overflowing bins",
        group_ko="환경·청결",
        group_en="Environment and cleaning",
        keywords=("쓰레기", "무단투기", "garbage", "trash", "dumping"),
        agency="자치구 청소행정과",
        default_kind="complaint",
    ),
    Category(
        code="noise",
        name_ko="소음",
        name_en="Noise",
        description_ko="공사장, 영업장, 확성기 등의 소음",
        description_en="Noise from construction sites, businesses, loudspeakers and the like",
        group_ko="환경·청결",
        group_en="Environment and cleaning",
        keywords=("소음", "noise", "공사", "construction"),
        agency="자치구 환경과",
        default_kind="complaint",
        attributes=(
            Attribute(
                "noise_source",
                Datatype.SINGLEVALUELIST,
                "소음원",
                "Source of the noise",
                values=(
                    AttributeValue("construction", "공사장", "construction site"),
                    AttributeValue("business", "영업장", "business premises"),
                    AttributeValue("loudspeaker", "확성기", "loudspeaker"),
                    AttributeValue("traffic", "교통", "traffic"),
                    AttributeValue("other", "기타", "other"),
                ),
            ),
        ),
    ),
    Category(
        code="park-facility",
        name_ko="공원 시설 고장",
        name_en="Park facility",
        description_ko="공원의 운동기구, 놀이시설, 벤치, 화장실 고장",
        description_en="Broken exercise equipment, playgrounds, benches or toilets in parks",
        group_ko="공원·녹지",
        group_en="Parks",
        keywords=("공원", "park", "놀이터", "playground", "벤치"),
        agency="푸른도시여가국 / 자치구 공원녹지과",
    ),
    Category(
        code="ttareungyi",
        name_ko="따릉이 (공공자전거)",
        name_en="Ttareungyi public bike",
        description_ko="따릉이 자전거 고장, 대여소 문제, 방치된 자전거",
        description_en="Broken Ttareungyi bikes, docking station problems, abandoned bikes",
        group_ko="도로·교통",
        group_en="Roads and traffic",
        keywords=("따릉이", "ttareungyi", "자전거", "bike", "대여소"),
        agency="서울시설공단 공공자전거운영처",
        attributes=(
            Attribute("bike_number", Datatype.STRING, "자전거 번호", "Bike number", max_length=20),
            Attribute("station_number", Datatype.STRING, "대여소 번호", "Docking station number", max_length=20),
        ),
    ),
    Category(
        code="flooding",
        name_ko="침수·배수 불량",
        name_en="Flooding",
        description_ko="도로·지하차도 침수, 막힌 빗물받이, 역류",
        description_en="Flooded roads or underpasses, blocked storm drains, backflow",
        group_ko="안전·재난",
        group_en="Safety and disasters",
        keywords=("침수", "flood", "빗물받이", "drain", "역류"),
        agency="물순환안전국 / 자치구 치수과",
        default_kind="disaster_report",
        attributes=(
            Attribute(
                "water_depth",
                Datatype.SINGLEVALUELIST,
                "물 깊이",
                "Depth of the water",
                required=True,
                values=(
                    AttributeValue("ankle", "발목 이하", "up to the ankle"),
                    AttributeValue("knee", "무릎 정도", "about knee-deep"),
                    AttributeValue("waist", "허리 이상", "waist-deep or more"),
                ),
            ),
        ),
    ),
    Category(
        code="other",
        name_ko="기타",
        name_en="Other",
        description_ko="위에 없는 불편 사항이나 제안",
        description_en="Anything not listed above, including proposals",
        group_ko="기타",
        group_en="Other",
        keywords=("기타", "other", "제안", "proposal"),
        agency="서울시 120다산콜재단",
        default_kind="complaint",
    ),
)

_BY_CODE: Mapping[str, Category] = {c.code: c for c in CATALOGUE}


def category(code: str) -> Category | None:
    """The category with that code, or None (retired categories are still found)."""
    return _BY_CODE.get(code)


def active_categories() -> list[Category]:
    return [c for c in CATALOGUE if c.active]


def guess_category(text: str) -> Category | None:
    """A category whose keyword appears in the text, for channels where citizens just write (chat, SNS).

    Deliberately naive: the first keyword hit wins and no hit gives None, leaving the decision to the
    classifier and staff. A wrong guess costs a re-route; a missing one costs nothing.
    """
    lowered = text.lower()
    # Disaster categories first: "도로가 침수" must become a flooding report, not road damage.
    ordered = sorted(CATALOGUE, key=lambda c: c.default_kind != "disaster_report")
    for candidate in ordered:
        if candidate.active and candidate.code != "other" and any(_mentions(lowered, k) for k in candidate.keywords):
            return candidate
    return None


def _mentions(lowered: str, keyword: str) -> bool:
    """Korean keywords match inside words (조사 attach to them); Latin ones only as whole words.

    "park" must not match "parking", while "침수" must match "침수됐어요".
    """
    keyword = keyword.lower()
    whole_word = LATIN_KEYWORDS.get(keyword)
    if whole_word is not None:
        return whole_word.search(lowered) is not None
    return keyword in lowered


# One compiled pattern per Latin keyword, made once: literal words between boundaries, so matching is linear in the
# text (tests/unit/test_linear_patterns.py checks every pattern intake applies to citizens' text).
LATIN_KEYWORDS: dict[str, re.Pattern[str]] = {
    k.lower(): re.compile(rf"\b{re.escape(k.lower())}\b") for c in CATALOGUE for k in c.keywords if k.isascii()
}
