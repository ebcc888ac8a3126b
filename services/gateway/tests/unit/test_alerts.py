from __future__ import annotations

from sotong_gateway.alerts import active_alerts

FEED = """<?xml version='1.0' encoding='UTF-8'?>
<feed xmlns="http://www.w3.org/2005/Atom" xml:lang="ko">
  <id>https://alerts.seoul.example/feed</id>
  <title>서울특별시 재난 경보 (CAP 1.2)</title>
  <updated>2026-07-14T09:30:00+09:00</updated>
  <entry>
    <id>https://alerts.seoul.example/alerts/urn-oid-1.xml</id>
    <title>[긴급재난문자] 호우경보 발령</title>
    <updated>2026-07-14T09:30:00+09:00</updated>
    <author><name>서울특별시</name></author>
    <link rel="alternate" type="application/cap+xml" href="https://alerts.seoul.example/alerts/urn-oid-1.xml"/>
    <category term="호우"/>
    <summary>청계천 산책로 출입을 금지합니다</summary>
  </entry>
  <entry>
    <id>https://alerts.seoul.example/alerts/urn-oid-0.xml</id>
    <title>폭염주의보</title>
    <updated>2026-07-13T14:00:00+09:00</updated>
    <link rel="alternate" href="https://alerts.seoul.example/alerts/urn-oid-0.xml"/>
  </entry>
</feed>"""


def test_entries_become_alerts_in_the_feeds_order() -> None:
    reply = active_alerts(FEED)
    assert [a.identifier for a in reply.alerts] == ["urn-oid-1", "urn-oid-0"]
    first = reply.alerts[0]
    assert first.title == "[긴급재난문자] 호우경보 발령"
    assert first.event == "호우" and first.description == "청계천 산책로 출입을 금지합니다"
    assert first.sender_name == "서울특별시"
    assert first.cap_url.endswith("/alerts/urn-oid-1.xml")
    assert first.sent_at.ToJsonString() == "2026-07-14T00:30:00Z"
    assert reply.updated_at.ToJsonString() == "2026-07-14T00:30:00Z"
    assert reply.alerts[1].event == "" and reply.alerts[1].description == ""


def test_an_empty_feed_has_no_alerts() -> None:
    empty = '<feed xmlns="http://www.w3.org/2005/Atom"><updated>2026-07-14T09:30:00+09:00</updated></feed>'
    assert list(active_alerts(empty).alerts) == []
