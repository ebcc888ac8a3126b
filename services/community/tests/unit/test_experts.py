"""Expert entries and search rules without a database."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sotong_community import experts
from sotong_community.input_rules import Violations


def test_countries_languages_and_fields_are_codes() -> None:
    v = Violations()
    experts.check_country(v, "country", "KR")
    experts.check_languages(v, "languages", ["ko", "en"])
    experts.check_fields(v, "fields", ["sns-marketing"])
    experts.check_email(v, "email", "kim@univ.example.kr")
    assert v.found == []
    experts.check_country(v, "country", "Korea")
    experts.check_languages(v, "languages", ["ko", "kor"])
    experts.check_fields(v, "fields", [])
    experts.check_email(v, "email", "kim@")
    assert [f.field for f in v.found] == ["country", "languages[1]", "fields", "email"]


def test_search_matches_every_filter_given_and_consent_must_hold() -> None:
    assert experts.matches(["sns-marketing"], ["ko", "en"], "sns-marketing", "en")
    assert experts.matches(["sns-marketing"], ["ko"], "", "")
    assert not experts.matches(["sns-marketing"], ["ko"], "sns-marketing", "en")
    now = datetime(2026, 12, 3, tzinfo=UTC)
    assert experts.in_force(now + timedelta(seconds=1), now) and not experts.in_force(now, now)
