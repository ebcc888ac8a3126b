"""What the console says, in Korean first and in English: one table, so a page never mixes the two by accident.

`say(key, language)` looks a phrase up; a missing key is a bug, so it raises in tests rather than showing the key.
Names that come from the services (stages, timeline event types, channels, statuses, policy clauses) are
translated here too; a name the console does not know yet is shown as the service sent it.
"""

from __future__ import annotations

from collections.abc import Mapping

LANGUAGES = ("ko", "en")

PHRASES: Mapping[str, tuple[str, str]] = {
    # frame
    "console": ("소통 운영 콘솔", "Sotong operator console"),
    "skip": ("본문으로 건너뛰기", "Skip to content"),
    "main_nav": ("주 메뉴", "Main menu"),
    "situation_room": ("재난 상황실", "Situation room"),
    "moderation": ("댓글 검토", "Moderation"),
    "inbox": ("시민 민원함", "City inbox"),
    "signed_in_as": ("로그인", "Signed in as"),
    "roles": ("역할", "Roles"),
    "sign_out": ("로그아웃", "Sign out"),
    "language": ("언어", "Language"),
    "other_language": ("English", "한국어"),
    "waiting": ("검토 대기", "waiting"),
    "waiting_long": ("검토를 기다리는 항목", "Items waiting for review"),
    "live": ("실시간", "live"),
    "error": ("오류", "Error"),
    "not_allowed": ("이 화면을 볼 권한이 없습니다.", "Your roles do not allow this screen."),
    "refused_by_gateway": ("요청이 거절되었습니다", "The request was refused"),
    "not_found": ("찾을 수 없습니다.", "Not found."),
    "back": ("돌아가기", "Back"),
    "next_page": ("다음 페이지", "Next page"),
    "first_page": ("처음으로", "First page"),
    "filter": ("거르기", "Filter"),
    "all": ("전체", "All"),
    "none": ("없음", "None"),
    "save": ("저장", "Save"),
    "show": ("보기", "Show"),
    "minutes_ago": ("{n}분 전", "{n} min ago"),
    "hours_ago": ("{n}시간 {m}분 전", "{n} h {m} min ago"),
    "days_ago": ("{n}일 전", "{n} days ago"),
    "just_now": ("방금", "just now"),
    "seconds_ago": ("{n}초 전", "{n} s ago"),
    "session_ended": ("세션이 끝났습니다. 다시 로그인하세요.", "Your session ended. Please sign in again."),
    # sign in
    "sign_in": ("로그인", "Sign in"),
    "sign_in_intro": ("운영 콘솔은 시청 직원만 사용할 수 있습니다.", "The console is for city staff only."),
    "user": ("사용자", "User"),
    "password": ("비밀번호", "Password"),
    "sign_in_failed": ("사용자 또는 비밀번호가 맞지 않습니다.", "Wrong user or password."),
    "dev_users": (
        "로컬 개발 계정 (make up이 비밀번호를 알려 줍니다)",
        "Local development users (make up prints the password)",
    ),
    "oidc_sign_in": ("시 통합 인증으로 로그인", "Sign in with the city's identity provider"),
    "sign_in_expired": ("로그인 요청이 만료되었습니다. 다시 시도하세요.", "The sign-in request expired. Try again."),
    # situation room
    "open_incidents": ("진행 중인 재난", "Open incidents"),
    "awaiting_approval": ("내 승인을 기다리는 경보", "Alerts waiting for your approval"),
    "nothing_awaits": ("승인을 기다리는 경보가 없습니다.", "No alert waits for approval."),
    "all_incidents": ("모든 재난 (종료 포함)", "All incidents (closed too)"),
    "only_open": ("진행 중만", "Open only"),
    "no_incidents": ("진행 중인 재난이 없습니다.", "No open incidents."),
    "incident": ("재난", "Incident"),
    "hazard": ("재난 종류", "Hazard"),
    "districts": ("지역", "Districts"),
    "stage": ("단계", "Stage"),
    "age": ("경과", "Age"),
    "reported_at": ("보고 시각", "Reported at"),
    "reported_by": ("보고자", "Reported by"),
    "source": ("출처", "Source"),
    "page_status": ("호출", "Page"),
    "page_pending": ("응답 대기 (에스컬레이션 {n}단계)", "unacknowledged (escalation level {n})"),
    "page_acknowledged": ("{who} 확인", "acknowledged by {who}"),
    "acknowledge": ("호출 확인", "Acknowledge page"),
    "report_incident": ("재난 보고", "Report an incident"),
    "summary": ("개요", "Summary"),
    "report": ("보고하기", "Report"),
    "map_of_incidents": ("진행 중인 재난이 있는 지역", "Districts with open incidents"),
    "map_of_area": ("영향 지역", "Affected districts"),
    "timeline": ("타임라인", "Timeline"),
    "timeline_live": ("새 기록은 새로 고침 없이 나타납니다.", "New entries appear without a reload."),
    "deliveries": ("채널별 전달 현황", "Deliveries per channel"),
    "no_deliveries": ("아직 전달 보고가 없습니다.", "No delivery receipts yet."),
    "channel": ("채널", "Channel"),
    "delivered": ("전달", "Delivered"),
    "failed": ("실패", "Failed"),
    "dead_lettered": ("보류(DLQ)", "Dead-lettered"),
    "alerts": ("경보", "Alerts"),
    "no_alerts": ("아직 경보가 없습니다.", "No alerts yet."),
    "draft_next": ("{stage} 경보 작성", "Draft the {stage} alert"),
    "cancel_incident": ("재난 취소", "Cancel the incident"),
    "cancel_reason": ("취소 사유", "Reason for cancelling"),
    "cancel_directly": (
        "아직 공식 메시지가 나가지 않아 바로 취소됩니다.",
        "No official message went out yet: it is cancelled at once.",
    ),
    "cancel_by_alert": ("취소 경보를 작성합니다 (승인 후 발령).", "Drafts a Cancel alert (approved, then issued)."),
    "update_alert": ("정정·변경 경보 작성", "Draft an update"),
    "update_reason": ("변경 사유", "Reason for the update"),
    "update_keeps": (
        "바꿀 문안만 쓰세요. 빈 칸은 원래 경보의 문안을 그대로 씁니다. 승인과 발령은 처음과 같습니다.",
        "Write only what changes: an empty field keeps the original alert's words. It is approved and issued "
        "like any alert.",
    ),
    "all_clear_incident": ("해제 경보 작성", "Draft the all-clear"),
    "all_clear_explain": (
        "위험이 끝났음을 알리는 해제 경보(CAP AllClear)를 작성합니다. 문안은 원래 경보의 것에 [해제] 표시가 붙습니다. "
        "다른 사람이 승인한 뒤 발령하면 재난이 종료되고 호출이 멈춥니다.",
        "Drafts the all-clear (CAP AllClear): the original alert's words, marked [ALL CLEAR]. Once another person "
        "approves it and it is issued, the incident ends and paging stops.",
    ),
    "all_clear_reason": ("해제 사유", "Why the danger is over"),
    "all_clear_instruction_hint": (
        "이제 시민이 할 일을 쓰세요 (예: 귀가하셔도 됩니다). 빈 칸은 원래 경보의 행동요령을 그대로 씁니다.",
        "Say what people may do now (e.g. they may return home). Empty keeps the original alert's instruction.",
    ),
    "identifier": ("식별자", "Identifier"),
    "state": ("상태", "State"),
    "purpose": ("용도", "Purpose"),
    "drafted_by": ("작성자", "Drafted by"),
    "approved_by": ("승인자", "Approved by"),
    "issued_by": ("발령자", "Issued by"),
    "status": ("구분", "Status"),
    "progress": ("처리 상태", "Status"),
    # drafting
    "drafting": ("경보 작성", "Drafting an alert"),
    "korean": ("한국어", "Korean"),
    "english": ("영어", "English"),
    "event": ("재난 명칭", "Event"),
    "headline": ("제목", "Headline"),
    "description": ("내용", "Description"),
    "instruction": ("행동요령", "Instruction"),
    "short_text": ("재난문자·SMS 문안 (직접 작성)", "Cell broadcast / SMS text (hand-written)"),
    "short_text_hint": (
        "비우면 제목과 행동요령으로 만듭니다. 한글 90자.",
        "Empty: composed from headline and instruction. 90 Korean characters.",
    ),
    "severity": ("심각도", "Severity"),
    "urgency": ("긴급도", "Urgency"),
    "certainty": ("확실도", "Certainty"),
    "category": ("분류", "Category"),
    "alert_status": ("실제/훈련", "Actual or drill"),
    "expires_hours": ("유효 시간(시간)", "Expires after (hours)"),
    "web": ("자세히 보기 주소", "More information URL"),
    "preview": ("채널별 미리보기", "Preview per channel"),
    "preview_hint": (
        "입력하는 대로 채널별 글자 수 제한을 확인합니다.",
        "Each channel's limits are checked as you type.",
    ),
    "problems": ("고칠 점", "To fix"),
    "no_problems": ("발송할 수 있습니다.", "This can be sent."),
    "warnings": ("주의", "Warnings"),
    "submit_draft": ("작성 완료 (승인 요청)", "Save the draft (ask for approval)"),
    "this_is_purpose": ("이 경보는 {purpose}입니다.", "This alert is the {purpose}."),
    # alert page
    "alert": ("경보", "Alert"),
    "two_person_rule": ("2인 승인 원칙", "Two-person rule"),
    "you_drafted": (
        "이 경보는 내가 작성했습니다. 다른 사람이 승인해야 발령할 수 있습니다 "
        "(실제 경보는 승인권자, 훈련은 다른 운영자).",
        "You drafted this alert. Someone else must approve it before it is issued (an approver for a real alert, "
        "another operator for a drill).",
    ),
    "needs_approver": (
        "승인 권한(approver)이 없어 승인할 수 없습니다. 승인권자에게 요청하세요.",
        "Your roles cannot approve alerts. Ask an approver.",
    ),
    "approve_exactly": (
        "승인하면 아래 문안이 그대로 각 채널로 나갑니다.",
        "If you approve, exactly the texts below go out on each channel.",
    ),
    "approve": ("승인", "Approve"),
    "issue": ("발령", "Issue"),
    "issued_note": (
        "발령됨: 승인된 경보는 바뀌지 않습니다. 정정·취소는 새 경보로 합니다.",
        "Issued: an approved alert never changes; updates and cancellations are new alerts.",
    ),
    "approved_wait_issue": ("승인됨. 발령할 수 있습니다.", "Approved. It can be issued."),
    "what_is_sent": ("채널별로 나가는 문안", "What each channel sends"),
    "cap_document": ("CAP 1.2 문서", "CAP 1.2 document"),
    "drill_banner": ("훈련 — 실제 상황이 아닙니다", "DRILL — not a real emergency"),
    "drill": ("훈련", "drill"),
    "actual": ("실제", "actual"),
    "drafted_alert_waiting": ("승인 대기 중인 경보", "Alert waiting for approval"),
    # moderation
    "queue": ("검토 대기열", "Review queue"),
    "queue_empty": ("검토할 항목이 없습니다.", "Nothing waits for review."),
    "clauses": ("정책 조항", "Policy clauses"),
    "content_type": ("콘텐츠 종류", "Content type"),
    "older_than_min": ("대기 시간 (분 이상)", "Waiting at least (minutes)"),
    "select": ("선택", "Select"),
    "select_all": ("이 페이지 모두 선택", "Select all on this page"),
    "evidence": ("근거", "Evidence"),
    "score": ("점수", "Score"),
    "queued_at": ("대기 시작", "Queued"),
    "reason": ("사유", "Reason"),
    "appeal": ("이의 제기", "Appeal"),
    "appealed_by": ("{who}의 이의 제기", "Appealed by {who}"),
    "pipeline_review": ("자동 판정: 사람 검토 필요", "Pipeline: needs a person"),
    "bulk_decision": ("선택한 항목 일괄 결정", "Decide the selected items"),
    "action": ("결정", "Decision"),
    "remove": ("삭제", "Remove"),
    "publish": ("게시", "Publish"),
    "decide": ("결정하기", "Decide"),
    "decided_count": ("{n}건을 결정했습니다 ({action}).", "{n} items decided ({action})."),
    "decide_failed": ("{n}건은 결정하지 못했습니다:", "{n} items could not be decided:"),
    "nothing_selected": ("선택한 항목이 없습니다.", "Nothing was selected."),
    "audit_trail": ("결정 기록", "Audit trail"),
    "decided_by": ("결정자", "Decided by"),
    "decided_at": ("결정 시각", "Decided at"),
    "appeals": ("이의 제기", "Appeals"),
    "file_appeal": ("이의 제기하기", "File an appeal"),
    "appeal_filed": (
        "이의 제기가 접수되어 다시 검토 대기열에 들어갔습니다.",
        "Appeal filed: the item is back in the review queue.",
    ),
    "in_queue": ("검토 대기 중", "Waiting for review"),
    "masked_text": ("공개될 글 (개인정보 가림)", "Text as published (personal data masked)"),
    # inbox
    "submissions": ("접수된 민원", "Submissions"),
    "no_submissions": ("조건에 맞는 민원이 없습니다.", "No submissions match."),
    "tracking_id": ("접수 번호", "Tracking id"),
    "received_at": ("접수 시각", "Received"),
    "kind": ("종류", "Kind"),
    "district": ("자치구", "District"),
    "text": ("내용", "Text"),
    "followers": ("공감", "Followers"),
    "duplicate_candidate": ("중복 의심: {id}", "Possible duplicate of {id}"),
    "duplicate_of": ("중복 원본", "Duplicate of"),
    "map_of_submissions": ("자치구별 민원 수", "Submissions per district"),
    "map_counted": ("최근 {n}건 기준", "Of the latest {n}"),
    "history": ("처리 이력", "History"),
    "update_status": ("처리 상태 변경", "Change the status"),
    "note": ("메모", "Note"),
    "citizen_feedback": ("시민 의견 (검토 후 공개)", "Citizen feedback (published after moderation)"),
    "note_hint": ("시민에게 보이는 안내입니다.", "Citizens see this note."),
    "status_changed": ("상태를 바꿨습니다.", "Status changed."),
    "location": ("위치", "Location"),
    "channel_in": ("접수 경로", "Channel"),
    "moderation_categories": ("검토 조항", "Moderation clauses"),
}

