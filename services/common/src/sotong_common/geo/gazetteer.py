"""Seoul's districts (자치구) and neighbourhoods (법정동), and the questions services ask about them.

Intake asks "where is this report?" (a point or free address text to a district), alerting asks "which districts
does this alert area cover?". Both are answered here from the boundary files shipped in `data/`, loaded once per
process (`Seoul.load()`), with no network and no native geometry library.

About the neighbourhood data: the shipped file holds Seoul's 467 legal neighbourhoods (법정동, 8-digit codes such as
11440120 서교동, whose first five digits are the district's SIG_CD), not the 424 administrative ones (행정동 such as
서교동 or 역삼1동). Citizens write both; `resolve_address` maps "역삼1동" to 역삼동 for that reason.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

from sotong_common.geo.address import AddressResolver
from sotong_common.geo.places import District, Neighbourhood, Place
from sotong_common.geo.shapes import (
    Area,
    BoundingBox,
    areas_overlap,
    geojson_edges,
    ring_edges,
)

MUNICIPALITIES_FILE = "seoul_municipalities_geo_simple.json"
NEIGHBOURHOODS_FILE = "seoul_neighborhoods_geo_simple.json"

DEFAULT_SNAP_M = 50.0
"""How far outside every polygon a point may be and still resolve to the nearest one.

