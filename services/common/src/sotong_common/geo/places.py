"""What the gazetteer answers with: districts, neighbourhoods and places (plain values, no geometry)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class District:
    """A 자치구; `code` is the 5-digit SIG_CD used across Korean public data (e.g. 11140 중구)."""

    code: str
    name_ko: str
    name_en: str


@dataclass(frozen=True, slots=True)
class Neighbourhood:
    """A 법정동; `code` is the 8-digit EMD_CD whose first five digits are its district's code."""

    code: str
    name_ko: str
    name_en: str
    district_code: str


@dataclass(frozen=True, slots=True)
class Place:
    """Where a point or an address lies: always a district, a neighbourhood when it could be told."""

    district: District
    neighbourhood: Neighbourhood | None = None

    @property
    def district_code(self) -> str:
        return self.district.code

    @property
    def neighbourhood_code(self) -> str | None:
        return self.neighbourhood.code if self.neighbourhood else None
