"""The `make up` demo: citizens' submissions and a disaster incident, watched as they flow.

Part one sends a few citizens' submissions through intake's gRPC API and prints each event as it appears on the
topics (intake.submission-received.v1, moderation.decision-made.v1, intake.submission-status-changed.v1), then each
submission's status as intake reports it. Part two files a report through the KakaoTalk chatbot skill and shows the
citizen's status replies ("received", then "resolved" once an operator resolves it) arriving at the chatbot
stand-in through the publishing service. Part three runs the three-stage disaster flow through alerting's gRPC
API: report (stage 0: response group and pages), a stage-1 and a stage-2 alert each drafted by an operator and
approved by a second person, and what every channel's provider stand-in received. Part four calls the gateway as a
web page does (Connect JSON): a report, its retry under the same idempotency key, the alerts in force, a refused
role. Part five takes a merchant of 종로 주얼리거리 from registration to products the shopping-platform stand-in
accepted (`partner.run_demo`). Part six is citizen participation through community's gRPC API: a proposal
published by moderation gathers 100 verified citizens' supports and its forum opens, a comment with a phone number
is published masked, an abusive one is removed, and a poll's result by district moves as citizens answer. Part
seven is the city's outreach: an official SNS account registered, a staff business card carrying it (vCard and QR
written to the run directory), and a two-seat SNS class for seniors whose freed seat is offered to the first
waitlisted. The demo succeeds only if every part does.
"""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path
from typing import Any

import grpc
from kafka import KafkaConsumer

from sotong.common.v1 import geo_pb2
from sotong.intake.v1 import intake_events_pb2, intake_service_pb2, intake_service_pb2_grpc, intake_types_pb2
from sotong.moderation.v1 import moderation_events_pb2
from sotong_common import auth, topics
from sotong_localstack import partner
from sotong_localstack.stack import StackState

K = intake_types_pb2
SAMPLES = [
    (
        K.SUBMISSION_KIND_REPORT,
        "광화문역 2번 출구 앞 보도블록이 깨져서 넘어질 뻔했어요.",
        "road-damage",
        (37.5712, 126.9768),
    ),
    (
        K.SUBMISSION_KIND_OPINION,
        "따릉이 대여소를 망원한강공원 쪽에 하나 더 만들어 주세요.",
        "ttareungyi",
        (37.5556, 126.8950),
    ),
    (
        K.SUBMISSION_KIND_COMPLAINT,
        "밤마다 공사 소음이 심합니다. 연락은 010-2345-6789로 주세요.",
        "noise",
        (37.5172, 127.0473),
    ),
    (
        K.SUBMISSION_KIND_OPINION,
        "최저가 대출 상담 오픈채팅 open.kakao.com/o/abc123 들어오세요",
        "",
        (37.4979, 127.0276),
    ),
]

STATUS = {v: k.removeprefix("SUBMISSION_STATUS_").lower() for k, v in K.SubmissionStatus.items()}
ACTION = {v: k.removeprefix("ACTION_").lower() for k, v in moderation_events_pb2.Action.items()}


def _describe(topic: str, value: bytes) -> str:
    if topic == topics.SUBMISSION_RECEIVED:
        s = intake_events_pb2.SubmissionReceived.FromString(value)
        return f"submission {s.tracking_id} district={s.district_code or '-'} text={s.text[:30]!r}…"
    if topic == topics.DECISION_MADE:
        d = moderation_events_pb2.DecisionMade.FromString(value)
        line = f"decision {ACTION[d.action]} for {d.content_id[:8]}… categories={list(d.categories)}"
        return line + (f" published as {d.masked_text[-24:]!r}" if "personal_data" in d.categories else "")
    c = intake_events_pb2.SubmissionStatusChanged.FromString(value)
    return f"status of {c.tracking_id} -> {STATUS[c.status]} ({c.note or 'no policy clause'})"


