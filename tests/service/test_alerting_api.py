"""AlertingService on the real stack: refusals with clear errors (bad fields, channel limits, the two-person
rule, drill permissions, Update without a reference, CAP with an external entity), upstream CAP ingest,
WatchIncident, and the append-only log."""

from __future__ import annotations

import asyncio

import asyncpg
import grpc
import pytest

from sotong.alerting.v1 import alerting_service_pb2 as pb
from sotong.alerting.v1 import alerting_service_pb2_grpc as pb_grpc
from sotong.publishing.v1 import publishing_events_pb2 as dispatch
from sotong_common import topics
from sotong_common.errors import field_violations
from sotong_localstack.stack import Stack
from sotong_localstack.testing import channel, eventually, read_all, sql, token

pytestmark = pytest.mark.service

UPSTREAM_CAP = """<?xml version="1.0" encoding="UTF-8"?>
<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2">
  <identifier>KMA-2026-0714-01</identifier>
  <sender>cap@kma.go.kr</sender>
  <sent>2026-07-14T14:00:00+09:00</sent>
  <status>Actual</status>
  <msgType>Alert</msgType>
  <scope>Public</scope>
  <info>
    <language>ko-KR</language>
    <category>Met</category>
    <event>호우</event>
    <urgency>Immediate</urgency>
    <severity>Severe</severity>
    <certainty>Observed</certainty>
    <headline>서울 동북권 호우경보</headline>
    <area>
      <areaDesc>도봉구, 노원구</areaDesc>
      <polygon>37.69,127.01 37.69,127.06 37.63,127.06 37.63,127.01 37.69,127.01</polygon>
      <geocode><valueName>SIG_CD</valueName><value>11320</value></geocode>
      <geocode><valueName>SIG_CD</valueName><value>11350</value></geocode>
    </area>
  </info>
</alert>
""".encode()

XXE_CAP = b"""<?xml version="1.0"?>
<!DOCTYPE alert [<!ENTITY secret SYSTEM "file:///etc/passwd">]>
<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2"><identifier>&secret;</identifier></alert>
"""


def alert_texts(
    short_ko: str = "[서울시] 종로구 화재. 인근 주민은 창문을 닫고 외출을 자제하세요.",
) -> list[pb.AlertText]:
    return [
        pb.AlertText(
            language="ko",
            event="화재",
            headline="종로구 대형 화재",
            description="종로구 일대에 큰 화재가 발생했습니다.",
            instruction="창문을 닫고 외출을 자제하세요.",
            short_text=short_ko,
        ),
        pb.AlertText(
            language="en",
            event="Fire",
            headline="Major fire in Jongno-gu",
            description="A major fire broke out in Jongno-gu.",
            instruction="Close windows and stay indoors.",
            short_text="[Seoul] Fire in Jongno-gu. Close windows, stay indoors.",
        ),
    ]


def draft(incident_id: str, **overrides: object) -> pb.DraftAlertRequest:
    fields: dict[str, object] = {
        "incident_id": incident_id,
        "texts": alert_texts(),
        "severity": "Severe",
        "urgency": "Immediate",
        "certainty": "Observed",
        "category": "Fire",
    }
    fields.update(overrides)
    return pb.DraftAlertRequest(**fields)  # type: ignore[arg-type]


@pytest.fixture()
def alerting(fresh_stack: Stack, monkeypatch: pytest.MonkeyPatch) -> Stack:
    # The service token of these tests speaks for the weather agency's CAP sender (IngestCap is bound per caller).
    monkeypatch.setenv("SOTONG_ALERTING_CAP_SENDERS", '{"test-service": ["cap@kma.go.kr"]}')
    fresh_stack.start_services(("alerting-api",), say=False)
    return fresh_stack