STAGES: Mapping[str, tuple[str, str]] = {
    "reported": ("접수 (확인 전)", "reported (unconfirmed)"),
    "stage_0": ("0단계 내부 공유", "stage 0: internal sharing"),
    "stage_1": ("1단계 1차 공식 발표", "stage 1: first official message"),
    "stage_2": ("2단계 2차 공식 발표", "stage 2: second official message"),
    "updating": ("정정·변경 중", "updating"),
    "all_clear": ("해제", "all clear"),
    "cancelled": ("취소", "cancelled"),
}

PURPOSES: Mapping[str, tuple[str, str]] = {
    "stage1": ("1단계 1차 공식 발표", "stage-1 first official message"),
    "stage2": ("2단계 2차 공식 발표", "stage-2 second official message"),
    "update": ("정정·변경", "update"),
    "cancel": ("취소", "cancellation"),
    "all_clear": ("해제", "all clear"),
}

ALERT_STATES: Mapping[str, tuple[str, str]] = {
    "drafted": ("승인 대기", "waiting for approval"),
    "approved": ("승인됨", "approved"),
    "issued": ("발령됨", "issued"),
}

EVENTS: Mapping[str, tuple[str, str]] = {
    "alerting.incident-reported.v1": ("재난 보고", "incident reported"),
    "alerting.internal-sharing-opened.v1": (
        "0단계: 대응 그룹 개설, 당직자 호출",
        "stage 0: response group opened, duty officers paged",
    ),
    "alerting.first-message-issued.v1": ("1차 공식 발표 발령", "first official message issued"),
    "alerting.second-message-issued.v1": ("2차 공식 발표 발령", "second official message issued"),
    "alerting.update-issued.v1": ("정정·변경 발령", "update issued"),
    "alerting.all-clear-declared.v1": ("해제 발령", "all clear declared"),
    "alerting.incident-cancelled.v1": ("재난 취소", "incident cancelled"),
    "alerting.incident-note-added.v1": ("기록 추가", "note added"),
    "alerting.alert-drafted.v1": ("경보 작성", "alert drafted"),
    "alerting.alert-approved.v1": ("경보 승인", "alert approved"),
    "alerting.drill-issued.v1": ("훈련 경보 발령 (단계 변화 없음)", "drill issued (stage unchanged)"),
    "alerting.page-escalated.v1": ("호출 에스컬레이션", "page escalated"),
    "alerting.page-acknowledged.v1": ("호출 확인", "page acknowledged"),
}

