"""What a hostile or careless caller sends intake, checked without a broker (issue 10, item 8).

- control characters in every text field of a submission, whichever door it came through, are refused naming
  the field (NUL used to pass validation and fail the insert of a whole group-commit batch). The fields are
  found by walking the submission's dataclasses, so a field added later is covered;
- Open311 listing dates at the edges of the calendar are a 400 naming the parameter, never a 500;
- the Kakao skill token is compared in constant time, and a token with any characters is a refusal.
"""

from __future__ import annotations

import dataclasses
import hmac
import itertools
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from sotong_intake import open311, web
from sotong_intake.submission import Contact, GeoPoint, Location, Submission, validate_submission

CONTROL = [chr(c) for c in (*range(0x00, 0x09), 0x0B, 0x0C, *range(0x0E, 0x20), *range(0x7F, 0xA0))]


def good() -> Submission:
    return Submission(
        kind="report",
        text="시청 앞 가로등이 꺼졌어요.\r\n확인 부탁드립니다.\t감사합니다",
        channel="webhook",
        channel_message_id="msg-1",
        source="partner-x",
        category="streetlight",
        title="가로등 고장",
        location=Location(point=GeoPoint(37.5663, 126.9779), address="서울 중구 세종대로 110", district_code="11140"),
        media=("https://example.com/a.jpg",),
        contact=Contact(name="김민수", phone="010-2345-6789", email="kim@example.com", channel_user_id="u-1"),
        attributes={},
    )


def text_paths(value: Any, prefix: str = "") -> Iterator[tuple[str, Any]]:
    """(violation name, setter) for every str reachable in the submission's dataclasses and tuples."""
    for item in dataclasses.fields(value):
        current = getattr(value, item.name)
        name = prefix + item.name
        if isinstance(current, str):
            yield name, (item.name,)
        elif isinstance(current, tuple) and current and isinstance(current[0], str):
            yield f"{name}[0]", (item.name, 0)
        elif dataclasses.is_dataclass(current):
            for inner, path in text_paths(current, name + "."):
                yield inner, (item.name, *path)


def with_text(value: Any, path: tuple[Any, ...], text: str) -> Any:
    head, *rest = path
    current = getattr(value, head)
    if rest and isinstance(rest[0], int):
        return dataclasses.replace(value, **{head: (current[0] + text, *current[1:])})
    if rest:
        return dataclasses.replace(value, **{head: with_text(current, tuple(rest), text)})
    return dataclasses.replace(value, **{head: current + text})


PATHS = list(text_paths(good()))


def test_the_good_submission_is_accepted_and_every_text_field_is_found() -> None:
    assert validate_submission(good()) == []
    names = {name for name, _ in PATHS}
    assert {"text", "title", "category", "location.address", "contact.name", "contact.email", "media[0]"} <= names


@pytest.mark.parametrize(("name", "path"), PATHS, ids=[name for name, _ in PATHS])
def test_every_control_character_in_every_text_field_is_refused_naming_it(name: str, path: tuple[Any, ...]) -> None:
    for ch in CONTROL:
        found = validate_submission(with_text(good(), path, f"x{ch}y"))
        named = [v for v in found if v.field == name and "control character" in v.description]
        assert named, (name, repr(ch), found)
        assert f"U+{ord(ch):04X}" in named[0].description


def test_attribute_keys_and_values_are_checked_too() -> None:
    submission = dataclasses.replace(good(), category="flooding", attributes={"water_depth": "30\x00", "a\x1b": "1"})
    fields = {v.field for v in validate_submission(submission) if "control character" in v.description}
    assert fields == {"attributes.water_depth", "attributes"}


# --- Open311 listing dates ----------------------------------------------------------------------------------


def dates() -> Iterator[str]:
    for year, offset, time in itertools.product(
        ("0001", "0002", "0100", "1969", "1970", "2026", "9998", "9999"),
        ("Z", "+00:00", "+09:00", "+14:00", "-14:00", "-00:00"),
        ("T00:00:00", "T23:59:59", "T12:00:00.123456"),
    ):
        yield f"{year}-01-01{time}{offset}"
        yield f"{year}-12-31{time}{offset}"


@pytest.mark.parametrize("raw", sorted(dates()))
def test_listing_dates_at_the_edges_are_parsed_or_refused_never_crash(raw: str) -> None:
    try:
        moment = open311.parse_query_datetime(raw, "end_date")
    except ValueError as error:
        assert "end_date" in str(error)
        return
    assert moment.tzinfo is UTC
    assert datetime(1970, 1, 1, tzinfo=UTC) <= moment <= datetime(9999, 1, 1, tzinfo=UTC)
    _ = moment - timedelta(days=90)  # the listing's default range must exist


@pytest.mark.parametrize("raw", ["2026-11-01", "2026-11-01T00:00:00", "yesterday", "2026-13-01T00:00:00Z", ""])
def test_listing_dates_without_an_offset_or_not_dates_are_refused(raw: str) -> None:
    with pytest.raises(ValueError, match="start_date"):
        open311.parse_query_datetime(raw, "start_date")


# --- Kakao skill token ----------------------------------------------------------------------------------------


def test_the_skill_token_is_compared_in_constant_time(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[bytes, bytes]] = []
    real = hmac.compare_digest

    def recording(a: bytes, b: bytes) -> bool:
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(hmac, "compare_digest", recording)
    token = "kakao-skill-token-2026"
    wrong = [
        "",
        "k",
        "kakao-skill-token-2025",
        "x" * len(token),
        token + "x",
        token[:-1],
        token.upper(),
        "카카오-skill-token-2026",
        "\udcff" + token,
    ]
    assert web.skill_token_matches(token, token)
    for given in wrong:
        assert not web.skill_token_matches(token, given), given
    assert not web.skill_token_matches(token, None)
    assert not web.skill_token_matches("", "")  # no token configured: the endpoint stays closed
    assert len(calls) == 1 + len(wrong)  # every presented token went through compare_digest
