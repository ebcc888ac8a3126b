"""Citizens' texts and moderation's decisions about them: content ids, kinds, and what a decision shows.

Every text a citizen writes gets a content id of its kind (`comment:<uuid>`, `proposal:<uuid>:<revision>`, ...),
is posted on community.content-posted.v1 and stays unseen by others until moderation.decision-made.v1 publishes
it. A decision names an action: publish (shown, masked where moderation masked personal data), review (waits for
a person; not shown), remove (never shown; its author sees the policy clauses). A content hidden by citizens'
reports stays hidden until a moderator decides, whatever the pipeline said.
"""

from __future__ import annotations

from dataclasses import dataclass

from sotong.moderation.v1 import moderation_events_pb2 as mpb

KINDS = ("proposal", "comment", "debate", "statement", "group", "post", "poll_answer")
CONTENT_TYPE_PREFIX = "community."
REPORTABLE = frozenset({"comment", "post", "statement"})

IN_MODERATION = "in_moderation"
PUBLISHED = "published"
IN_REVIEW = "in_review"
HIDDEN = "hidden"
REMOVED = "removed"
SHOWN = frozenset({PUBLISHED})
WAITING = frozenset({IN_REVIEW, HIDDEN})


def content_id(kind: str, entity: str, revision: int | None = None) -> str:
    return f"{kind}:{entity}" if revision is None else f"{kind}:{entity}:{revision}"


def content_type(kind: str) -> str:
    return CONTENT_TYPE_PREFIX + kind


def parse(content_id_: str) -> tuple[str, str, int | None] | None:
    """(kind, entity, revision) of one of our content ids, or None for anything else."""
    parts = content_id_.split(":")
    if len(parts) not in (2, 3) or parts[0] not in KINDS or not parts[1]:
        return None
    revision = None
    if len(parts) == 3:
        if not parts[2].isdigit():
            return None
        revision = int(parts[2])
    return parts[0], parts[1], revision


@dataclass(frozen=True)
class Outcome:
    """What a decision makes of a content: its status, the text others may see, the clauses its author sees."""

    status: str
    shown_text: str
    clauses: tuple[str, ...]
    masked: bool


def outcome(decision: mpb.DecisionMade, original: str, was_hidden_by_reports: bool) -> Outcome:
    """The content's state after `decision`.

    A pipeline decision about content hidden by reports cannot show it again: only a moderator's decision can.
    """
    by_person = decision.decided_by not in ("", "pipeline")
    if decision.action == mpb.ACTION_PUBLISH:
        if was_hidden_by_reports and not by_person:
            return Outcome(HIDDEN, "", (), False)
        shown = decision.masked_text or original
        return Outcome(PUBLISHED, shown, (), shown != original)
    if decision.action == mpb.ACTION_REMOVE:
        return Outcome(REMOVED, "", tuple(decision.categories), False)
    return Outcome(HIDDEN if was_hidden_by_reports else IN_REVIEW, "", (), False)
