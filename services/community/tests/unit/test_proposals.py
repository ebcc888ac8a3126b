"""The proposal state machine: allowed transitions, thresholds, periods."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from sotong_common.errors import FailedPrecondition
from sotong_community import proposals as p
from sotong_community.spaces import Space

SPACE = Space("seoul", "서울", support_threshold=100, answer_threshold=1000)


def test_every_transition_starts_only_from_its_states() -> None:
    for transition, allowed in p.TRANSITIONS.items():
        for state in p.STATES:
            if state in allowed:
                assert p.step(state, transition, "x", "someone").transition == transition
            else:
                with pytest.raises(FailedPrecondition, match="cannot be"):
                    p.step(state, transition, "x", "someone")


def test_the_first_threshold_opens_the_forum_once() -> None:
    assert p.after_supports(p.PUBLISHED, 99, SPACE) is None
    opened = p.after_supports(p.PUBLISHED, 100, SPACE)
    assert opened is not None and (opened.to_state, opened.transition) == (p.FORUM_OPEN, "forum_opened")
    assert p.after_supports(p.FORUM_OPEN, 150, SPACE) is None  # thresholds only move forward, once


def test_the_second_threshold_obliges_an_answer() -> None:
    assert p.after_participants(p.FORUM_OPEN, 999, SPACE) is None
    required = p.after_participants(p.FORUM_OPEN, 1000, SPACE)
    assert required is not None and required.to_state == p.ANSWER_REQUIRED
    assert p.after_participants(p.PUBLISHED, 5000, SPACE) is None  # participation counts only in an open forum


def test_archiving_and_deadlines_follow_the_space() -> None:
    now = datetime(2026, 12, 3, tzinfo=UTC)
    assert p.archivable(p.PUBLISHED, now - timedelta(days=365), now, SPACE)
    assert not p.archivable(p.PUBLISHED, now - timedelta(days=364), now, SPACE)
    assert not p.archivable(p.ANSWER_REQUIRED, now - timedelta(days=900), now, SPACE)
    assert p.overdue(p.ANSWER_REQUIRED, now, now) and not p.overdue(p.ANSWER_REQUIRED, now + timedelta(1), now)


def test_supports_only_while_open() -> None:
    for state in p.STATES:
        if state in p.SUPPORTABLE:
            p.require_supportable(state)
        else:
            with pytest.raises(FailedPrecondition, match="takes no supports"):
                p.require_supportable(state)
    assert p.ARCHIVED not in p.SUPPORTABLE and p.WITHDRAWN not in p.SUPPORTABLE and p.ANSWERED not in p.SUPPORTABLE


def test_a_proposal_text_splits_back_after_masking() -> None:
    text = p.content_text("제목 010-1234-5678", "본문\n\n둘째 문단")
    assert p.split_content(text.replace("010-1234-5678", "***-****-****"), "x") == (
        "제목 ***-****-****",
        "본문\n\n둘째 문단",
    )
    assert p.published_state(True) == p.FORUM_OPEN and p.published_state(False) == p.PUBLISHED