async def test_bad_input_is_refused_with_the_field_or_rule_named(alerting: Stack) -> None:
    operator = token(alerting, "operator")
    approver = token(alerting, "approver")
    async with channel(alerting, "alerting-api") as ch:
        api = pb_grpc.AlertingServiceStub(ch)

        with pytest.raises(grpc.aio.AioRpcError) as bad_report:
            await api.ReportIncident(pb.ReportIncidentRequest(hazard="", area_codes=["99999"]), metadata=operator)
        assert bad_report.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert {v.field for v in field_violations(bad_report.value)} == {"hazard", "area_codes[0]"}

        with pytest.raises(grpc.aio.AioRpcError) as citizen:
            await api.ReportIncident(pb.ReportIncidentRequest(hazard="화재"), metadata=token(alerting, "citizen"))
        assert citizen.value.code() == grpc.StatusCode.PERMISSION_DENIED

        incident = (
            await api.ReportIncident(pb.ReportIncidentRequest(hazard="화재", area_codes=["11110"]), metadata=operator)
        ).incident

        # Stage 1 goes to the press list: a headline too long for a mail subject (78) is refused before approval.
        long_headline = alert_texts()
        long_headline[0].headline = "종로구 대형 화재 " * 8
        with pytest.raises(grpc.aio.AioRpcError) as too_long:
            await api.DraftAlert(draft(incident.incident_id, texts=long_headline), metadata=operator)
        assert too_long.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        violations = field_violations(too_long.value)
        assert [v.field for v in violations] == ["texts[ko]"]
        assert "press subject" in violations[0].description and "limit of 78" in violations[0].description

        with pytest.raises(grpc.aio.AioRpcError) as no_english:
            await api.DraftAlert(
                draft(incident.incident_id, texts=alert_texts()[:1], severity="Awful"), metadata=operator
            )
        fields = {v.field for v in field_violations(no_english.value)}
        assert fields == {"texts", "severity"}

        # The two-person rule: the drafter cannot approve an Actual alert, whatever their role.
        drafted = (await api.DraftAlert(draft(incident.incident_id), metadata=approver)).alert
        with pytest.raises(grpc.aio.AioRpcError) as own:
            await api.ApproveAlert(pb.ApproveAlertRequest(identifier=drafted.identifier), metadata=approver)
        assert own.value.code() == grpc.StatusCode.PERMISSION_DENIED
        assert "second person" in (own.value.details() or "")
        # An operator may not approve Actual alerts at all.
        with pytest.raises(grpc.aio.AioRpcError) as operator_approves:
            await api.ApproveAlert(pb.ApproveAlertRequest(identifier=drafted.identifier), metadata=operator)
        assert operator_approves.value.code() == grpc.StatusCode.PERMISSION_DENIED
        assert "alert.approve.actual" in (operator_approves.value.details() or "")
        # Not approved yet: issuing is refused.
        with pytest.raises(grpc.aio.AioRpcError) as early:
            await api.IssueAlert(pb.IssueAlertRequest(identifier=drafted.identifier), metadata=operator)
        assert early.value.code() == grpc.StatusCode.FAILED_PRECONDITION

        # Updates must say what they update.
        with pytest.raises(grpc.aio.AioRpcError) as no_reference:
            await api.UpdateAlert(pb.UpdateAlertRequest(references="", reason="x"), metadata=operator)
        assert no_reference.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert field_violations(no_reference.value)[0].field == "references"

        # Upstream CAP with a DTD and an external entity: refused, naming the problem, before any parsing.
        with pytest.raises(grpc.aio.AioRpcError) as xxe:
            await api.IngestCap(pb.IngestCapRequest(cap_xml=XXE_CAP), metadata=token(alerting, "service"))
        assert xxe.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert field_violations(xxe.value)[0].field == "cap_xml"
        assert "DOCTYPE" in field_violations(xxe.value)[0].description