def _watch(bootstrap: str, stop: threading.Event) -> None:
    consumer = KafkaConsumer(
        topics.SUBMISSION_RECEIVED,
        topics.DECISION_MADE,
        topics.SUBMISSION_STATUS_CHANGED,
        bootstrap_servers=bootstrap,
        auto_offset_reset="latest",
        group_id=None,
        consumer_timeout_ms=500,
    )
    consumer.poll(timeout_ms=1000)  # join and position at the end before the demo sends anything
    ready.set()
    while not stop.is_set():
        for record in consumer:
            print(f"  [{record.topic}] {_describe(record.topic, record.value)}", flush=True)
    consumer.close()


ready = threading.Event()


def run(run_dir: Path, wait_s: float = 60.0) -> int:
    state = StackState.load(run_dir)
    token = auth.issue(state.jwt_secret, "demo-citizen", ["citizen"])
    metadata = (("authorization", f"Bearer {token}"),)
    stop = threading.Event()
    watcher = threading.Thread(target=_watch, args=(state.kafka_bootstrap, stop), daemon=True)
    watcher.start()
    ready.wait(15)
    print("demo: submitting 4 citizen reports through intake's gRPC API", flush=True)
    tracking: list[str] = []
    with grpc.insecure_channel(f"127.0.0.1:{state.grpc_ports['intake-api']}") as channel:
        stub = intake_service_pb2_grpc.IntakeServiceStub(channel)
        stamp = int(time.time())
        for i, (kind, text, category, (lat, lng)) in enumerate(SAMPLES):
            reply = stub.SubmitReport(
                intake_service_pb2.SubmitReportRequest(
                    kind=kind,
                    text=text,
                    category=category,
                    point=geo_pb2.GeoPoint(lat=lat, lng=lng),
                    channel="app",
                    channel_message_id=f"demo-{stamp}-{i}",
                ),
                metadata=metadata,
            )
            tracking.append(reply.tracking_id)
            print(f"  -> SubmitReport accepted, tracking id {reply.tracking_id}", flush=True)
        print("demo: bad input is refused with the field named:", flush=True)
        try:
            stub.SubmitReport(
                intake_service_pb2.SubmitReportRequest(kind=K.SUBMISSION_KIND_REPORT, text=""), metadata=metadata
            )
        except grpc.RpcError as exc:
            print(f"  -> {exc.code().name}: {exc.details()}", flush=True)
        deadline = time.monotonic() + wait_s
        final: dict[str, str] = {}
        while time.monotonic() < deadline and len(final) < len(tracking):
            for tid in tracking:
                got = stub.GetSubmission(intake_service_pb2.GetSubmissionRequest(tracking_id=tid), metadata=metadata)
                if got.submission.status != K.SUBMISSION_STATUS_RECEIVED:
                    final[tid] = STATUS[got.submission.status]
            time.sleep(0.3)
    time.sleep(1.0)
    stop.set()
    print("demo: statuses as intake's GetSubmission reports them", flush=True)
    for tid in tracking:
        print(f"  {tid}: {final.get(tid, 'received (no decision yet)')}", flush=True)
    citizens_ok = len(final) == len(tracking)
    replies_ok = run_status_replies(state, wait_s) if "intake-http" in state.http_ports else True
    disaster_ok = run_disaster(state, wait_s) if "alerting-api" in state.grpc_ports else True
    gateway_ok = run_gateway(state) if "gateway-api" in state.http_ports else True
    partner_ok = partner.run_demo(state, wait_s) if "partner-api" in state.grpc_ports else True
    participation_ok = run_participation(state, wait_s) if "community-api" in state.grpc_ports else True
    outreach_ok = run_outreach(state, run_dir) if "community-api" in state.grpc_ports else True
    checks = (citizens_ok, replies_ok, disaster_ok, gateway_ok, partner_ok, participation_ok, outreach_ok)
    return 0 if all(checks) else 1