CHANNELS: Mapping[str, tuple[str, str]] = {
    "CHANNEL_GROUP_CHAT": ("대응 그룹 채팅", "response group chat"),
    "CHANNEL_PAGER": ("당직자 호출", "duty officer pager"),
    "CHANNEL_PRESS_MAIL": ("보도자료 메일", "press mailing list"),
    "CHANNEL_PORTAL_NOTICE": ("응답소 공지", "complaint portal notice"),
    "CHANNEL_SNS": ("시 공식 SNS", "city SNS accounts"),
    "CHANNEL_NEWS_APP_PUSH": ("내 손안에 서울 푸시", "news app push"),
    "CHANNEL_KAKAO_CHANNEL": ("카카오톡 채널", "KakaoTalk channel"),
    "CHANNEL_SMS": ("문자(SMS)·재난문자", "SMS and cell broadcast"),
}

RULES: Mapping[str, tuple[str, str]] = {
    "cell_broadcast": ("재난문자(CBS)", "cell broadcast"),
    "sms": ("문자(SMS/LMS)", "SMS / LMS"),
    "kakao": ("카카오톡 알림톡", "KakaoTalk template"),
    "x": ("X", "X"),
    "facebook": ("페이스북", "Facebook"),
    "instagram": ("인스타그램", "Instagram"),
    "threads": ("스레드", "Threads"),
    "press": ("보도자료 메일", "press mail"),
    "push": ("앱 푸시", "app push"),
    "group_chat": ("그룹 채팅", "group chat"),
    "pager": ("호출기", "pager"),
}

