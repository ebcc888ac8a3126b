"""Seoul gazetteer: points, borders, service area, alert areas, on the packaged boundary data."""

from __future__ import annotations

import random

import pytest

from sotong_common.geo import District, Gazetteer, Place, Seoul, haversine_m


@pytest.fixture(scope="module")
def seoul() -> Seoul:
    return Seoul.load()


def test_load_is_shared_and_complete(seoul: Seoul) -> None:
    assert Seoul.load() is seoul
    assert Gazetteer is Seoul
    districts = seoul.districts()
    assert len(districts) == 25
    assert [d.code for d in districts] == sorted(d.code for d in districts)
    assert seoul.district("11140") == District("11140", "중구", "Jung-gu")
    assert seoul.district("99999") is None
    assert len(seoul.neighbourhoods()) == 467
    assert all(h.code.startswith("11440") for h in seoul.neighbourhoods("11440"))
    seogyo = seoul.neighbourhood("11440120")
    assert seogyo is not None and seogyo.name_ko == "서교동" and seogyo.district_code == "11440"
    assert seoul.neighbourhood("11440999") is None


@pytest.mark.parametrize(
    ("lat", "lng", "district_code", "district_ko", "district_en", "neighbourhood_ko"),
    [
        (37.5663, 126.9779, "11140", "중구", "Jung-gu", "태평로1가"),  # Seoul City Hall
        (37.5006, 127.0364, "11680", "강남구", "Gangnam-gu", "역삼동"),  # Yeoksam Station
        (37.5796, 126.9770, "11110", "종로구", "Jongno-gu", "세종로"),  # Gwanghwamun
        (37.5219, 126.9245, "11560", "영등포구", "Yeongdeungpo-gu", "여의도동"),  # Yeouido
        (37.5116, 127.0982, "11710", "송파구", "Songpa-gu", "잠실동"),  # Jamsil
        (37.5563, 126.9236, "11440", "마포구", "Mapo-gu", "동교동"),  # Hongik Univ. Station
    ],
)
def test_known_points(
    seoul: Seoul,
    lat: float,
    lng: float,
    district_code: str,
    district_ko: str,
    district_en: str,
    neighbourhood_ko: str,
) -> None:
    place = seoul.resolve_point(lat, lng)
    assert place is not None
    assert place.district_code == district_code
    assert place.district.name_ko == district_ko
    assert place.district.name_en == district_en
    assert place.neighbourhood is not None
    assert place.neighbourhood.name_ko == neighbourhood_ko
    assert place.neighbourhood_code is not None and place.neighbourhood_code.startswith(district_code)
    assert seoul.in_service_area(lat, lng)


def test_gangnam_station_sits_on_the_gangnam_seocho_border(seoul: Seoul) -> None:
    # The station lies under 강남대로, which *is* the border: the point is ~4 m from it in the data.
    place = seoul.resolve_point(37.4979, 127.0276)
    assert place is not None and place.district.name_ko in {"강남구", "서초구"}
    east = seoul.resolve_point(37.4979, 127.0296)  # ~180 m east: clearly 강남구 (역삼동)
    west = seoul.resolve_point(37.4979, 127.0256)  # ~180 m west: clearly 서초구 (서초동)
    assert east is not None and east.district.code == "11680"
    assert west is not None and west.district.code == "11650"
    assert {d.code for d in seoul.districts_for_circle(37.4979, 127.0276, 0.1)} == {"11650", "11680"}


@pytest.mark.parametrize(
    ("lat", "lng"),
    [
        (35.1796, 129.0756),  # Busan
        (37.4563, 126.7052),  # Incheon
        (37.2900, 127.0000),  # Suwon area
        (0.0, 0.0),
        (37.75, 127.3),  # inside nothing, north-east of the city
    ],
)
def test_outside_seoul(seoul: Seoul, lat: float, lng: float) -> None:
    assert seoul.resolve_point(lat, lng) is None
    assert not seoul.in_service_area(lat, lng)


def test_border_gap_snaps_to_the_nearest_district(seoul: Seoul) -> None:
    # This point falls in a sliver that no simplified polygon covers; it is metres from 도봉구.
    assert seoul._district_index.containing(37.69509, 127.03029) is None
    place = seoul.resolve_point(37.69509, 127.03029)
    assert place is not None and place.district.name_ko == "도봉구"