def run_gateway(state: StackState) -> bool:
    """The front door as a web page calls it: Connect JSON over HTTP, a citizen's token, the edge's refusals."""
    base = f"http://127.0.0.1:{state.http_ports['gateway-api']}"
    citizen = "Bearer " + auth.issue(state.jwt_secret, "demo-web-citizen", ["citizen"])

    def call(method: str, body: dict[str, str]) -> tuple[int, dict[str, Any]]:
        request = urllib.request.Request(
            f"{base}/{method}",
            data=json.dumps(body).encode(),
            headers={"content-type": "application/json", "authorization": citizen},
        )
        try:
            with urllib.request.urlopen(request, timeout=10) as reply:
                return reply.status, json.loads(reply.read())
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read() or b"{}")

    print(f"\ndemo: the gateway, as a web page calls it (Connect JSON on {base})", flush=True)
    report = {"kind": "SUBMISSION_KIND_COMPLAINT", "text": "덕수궁 돌담길 가로등이 깜빡입니다", "districtCode": "11140",
              "idempotencyKey": str(uuid.uuid4())}  # fmt: skip
    status, filed = call("sotong.gateway.v1.GatewayService/SubmitReport", report)
    print(f"  -> SubmitReport: HTTP {status} {filed}", flush=True)
    status, again = call("sotong.gateway.v1.GatewayService/SubmitReport", report)
    print(f"  -> the same idempotency key again: HTTP {status} {again} (the same report, not a second one)")
    status, alerts = call("sotong.gateway.v1.GatewayService/ListActiveAlerts", {})
    titles = [str(alert.get("title")) for alert in alerts.get("alerts", [])]
    print(f"  -> ListActiveAlerts: HTTP {status}, {len(titles)} in force {titles[:2]}", flush=True)
    status, refused = call("sotong.intake.v1.IntakeService/ListSubmissions", {})
    print(f"  -> a citizen asking for the operators' ListSubmissions: HTTP {status} {refused.get('code')}")
    return bool(filed.get("trackingId")) and again.get("trackingId") == filed.get("trackingId") and status == 403


def _bot_messages(state: StackState, user: str) -> list[str]:
    ports = state.standins_ports.get("standins")
    if not ports:
        return []
    url = f"http://127.0.0.1:{ports['http']}/_control/deliveries/kakao_bot?target={user}&limit=20"
    with urllib.request.urlopen(url, timeout=5) as reply:
        return [str(d["text"]) for d in reversed(json.load(reply))]


def run_status_replies(state: StackState, wait_s: float) -> bool:
    """A report through the KakaoTalk chatbot, and the status replies its citizen receives through the bot."""
    user = f"demo-bot-user-{int(time.time())}"
    skill = {
        "userRequest": {
            "utterance": "성산동 사거리 신호등이 고장 나서 깜빡이지 않아요",
            "user": {"id": user, "type": "botUserKey"},
            "block": {"id": "b1", "name": "불편 신고"},
        },
        "action": {"params": {"sys_location": "서울특별시 마포구 성산동"}},
        "bot": {"id": "sotong-seoul-bot"},
    }
    request = urllib.request.Request(
        f"http://127.0.0.1:{state.http_ports['intake-http']}/kakao/skill",
        data=json.dumps(skill, ensure_ascii=False).encode(),
        headers={"Content-Type": "application/json", "X-Sotong-Skill-Token": state.kakao_skill_token},
        method="POST",
    )
    print("\ndemo: a citizen reports through the city's KakaoTalk chatbot (intake's skill endpoint)", flush=True)
    with urllib.request.urlopen(request, timeout=10) as reply:
        answer = json.load(reply)
    said = answer["template"]["outputs"][0]["simpleText"]["text"]
    print(f"  -> the bot answered: {said.splitlines()[0]}", flush=True)

    def wait_for(count: int) -> list[str]:
        deadline = time.monotonic() + wait_s
        messages: list[str] = []
        while time.monotonic() < deadline:
            messages = _bot_messages(state, user)
            if len(messages) >= count:
                break
            time.sleep(0.3)
        return messages

    messages = wait_for(1)
    for text in messages:
        print(f"  [kakao bot -> citizen] {' / '.join(text.splitlines())}", flush=True)
    operator = (("authorization", "Bearer " + auth.issue(state.jwt_secret, "demo-operator", ["operator"])),)
    with grpc.insecure_channel(f"127.0.0.1:{state.grpc_ports['intake-api']}") as channel:
        stub = intake_service_pb2_grpc.IntakeServiceStub(channel)
        found = stub.ListSubmissions(
            intake_service_pb2.ListSubmissionsRequest(channel="kakao", page_size=50), metadata=operator
        )
        mine = [s for s in found.submissions if "신호등" in s.text]
        if not mine:
            print("  -> the report was not found in intake", flush=True)
            return False
        stub.UpdateStatus(
            intake_service_pb2.UpdateStatusRequest(
                tracking_id=mine[0].tracking_id, status=K.SUBMISSION_STATUS_RESOLVED, note="신호등을 수리했습니다."
            ),
            metadata=operator,
        )
        print(f"  -> an operator resolved {mine[0].tracking_id} (UpdateStatus)", flush=True)
    messages = wait_for(2)
    for text in messages[1:]:
        print(f"  [kakao bot -> citizen] {' / '.join(text.splitlines())}", flush=True)
    return len(messages) == 2


