"""The queue's page token and the clause check: what a caller can get wrong is named back to them."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from sotong_common.errors import InvalidArgument
from sotong_moderation.review import check_clauses, decode_cursor, encode_cursor


def test_page_token_round_trips_and_a_foreign_token_is_refused_naming_the_field() -> None:
    at = datetime(2026, 11, 24, 23, 0, 0, 123456, tzinfo=UTC)
    token = encode_cursor(at, "c-1")
    assert "c-1" not in token  # opaque to callers
    assert decode_cursor(token) == (at, "c-1")
    for bad in ("not-ours!", "e30", encode_cursor(at, "x")[:-3]):
        with pytest.raises(InvalidArgument) as err:
            decode_cursor(bad)
        assert [v.field for v in err.value.violations] == ["page_token"]


def test_unknown_clauses_are_refused_with_the_known_ones() -> None:
    check_clauses("clauses", ["political", "slander", "copyright", "defamation"])
    with pytest.raises(InvalidArgument) as err:
        check_clauses("clauses", ["political", "rudeness"])
    assert err.value.violations[0].field == "clauses" and "rudeness" in err.value.violations[0].description
