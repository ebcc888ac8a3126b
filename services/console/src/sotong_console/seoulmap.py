"""Seoul's 25 districts drawn as SVG paths from the boundaries shipped in sotong_common.geo, once per process.

The console draws its maps on the server: no tile server, no map library, no network (a situation room must
work when the internet does not), and every district is a real element with its name, so screen readers and
the tests can read the map. The projection is equirectangular scaled by cos(latitude), which at Seoul's size
(about 30 by 40 km) is indistinguishable from a proper one; points closer than a third of a pixel to the last one
kept are dropped, which takes the 5,000 boundary points to a few kilobytes of path data.
"""

from __future__ import annotations

import functools
import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from importlib import resources

WIDTH = 600.0
MARGIN = 6.0
_MIN_STEP_PX = 0.35


@dataclass(frozen=True)
class District:
    code: str
    name_ko: str
    name_en: str
    path: str
    label_x: float
    label_y: float


@dataclass(frozen=True)
class SeoulMap:
    width: float
    height: float
    districts: tuple[District, ...]

    def by_code(self) -> Mapping[str, District]:
        return {d.code: d for d in self.districts}

    def name(self, code: str, language: str = "ko") -> str:
        found = self.by_code().get(code)
        if found is None:
            return code
        return found.name_ko if language == "ko" else found.name_en


def _rings(geometry: Mapping[str, object]) -> Iterable[list[list[float]]]:
    coordinates = geometry["coordinates"]
    assert isinstance(coordinates, list)
    if geometry["type"] == "Polygon":
        yield from coordinates
    else:  # MultiPolygon
        for polygon in coordinates:
            yield from polygon


@functools.cache
def seoul() -> SeoulMap:
    """The map, built once per process from the municipalities file of sotong_common.geo."""
    raw = resources.files("sotong_common.geo").joinpath("data/seoul_municipalities_geo_simple.json").read_text()
    features = json.loads(raw)["features"]
    points = [p for f in features for ring in _rings(f["geometry"]) for p in ring]
    min_lng, max_lng = min(p[0] for p in points), max(p[0] for p in points)
    min_lat, max_lat = min(p[1] for p in points), max(p[1] for p in points)
    squash = math.cos(math.radians((min_lat + max_lat) / 2))
    scale = (WIDTH - 2 * MARGIN) / ((max_lng - min_lng) * squash)
    height = (max_lat - min_lat) * scale + 2 * MARGIN

    def xy(lng: float, lat: float) -> tuple[float, float]:
        return MARGIN + (lng - min_lng) * squash * scale, MARGIN + (max_lat - lat) * scale

    districts = []
    for feature in features:
        props = feature["properties"]
        parts = []
        sum_x = sum_y = 0.0
        count = 0
        for ring in _rings(feature["geometry"]):
            kept: list[tuple[float, float]] = []
            for lng, lat in ring:
                x, y = xy(lng, lat)
                sum_x, sum_y, count = sum_x + x, sum_y + y, count + 1
                if kept and math.hypot(x - kept[-1][0], y - kept[-1][1]) < _MIN_STEP_PX:
                    continue
                kept.append((x, y))
            if len(kept) >= 3:
                parts.append("M" + "L".join(f"{x:.1f},{y:.1f}" for x, y in kept) + "Z")
        districts.append(
            District(
                code=str(props["SIG_CD"]),
                name_ko=str(props["SIG_KOR_NM"]),
                name_en=str(props["SIG_ENG_NM"]),
                path="".join(parts),
                label_x=round(sum_x / count, 1),
                label_y=round(sum_y / count, 1),
            )
        )
    districts.sort(key=lambda d: d.code)
    return SeoulMap(WIDTH, round(height, 1), tuple(districts))


def shade(count: int, most: int) -> int:
    """A shading level 0-4 for a count among counts up to `most` (0: none; 4: the most)."""
    if count <= 0 or most <= 0:
        return 0
    return max(1, min(4, math.ceil(4 * count / most)))