def _standin_accepted(state: StackState) -> dict[str, int]:
    ports = state.standins_ports.get("standins")
    if not ports:
        return {}
    with urllib.request.urlopen(f"http://127.0.0.1:{ports['http']}/_control/stats", timeout=5) as reply:
        stats = json.load(reply)
    return {name: int(s.get("accepted", 0)) for name, s in stats.items() if isinstance(s, dict) and "accepted" in s}


def run_disaster(state: StackState, wait_s: float) -> bool:
    """The disaster flow of MISSION.md through AlertingService, counted at the provider stand-ins."""
    from sotong.alerting.v1 import alerting_service_pb2 as apb
    from sotong.alerting.v1 import alerting_service_pb2_grpc as apb_grpc

    operator = (("authorization", "Bearer " + auth.issue(state.jwt_secret, "demo-operator", ["operator"])),)
    approver = (("authorization", "Bearer " + auth.issue(state.jwt_secret, "demo-approver", ["approver"])),)
    texts = [
        apb.AlertText(
            language="ko",
            event="호우경보",
            headline="도봉구 호우경보 발령",
            description="도봉구에 시간당 50mm 이상의 강한 비가 내리고 있습니다.",
            instruction="하천변 산책로 이용을 자제하고 저지대 주민은 대피를 준비하세요.",
            short_text="[서울시] 도봉구 호우경보. 하천변 접근 금지, 저지대 주민 대피 준비 바랍니다.",
        ),
        apb.AlertText(
            language="en",
            event="Heavy rain warning",
            headline="Heavy rain warning for Dobong-gu",
            description="Rain of over 50 mm per hour is falling in Dobong-gu.",
            instruction="Keep away from streams; residents of low-lying areas prepare to evacuate.",
            short_text="[Seoul] Heavy rain warning, Dobong-gu. Keep away from streams.",
        ),
    ]
    before = _standin_accepted(state)
    print("\ndemo: a disaster incident through alerting's gRPC API (MISSION.md's three stages)", flush=True)
    with grpc.insecure_channel(f"127.0.0.1:{state.grpc_ports['alerting-api']}") as ch:
        api = apb_grpc.AlertingServiceStub(ch)
        reported = api.ReportIncident(
            apb.ReportIncidentRequest(
                hazard="호우", area_codes=["11320"], summary="도봉구 시간당 50mm", request_id=f"demo-{time.time()}"
            ),
            metadata=operator,
        )
        incident_id = reported.incident.incident_id
        print(f"  -> incident {incident_id} reported: {reported.incident.stage} (response group + pages)")
        for stage in ("stage 1", "stage 2"):
            drafted = api.DraftAlert(
                apb.DraftAlertRequest(
                    incident_id=incident_id, texts=texts, severity="Severe", urgency="Immediate",
                    certainty="Observed", category="Met", web="https://safecity.seoul.go.kr/",
                ),
                metadata=operator,
            )  # fmt: skip
            try:
                api.ApproveAlert(apb.ApproveAlertRequest(identifier=drafted.alert.identifier), metadata=operator)
            except grpc.RpcError as exc:
                print(f"  -> {stage}: the drafter may not approve: {exc.code().name}: {exc.details()}")
            api.ApproveAlert(apb.ApproveAlertRequest(identifier=drafted.alert.identifier), metadata=approver)
            issued = api.IssueAlert(apb.IssueAlertRequest(identifier=drafted.alert.identifier), metadata=operator)
            print(f"  -> {stage}: CAP alert {drafted.alert.identifier} approved by a second person, "
                  f"issued to {len(issued.dispatch_ids)} channels")  # fmt: skip
        deadline = time.monotonic() + wait_s
        delivered: dict[int, int] = {}
        while time.monotonic() < deadline:
            got = api.GetIncident(apb.GetIncidentRequest(incident_id=incident_id), metadata=operator)
            delivered = {d.channel: d.delivered for d in got.deliveries if d.delivered}
            if len(delivered) >= 9 or (len(delivered) >= 8 and time.monotonic() > deadline - wait_s / 2):
                break
            time.sleep(0.5)
        feed = api.GetCapFeed(apb.GetCapFeedRequest(), metadata=operator)
    from sotong.publishing.v1 import publishing_events_pb2 as dpb

    print("demo: deliveries recorded on the incident (receipts from the publishing engine)", flush=True)
    for channel, count in sorted(delivered.items()):
        print(f"  {dpb.Channel.Name(dpb.Channel.ValueType(channel)).removeprefix('CHANNEL_').lower():<16} {count}")
    after = _standin_accepted(state)
    received = {k: after.get(k, 0) - before.get(k, 0) for k in after if after.get(k, 0) != before.get(k, 0)}
    print(f"demo: what the provider stand-ins received: {received}")
    print(f"demo: the CAP feed (Atom) lists {feed.entries} active alert(s)")
    return bool(delivered)


