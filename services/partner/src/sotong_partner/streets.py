"""Market streets (전통시장, 특화거리) as configuration: a code, a name, a district and a boundary polygon.

Which shop belongs to which street is decided by the shop front's point lying inside the street's boundary (a
small tolerance covers a shop on the boundary road), so a merchant cannot join a street it is not on. Streets
come from `data/market_streets.yaml` (or the file `SOTONG_PARTNER_STREETS` names); each is checked against
Seoul's district boundaries at load, so a ring drawn in the wrong district stops the process at start.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from sotong_common.geo import Seoul
from sotong_common.geo.shapes import Area, ring_edges

EDGE_TOLERANCE_M = 30.0
"""A shop whose point is this close to the boundary still belongs (shops face the boundary road)."""


@dataclass(frozen=True)
class Street:
    code: str
    name: str
    district_code: str
    district_name: str
    description: str
    boundary: tuple[tuple[float, float], ...]  # (lng, lat), ring not closed
    sns_accounts: tuple[str, ...]
    area: Area

    def contains(self, lat: float, lng: float) -> bool:
        if self.area.contains(lat, lng):
            return True
        return self.area.distance_m(lat, lng, limit_m=EDGE_TOLERANCE_M) <= EDGE_TOLERANCE_M


class Streets:
    """The configured streets by code."""

    def __init__(self, streets: Sequence[Street]) -> None:
        self._by_code = {s.code: s for s in streets}
        if len(self._by_code) != len(streets):
            raise ValueError("two market streets share a code")

    def get(self, code: str) -> Street | None:
        return self._by_code.get(code)

    def all(self) -> list[Street]:
        return list(self._by_code.values())

    @classmethod
    def load(cls, path: str = "", seoul: Seoul | None = None) -> Streets:
        text = Path(path).read_text("utf-8") if path else _packaged()
        return cls.parse(yaml.safe_load(text), seoul or Seoul.load())

    @classmethod
    def parse(cls, document: Any, seoul: Seoul) -> Streets:
        if not isinstance(document, dict) or not isinstance(document.get("streets"), list):
            raise ValueError("the streets file needs a list under `streets`")
        found: list[Street] = []
        for entry in document["streets"]:
            code = str(entry.get("code", ""))
            if not code or not code.replace("-", "").isalnum() or not code.isascii():
                raise ValueError(f"street code {code!r} must be letters, digits and -")
            ring = tuple((float(p[0]), float(p[1])) for p in entry.get("boundary", []))
            if len(ring) < 3:
                raise ValueError(f"street {code}: the boundary needs at least three points")
            district = seoul.district(str(entry.get("district_code", "")))
            if district is None:
                raise ValueError(f"street {code}: unknown district code {entry.get('district_code')!r}")
            lng = sum(p[0] for p in ring) / len(ring)
            lat = sum(p[1] for p in ring) / len(ring)
            place = seoul.resolve_point(lat, lng)
            if place is None or place.district_code != district.code:
                raise ValueError(f"street {code}: the boundary does not lie in {district.name_ko}")
            found.append(
                Street(
                    code=code,
                    name=str(entry["name"]),
                    district_code=district.code,
                    district_name=district.name_ko,
                    description=str(entry.get("description", "")),
                    boundary=ring,
                    sns_accounts=tuple(str(a) for a in entry.get("sns_accounts", [])),
                    area=Area(ring_edges(ring)),
                )
            )
        return cls(found)


@cache
def _packaged() -> str:
    return resources.files("sotong_partner").joinpath("data/market_streets.yaml").read_text("utf-8")
