"""Partner notifications: the retry schedule with jitter, what an answer means, who receives what."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime

from sotong.partner.v1 import partner_events_pb2 as ev
from sotong_partner import campaigns, notifications


def test_the_schedule_is_the_specs_with_ten_percent_jitter() -> None:
    rng = random.Random(1)
    assert notifications.SCHEDULE_S[:5] == (0, 5, 300, 1800, 7200)
    for made, base in enumerate(notifications.SCHEDULE_S[1:], 1):
        delays = [notifications.next_delay(made, rng=rng) for _ in range(200)]
        assert all(d is not None and base * 0.9 <= d <= base * 1.1 for d in delays)
        assert len({round(d or 0, 6) for d in delays}) > 100  # spread, not lockstep
    assert notifications.next_delay(len(notifications.SCHEDULE_S)) is None
    assert notifications.next_delay(1, scale=0.001, rng=rng) < 0.006  # type: ignore[operator]
    assert notifications.next_delay(1, retry_after_s=60, rng=rng) == 60


def test_answers() -> None:
    assert notifications.outcome(204) == notifications.DELIVERED
    assert notifications.outcome(410) == notifications.GONE
    for status in (None, 301, 400, 404, 429, 500, 503):
        assert notifications.outcome(status) == notifications.RETRY
    now = datetime(2026, 11, 24, tzinfo=UTC)
    assert notifications.retry_after({"Retry-After": "120"}, now) == 120
    assert notifications.retry_after({"Retry-After": "Tue, 24 Nov 2026 00:01:00 GMT"}, now) == 60


def event(change: ev.MerchantChange.ValueType, consents: dict[str, bool], platform: str = "") -> ev.MerchantChanged:
    found = ev.MerchantChanged(merchant_id="m", slug="eunbit", change=change, platform=platform)
    found.consents.extend(ev.Consent(platform=p, granted=g) for p, g in consents.items())
    found.changed_at.FromDatetime(datetime(2026, 11, 24, tzinfo=UTC))
    return found


def test_only_platforms_the_merchant_consented_to_hear_of_it_and_a_withdrawal_is_told() -> None:
    verified = event(ev.MERCHANT_CHANGE_VERIFIED, {"market-hub": True, "other": False})
    assert notifications.wants("market-hub", [], verified, "merchant.verified")
    assert not notifications.wants("other", [], verified, "merchant.verified")
    assert not notifications.wants("market-hub", ["merchant.suspended"], verified, "merchant.verified")
    withdrawn = event(ev.MERCHANT_CHANGE_CONSENT_CHANGED, {"market-hub": False}, platform="market-hub")
    assert notifications.wants("market-hub", [], withdrawn, "merchant.consent_changed")


def test_the_payload_and_a_stable_message_id() -> None:
    body = json.loads(notifications.payload(event(ev.MERCHANT_CHANGE_VERIFIED, {"x": True}), "merchant.verified"))
    assert body["type"] == "merchant.verified" and body["data"]["slug"] == "eunbit"
    assert body["timestamp"].startswith("2026-11-24T00:00:00")
    assert (
        notifications.message_id("e1", "p1")
        == notifications.message_id("e1", "p1")
        != notifications.message_id("e1", "p2")
    )
    assert "." not in notifications.message_id("e1", "p1")


def test_endpoint_urls() -> None:
    assert notifications.check_endpoint_url("https://hub.example.kr/hooks", frozenset()) is None
    assert notifications.check_endpoint_url("http://127.0.0.1:9/h", frozenset({"127.0.0.1"})) is None
    assert "https" in (notifications.check_endpoint_url("http://hub.example.kr/h", frozenset()) or "")
    assert notifications.check_endpoint_url("https://user:pw@hub.kr/h", frozenset())


def test_moderation_verdicts_for_a_campaign() -> None:
    text = "주얼리거리 축제\n문의 010-****-5678"
    published = campaigns.verdict("publish", ["personal_data"], text, "주얼리거리 축제", "문의 010-1234-5678")
    assert (published.status, published.published_body) == (campaigns.DISPATCHED, "문의 010-****-5678")
    assert campaigns.verdict("remove", ["advertising"], "", "t", "b").status == campaigns.DISPATCHED
    assert campaigns.verdict("remove", ["profanity"], "", "t", "b").status == campaigns.REFUSED
    assert campaigns.verdict("review", ["political"], "", "t", "b").status == campaigns.IN_REVIEW