def run_participation(state: StackState, wait_s: float) -> bool:
    """Citizen participation: a proposal crossing its first threshold, comments moderated, a poll's live result."""
    from sotong.community.v1 import community_service_pb2 as cpb
    from sotong.community.v1 import community_service_pb2_grpc as cpb_grpc

    def who(subject: str, *roles: str, verification: str | None = "identity") -> tuple[tuple[str, str], ...]:
        minted = auth.issue(state.jwt_secret, subject, roles or ("citizen",), verification=verification)
        return (("authorization", f"Bearer {minted}"),)

    stamp = int(time.time())
    author = who(f"demo-author-{stamp}")
    print("\ndemo: citizen participation through community's gRPC API", flush=True)
    with grpc.insecure_channel(f"127.0.0.1:{state.grpc_ports['community-api']}") as ch:
        api = cpb_grpc.CommunityServiceStub(ch)
        created = api.CreateProposal(
            cpb.CreateProposalRequest(
                title="망원한강공원에 따릉이 대여소를 두 곳 더",
                body="주말마다 대여소에 자전거가 없습니다. 망원나들목 근처에 두 곳 더 만들어 주세요.",
                category="transport",
                district_code="11440",
                request_id=f"demo-{stamp}",
            ),
            metadata=author,
        )
        proposal_id = created.proposal.proposal_id
        print(f"  -> proposal {proposal_id[:8]}… filed: {created.proposal.state}", flush=True)

        def proposal() -> cpb.Proposal:
            got: cpb.Proposal = api.GetProposal(
                cpb.GetProposalRequest(proposal_id=proposal_id), metadata=author
            ).proposal
            return got

        deadline = time.monotonic() + wait_s
        while proposal().state != "published" and time.monotonic() < deadline:
            time.sleep(0.3)
        print(f"  -> moderation published it: {proposal().state}", flush=True)
        try:
            api.SupportProposal(cpb.SupportProposalRequest(proposal_id=proposal_id),
                                metadata=who(f"demo-anon-{stamp}", verification=None))  # fmt: skip
        except grpc.RpcError as exc:
            print(f"  -> an unverified citizen: {exc.code().name}: {exc.details()}", flush=True)
        reply = None
        for i in range(100):
            reply = api.SupportProposal(
                cpb.SupportProposalRequest(proposal_id=proposal_id), metadata=who(f"demo-supporter-{stamp}-{i}")
            )
            if reply.support_count in (25, 50, 99, 100):
                print(f"  -> support {reply.support_count}: {reply.state}", flush=True)
        forum_ok = reply is not None and reply.state == "forum_open"

        target = cpb.TargetRef(kind=cpb.TARGET_KIND_PROPOSAL, id=proposal_id)
        comments = {
            "masked": "좋은 제안이에요! 자세한 건 010-2345-6789로 연락 주세요",
            "removed": "씨발 이런 걸 제안이라고 올리냐 병신아",
        }
        ids = {}
        for name, text in comments.items():
            posted = api.PostComment(
                cpb.PostCommentRequest(target=target, text=text, request_id=f"demo-{stamp}-{name}"),
                metadata=who(f"demo-commenter-{stamp}-{name}"),
            )
            ids[name] = posted.comment.comment_id
        decided: dict[str, cpb.Comment] = {}
        deadline = time.monotonic() + wait_s
        while len(decided) < len(ids) and time.monotonic() < deadline:
            for name, comment_id in ids.items():
                mine = who(f"demo-commenter-{stamp}-{name}")
                got = api.GetComment(cpb.GetCommentRequest(comment_id=comment_id), metadata=mine).comment
                if got.status != "in_moderation":
                    decided[name] = got
            time.sleep(0.3)
        listed = api.ListComments(cpb.ListCommentsRequest(target=target), metadata=author)
        shown = [c.text for c in listed.comments]
        print(f"  -> comments others see: {shown}", flush=True)
        removed = decided.get("removed")
        if removed is not None:
            print(f"  -> the abusive one, as its author sees it: {removed.status}, clause {list(removed.clauses)}")

        operator = who("demo-operator", "operator")
        poll = api.CreatePoll(
            cpb.CreatePollRequest(
                poll=cpb.Poll(
                    title="한강공원에 가장 필요한 것은?",
                    questions=[cpb.Question(text="하나만 고르세요", kind=cpb.QUESTION_KIND_SINGLE,
                                            options=["화장실", "그늘막", "따릉이"], required=True)],
                ),
                request_id=f"demo-poll-{stamp}",
            ),
            metadata=operator,
        ).poll  # fmt: skip
        districts = ("11440", "11440", "11560", "11110")
        for i in range(12):
            api.RespondToPoll(
                cpb.RespondToPollRequest(
                    poll_id=poll.poll_id, answers=[cpb.QuestionAnswer(question=0, choices=[i % 3])],
                    district_code=districts[i % len(districts)], age_band=("20s", "30s", "60s")[i % 3],
                ),
                metadata=who(f"demo-resident-{stamp}-{i}"),
            )  # fmt: skip
            if i in (3, 11):
                results = api.GetPollResults(cpb.GetPollResultsRequest(poll_id=poll.poll_id), metadata=operator)
                by_district: dict[str, list[int]] = {}
                for cell in results.questions[0].cells:
                    by_district.setdefault(cell.district_code, [0, 0, 0])[cell.option] += cell.count
                print(f"  -> poll live after {results.response_count} responses, by district"
                      f" (화장실, 그늘막, 따릉이): {by_district}", flush=True)  # fmt: skip
    comments_ok = bool(shown) and "***-****-****" in shown[0] and removed is not None and removed.status == "removed"
    return forum_ok and comments_ok


