"""A proposal's life as an explicit state machine: every change is a named transition from an allowed state.

    draft ──submit──▶ in_moderation ──published──▶ published ──forum_opened (supports ≥ threshold)──▶ forum_open
                           │  ▲                        │                                              │
           moderation_removed  edited (no support yet)  archived (no threshold within the period)   answer_required
                           ▼                                                                 (participants ≥ threshold,
                       rejected                                                               deadline = now + period)
                                                                                                      │ deadline passes
    answer_published (from published, forum_open, answer_required, answer_overdue) ──▶ answered ◀── answer_overdue
    answered (accepted / partially accepted) ──progress──▶ in_progress ──done──▶ done
    withdrawn: by the author from any state before an answer; removed: moderation takes a published one down.

Thresholds only ever move a proposal forward: a support withdrawn after the forum opened does not close it.
Pure: the store applies a `Step` inside the transaction that caused it and announces it as an event.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sotong_common.errors import FailedPrecondition
from sotong_community.spaces import Space

DRAFT = "draft"
IN_MODERATION = "in_moderation"
PUBLISHED = "published"
FORUM_OPEN = "forum_open"
ANSWER_REQUIRED = "answer_required"
ANSWER_OVERDUE = "answer_overdue"
ANSWERED = "answered"
IN_PROGRESS = "in_progress"
DONE = "done"
ARCHIVED = "archived"
WITHDRAWN = "withdrawn"
REJECTED = "rejected"
REMOVED = "removed"

STATES = (
    DRAFT, IN_MODERATION, PUBLISHED, FORUM_OPEN, ANSWER_REQUIRED, ANSWER_OVERDUE, ANSWERED, IN_PROGRESS, DONE,
    ARCHIVED, WITHDRAWN, REJECTED, REMOVED,
)  # fmt: skip
SUPPORTABLE = frozenset({PUBLISHED, FORUM_OPEN, ANSWER_REQUIRED, ANSWER_OVERDUE})
IN_FORUM = frozenset({FORUM_OPEN, ANSWER_REQUIRED, ANSWER_OVERDUE})
ANSWERABLE = frozenset({PUBLISHED, FORUM_OPEN, ANSWER_REQUIRED, ANSWER_OVERDUE, ANSWERED})
WITHDRAWABLE = frozenset({DRAFT, IN_MODERATION, PUBLISHED, FORUM_OPEN, ANSWER_REQUIRED, ANSWER_OVERDUE})
EDITABLE = frozenset({DRAFT, IN_MODERATION, PUBLISHED, REJECTED})
ARCHIVABLE = frozenset({PUBLISHED, FORUM_OPEN})
COMMENTABLE = frozenset({PUBLISHED, FORUM_OPEN, ANSWER_REQUIRED, ANSWER_OVERDUE, ANSWERED, IN_PROGRESS})

# transition -> the states it may start from
TRANSITIONS: dict[str, frozenset[str]] = {
    "created": frozenset({""}),
    "submitted": frozenset({DRAFT}),
    "edited": EDITABLE,
    "published": frozenset({IN_MODERATION, REJECTED, REMOVED}),
    "moderation_removed": frozenset({IN_MODERATION, PUBLISHED, FORUM_OPEN, ANSWER_REQUIRED, ANSWER_OVERDUE}),
    "forum_opened": frozenset({PUBLISHED}),
    "answer_required": frozenset({FORUM_OPEN}),
    "answer_overdue": frozenset({ANSWER_REQUIRED}),
    "answer_staged": ANSWERABLE,  # an audited step that keeps the state: the answer waits, unpublished
    "answer_published": ANSWERABLE,
    "progress": frozenset({ANSWERED, IN_PROGRESS}),
    "done": frozenset({ANSWERED, IN_PROGRESS}),
    "archived": ARCHIVABLE,
    "withdrawn": WITHDRAWABLE,
}


@dataclass(frozen=True)
class Step:
    """One transition: from, to, its name, who, why."""

    from_state: str
    to_state: str
    transition: str
    actor: str
    reason: str = ""


def step(state: str, transition: str, to_state: str, actor: str, reason: str = "") -> Step:
    """The step `transition` takes from `state`, or FAILED_PRECONDITION saying why it cannot happen now."""
    allowed = TRANSITIONS[transition]
    if state not in allowed:
        raise FailedPrecondition(f"a proposal in state {state} cannot be {transition.replace('_', ' ')}")
    return Step(state, to_state, transition, actor, reason)


def published_state(forum_opened: bool) -> str:
    """Where moderation's publication leads: a proposal reinstated after its forum had opened gets it back."""
    return FORUM_OPEN if forum_opened else PUBLISHED


def after_supports(state: str, supports: int, space: Space) -> Step | None:
    """The first threshold: enough supports open the public forum."""
    if state == PUBLISHED and supports >= space.support_threshold:
        return Step(PUBLISHED, FORUM_OPEN, "forum_opened", "system", f"{supports} supports")
    return None


def after_participants(state: str, participants: int, space: Space) -> Step | None:
    """The second threshold: enough forum participants oblige the department to answer."""
    if state == FORUM_OPEN and participants >= space.answer_threshold:
        return Step(FORUM_OPEN, ANSWER_REQUIRED, "answer_required", "system", f"{participants} forum participants")
    return None


def archivable(state: str, published_at: datetime | None, now: datetime, space: Space) -> bool:
    """A proposal that reached no (further) threshold within the space's period after publication."""
    return state in ARCHIVABLE and published_at is not None and now - published_at >= space.archive_after


def overdue(state: str, deadline: datetime | None, now: datetime) -> bool:
    return state == ANSWER_REQUIRED and deadline is not None and now >= deadline


def require_supportable(state: str) -> None:
    if state not in SUPPORTABLE:
        raise FailedPrecondition(f"a proposal in state {state} takes no supports (it is not open for them)")


def require_forum(state: str) -> None:
    if state not in IN_FORUM:
        raise FailedPrecondition(f"a proposal in state {state} has no open forum")


def content_text(title: str, body: str) -> str:
    """What moderation judges for a proposal: the title line, a blank line, the body."""
    return f"{title}\n\n{body}"


def split_content(masked: str, title: str) -> tuple[str, str]:
    """The masked title and body back from moderation's masked text (masking keeps the blank line)."""
    head, sep, tail = masked.partition("\n\n")
    if sep and "\n" not in head:
        return head, tail
    return title, masked