CLAUSES: Mapping[str, tuple[str, str]] = {
    "advertising": ("상업 광고", "commercial advertising"),
    "copyright": ("저작권 침해", "copyright infringement"),
    "profanity": ("욕설·비속어", "vulgar or profane"),
    "slander": ("특정인 비방", "slander of a person"),
    "defamation": ("명예훼손", "defamation"),
    "political": ("정치적 목적", "political purposes"),
    "repetition": ("반복 게시", "repeated posts"),
    "personal_data": ("개인정보 유출", "personal information"),
    "public_interest": ("공익 저해", "against the public interest"),
}

SUBMISSION_STATUSES: Mapping[str, tuple[str, str]] = {
    "SUBMISSION_STATUS_RECEIVED": ("접수", "received"),
    "SUBMISSION_STATUS_PUBLISHED": ("게시", "published"),
    "SUBMISSION_STATUS_IN_REVIEW": ("검토 중", "in review"),
    "SUBMISSION_STATUS_REMOVED": ("삭제", "removed"),
    "SUBMISSION_STATUS_ACKNOWLEDGED": ("확인", "acknowledged"),
    "SUBMISSION_STATUS_IN_PROGRESS": ("처리 중", "in progress"),
    "SUBMISSION_STATUS_RESOLVED": ("해결", "resolved"),
    "SUBMISSION_STATUS_REJECTED": ("반려", "rejected"),
    "SUBMISSION_STATUS_REFERRED": ("이관", "referred"),
    "SUBMISSION_STATUS_DUPLICATE": ("중복", "duplicate"),
}