def run_outreach(state: StackState, run_dir: Path) -> bool:
    """Part seven: the city's outreach through community's gRPC API: an official SNS account registered (the
    publishing service's sns:official follows), a staff business card with it (vCard and QR written to the run
    directory), and a two-seat SNS class for seniors: three enrol, one cancels, the first waitlisted is offered
    the seat."""
    from sotong.community.v1 import community_outreach_pb2 as opb
    from sotong.community.v1 import community_service_pb2_grpc as cpb_grpc

    def who(subject: str, *roles: str) -> tuple[tuple[str, str], ...]:
        return (("authorization", "Bearer " + auth.issue(state.jwt_secret, subject, roles or ("citizen",))),)

    stamp = int(time.time())
    operator = who("demo-sns-team", "operator")
    print("\ndemo: the city's outreach through community's gRPC API", flush=True)
    with grpc.insecure_channel(f"127.0.0.1:{state.grpc_ports['community-api']}") as ch:
        api = cpb_grpc.CommunityServiceStub(ch)
        handle = f"seoul.demo{stamp % 100000}"
        # A department of this run's own: a second `make up` on the same data must find this run's account on the card.
        department = f"demo-outreach-{stamp}"
        made = api.RegisterAccount(
            opb.RegisterAccountRequest(
                account=opb.SnsAccount(platform="facebook", handle=handle, url=f"https://www.facebook.com/{handle}",
                                       department=department, department_name="시민소통과",
                                       purpose="시민소통 데모", publishing_target=f"demo-{stamp}"),
                request_id=f"demo-account-{stamp}",
            ),
            metadata=operator,
        )  # fmt: skip
        print(f"  -> RegisterAccount: {made.account.platform} {made.account.handle} ({made.account.account_id}),"
              " fed to the publishing service's sns:official", flush=True)  # fmt: skip
        card = api.GetBusinessCard(
            opb.GetBusinessCardRequest(
                staff=opb.StaffContact(name="김소통", title="주무관", phone="02-2133-0000", email="demo@seoul.go.kr"),
                department=department, department_name="시민소통과",
            ),
            metadata=operator,
        ).card  # fmt: skip
        (run_dir / "demo-card.vcf").write_text(card.vcard, encoding="utf-8")
        (run_dir / "demo-card-qr.svg").write_text(card.qr_svg, encoding="utf-8")
        print(f"  -> GetBusinessCard: vCard {card.vcard.splitlines()[1]}, QR of {card.qr_url}"
              f" (written to {run_dir / 'demo-card.vcf'} and demo-card-qr.svg)", flush=True)  # fmt: skip
        venue = opb.ClassVenue(name="마포 디지털 배움터", district_code="11440", accessible=True)
        course = opb.SnsClass(title="어르신 카카오톡 첫걸음", level="beginner", capacity=2, min_age=65, waitlist=True,
                              venue=venue)  # fmt: skip
        session = course.sessions.add(minutes=90)
        session.starts_at.FromSeconds(stamp + 7 * 86400)
        class_id = api.CreateClass(opb.CreateClassRequest(sns_class=course, request_id=f"demo-class-{stamp}"),
                                   metadata=operator).sns_class.class_id  # fmt: skip
        seniors = [who(f"demo-senior-{stamp}-{i}") for i in range(3)]
        enrolments = [
            api.EnrolInClass(
                opb.EnrolInClassRequest(class_id=class_id, channel=opb.ENROLMENT_CHANNEL_APP, birth_year=1955,
                                        contact=opb.ClassContact(phone=f"010-5555-{i:04d}"),
                                        request_id=f"demo-enrol-{stamp}-{i}"),
                metadata=seniors[i],
            ).enrolment
            for i in range(3)
        ]  # fmt: skip
        print("  -> three seniors enrol in a two-seat class: "
              f"{[opb.EnrolmentStatus.Name(e.status) for e in enrolments]}", flush=True)  # fmt: skip
        api.CancelEnrolment(opb.CancelEnrolmentRequest(enrolment_id=enrolments[0].enrolment_id), metadata=seniors[0])
        offered = api.GetEnrolment(opb.GetEnrolmentRequest(enrolment_id=enrolments[2].enrolment_id),
                                   metadata=seniors[2]).enrolment  # fmt: skip
        print(f"  -> the first cancels; the waitlisted one is {opb.EnrolmentStatus.Name(offered.status)} the seat"
              " (by SMS through the publishing service)", flush=True)  # fmt: skip
    return offered.status == opb.ENROLMENT_STATUS_OFFERED and card.qr_url.endswith(handle)
