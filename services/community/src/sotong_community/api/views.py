"""Rows as the contract shows them, to whom: a citizen sees what was published (masked), their own texts as they
wrote them, and the clauses of their own removed texts; staff see who did what."""

from __future__ import annotations

import base64
import binascii
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
from google.protobuf.timestamp_pb2 import Timestamp

from sotong.community.v1 import community_events_pb2 as epb
from sotong.community.v1 import community_service_pb2 as pb
from sotong_common import auth
from sotong_common.errors import FieldViolation, InvalidArgument
from sotong_community import polls, proposals, spaces
from sotong_community.polls import Question
from sotong_community.spaces import DEFAULT_ANSWER_STATES, AnswerState, Space

STAFF = frozenset({"operator", "dept_admin", "moderator", "admin"})
ANSWER_KINDS = {
    "evaluating": pb.ANSWER_KIND_EVALUATING,
    "accepted": pb.ANSWER_KIND_ACCEPTED,
    "partially_accepted": pb.ANSWER_KIND_PARTIALLY_ACCEPTED,
    "rejected": pb.ANSWER_KIND_REJECTED,
}
ANSWER_KIND_NAMES = {v: k for k, v in ANSWER_KINDS.items()}
TARGET_KINDS = {
    pb.TARGET_KIND_PROPOSAL: "proposal",
    pb.TARGET_KIND_DEBATE: "debate",
    pb.TARGET_KIND_POLL: "poll",
    pb.TARGET_KIND_POST: "post",
}
TARGET_PROTO = {v: k for k, v in TARGET_KINDS.items()}
QUESTION_KINDS = {
    pb.QUESTION_KIND_SINGLE: polls.SINGLE,
    pb.QUESTION_KIND_MULTIPLE: polls.MULTIPLE,
    pb.QUESTION_KIND_SCALE: polls.SCALE,
    pb.QUESTION_KIND_RANKING: polls.RANKING,
    pb.QUESTION_KIND_FREE_TEXT: polls.FREE_TEXT,
}
QUESTION_PROTO = {v: k for k, v in QUESTION_KINDS.items()}
ROLES = {"owner": pb.MEMBER_ROLE_OWNER, "moderator": pb.MEMBER_ROLE_MODERATOR, "member": pb.MEMBER_ROLE_MEMBER}
VOTES = {1: pb.VOTE_AGREE, -1: pb.VOTE_DISAGREE, 0: pb.VOTE_PASS}
WINDOWS = {epb.WINDOW_HOUR: "hour", epb.WINDOW_DAY: "day", epb.WINDOW_WEEK: "week"}


def staff(caller: auth.Principal) -> bool:
    return bool(caller.roles & STAFF)


def ts(at: datetime | None) -> Timestamp | None:
    if at is None:
        return None
    stamp = Timestamp()
    stamp.FromDatetime(at.astimezone(UTC))
    return stamp