async def test_preview_measures_every_channel_as_the_drafter_types_and_stores_nothing(alerting: Stack) -> None:
    operator = token(alerting, "operator")
    async with channel(alerting, "alerting-api") as ch:
        api = pb_grpc.AlertingServiceStub(ch)
        incident_id = (
            await api.ReportIncident(pb.ReportIncidentRequest(hazard="화재", area_codes=["11110"]), metadata=operator)
        ).incident.incident_id
        log_before = await sql(alerting, "SELECT count(*) AS n FROM incident_log", schema="alerting")

        # Half-written: no English yet, no instruction in Korean. The problems are named, the rest is measured.
        partial = alert_texts()[:1]
        partial[0].instruction = ""
        shown = await api.PreviewAlert(
            pb.PreviewAlertRequest(draft=draft(incident_id, texts=partial)), metadata=operator
        )
        assert shown.purpose == "stage1"
        assert {p.field for p in shown.problems} == {"texts", "texts[0].instruction"}
        press_ko = [r for r in shown.renderings if r.rule == "press" and r.language == "ko"]
        assert press_ko and "종로구 대형 화재" in press_ko[0].title and press_ko[0].measure.endswith("characters")

        # Complete but with a headline too long for the press subject: the same refusal DraftAlert gives.
        long_headline = alert_texts()
        long_headline[0].headline = "종로구 대형 화재 " * 8
        shown = await api.PreviewAlert(
            pb.PreviewAlertRequest(draft=draft(incident_id, texts=long_headline)), metadata=operator
        )
        assert [p.field for p in shown.problems] == ["texts[ko]"]
        over = [r for r in shown.renderings if r.violations]
        assert over and all(r.rule == "press" and r.language == "ko" for r in over)
        assert "78" in over[0].measure and "limit of 78" in over[0].violations[0]

        fine = await api.PreviewAlert(pb.PreviewAlertRequest(draft=draft(incident_id)), metadata=operator)
        assert not fine.problems and not any(r.violations for r in fine.renderings)
        assert {r.channel for r in fine.renderings} == {dispatch.CHANNEL_PRESS_MAIL, dispatch.CHANNEL_PORTAL_NOTICE}

        # Nothing was stored: no alert, no timeline entry.
        assert not await sql(alerting, "SELECT * FROM alerts", schema="alerting")
        assert await sql(alerting, "SELECT count(*) AS n FROM incident_log", schema="alerting") == log_before

        # The approver reads exactly what each channel will send.
        drafted = (await api.DraftAlert(draft(incident_id), metadata=operator)).alert
        got = await api.GetAlert(pb.GetAlertRequest(identifier=drafted.identifier), metadata=operator)
        assert {(r.channel, r.language) for r in got.renderings} == {
            (c, lang) for c in (dispatch.CHANNEL_PRESS_MAIL, dispatch.CHANNEL_PORTAL_NOTICE) for lang in ("ko", "en")
        }
        press = next(r for r in got.renderings if r.channel == dispatch.CHANNEL_PRESS_MAIL and r.language == "ko")
        assert "종로구 대형 화재" in press.title and "창문을 닫고" in press.text

        with pytest.raises(grpc.aio.AioRpcError) as citizen:
            await api.PreviewAlert(
                pb.PreviewAlertRequest(draft=draft(incident_id)), metadata=token(alerting, "citizen")
            )
        assert citizen.value.code() == grpc.StatusCode.PERMISSION_DENIED
        with pytest.raises(grpc.aio.AioRpcError) as unknown:
            await api.PreviewAlert(pb.PreviewAlertRequest(draft=draft("INC-NONE")), metadata=operator)
        assert unknown.value.code() == grpc.StatusCode.NOT_FOUND


async def test_exercise_alerts_need_the_drill_permission_and_a_second_person_and_leave_the_stage(
    alerting: Stack,
) -> None:
    operator = token(alerting, "operator")
    second = token(alerting, "operator", "dept_admin")  # another operator: subject test-operator-dept_admin
    async with channel(alerting, "alerting-api") as ch:
        api = pb_grpc.AlertingServiceStub(ch)
        incident = (
            await api.ReportIncident(pb.ReportIncidentRequest(hazard="지진", area_codes=["11110"]), metadata=operator)
        ).incident
        drafted = (await api.DraftAlert(draft(incident.incident_id, status="Exercise"), metadata=operator)).alert
        assert "<status>Exercise</status>" in drafted.cap_xml
        with pytest.raises(grpc.aio.AioRpcError) as alone:
            await api.ApproveAlert(pb.ApproveAlertRequest(identifier=drafted.identifier), metadata=operator)
        assert alone.value.code() == grpc.StatusCode.PERMISSION_DENIED
        assert "second person" in (alone.value.details() or "")
        approved = await api.ApproveAlert(pb.ApproveAlertRequest(identifier=drafted.identifier), metadata=second)
        assert approved.alert.state == "approved" and approved.alert.approved_by == "test-operator-dept_admin"
        issued = await api.IssueAlert(pb.IssueAlertRequest(identifier=drafted.identifier), metadata=operator)
        assert issued.incident.stage == "stage_0"  # a drill never moves the real incident

    async def exercise_dispatches() -> list[dispatch.DispatchRequested] | None:
        found = [
            dispatch.DispatchRequested.FromString(r.value)
            for r in read_all(alerting, topics.DISPATCH_EMERGENCY.removeprefix(topics.PREFIX), timeout_ms=1000)
        ]
        mine = [m for m in found if m.message_id == drafted.identifier]
        return mine if len(mine) == 2 else None

    for message in await eventually(exercise_dispatches, timeout=30):
        assert message.exercise
        assert all(
            r.body.startswith(("[훈련]", "[EXERCISE]")) or r.title.startswith(("[훈련]", "[EXERCISE]"))
            for r in message.renderings
        )