def _square(code: str, name: str, lng0: float, lat0: float, size: float) -> dict[str, object]:
    ring = [[lng0, lat0], [lng0 + size, lat0], [lng0 + size, lat0 + size], [lng0, lat0 + size], [lng0, lat0]]
    return {
        "type": "Feature",
        "properties": {"SIG_CD": code, "SIG_KOR_NM": name, "SIG_ENG_NM": name},
        "geometry": {"type": "Polygon", "coordinates": [ring]},
    }


def test_snap_tolerance_on_synthetic_squares() -> None:
    # Two 0.01-degree squares with a 0.0004-degree (~35 m) gap between them along longitude.
    towns = {
        "type": "FeatureCollection",
        "features": [_square("1", "A", 127.0, 37.5, 0.01), _square("2", "B", 127.0104, 37.5, 0.01)],
    }
    gazetteer = Seoul(towns, {"type": "FeatureCollection", "features": []}, snap_m=50)
    assert gazetteer.resolve_point(37.505, 127.005) == Place(District("1", "A", "A"))
    near_a = gazetteer.resolve_point(37.505, 127.01005)
    near_b = gazetteer.resolve_point(37.505, 127.01035)
    assert near_a is not None and near_a.district.code == "1"
    assert near_b is not None and near_b.district.code == "2"
    assert gazetteer.resolve_point(37.505, 126.9990) is None  # ~90 m west of A
    strict = Seoul(towns, {"type": "FeatureCollection", "features": []}, snap_m=0)
    assert strict.resolve_point(37.505, 127.0102) is None


def test_neighbourhood_always_belongs_to_the_district(seoul: Seoul) -> None:
    rng = random.Random(7)
    box = seoul.bbox
    seen = 0
    for _ in range(3000):
        place = seoul.resolve_point(rng.uniform(box.min_lat, box.max_lat), rng.uniform(box.min_lng, box.max_lng))
        if place is not None and place.neighbourhood is not None:
            seen += 1
            assert place.neighbourhood.district_code == place.district.code
    assert seen > 1000


def test_districts_for_circle(seoul: Seoul) -> None:
    assert [d.name_ko for d in seoul.districts_for_circle(37.5663, 126.9779, 0.05)] == ["중구"]
    around_city_hall = {d.name_ko for d in seoul.districts_for_circle(37.5663, 126.9779, 1.0)}
    assert {"중구", "종로구"} <= around_city_hall and "강남구" not in around_city_hall
    assert len(seoul.districts_for_circle(37.55, 126.99, 40)) == 25
    assert seoul.districts_for_circle(35.1796, 129.0756, 5) == []
    with pytest.raises(ValueError):
        seoul.districts_for_circle(37.5, 127.0, -1)


def test_districts_for_polygon(seoul: Seoul) -> None:
    # A small box around City Hall and Gwanghwamun.
    box = [(37.57, 126.97), (37.57, 126.99), (37.56, 126.99), (37.56, 126.97)]
    assert [d.name_ko for d in seoul.districts_for_polygon(box)] == ["종로구", "중구"]
    # A polygon entirely inside one district still targets it (no vertex of the district falls inside).
    tiny = [(37.5665, 126.9775), (37.5665, 126.9785), (37.5660, 126.9780)]
    assert [d.code for d in seoul.districts_for_polygon(tiny)] == ["11140"]
    whole_city = [(37.75, 126.7), (37.75, 127.3), (37.4, 127.3), (37.4, 126.7)]
    assert len(seoul.districts_for_polygon(whole_city)) == 25
    assert seoul.districts_for_polygon([(35.1, 129.0), (35.2, 129.0), (35.2, 129.1)]) == []
    with pytest.raises(ValueError):
        seoul.districts_for_polygon([(37.5, 127.0), (37.6, 127.0)])


def test_haversine() -> None:
    # City Hall to Gangnam Station is about 8.9 km.
    assert 8_700 < haversine_m(37.5663, 126.9779, 37.4979, 127.0276) < 9_100
    assert haversine_m(37.5, 127.0, 37.5, 127.0) == 0.0
