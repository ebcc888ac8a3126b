"""The incident side's pure pieces: the stage-0 response plan, drafting from a request, what each stage
publishes (channels, audiences, deterministic dispatch ids), log entries and receipt counting."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from sotong.alerting.v1 import alerting_service_pb2 as pb
from sotong.publishing.v1 import publishing_events_pb2 as dispatch
from sotong_alerting import publishing, timeline
from sotong_alerting.alerts import all_clear_infos, cancel_texts, restarted
from sotong_alerting.approval import derive_update
from sotong_alerting.cap import MsgType, ResponseType, Status, validate_alert
from sotong_alerting.channels import check_channels
from sotong_alerting.drafting import Draft, compose, replaced_texts
from sotong_alerting.incident import Incident
from sotong_alerting.response import PlanError, load_plan, parse_plan
from sotong_alerting.store import upstream_hazard
from sotong_alerting.worker import receipt_counts

NOW = datetime(2026, 7, 14, 5, 0, tzinfo=UTC)


def request(**overrides: object) -> pb.DraftAlertRequest:
    fields: dict[str, object] = {
        "incident_id": "INC-1",
        "texts": [
            pb.AlertText(
                language="ko",
                event="호우경보",
                headline="도봉구 호우경보",
                description="강한 비가 내리고 있습니다.",
                instruction="하천변 접근을 자제하세요.",
                short_text="[서울시] 도봉구 호우경보. 하천변 접근 자제 바랍니다.",
            ),
            pb.AlertText(
                language="en",
                event="Heavy rain warning",
                headline="Heavy rain warning, Dobong-gu",
                description="Heavy rain is falling.",
                instruction="Keep away from streams.",
            ),
        ],
        "severity": "Severe",
        "urgency": "Immediate",
        "certainty": "Observed",
    }
    fields.update(overrides)
    return pb.DraftAlertRequest(**fields)  # type: ignore[arg-type]


def drafted(**overrides: object) -> Draft:
    result = compose(
        request(**overrides), identifier="INC-1-A1", sender="alert@seoul.go.kr", incident_id="INC-1",
        incident_area=["11320"], at=NOW,
    )  # fmt: skip
    assert isinstance(result, Draft), result
    return result


# --- the response plan ------------------------------------------------------------------------------------


def test_the_shipped_plan_maps_hazard_and_district_to_departments() -> None:
    plan = load_plan()
    assert plan.departments("호우", ["11320", "11320"]) == (
        "서울시 재난안전상황실",
        "안전총괄과",
        "물순환정책과",
        "하천관리과",
        "도로관리과",
        "도봉구 안전재난과",
    )
    assert plan.departments("운석", []) == ("서울시 재난안전상황실", "안전총괄과")  # unknown hazard: the core
    assert plan.hazard_of("flooding") == "호우" and plan.hazard_of("landslide") == "landslide"


def test_escalation_levels_and_their_timers() -> None:
    plan = load_plan().with_delays([2, 3])
    assert plan.targets_of(0) == ("duty-officer-day", "duty-officer-night")
    assert plan.targets_of(2) == ("safety-director", "deputy-mayor-office")
    assert plan.next_page(0, NOW) == NOW + timedelta(seconds=2)
    assert plan.next_page(1, NOW) == NOW + timedelta(seconds=3)
    assert plan.next_page(2, NOW) is None  # the last level pages once, then stops
    with pytest.raises(PlanError, match="3 escalation delays given for 2"):
        plan.with_delays([1, 2, 3])


@pytest.mark.parametrize(
    ("raw", "named"),
    [
        ({"duty_officers": []}, "duty_officers"),
        (
            {"duty_officers": ["a"], "escalation": [{"after_seconds": 0, "targets": ["b"]}]},
            "escalation[0].after_seconds",
        ),
        ({"duty_officers": ["a"], "district_department": "안전과"}, "district_department"),
        ({"duty_officers": ["a"], "push_segment": "some"}, "push_segment"),
        ({"duty_officers": ["a"], "hazards": {"호우": "물순환정책과"}}, "hazards.호우"),
    ],
)
def test_a_broken_plan_is_refused_naming_the_key(raw: dict[str, object], named: str) -> None:
    with pytest.raises(PlanError, match=named.replace("[", r"\[").replace("]", r"\]")):
        parse_plan(raw)


# --- drafting ---------------------------------------------------------------------------------------------


def test_a_draft_is_valid_cap_in_korean_and_english_with_district_geocodes() -> None:
    draft = drafted(
        polygons=[
            pb.Polygon(
                points=[
                    pb.LatLon(lat=37.69, lon=127.01),
                    pb.LatLon(lat=37.69, lon=127.06),
                    pb.LatLon(lat=37.63, lon=127.06),
                    pb.LatLon(lat=37.69, lon=127.01),
                ]
            )
        ]
    )
    alert = draft.alert
    assert validate_alert(alert) == []
    assert [i.language for i in alert.infos] == ["ko-KR", "en-US"]
    assert alert.status is Status.ACTUAL and alert.msg_type is MsgType.ALERT and alert.incidents == ("INC-1",)
    ko = alert.infos[0]
    assert ko.areas[0].area_desc == "도봉구" and ko.areas[0].geocodes[0].value == "11320"
    assert len(ko.areas[1].polygons[0]) == 4
    assert ko.expires == NOW + timedelta(hours=6)
    assert draft.short_texts == {"ko": "[서울시] 도봉구 호우경보. 하천변 접근 자제 바랍니다."}


def test_a_bad_draft_names_every_field() -> None:
    bad = request(
        texts=[pb.AlertText(language="ko", event="호우", headline="", description="d", instruction="i"),
               pb.AlertText(language="fr", event="x")],
        severity="Awful",
        status="Draft",
        area_codes=["99999"],
        polygons=[pb.Polygon(points=[pb.LatLon(lat=1, lon=1), pb.LatLon(lat=2, lon=2)])],
        expires_hours=100,
        web="safecity.seoul.go.kr",
    )  # fmt: skip
    result = compose(bad, identifier="A", sender="s@x", incident_id="I", incident_area=[], at=NOW)
    assert isinstance(result, list)
    assert sorted(p.field for p in result) == sorted(
        ["texts[0].headline", "texts[1].language", "texts", "severity", "status", "area_codes[0]", "polygons[0]",
         "area_codes", "expires_hours", "web"]
    )  # fmt: skip


def test_an_update_keeps_unchanged_texts_and_replaces_the_rest() -> None:
    original = drafted().alert
    infos, shorts, problems = replaced_texts(original, [pb.AlertText(language="en", headline="Warning continues")])
    assert problems == [] and shorts == {}
    assert infos[0] == original.infos[0] and infos[1].headline == "Warning continues"
    update = derive_update(original, identifier="INC-1-A2", sent=NOW + timedelta(hours=1), infos=infos)
    assert validate_alert(update) == [] and update.references == (original.reference,)


def test_a_late_update_is_in_force_from_when_it_is_sent_for_as_long_as_the_original() -> None:
    original = drafted().alert  # effective NOW, expires NOW + 6 h
    later = NOW + timedelta(hours=8)
    infos = restarted(original.infos, later)
    assert all(i.effective == later and i.expires == later + timedelta(hours=6) for i in infos)
    assert validate_alert(derive_update(original, identifier="INC-1-A2", sent=later, infos=infos)) == []


def test_cancel_texts_fit_the_cell_broadcast_limit_with_their_marker() -> None:
    original = drafted().alert
    shorts = cancel_texts(original)
    assert shorts == {"ko": "도봉구 호우경보 안내를 취소합니다.", "en": "Withdrawn: Heavy rain warning, Dobong-gu."}
    from sotong_alerting.approval import derive_cancel

    cancel = derive_cancel(original, identifier="INC-1-A3", sent=NOW, note="error")
    rules = publishing.checked_channels(publishing.STAGE2_CHANNELS)
    assert check_channels(cancel, rules, ("ko", "en"), publishing.overrides_of(shorts)) == []


# --- publishing -------------------------------------------------------------------------------------------


def test_each_stage_publishes_on_its_channels_once_per_channel_with_stable_ids() -> None:
    draft = drafted()
    plan = load_plan()
    first = publishing.alert_dispatches(
        draft.alert, "INC-1", publishing.STAGE2, publishing.STAGE2_CHANNELS, ["11320"], draft.short_texts, plan, NOW
    )
    again = publishing.alert_dispatches(
        draft.alert, "INC-1", publishing.STAGE2, publishing.STAGE2_CHANNELS, ["11320"], draft.short_texts, plan,
        NOW + timedelta(seconds=5),
    )  # fmt: skip
    assert [m.dispatch_id for m in first] == [m.dispatch_id for m in again]  # a retry dispatches nothing new
    assert len({m.dispatch_id for m in first}) == 5
    by_channel = {m.channel: m for m in first}
    assert by_channel[dispatch.CHANNEL_SMS].audience.segment == "districts:11320"
    assert by_channel[dispatch.CHANNEL_SMS].renderings[0].body == "[서울시] 도봉구 호우경보. 하천변 접근 자제 바랍니다."
    assert by_channel[dispatch.CHANNEL_SNS].audience.segment == "all"
    assert by_channel[dispatch.CHANNEL_PORTAL_NOTICE].audience.segment == "feedback"
    kakao = by_channel[dispatch.CHANNEL_KAKAO_CHANNEL].renderings[0]
    assert kakao.template_code == "SOTONG_DISASTER_ALERT" and kakao.variables["headline"] == "도봉구 호우경보"
    assert all(m.priority == dispatch.PRIORITY_EMERGENCY and not m.exercise for m in first)
    press = publishing.alert_dispatches(
        draft.alert, "INC-1", publishing.STAGE1, publishing.STAGE1_CHANNELS, ["11320"], {}, plan, NOW
    )
    assert [m.channel for m in press] == [dispatch.CHANNEL_PRESS_MAIL, dispatch.CHANNEL_PORTAL_NOTICE]
    assert list(press[0].audience.targets) == ["press-disaster@seoul.go.kr"]
    assert press[1].audience.segment == "emergency"


def test_updates_go_wherever_the_incident_already_spoke() -> None:
    issued = [*publishing.STAGE1_CHANNELS, *publishing.STAGE2_CHANNELS]
    assert publishing.channels_for(publishing.UPDATE, issued) == (
        dispatch.CHANNEL_PRESS_MAIL,
        dispatch.CHANNEL_PORTAL_NOTICE,
        dispatch.CHANNEL_SNS,
        dispatch.CHANNEL_NEWS_APP_PUSH,
        dispatch.CHANNEL_KAKAO_CHANNEL,
        dispatch.CHANNEL_SMS,
    )


def test_stage0_pages_have_one_id_per_level_and_fit_the_pager() -> None:
    level0 = publishing.page_dispatch("INC-1", "호우" * 100, "도봉구", 0, ["duty"], NOW)
    level1 = publishing.page_dispatch("INC-1", "호우", "도봉구", 1, ["chief"], NOW)
    assert level0.dispatch_id != level1.dispatch_id
    assert level0.dispatch_id == publishing.page_dispatch("INC-1", "x", "y", 0, ["z"], NOW).dispatch_id
    assert len(level0.renderings[0].body) <= 160 and level0.channel == dispatch.CHANNEL_PAGER
    chat = publishing.group_chat_dispatch("INC-1", "호우", "도봉구", "요약", ["물순환정책과"], NOW)
    assert chat.channel == dispatch.CHANNEL_GROUP_CHAT and list(chat.audience.targets) == ["물순환정책과"]


# --- log entries and receipts -----------------------------------------------------------------------------


def test_lifecycle_events_round_trip_through_log_entries() -> None:
    reported = Incident.report("INC-1", actor="kim", at=NOW, hazard="호우", area_codes=["11320"], summary="s")
    incident = Incident.start(reported)
    (opened,) = incident.open_internal_sharing(actor="kim", at=NOW, departments=["안전총괄과"])
    entries = [timeline.from_event(reported), timeline.from_event(opened)]
    assert entries[1].payload == {"departments": ["안전총괄과"]}
    rebuilt = Incident.from_events(timeline.to_event(e) for e in entries)
    assert rebuilt == incident.apply(opened)
    audit = timeline.audit("INC-1", timeline.ALERT_APPROVED, "lee", NOW, alert_identifier="INC-1-A1")
    assert not audit.lifecycle and timeline.to_timeline(audit).alert_identifier == "INC-1-A1"


def test_receipts_count_per_target_or_per_batch() -> None:
    one = dispatch.DeliveryReported(outcome=dispatch.DELIVERY_OUTCOME_DELIVERED, target="010")
    dead = dispatch.DeliveryReported(outcome=dispatch.DELIVERY_OUTCOME_DEAD_LETTERED, target="010")
    batch = dispatch.DeliveryReported(outcome=dispatch.DELIVERY_OUTCOME_DELIVERED, delivered_count=498, failed_count=2)
    assert receipt_counts(one) == (1, 0, 0)
    assert receipt_counts(dead) == (0, 0, 1)
    assert receipt_counts(batch) == (498, 2, 0)


def test_upstream_cap_names_hazard_and_seoul_districts_only() -> None:
    alert = drafted(area_codes=["11320", "11350"]).alert
    assert upstream_hazard(alert) == ("호우경보", ["11320", "11350"], "도봉구 호우경보")


def test_an_all_clear_says_so_on_every_stage_2_channel_within_its_limits() -> None:
    original = drafted().alert
    infos, shorts, problems = replaced_texts(original, [])
    clear = derive_update(original, identifier="INC-1-A4", sent=NOW, infos=all_clear_infos(infos))
    assert problems == [] and shorts == {} and validate_alert(clear) == []
    assert all(info.response_types == (ResponseType.ALL_CLEAR,) for info in clear.infos)
    for channel in publishing.STAGE2_CHANNELS:
        for rendering in publishing.renderings(clear, channel, publishing.ALL_CLEAR, {}):
            words = rendering.title or rendering.body
            assert words.startswith("[해제]" if rendering.language == "ko" else "[ALL CLEAR]"), (channel, words)
    rules = publishing.checked_channels(publishing.STAGE2_CHANNELS)
    assert check_channels(clear, rules, ("ko", "en")) == []