The shipped boundaries are simplified, so neighbouring polygons leave thin gaps and the city outline is cut a
little short; a citizen standing on a border road would otherwise be "outside Seoul". 50 m covers the gaps seen
in the data without pulling in points clearly across the city limit.
"""

_GRID_STEP = 0.01  # degrees (~1.1 km north-south, ~0.9 km east-west): a cell sees 1-4 districts


@dataclass(slots=True)
class _Indexed:
    """Areas plus a coarse grid of candidate indices, so a lookup tests 1-4 polygons rather than all."""

    areas: list[Area]
    origin: tuple[float, float] = (0.0, 0.0)
    cells: dict[tuple[int, int], list[int]] = field(default_factory=dict)

    def build(self) -> None:
        if not self.areas:
            return
        min_lat = min(a.bbox.min_lat for a in self.areas)
        min_lng = min(a.bbox.min_lng for a in self.areas)
        self.origin = (min_lat, min_lng)
        for index, area in enumerate(self.areas):
            for row in range(self._cell(area.bbox.min_lat, 0), self._cell(area.bbox.max_lat, 0) + 1):
                for col in range(self._cell(area.bbox.min_lng, 1), self._cell(area.bbox.max_lng, 1) + 1):
                    self.cells.setdefault((row, col), []).append(index)

    def _cell(self, value: float, axis: int) -> int:
        return int((value - self.origin[axis]) // _GRID_STEP)

    def candidates(self, lat: float, lng: float) -> list[int]:
        return self.cells.get((self._cell(lat, 0), self._cell(lng, 1)), [])

    def containing(self, lat: float, lng: float) -> int | None:
        for index in self.candidates(lat, lng):
            if self.areas[index].contains(lat, lng):
                return index
        return None

    def nearest_within(self, lat: float, lng: float, limit_m: float, among: Iterable[int] | None = None) -> int | None:
        """Slow path for points in the slivers between simplified polygons; only reached near boundaries."""
        row, col = self._cell(lat, 0), self._cell(lng, 1)
        near = {i for dr in (-1, 0, 1) for dc in (-1, 0, 1) for i in self.cells.get((row + dr, col + dc), [])}
        if among is not None:
            near &= set(among)
        best: tuple[float, int] | None = None
        for index in sorted(near):
            distance = self.areas[index].distance_m(lat, lng, limit_m)
            if distance <= limit_m and (best is None or distance < best[0]):
                best = (distance, index)
        return best[1] if best else None


class Seoul:
    """The gazetteer: load once (`Seoul.load()`), then ask it about points, addresses and alert areas."""

    def __init__(
        self,
        municipalities: Mapping[str, Any],
        neighbourhoods: Mapping[str, Any],
        snap_m: float = DEFAULT_SNAP_M,
    ) -> None:
        """Build from parsed GeoJSON FeatureCollections (tests may pass small hand-made ones)."""
        self.snap_m = snap_m
        self._districts: list[District] = []
        district_areas: list[Area] = []
        for feature in municipalities["features"]:
            props = feature["properties"]
            self._districts.append(District(str(props["SIG_CD"]), props["SIG_KOR_NM"], props["SIG_ENG_NM"]))
            district_areas.append(Area(geojson_edges(feature["geometry"])))
        self._by_code = {d.code: i for i, d in enumerate(self._districts)}

        self._neighbourhoods: list[Neighbourhood] = []
        hood_areas: list[Area] = []
        for feature in neighbourhoods["features"]:
            props = feature["properties"]
            code = str(props["EMD_CD"])
            if code[:5] not in self._by_code:
                continue  # a neighbourhood of a district we do not know cannot be placed
            self._neighbourhoods.append(Neighbourhood(code, props["EMD_KOR_NM"], props["EMD_ENG_NM"], code[:5]))
            hood_areas.append(Area(geojson_edges(feature["geometry"]), band_height=0.001))
        self._hood_by_code = {h.code: h for h in self._neighbourhoods}
        self._hoods_of: dict[str, list[int]] = {}
        for i, hood in enumerate(self._neighbourhoods):
            self._hoods_of.setdefault(hood.district_code, []).append(i)

        self._district_index = _Indexed(district_areas)
        self._district_index.build()
        self._hood_index = _Indexed(hood_areas)
        self._hood_index.build()
        self.bbox = BoundingBox(
            min(a.bbox.min_lng for a in district_areas),
            min(a.bbox.min_lat for a in district_areas),
            max(a.bbox.max_lng for a in district_areas),
            max(a.bbox.max_lat for a in district_areas),
        )
        self._addresses = AddressResolver(self._districts, self._neighbourhoods)
        self._last_point: tuple[float, float, Place | None] | None = None

    @staticmethod
    def load() -> Seoul:
        """The shared instance built from the packaged boundary files; parsing costs ~0.2 s, so it is done once."""
        return _packaged()

    # -- districts -------------------------------------------------------------------------------------------

    def districts(self) -> list[District]:
        """All 25 districts in code order, the order used in Korean public statistics."""
        return sorted(self._districts, key=lambda d: d.code)

    def district(self, code: str) -> District | None:
        index = self._by_code.get(code)
        return self._districts[index] if index is not None else None

    def neighbourhoods(self, district_code: str | None = None) -> list[Neighbourhood]:
        if district_code is None:
            hoods: Iterable[Neighbourhood] = self._neighbourhoods
        else:
            hoods = (self._neighbourhoods[i] for i in self._hoods_of.get(district_code, []))
        return sorted(hoods, key=lambda h: h.code)

    def neighbourhood(self, code: str) -> Neighbourhood | None:
        return self._hood_by_code.get(code)

    # -- points ----------------------------------------------------------------------------------------------

    def resolve_point(self, lat: float, lng: float) -> Place | None:
        """District and neighbourhood of a WGS84 point, or None outside Seoul.

        District and neighbourhood polygons were simplified separately, so they disagree by a few metres along
        borders; the neighbourhood is always chosen among the district's own neighbourhoods so the answer is
        consistent (never 마포구 with a neighbourhood of 서대문구).

        The last answer is remembered: accepting a report asks about its point twice (the service-area check
        while validating, then the place to store), and the polygon search was a few per cent of intake's
        event loop. One entry, replaced whole (a tuple), so threads sharing the gazetteer never see half of one.
        """
        last = self._last_point
        if last is not None and last[0] == lat and last[1] == lng:
            return last[2]
        place = self._resolve_point(lat, lng)
        self._last_point = (lat, lng, place)
        return place

    def _resolve_point(self, lat: float, lng: float) -> Place | None:
        if not self.bbox.contains(lat, lng, 0.001):
            return None
        d_index = self._district_index.containing(lat, lng)
        if d_index is None:
            hood_index = self._hood_index.containing(lat, lng)
            if hood_index is not None:
                hood = self._neighbourhoods[hood_index]
                return Place(self._districts[self._by_code[hood.district_code]], hood)
            d_index = self._district_index.nearest_within(lat, lng, self.snap_m)
            if d_index is None:
                return None
        district = self._districts[d_index]
        return Place(district, self._neighbourhood_at(lat, lng, district.code))

    def _neighbourhood_at(self, lat: float, lng: float, district_code: str) -> Neighbourhood | None:
        own = self._hoods_of.get(district_code, [])
        for index in self._hood_index.candidates(lat, lng):
            if self._neighbourhoods[index].district_code == district_code and self._hood_index.areas[index].contains(
                lat, lng
            ):
                return self._neighbourhoods[index]
        index_near = self._hood_index.nearest_within(lat, lng, self.snap_m, among=own)
        return self._neighbourhoods[index_near] if index_near is not None else None

    def in_service_area(self, lat: float, lng: float) -> bool:
        """Whether a point is one the city serves (inside Seoul, with the border snap tolerance)."""
        return self.resolve_point(lat, lng) is not None

    # -- addresses -------------------------------------------------------------------------------------------

    def resolve_address(self, text: str) -> Place | None:
        """Best-effort place from free address text; None when it names no Seoul place or is ambiguous.

        See `sotong_common.geo.address` for what is understood.
        """
        return self._addresses.resolve(text)

    # -- alert areas -----------------------------------------------------------------------------------------

    def districts_for_polygon(self, points: Sequence[tuple[float, float]]) -> list[District]:
        """Districts an alert polygon touches; `points` are (lat, lng) pairs as in CAP's <polygon>.

        A district counts when any part of it lies inside the polygon or the polygon lies inside it, so a small
        polygon in the middle of one district still targets that district.
        """
        if len(points) < 3:
            raise ValueError("an alert polygon needs at least three points")
        alert = Area(ring_edges([(lng, lat) for lat, lng in points]))
        found = [self._districts[i] for i, area in enumerate(self._district_index.areas) if areas_overlap(alert, area)]
        return sorted(found, key=lambda d: d.code)

    def districts_for_circle(self, lat: float, lng: float, radius_km: float) -> list[District]:
        """Districts an alert circle touches (CAP's <circle> is "lat,lng radius_km")."""
        if radius_km < 0:
            raise ValueError("radius_km must not be negative")
        radius_m = radius_km * 1000.0
        found = []
        for i, area in enumerate(self._district_index.areas):
            if not area.bbox.contains(lat, lng, radius_km / 80.0):
                continue
            if area.contains(lat, lng) or area.distance_m(lat, lng) <= radius_m:
                found.append(self._districts[i])
        return sorted(found, key=lambda d: d.code)


@functools.cache
def _packaged() -> Seoul:
    data = resources.files("sotong_common.geo") / "data"
    municipalities = json.loads((data / MUNICIPALITIES_FILE).read_text(encoding="utf-8"))
    neighbourhoods = json.loads((data / NEIGHBOURHOODS_FILE).read_text(encoding="utf-8"))
    return Seoul(municipalities, neighbourhoods)