async def test_upstream_cap_opens_an_incident_once(alerting: Stack) -> None:
    service = token(alerting, "service")
    async with channel(alerting, "alerting-api") as ch:
        api = pb_grpc.AlertingServiceStub(ch)
        first = await api.IngestCap(pb.IngestCapRequest(cap_xml=UPSTREAM_CAP), metadata=service)
        again = await api.IngestCap(pb.IngestCapRequest(cap_xml=UPSTREAM_CAP), metadata=service)
        assert first.created and not again.created
        assert again.incident.incident_id == first.incident.incident_id
        assert first.incident.stage == "stage_0" and first.incident.source == "upstream-cap"
        assert list(first.incident.area_codes) == ["11320", "11350"] and first.incident.hazard == "호우"
        assert first.incident.reported_by == "upstream:cap@kma.go.kr"

        # The agency's Update of that alert is noted on the same incident, not opened as a new one.
        update = (
            UPSTREAM_CAP.decode()
            .replace("<identifier>KMA-2026-0714-01</identifier>", "<identifier>KMA-2026-0714-02</identifier>")
            .replace("<msgType>Alert</msgType>", "<msgType>Update</msgType>")
            .replace(
                "<scope>Public</scope>",
                "<scope>Public</scope><references>cap@kma.go.kr,KMA-2026-0714-01,2026-07-14T14:00:00+09:00</references>",
            )
            .replace("서울 동북권 호우경보", "서울 동북권 호우경보 확대")
        )
        noted = await api.IngestCap(pb.IngestCapRequest(cap_xml=update.encode()), metadata=service)
        assert noted.incident.incident_id == first.incident.incident_id and not noted.created
        shown = await api.GetIncident(
            pb.GetIncidentRequest(incident_id=first.incident.incident_id), metadata=token(alerting, "operator")
        )
        assert shown.timeline[-1].actor == "upstream:cap@kma.go.kr"
        assert "KMA-2026-0714-02" in shown.timeline[-1].detail and "확대" in shown.timeline[-1].detail


async def test_watch_streams_the_timeline_then_new_entries(alerting: Stack) -> None:
    operator = token(alerting, "operator")
    async with channel(alerting, "alerting-api") as ch:
        api = pb_grpc.AlertingServiceStub(ch)
        incident = (
            await api.ReportIncident(pb.ReportIncidentRequest(hazard="정전", area_codes=["11680"]), metadata=operator)
        ).incident
        stream = api.WatchIncident(pb.WatchIncidentRequest(incident_id=incident.incident_id), metadata=operator)
        seen: list[pb.TimelineEntry] = []

        async def read() -> None:
            async for item in stream:
                seen.append(item.entry)
                if len(seen) == 3:
                    return

        reader = asyncio.create_task(read())
        await eventually(lambda: _ready(len(seen) >= 2), timeout=10)
        await api.Acknowledge(pb.AcknowledgeRequest(incident_id=incident.incident_id), metadata=operator)
        await asyncio.wait_for(reader, timeout=10)
        stream.cancel()
        assert [e.event_type for e in seen] == [
            "alerting.incident-reported.v1",
            "alerting.internal-sharing-opened.v1",
            "alerting.page-acknowledged.v1",
        ]
        assert [e.sequence for e in seen] == [1, 2, 3]

        with pytest.raises(grpc.aio.AioRpcError) as missing:
            async for _ in api.WatchIncident(pb.WatchIncidentRequest(incident_id="INC-nope"), metadata=operator):
                pass
        assert missing.value.code() == grpc.StatusCode.NOT_FOUND

    # The log is an audit trail: the database itself refuses to change it.
    with pytest.raises(asyncpg.RaiseError, match="append-only"):
        await sql(alerting, "UPDATE incident_log SET actor = 'someone-else'", schema="alerting")
    with pytest.raises(asyncpg.RaiseError, match="append-only"):
        await sql(alerting, "DELETE FROM incident_log", schema="alerting")


async def _ready(value: bool) -> bool:
    return value