SUBMISSION_KINDS: Mapping[str, tuple[str, str]] = {
    "SUBMISSION_KIND_COMPLAINT": ("민원", "complaint"),
    "SUBMISSION_KIND_REPORT": ("신고", "report"),
    "SUBMISSION_KIND_OPINION": ("의견", "opinion"),
    "SUBMISSION_KIND_DISASTER_REPORT": ("재난 제보", "disaster report"),
}

CONTENT_TYPES: Mapping[str, tuple[str, str]] = {
    "submission": ("시민 민원", "citizen submission"),
    "community.comment": ("댓글", "comment"),
    "community.proposal": ("시민 제안", "proposal"),
    "community.post": ("커뮤니티 글", "community post"),
    "community.debate": ("토론", "debate"),
    "community.statement": ("토론 의견", "debate statement"),
    "community.poll_answer": ("설문 응답", "poll answer"),
}

ACTIONS: Mapping[str, tuple[str, str]] = {
    "ACTION_PUBLISH": ("게시", "published"),
    "ACTION_REVIEW": ("사람 검토로 보냄", "sent to review"),
    "ACTION_REMOVE": ("삭제", "removed"),
}

ROLES: Mapping[str, tuple[str, str]] = {
    "operator": ("운영자", "operator"),
    "approver": ("승인권자", "approver"),
    "moderator": ("검토자", "moderator"),
    "dept_admin": ("부서 관리자", "department admin"),
    "admin": ("관리자", "admin"),
}

TABLES: Mapping[str, Mapping[str, tuple[str, str]]] = {
    "stage": STAGES,
    "purpose": PURPOSES,
    "alert_state": ALERT_STATES,
    "event": EVENTS,
    "channel": CHANNELS,
    "rule": RULES,
    "clause": CLAUSES,
    "submission_status": SUBMISSION_STATUSES,
    "submission_kind": SUBMISSION_KINDS,
    "role": ROLES,
    "action": ACTIONS,
    "content_type": CONTENT_TYPES,
}


def say(key: str, language: str, **values: object) -> str:
    """The phrase in `language` ("ko" or "en"), with `{names}` filled from `values`."""
    korean, english = PHRASES[key]
    text = korean if language == "ko" else english
    return text.format(**values) if values else text


def name(table: str, value: str, language: str) -> str:
    """A service's name for something (a stage, a channel, a clause) in `language`; unknown names as they are."""
    found = TABLES[table].get(value)
    if found is None:
        return value
    return found[0] if language == "ko" else found[1]