def encode_token(*values: Any) -> str:
    raw = json.dumps([v.isoformat() if isinstance(v, datetime) else v for v in values]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_token(token: str, shape: tuple[type, ...]) -> list[Any]:
    """The values of a page token this service issued (INVALID_ARGUMENT naming page_token otherwise)."""
    try:
        values = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        if not isinstance(values, list) or len(values) != len(shape):
            raise ValueError("wrong shape")
        out: list[Any] = []
        for value, kind in zip(values, shape, strict=True):
            if kind is datetime:
                out.append(datetime.fromisoformat(value))
            elif kind is int:
                if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value < 2**62:
                    raise ValueError("not a position")
                out.append(value)
            else:
                out.append(kind(value))
        return out
    except (binascii.Error, ValueError, TypeError, UnicodeDecodeError, OverflowError):
        raise InvalidArgument(FieldViolation("page_token", "page_token is not a token this service issued")) from None


def space(s: Space) -> pb.Space:
    out = pb.Space(
        space_id=s.space_id,
        title=s.title,
        support_threshold=s.support_threshold,
        answer_threshold=s.answer_threshold,
        support_verification=s.support_verification,
        answer_states=[pb.AnswerState(code=a.code, kind=ANSWER_KINDS[a.kind], label=a.label) for a in s.answer_states],
        department=s.department,
    )
    out.answer_period.FromTimedelta(s.answer_period)
    out.archive_after.FromTimedelta(s.archive_after)
    return out


def _period(s: pb.Space, field: str, default: timedelta) -> timedelta:
    if not s.HasField(field):  # type: ignore[arg-type]
        return default
    try:
        return getattr(s, field).ToTimedelta()  # type: ignore[no-any-return]
    except (ValueError, OverflowError):
        raise InvalidArgument(FieldViolation(f"space.{field}", f"space.{field} is not a usable duration")) from None


def space_from_proto(s: pb.Space) -> Space:
    return Space(
        space_id=s.space_id,
        title=s.title,
        support_threshold=s.support_threshold,
        answer_threshold=s.answer_threshold,
        answer_period=_period(s, "answer_period", spaces.ANSWER_PERIOD),
        archive_after=_period(s, "archive_after", spaces.ARCHIVE_AFTER),
        support_verification=s.support_verification or "identity",
        answer_states=tuple(AnswerState(a.code, ANSWER_KIND_NAMES.get(a.kind, ""), a.label) for a in s.answer_states)
        or DEFAULT_ANSWER_STATES,
        department=s.department,
    )


def proposal(row: asyncpg.Record, caller: auth.Principal, extra: dict[str, Any] | None = None) -> pb.Proposal:
    mine = auth.same_subject(row["author"], caller.subject)
    shows_original = mine or staff(caller)
    public = row["published_at"] is not None and row["state"] not in (proposals.REJECTED, proposals.REMOVED)
    out = pb.Proposal(
        proposal_id=str(row["proposal_id"]),
        space_id=row["space_id"],
        title=row["title"] if shows_original else (row["shown_title"] if public else ""),
        body=row["body"] if shows_original else (row["shown_body"] if public else ""),
        category=row["category"],
        district_code=row["district_code"],
        state=row["state"],
        community_id=str(row["community_id"] or ""),
        support_count=row["support_count"],
        like_count=row["like_count"],
        participant_count=row["participant_count"],
        created_at=ts(row["created_at"]),
        published_at=ts(row["published_at"]),
        forum_opened_at=ts(row["forum_opened_at"]),
        answer_deadline=ts(row["answer_deadline"]),
        revision=row["revision"],
        clauses=list(row["clauses"]) if shows_original else [],
        department=row["department"],
        mine=mine,
        editable=mine and row["support_count"] == 0 and row["state"] in proposals.EDITABLE,
    )
    if "supported" in row:
        out.supported_by_me, out.liked_by_me, out.in_forum = row["supported"], row["liked"], row["in_forum"]
    if extra is None:
        return out
    answer = extra.get("answer")
    if answer is not None:
        if answer["published_at"] is not None:
            out.answer.CopyFrom(
                pb.Answer(
                    state_code=answer["published_state"],
                    kind=ANSWER_KINDS.get(answer["kind"], pb.ANSWER_KIND_UNSPECIFIED),
                    label=answer["label"],
                    text=answer["published_text"],
                    published_at=ts(answer["published_at"]),
                )
            )
        if staff(caller) and (answer["published_at"] is None or answer["published_text"] != answer["text"]):
            out.answer.CopyFrom(
                pb.Answer(
                    state_code=answer["state_code"],
                    kind=ANSWER_KINDS.get(answer["kind"], pb.ANSWER_KIND_UNSPECIFIED),
                    label=answer["label"],
                    text=answer["text"],
                    staged=True,
                    published_at=ts(answer["published_at"]),
                )
            )
    out.progress.extend(
        pb.Progress(percent=p["percent"], text=p["text"], done=p["done"], at=ts(p["at"])) for p in extra["progress"]
    )
    for t in extra["history"]:
        out.history.append(
            pb.Transition(
                sequence=t["sequence"],
                from_state=t["from_state"],
                to_state=t["to_state"],
                transition=t["transition"],
                actor=t["actor"] if staff(caller) else "",
                reason=t["reason"] if staff(caller) or mine or t["actor"] in ("system", "moderation") else "",
                at=ts(t["at"]),
            )
        )
    return out


def comment(row: asyncpg.Record, caller: auth.Principal) -> pb.Comment:
    mine = auth.same_subject(row["author"], caller.subject)
    if mine and "original" in row:
        text = row["original"]  # authors read what they wrote, whatever moderation made of it
    elif row["status"] == "published":
        text = row["shown_text"]
    else:
        text = ""
    out = pb.Comment(
        comment_id=str(row["comment_id"]),
        target=pb.TargetRef(kind=TARGET_PROTO[row["target_kind"]], id=str(row["target_id"])),
        parent_comment_id="" if row["parent_id"].int == 0 else str(row["parent_id"]),
        text=text,
        status=row["status"],
        reply_count=row["reply_count"],
        created_at=ts(row["created_at"]),
        mine=mine,
        masked=row["masked"] and row["status"] == "published",
    )
    if mine:
        out.content_id = row["content_id"]
        out.complaint_tracking_id = row["complaint_tracking_id"]
        if "content_clauses" in row and row["status"] == "removed":
            out.clauses.extend(row["content_clauses"])
    return out


def statement(row: asyncpg.Record, caller: auth.Principal) -> pb.Statement:
    mine = auth.same_subject(row["author"], caller.subject)
    my_vote = row.get("my_vote", None)
    return pb.Statement(
        statement_id=row["statement_id"],
        text=row["shown_text"] if row["status"] == "published" else "",
        status=row["status"],
        agree=row["agree"],
        disagree=row["disagree"],
        passes=row["pass"],
        my_vote=VOTES.get(my_vote, pb.VOTE_UNSPECIFIED) if my_vote is not None else pb.VOTE_UNSPECIFIED,
        mine=mine,
        content_id=row["content_id"] if mine else "",
    )


def debate(row: asyncpg.Record, caller: auth.Principal, statements: list[asyncpg.Record]) -> pb.Debate:
    mine = auth.same_subject(row["author"], caller.subject)
    shows = row["status"] in ("open", "closed")
    return pb.Debate(
        debate_id=str(row["debate_id"]),
        space_id=row["space_id"],
        title=row["title"] if mine or staff(caller) else (row["shown_title"] if shows else ""),
        description=row["description"] if mine or staff(caller) else (row["shown_description"] if shows else ""),
        status=row["status"],
        community_id=str(row["community_id"] or ""),
        created_at=ts(row["created_at"]),
        mine=mine,
        statements=[statement(s, caller) for s in statements],
        clauses=list(row["clauses"]) if mine else [],
    )


def poll(row: asyncpg.Record) -> pb.Poll:
    questions = json.loads(row["questions"]) if isinstance(row["questions"], str) else row["questions"]
    return pb.Poll(
        poll_id=str(row["poll_id"]),
        title=row["title"],
        description=row["description"],
        questions=[question(Question.from_json(q)) for q in questions],
        opens_at=ts(row["opens_at"]),
        closes_at=ts(row["closes_at"]),
        changeable=row["changeable"],
        verification=row["verification"],
        state=polls.state(row["opens_at"], row["closes_at"], row["closed_at"], datetime.now(UTC)),
        community_id=str(row["community_id"] or ""),
        response_count=row["response_count"],
    )


def question(q: Question) -> pb.Question:
    return pb.Question(
        text=q.text,
        kind=QUESTION_PROTO[q.kind],
        options=list(q.options),
        max_choices=q.max_choices,
        required=q.required,
    )


def community(row: asyncpg.Record, role: str | None, caller: auth.Principal) -> pb.Community:
    mine = role is not None
    shows = row["status"] == "active"
    return pb.Community(
        community_id=str(row["community_id"]),
        name=row["name"] if mine or staff(caller) else (row["shown_name"] if shows else ""),
        description=row["description"] if mine or staff(caller) else (row["shown_description"] if shows else ""),
        district_code=row["district_code"],
        topic=row["topic"],
        status=row["status"],
        member_count=row["member_count"],
        my_role=ROLES.get(role or "", pb.MEMBER_ROLE_UNSPECIFIED),
        created_at=ts(row["created_at"]),
        clauses=list(row["clauses"]) if role == "owner" else [],
    )


def post(row: asyncpg.Record, caller: auth.Principal) -> pb.Post:
    mine = auth.same_subject(row["author"], caller.subject)
    return pb.Post(
        post_id=str(row["post_id"]),
        community_id=str(row["community_id"]),
        text=row["shown_text"] if row["status"] == "published" else "",
        status=row["status"],
        created_at=ts(row["created_at"]),
        mine=mine,
        content_id=row["content_id"] if mine else "",
    )
