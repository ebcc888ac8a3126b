from __future__ import annotations

from datetime import timedelta

import pytest
from lxml import etree

from sotong_alerting.approval import derive_cancel, derive_update
from sotong_alerting.cap import CAP_MIME_TYPE, MsgType, Scope, Status, validate_alert
from sotong_alerting.districts import district, district_area, districts
from sotong_alerting.feed import ATOM_NAMESPACE, active_alerts, is_expired, render_atom_feed

from .factories import SENT, english_info, korean_info, make_alert

A = "{" + ATOM_NAMESPACE + "}"


def url(alert: object) -> str:
    return f"https://alerts.seoul.go.kr/cap/{alert.identifier}.xml"  # type: ignore[attr-defined]


def test_feed_lists_active_alerts_linking_to_their_cap() -> None:
    fresh = make_alert()
    expired = make_alert(identifier="OLD", infos=(korean_info(expires=SENT + timedelta(minutes=5)),))
    data = render_atom_feed(
        [fresh, expired],
        feed_id="https://alerts.seoul.go.kr/feed",
        title="서울특별시 재난 알림",
        self_url="https://alerts.seoul.go.kr/feed.atom",
        cap_url=url,
        now=SENT + timedelta(hours=1),
    )
    feed = etree.fromstring(data)
    assert feed.tag == A + "feed"
    assert feed.findtext(A + "updated") == "2026-07-14T14:00:00+09:00"
    entries = feed.findall(A + "entry")
    assert len(entries) == 1
    entry = entries[0]
    assert entry.findtext(A + "id") == url(fresh)
    assert entry.findtext(A + "title") == "도봉구 호우경보 발령"
    link = entry.find(A + "link")
    assert link is not None
    assert (link.get("rel"), link.get("type"), link.get("href")) == ("alternate", CAP_MIME_TYPE, url(fresh))
    assert entry.findtext(f"{A}author/{A}name") == "서울특별시"


def test_expiry_rules() -> None:
    assert not is_expired(make_alert(infos=(korean_info(expires=None),)), SENT + timedelta(days=30))
    assert is_expired(make_alert(), SENT + timedelta(hours=9))
    assert not is_expired(make_alert(), SENT + timedelta(hours=8, minutes=59))


def test_superseded_drills_private_and_expired_are_left_out() -> None:
    original = make_alert()
    update = derive_update(original, identifier="U", sent=SENT + timedelta(minutes=30))
    drill = make_alert(identifier="X", status=Status.EXERCISE)
    private = make_alert(identifier="P", scope=Scope.PRIVATE, addresses=("duty",))
    now = SENT + timedelta(hours=1)
    listed = active_alerts([original, update, drill, private], now)
    assert [alert.identifier for alert in listed] == ["U"]
    cancel = derive_cancel(update, identifier="C", sent=SENT + timedelta(minutes=40), note="오발령")
    listed = active_alerts([original, update, cancel], now)
    assert [(a.identifier, a.msg_type) for a in listed] == [("C", MsgType.CANCEL)]
    assert [a.identifier for a in active_alerts([drill], now, statuses=frozenset({Status.EXERCISE}))] == ["X"]


def test_districts_table_and_areas() -> None:
    assert len(districts()) == 25
    assert district("11320").name("ko") == "도봉구"
    assert district("11320").name("en") == "Dobong-gu"
    with pytest.raises(KeyError, match="not a Seoul district"):
        district("26110")
    area = district_area(["11320", "11350", "11320"], "en")
    assert area.area_desc == "Dobong-gu, Nowon-gu"
    assert [g.value for g in area.geocodes] == ["11320", "11350"]
    alert = make_alert(infos=(korean_info(areas=(district_area(["11320"]),)), english_info()))
    assert validate_alert(alert) == []
