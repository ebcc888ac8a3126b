"""Polls and surveys: created by staff, answered once per verified citizen, results live by district and age."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sotong.community.v1 import community_service_pb2 as pb
from sotong_common.errors import InvalidArgument
from sotong_common.server import principal
from sotong_common.text_fields import refuse_control_characters
from sotong_community import input_rules, polls, verification
from sotong_community.api import views
from sotong_community.api.context import Context
from sotong_community.input_rules import Violations
from sotong_community.poll_store import NewPoll
from sotong_community.polls import Answer, Question

LATEST = datetime(9999, 1, 1, tzinfo=UTC)


@refuse_control_characters
class PollRpcs:
    ctx: Context

    async def CreatePoll(self, request: pb.CreatePollRequest, context: Any) -> pb.CreatePollResponse:
        p = request.poll
        v = Violations()
        title = v.text("poll.title", p.title, limit=input_rules.MAX_TITLE, single_line=True)
        description = v.text("poll.description", p.description, required=False, limit=input_rules.MAX_DESCRIPTION)
        community_id = v.optional_id("poll.community_id", p.community_id)
        request_id = v.request_id("request_id", request.request_id)
        questions = [
            Question(q.text, views.QUESTION_KINDS.get(q.kind, ""), tuple(q.options), q.max_choices, q.required)
            for q in p.questions
        ]
        v.found.extend(polls.question_problems(questions))
        now = datetime.now(UTC)
        opens = _time(v, "poll.opens_at", p.opens_at) if p.HasField("opens_at") else now
        closes = _time(v, "poll.closes_at", p.closes_at) if p.HasField("closes_at") else now + timedelta(days=14)
        if closes <= opens:
            v.add("poll.closes_at", "poll.closes_at must be after poll.opens_at")
        try:
            level = verification.check_level("poll.verification", p.verification)
        except InvalidArgument as error:
            v.found.extend(error.violations)
            level = "identity"
        v.raise_if_any()
        caller = principal()
        row, created = await self.ctx.polls.create(
            caller.subject,
            NewPoll(title, description, questions, opens, closes, p.changeable, level, community_id, request_id),
        )
        return pb.CreatePollResponse(poll=views.poll(row), created=created)

    async def GetPoll(self, request: pb.GetPollRequest, context: Any) -> pb.GetPollResponse:
        return pb.GetPollResponse(poll=views.poll(await self.ctx.polls.get(_poll_id(request.poll_id))))

    async def ClosePoll(self, request: pb.ClosePollRequest, context: Any) -> pb.ClosePollResponse:
        return pb.ClosePollResponse(poll=views.poll(await self.ctx.polls.close(_poll_id(request.poll_id))))

    async def RespondToPoll(self, request: pb.RespondToPollRequest, context: Any) -> pb.RespondToPollResponse:
        v = Violations()
        poll_id = v.required_id("poll_id", request.poll_id)
        district = v.district("district_code", request.district_code, required=True)
        if request.age_band not in polls.AGE_BANDS:
            v.add("age_band", "age_band must be one of " + ", ".join(polls.AGE_BANDS))
        if not request.answers:
            v.add("answers", "a response answers at least one question")
        if len(request.answers) > polls.MAX_QUESTIONS:
            v.add("answers", f"at most {polls.MAX_QUESTIONS} answers")
        answers = []
        for i, a in enumerate(request.answers[: polls.MAX_QUESTIONS]):
            if len(a.choices) > polls.MAX_OPTIONS:
                v.add(f"answers[{i}].choices", f"at most {polls.MAX_OPTIONS} choices")
            answers.append(Answer(a.question, tuple(a.choices[: polls.MAX_OPTIONS]), a.scale, a.text.strip()))
        v.raise_if_any()
        caller = principal()
        changed, revision = await self.ctx.polls.respond(
            caller.subject, caller.verification, poll_id, answers, district, request.age_band
        )
        return pb.RespondToPollResponse(changed=changed, revision=revision)

    async def GetPollResults(self, request: pb.GetPollResultsRequest, context: Any) -> pb.GetPollResultsResponse:
        poll, cells, texts = await self.ctx.polls.results(_poll_id(request.poll_id))
        shown = views.poll(poll)
        out = pb.GetPollResultsResponse(poll_id=shown.poll_id, response_count=shown.response_count, state=shown.state)
        by_question: dict[int, pb.QuestionResult] = {}
        for i, q in enumerate(shown.questions):
            by_question[i] = pb.QuestionResult(question=i, kind=q.kind)
        for c in cells:
            found = by_question.get(c["question"])
            if found is not None:
                found.cells.append(
                    pb.ResultCell(
                        district_code=c["district_code"],
                        age_band=c["age_band"],
                        option=c["option"],
                        count=c["count"],
                        points=c["points"],
                    )
                )
        for t in texts:
            found = by_question.get(t["question"])
            if found is not None:
                found.texts.append(t["shown_text"])
        out.questions.extend(by_question[i] for i in sorted(by_question))
        return out


def _poll_id(value: str) -> Any:
    v = Violations()
    found = v.required_id("poll_id", value)
    v.raise_if_any()
    return found


def _time(v: Violations, field: str, stamp: Any) -> datetime:
    try:
        at: datetime = stamp.ToDatetime(tzinfo=UTC)
    except (ValueError, OverflowError):
        v.add(field, f"{field} is not a valid time")
        return datetime.now(UTC)
    if not datetime(2000, 1, 1, tzinfo=UTC) <= at <= LATEST:
        v.add(field, f"{field} must be between 2000 and 9999")
    return at
