"""What each stage publishes, on which channel, to whom: the DispatchRequested events for the engine.

The incident side decides the words and the audience; the publishing service (sotong.publishing.v1) delivers
them. A drill (a Test or Exercise alert) is marked `exercise`: the publishing service then delivers it to each
channel's drill audience only, whatever audience is named here.

Every dispatch id is derived from what it is for (the alert, or the incident's stage-0 page and its
escalation level) and the channel, so a retried IssueAlert or a re-run escalation produces the same ids and the
store's unique key turns the copy into a no-op: a citizen never gets the same message twice because a request
was retried.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime

from google.protobuf.timestamp_pb2 import Timestamp

from sotong.publishing.v1 import publishing_events_pb2 as dispatch
from sotong_alerting import channels as ch
from sotong_alerting.cap import Alert, Status
from sotong_alerting.response import ResponsePlan

LANGUAGES = ("ko", "en")
REQUESTER = "alerting"
"""Who asks the publishing service to deliver (the writer of the alerting.dispatch-* topics)."""

_NAMESPACE = uuid.UUID("6b1d2f0e-8c43-4b8e-9d0a-51a7e2c9f3b4")

STAGE1 = "stage1"
STAGE2 = "stage2"
UPDATE = "update"
CANCEL = "cancel"
ALL_CLEAR = "all_clear"

STAGE1_CHANNELS: tuple[dispatch.Channel.ValueType, ...] = (dispatch.CHANNEL_PRESS_MAIL, dispatch.CHANNEL_PORTAL_NOTICE)
STAGE2_CHANNELS: tuple[dispatch.Channel.ValueType, ...] = (
    dispatch.CHANNEL_SNS,
    dispatch.CHANNEL_NEWS_APP_PUSH,
    dispatch.CHANNEL_PORTAL_NOTICE,
    dispatch.CHANNEL_KAKAO_CHANNEL,
    dispatch.CHANNEL_SMS,
)

CHECKED: Mapping[dispatch.Channel.ValueType, tuple[ch.Channel, ...]] = {
    dispatch.CHANNEL_GROUP_CHAT: (ch.Channel.GROUP_CHAT,),
    dispatch.CHANNEL_PAGER: (ch.Channel.PAGER,),
    dispatch.CHANNEL_PRESS_MAIL: (ch.Channel.PRESS,),
    dispatch.CHANNEL_PORTAL_NOTICE: (ch.Channel.PRESS,),
    # One post goes to every registered account; the X text is the strictest, so it fits all four platforms.
    dispatch.CHANNEL_SNS: (ch.Channel.X, ch.Channel.FACEBOOK, ch.Channel.INSTAGRAM, ch.Channel.THREADS),
    dispatch.CHANNEL_NEWS_APP_PUSH: (ch.Channel.PUSH,),
    dispatch.CHANNEL_KAKAO_CHANNEL: (ch.Channel.KAKAO,),
    # The SMS text is also the cell-broadcast text (재난문자), so it must fit 90/157 characters.
    dispatch.CHANNEL_SMS: (ch.Channel.SMS, ch.Channel.CELL_BROADCAST),
}
"""The limit rules each dispatch channel's text is checked against before approval."""


def channels_for(
    purpose: str, issued: Sequence[dispatch.Channel.ValueType] = ()
) -> tuple[dispatch.Channel.ValueType, ...]:
    """The channels of a stage; an update, cancellation or all-clear goes wherever the incident already spoke."""
    if purpose == STAGE1:
        return STAGE1_CHANNELS
    if purpose == STAGE2:
        return STAGE2_CHANNELS
    return tuple(dict.fromkeys(issued)) or STAGE1_CHANNELS


def checked_channels(channels: Sequence[dispatch.Channel.ValueType]) -> tuple[ch.Channel, ...]:
    return tuple(dict.fromkeys(rule for channel in channels for rule in CHECKED[channel]))


def dispatch_id(*parts: str) -> str:
    """A dispatch id that is the same every time it is computed for the same purpose."""
    return str(uuid.uuid5(_NAMESPACE, "|".join(parts)))


def _stamp(moment: datetime) -> Timestamp:
    stamp = Timestamp()
    stamp.FromDatetime(moment)
    return stamp


def overrides_of(short_texts: Mapping[str, str]) -> dict[tuple[ch.Channel, str], str]:
    """Hand-written short texts replace the composed SMS and cell-broadcast texts."""
    found: dict[tuple[ch.Channel, str], str] = {}
    for language, text in short_texts.items():
        if text:
            found[(ch.Channel.SMS, language)] = text
            found[(ch.Channel.CELL_BROADCAST, language)] = text
    return found


def renderings(
    alert: Alert, channel: dispatch.Channel.ValueType, purpose: str, short_texts: Mapping[str, str]
) -> list[dispatch.Rendering]:
    """The texts the engine sends on `channel`, one per language, exactly as checked at approval."""
    found = []
    overrides = overrides_of(short_texts)
    for language in LANGUAGES:
        info = alert.info_for(language)
        if info is None:
            continue
        rule = CHECKED[channel][0]
        rendered = ch.render(alert, rule, language, text=overrides.get((rule, language)))
        item = dispatch.Rendering(language=language, title=rendered.title or "", body=rendered.text, url=info.web or "")
        if channel == dispatch.CHANNEL_KAKAO_CHANNEL:
            # The registered template the text was checked against at approval, and its variables.
            item.template_code = ch.kakao_template(alert, language)[0]
            item.variables.update(ch.kakao_variables(alert, info, language))
        found.append(item)
    return found


