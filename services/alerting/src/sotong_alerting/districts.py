"""Seoul's 25 districts (자치구) by SIG_CD code, for naming CAP areas in Korean and English.

Geometry and point-in-polygon live in `sotong_common.geo`; this is only the small code→name table that
rendering needs, so that the pure alerting domain does not load boundary files. Source: southkorea/seoul-maps
(Apache License 2.0), source data JUSO 2015 (see data/NOTICE.md).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cache
from importlib import resources

from sotong_alerting.cap.model import Area, NamedValue

GEOCODE_NAME = "SIG_CD"
"""valueName of the CAP <geocode> that carries a 5-digit district code (e.g. 11320 for 도봉구)."""


@dataclass(frozen=True, slots=True)
class District:
    code: str
    name_ko: str
    name_en: str

    def name(self, language: str = "ko") -> str:
        return self.name_ko if language.lower().startswith("ko") else self.name_en


@cache
def districts() -> Mapping[str, District]:
    """All 25 districts by code."""
    raw = json.loads(resources.files("sotong_alerting").joinpath("data/seoul_districts.json").read_text("utf-8"))
    return {row["code"]: District(row["code"], row["ko"], row["en"]) for row in raw["districts"]}


def district(code: str) -> District:
    """The district with this SIG_CD; KeyError naming the code when Seoul has no such district."""
    found = districts().get(code)
    if found is None:
        raise KeyError(f"{code!r} is not a Seoul district code (SIG_CD 11110..11740)")
    return found


def district_area(codes: Iterable[str], language: str = "ko") -> Area:
    """A CAP area covering whole districts: names joined for <areaDesc>, one SIG_CD geocode each."""
    chosen = [district(code) for code in dict.fromkeys(codes)]
    if not chosen:
        raise ValueError("an area needs at least one district")
    separator = ", "
    return Area(
        area_desc=separator.join(d.name(language) for d in chosen),
        geocodes=tuple(NamedValue(GEOCODE_NAME, d.code) for d in chosen),
    )
