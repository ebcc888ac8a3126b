"""Opinion by district: the counts the stream job keeps, and the top terms per district."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sotong.community.v1 import community_events_pb2 as epb
from sotong.community.v1 import community_service_pb2 as pb
from sotong_common.server import principal
from sotong_common.text_fields import refuse_control_characters
from sotong_community import opinion
from sotong_community.api import views
from sotong_community.api.context import Context
from sotong_community.input_rules import Violations

MAX_TERMS = 50


@refuse_control_characters
class OpinionRpcs:
    ctx: Context

    async def GetOpinionStats(self, request: pb.GetOpinionStatsRequest, context: Any) -> pb.GetOpinionStatsResponse:
        v = Violations()
        district = v.district("district_code", request.district_code)
        category = v.category("category", request.category)
        window = views.WINDOWS.get(request.window)
        if window is None:
            v.add("window", "window must be WINDOW_HOUR, WINDOW_DAY or WINDOW_WEEK")
        if not 0 <= request.top_terms <= MAX_TERMS:
            v.add("top_terms", f"top_terms must be 0..{MAX_TERMS}")
        now = datetime.now(UTC)
        until = _time(v, "until", request.until) if request.HasField("until") else now
        v.raise_if_any()
        assert window is not None
        default_since = opinion.window_start(now, window) - 6 * opinion.window_length(window)
        since = _time(v, "since", request.since) if request.HasField("since") else default_since
        if since > until:
            v.add("since", "since must not be after until")
        v.raise_if_any()
        principal()
        rows = await self.ctx.opinion.buckets(district, category, window, since, until)
        out = pb.GetOpinionStatsResponse()
        for r in rows:
            out.buckets.append(
                epb.OpinionStat(
                    district_code=r["district_code"],
                    category=r["category"],
                    window=request.window,
                    window_start=views.ts(r["window_start"]),
                    counts=epb.OpinionCounts(**{c: r[c] for c in opinion.COUNTS}),
                    updated_at=views.ts(r["updated_at"]),
                )
            )
        if request.top_terms:
            terms = await self.ctx.opinion.terms(district, window, since, until, request.top_terms)
            by_district: dict[str, pb.DistrictTerms] = {}
            for t in terms:
                found = by_district.setdefault(t["district_code"], pb.DistrictTerms(district_code=t["district_code"]))
                found.terms.append(pb.TermCount(term=t["term"], count=t["total"]))
            out.terms.extend(by_district.values())
        return out


def _time(v: Violations, field: str, stamp: Any) -> datetime:
    try:
        at: datetime = stamp.ToDatetime(tzinfo=UTC)
    except (ValueError, OverflowError):
        v.add(field, f"{field} is not a valid time")
        return datetime.now(UTC)
    if not datetime(2000, 1, 1, tzinfo=UTC) <= at <= datetime(9999, 1, 1, tzinfo=UTC):
        v.add(field, f"{field} must be between 2000 and 9999")
    return at
