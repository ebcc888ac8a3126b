"""Briefing rules without a database: contacts per channel, refs that carry receipts back, consent at delivery,
reply ids that file a text once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sotong_community import briefings

NOW = datetime(2026, 12, 3, 9, 0, tzinfo=UTC)


def test_contacts_are_checked_for_their_channel() -> None:
    assert briefings.contact_problem("sms", "010-1234-5678") is None
    assert briefings.contact_problem("sms", "02-2133-1234") is not None
    assert briefings.contact_problem("mail", "leader@civic.example.kr") is None
    assert briefings.contact_problem("mail", "leader@") is not None
    assert briefings.contact_problem("kakao", "bot-user-1") is None
    assert briefings.contact_problem("kakao", "two words") is not None
    assert briefings.address("sms", "010-1234-5678") == "01012345678"


def test_receipts_find_their_briefing_and_leader() -> None:
    assert briefings.leader_of(briefings.leader_ref("L1")) == "L1"
    assert briefings.briefing_of(briefings.message_id("B1")) == "B1"
    assert briefings.leader_of("intake:contact:9") is None and briefings.briefing_of("SEOUL-ALERT-1") is None


def test_consent_must_hold_at_delivery() -> None:
    assert briefings.consented(NOW + timedelta(days=1), NOW)
    assert not briefings.consented(NOW, NOW + timedelta(seconds=1))


def test_a_reply_text_has_one_id_whatever_its_spacing() -> None:
    one = briefings.reply_channel_message_id("B1", "L1", "환승이  걱정입니다.")
    assert one == briefings.reply_channel_message_id("B1", "L1", " 환승이 걱정입니다. ")
    assert one != briefings.reply_channel_message_id("B1", "L1", "다른 의견")
    assert briefings.reply_of(one) == ("B1", "L1") and briefings.reply_of("community:comment:1") is None
