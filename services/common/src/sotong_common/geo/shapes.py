"""Planar geometry on small areas of the earth, tuned for lookups inside one city.

Seoul spans about 0.6 degrees in each direction, so treating longitude/latitude as a plane is exact enough for
point-in-polygon tests (the answer does not depend on the projection for a point that is clearly inside or
outside). Distances are taken in a local equirectangular projection in metres, which errs by well under 1 % at
city scale; that is ample for "which districts does a 3 km alert circle touch".

Polygons are kept as bare edge lists, split into horizontal bands, so that a point test only looks at the handful
of edges that cross the point's latitude instead of every vertex of the boundary. That is what makes pure-Python
lookups fast enough (tens of thousands per second) without shapely or GEOS.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

EARTH_RADIUS_M = 6_371_008.8
"""Mean earth radius (IUGG), the usual choice for haversine distances."""

Edge = tuple[float, float, float, float]
"""(x1, y1, x2, y2) with x = longitude and y = latitude, both in degrees."""

Ring = Sequence[Sequence[float]]
"""A closed or open ring of GeoJSON positions: [longitude, latitude]."""


def haversine_m(lat1: float, lng1: float, lat2: float, lng2: float) -> float:
    """Great-circle distance in metres; the reference distance for anything user-facing (radii, duplicates)."""
    p1 = math.radians(lat1)
    p2 = math.radians(lat2)
    dp = p2 - p1
    dl = math.radians(lng2 - lng1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(a)))


@dataclass(frozen=True, slots=True)
class BoundingBox:
    """Longitude/latitude box used to discard most candidates before any edge is looked at."""

    min_lng: float
    min_lat: float
    max_lng: float
    max_lat: float

    def contains(self, lat: float, lng: float, margin: float = 0.0) -> bool:
        return (
            self.min_lat - margin <= lat <= self.max_lat + margin
            and self.min_lng - margin <= lng <= self.max_lng + margin
        )

    def overlaps(self, other: BoundingBox) -> bool:
        return not (
            other.min_lng > self.max_lng
            or other.max_lng < self.min_lng
            or other.min_lat > self.max_lat
            or other.max_lat < self.min_lat
        )

    @classmethod
    def around(cls, edges: Iterable[Edge]) -> BoundingBox:
        xs: list[float] = []
        ys: list[float] = []
        for x1, y1, x2, y2 in edges:
            xs += (x1, x2)
            ys += (y1, y2)
        if not xs:
            raise ValueError("an area needs at least one edge")
        return cls(min(xs), min(ys), max(xs), max(ys))


def ring_edges(ring: Ring) -> list[Edge]:
    """Edges of a ring, closing it if the source left it open (GeoJSON closes rings, hand-made input may not)."""
    pts = [(float(p[0]), float(p[1])) for p in ring]
    if len(pts) < 3:
        raise ValueError("a ring needs at least three positions")
    if pts[0] != pts[-1]:
        pts.append(pts[0])
    return [(pts[i][0], pts[i][1], pts[i + 1][0], pts[i + 1][1]) for i in range(len(pts) - 1)]


def geojson_edges(geometry: dict[str, object]) -> list[Edge]:
    """All ring edges of a GeoJSON Polygon or MultiPolygon.

    Holes and separate parts need no special treatment: the even-odd crossing rule used by `Area.contains`
    already treats a point inside a hole as outside and a point in any part as inside.
    """
    kind = geometry.get("type")
    coords = geometry.get("coordinates")
    polygons: list[list[Ring]]
    if kind == "Polygon":
        polygons = [coords]  # type: ignore[list-item]
    elif kind == "MultiPolygon":
        polygons = coords  # type: ignore[assignment]
    else:
        raise ValueError(f"unsupported geometry type {kind!r}")
    edges: list[Edge] = []
    for polygon in polygons:
        for ring in polygon:
            edges.extend(ring_edges(ring))
    return edges


class Area:
    """A (multi)polygon with a band index for fast point tests and helpers for area-overlap questions."""

    __slots__ = ("_band_height", "_bands", "bbox", "edges")

    def __init__(self, edges: Sequence[Edge], band_height: float = 0.0025) -> None:
        self.edges: tuple[Edge, ...] = tuple(edges)
        self.bbox = BoundingBox.around(self.edges)
        self._band_height = band_height
        count = int((self.bbox.max_lat - self.bbox.min_lat) / band_height) + 1
        self._bands: list[list[Edge]] = [[] for _ in range(count)]
        for edge in self.edges:
            lo = min(edge[1], edge[3])
            hi = max(edge[1], edge[3])
            first = self._band(lo)
            last = self._band(hi)
            for band in range(first, last + 1):
                self._bands[band].append(edge)

    def _band(self, lat: float) -> int:
        index = int((lat - self.bbox.min_lat) / self._band_height)
        return max(0, min(index, len(self._bands) - 1))

    def contains(self, lat: float, lng: float) -> bool:
        """Even-odd ray cast towards +longitude over only the edges in the point's band.

        The half-open test (y1 > lat) != (y2 > lat) counts a ray through a shared vertex exactly once, so
        vertices do not need special handling.
        """
        bbox = self.bbox
        if not (bbox.min_lat <= lat <= bbox.max_lat and bbox.min_lng <= lng <= bbox.max_lng):
            return False
        inside = False
        for x1, y1, x2, y2 in self._bands[int((lat - bbox.min_lat) / self._band_height)]:
            if (y1 > lat) != (y2 > lat) and lng < x1 + (lat - y1) * (x2 - x1) / (y2 - y1):
                inside = not inside
        return inside

    def distance_m(self, lat: float, lng: float, limit_m: float | None = None) -> float:
        """Distance in metres from a point to the nearest boundary edge (0 only on the boundary itself).

        With `limit_m`, only edges in the bands within that distance are measured and anything farther is
        reported as infinity; that keeps the border-snapping path cheap.
        """
        projection = LocalProjection(lat, lng)
        edges: Iterable[Edge] = self.edges
        if limit_m is not None:
            margin = limit_m / 110_000.0  # degrees of latitude, slightly generous
            if not self.bbox.contains(lat, lng, margin * 1.5):
                return math.inf
            first = self._band(lat - margin)
            last = self._band(lat + margin)
            edges = (e for band in self._bands[first : last + 1] for e in band)
        best = math.inf
        for x1, y1, x2, y2 in edges:
            ax, ay = projection.xy(y1, x1)
            bx, by = projection.xy(y2, x2)
            best = min(best, _point_segment_distance(0.0, 0.0, ax, ay, bx, by))
        if limit_m is not None and best > limit_m:
            return math.inf
        return best

    def vertices(self) -> Iterable[tuple[float, float]]:
        """(lat, lng) of every vertex; used to tell whether another shape reaches into this one."""
        for x1, y1, _, _ in self.edges:
            yield y1, x1


class LocalProjection:
    """Equirectangular projection centred on a point, in metres; accurate to well under 1 % across a city."""

    __slots__ = ("_kx", "_ky", "lat0", "lng0")

    def __init__(self, lat0: float, lng0: float) -> None:
        self.lat0 = lat0
        self.lng0 = lng0
        self._ky = math.pi * EARTH_RADIUS_M / 180.0
        self._kx = self._ky * math.cos(math.radians(lat0))

    def xy(self, lat: float, lng: float) -> tuple[float, float]:
        return (lng - self.lng0) * self._kx, (lat - self.lat0) * self._ky


def _point_segment_distance(px: float, py: float, ax: float, ay: float, bx: float, by: float) -> float:
    dx = bx - ax
    dy = by - ay
    length2 = dx * dx + dy * dy
    if length2 == 0.0:
        return math.hypot(px - ax, py - ay)
    t = max(0.0, min(1.0, ((px - ax) * dx + (py - ay) * dy) / length2))
    return math.hypot(px - (ax + t * dx), py - (ay + t * dy))


def _orientation(ax: float, ay: float, bx: float, by: float, cx: float, cy: float) -> float:
    return (bx - ax) * (cy - ay) - (by - ay) * (cx - ax)


def segments_intersect(a: Edge, b: Edge) -> bool:
    """Whether two segments share at least one point, touching and collinear overlap included."""
    ax1, ay1, ax2, ay2 = a
    bx1, by1, bx2, by2 = b
    d1 = _orientation(bx1, by1, bx2, by2, ax1, ay1)
    d2 = _orientation(bx1, by1, bx2, by2, ax2, ay2)
    d3 = _orientation(ax1, ay1, ax2, ay2, bx1, by1)
    d4 = _orientation(ax1, ay1, ax2, ay2, bx2, by2)
    if ((d1 > 0) != (d2 > 0) and d1 != 0 and d2 != 0) and ((d3 > 0) != (d4 > 0) and d3 != 0 and d4 != 0):
        return True

    def on_segment(px: float, py: float, qx: float, qy: float, rx: float, ry: float) -> bool:
        return min(px, qx) <= rx <= max(px, qx) and min(py, qy) <= ry <= max(py, qy)

    return (
        (d1 == 0 and on_segment(bx1, by1, bx2, by2, ax1, ay1))
        or (d2 == 0 and on_segment(bx1, by1, bx2, by2, ax2, ay2))
        or (d3 == 0 and on_segment(ax1, ay1, ax2, ay2, bx1, by1))
        or (d4 == 0 and on_segment(ax1, ay1, ax2, ay2, bx2, by2))
    )


def areas_overlap(a: Area, b: Area) -> bool:
    """Whether two areas share any point: a vertex of one inside the other, or crossing boundaries."""
    if not a.bbox.overlaps(b.bbox):
        return False
    if any(b.contains(lat, lng) for lat, lng in a.vertices()):
        return True
    if any(a.contains(lat, lng) for lat, lng in b.vertices()):
        return True
    for edge_a in a.edges:
        box_a = (
            min(edge_a[0], edge_a[2]),
            max(edge_a[0], edge_a[2]),
            min(edge_a[1], edge_a[3]),
            max(edge_a[1], edge_a[3]),
        )
        if (
            box_a[1] < b.bbox.min_lng
            or box_a[0] > b.bbox.max_lng
            or box_a[3] < b.bbox.min_lat
            or box_a[2] > b.bbox.max_lat
        ):
            continue
        for edge_b in b.edges:
            if segments_intersect(edge_a, edge_b):
                return True
    return False