def audience(
    channel: dispatch.Channel.ValueType, purpose: str, area_codes: Sequence[str], plan: ResponsePlan
) -> dispatch.Audience:
    """Who receives an alert on a channel: explicit lists where the city keeps them, segments otherwise."""
    districts = "districts:" + ",".join(area_codes) if area_codes else "all"
    if channel == dispatch.CHANNEL_PRESS_MAIL:
        return dispatch.Audience(targets=list(plan.press_list))
    if channel == dispatch.CHANNEL_PORTAL_NOTICE:
        # Stage 1 posts the emergency notice; stage 2 opens the portal for citizens' feedback on it.
        return dispatch.Audience(segment="feedback" if purpose == STAGE2 else "emergency")
    if channel == dispatch.CHANNEL_NEWS_APP_PUSH:
        return dispatch.Audience(segment=districts if plan.push_segment == "districts" else "all")
    if channel == dispatch.CHANNEL_SMS:
        return dispatch.Audience(segment=districts)
    return dispatch.Audience(segment="all")  # SNS: every registered account; KakaoTalk: every channel friend


def alert_dispatches(
    alert: Alert,
    incident_id: str,
    purpose: str,
    channels: Sequence[dispatch.Channel.ValueType],
    area_codes: Sequence[str],
    short_texts: Mapping[str, str],
    plan: ResponsePlan,
    at: datetime,
) -> list[dispatch.DispatchRequested]:
    """One DispatchRequested per channel for an issued alert, on the emergency lane."""
    drill = alert.status is not Status.ACTUAL
    return [
        dispatch.DispatchRequested(
            dispatch_id=dispatch_id(alert.identifier, purpose, dispatch.Channel.Name(channel)),
            message_id=alert.identifier,
            thread_id=incident_id,
            requester=REQUESTER,
            channel=channel,
            priority=dispatch.PRIORITY_EMERGENCY,
            purpose=purpose,
            audience=audience(channel, purpose, area_codes, plan),
            renderings=renderings(alert, channel, purpose, short_texts),
            requested_at=_stamp(at),
            exercise=drill,
        )
        for channel in channels
    ]


def _stage0_text(incident_id: str, hazard: str, area_names: str, summary: str, language: str) -> str:
    if language == "ko":
        return f"[재난 상황 공유] {hazard} · {area_names}\n{summary}\n사건 {incident_id}: 대응 그룹이 열렸습니다."
    return f"[Incident] {hazard} · {area_names}\n{summary}\nIncident {incident_id}: the response group is open."


def _page_text(incident_id: str, hazard: str, area_names: str, level: int) -> str:
    escalated = f" (에스컬레이션 {level}단계)" if level else ""
    text = f"[호출]{escalated} {hazard} {area_names} · 사건 {incident_id} · 확인(Acknowledge) 바랍니다"
    return text[: ch.PAGER_LIMIT]  # composed by us from short fields; the hazard name is what gets cut


def group_chat_dispatch(
    incident_id: str,
    hazard: str,
    area_names: str,
    summary: str,
    departments: Sequence[str],
    at: datetime,
) -> dispatch.DispatchRequested:
    """Stage 0: open the response group with the mapped departments as members."""
    title = f"[재난] {hazard} {area_names} {incident_id}"
    return dispatch.DispatchRequested(
        dispatch_id=dispatch_id(incident_id, "stage0", "CHANNEL_GROUP_CHAT"),
        message_id=f"{incident_id}:stage0",
        thread_id=incident_id,
        requester=REQUESTER,
        channel=dispatch.CHANNEL_GROUP_CHAT,
        priority=dispatch.PRIORITY_EMERGENCY,
        purpose="stage0",
        audience=dispatch.Audience(targets=list(departments)),
        renderings=[
            dispatch.Rendering(
                language=language,
                title=title,
                body=_stage0_text(incident_id, hazard, area_names, summary, language)[: ch.GROUP_CHAT_LIMIT],
            )
            for language in LANGUAGES
        ],
        requested_at=_stamp(at),
    )


def page_dispatch(
    incident_id: str, hazard: str, area_names: str, level: int, targets: Sequence[str], at: datetime
) -> dispatch.DispatchRequested:
    """A page of the duty officers (level 0) or of an escalation level; one per level, ever."""
    return dispatch.DispatchRequested(
        dispatch_id=dispatch_id(incident_id, "page", str(level)),
        message_id=f"{incident_id}:page:{level}",
        thread_id=incident_id,
        requester=REQUESTER,
        channel=dispatch.CHANNEL_PAGER,
        priority=dispatch.PRIORITY_EMERGENCY,
        purpose="stage0",
        audience=dispatch.Audience(targets=list(targets)),
        renderings=[dispatch.Rendering(language="ko", body=_page_text(incident_id, hazard, area_names, level))],
        requested_at=_stamp(at),
    )
