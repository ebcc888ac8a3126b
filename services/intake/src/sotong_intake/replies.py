"""Status replies: telling the citizen who filed a report what happened to it, on the channel it came from.

A report filed through the city's KakaoTalk bot is answered through the bot (to the citizen's bot user key), one
from the app through a push to the app's device, and one that left a phone number (the call centre, Open311, a
form) by SMS. Intake decides whether and what to say; the publishing service delivers it
(`intake.dispatch-requested.v1`, a `sotong.publishing.v1.DispatchRequested` written through intake's outbox in
the same transaction as the status change). The contact is sealed to the publishing service's key
(`sotong_common.sealing`), so it is never in clear on the topic; the dispatch names it by the ref
`intake:contact:<submission id>`.

Each reply's dispatch id is derived from what it answers (the submission's creation, or the status-change event),
so a retried change or a redelivered decision requests the same reply again and the engine delivers it once.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from google.protobuf.timestamp_pb2 import Timestamp

from sotong.publishing.v1 import publishing_events_pb2 as pub
from sotong_common.sealing import Sealer
from sotong_intake import status
from sotong_intake.submission import Channel, Contact

REQUESTER = "intake"
PURPOSE = "status_reply"
_NAMESPACE = uuid.UUID("0f7d8c2e-3b61-4f4e-a2d4-6c1f9b7e5a10")
NOTE_MAX = 200

TEXTS: dict[str, str] = {
    status.RECEIVED: "[서울시] 민원이 접수되었습니다. 접수번호 {tracking_id}",
    "acknowledged": "[서울시] 담당 부서가 민원을 확인했습니다. 접수번호 {tracking_id}",
    "in_progress": "[서울시] 민원을 처리하고 있습니다. 접수번호 {tracking_id}",
    "resolved": "[서울시] 민원 처리가 완료되었습니다. 접수번호 {tracking_id}",
    "rejected": "[서울시] 처리할 수 없는 민원으로 종결되었습니다. 접수번호 {tracking_id}",
    "referred": "[서울시] 민원이 소관 기관으로 이관되었습니다. 접수번호 {tracking_id}",
    status.DUPLICATE: "[서울시] 같은 내용으로 먼저 접수된 민원과 함께 처리됩니다. 접수번호 {tracking_id}",
    status.REMOVED: "[서울시] 운영 정책에 따라 게시되지 않았습니다. 접수번호 {tracking_id}",
}
"""The statuses a citizen is told about. Moderation's own steps (in review, published) are not news to them."""


@dataclass(frozen=True)
class ReplyTarget:
    channel: pub.Channel.ValueType
    address: str


def reply_target(channel: str, contact: Contact | None) -> ReplyTarget | None:
    """Where a reply to a report from `channel` goes, or None when the citizen left no way to answer."""
    if contact is None:
        return None
    if channel == Channel.KAKAO and contact.channel_user_id:
        return ReplyTarget(pub.CHANNEL_KAKAO_BOT, contact.channel_user_id)
    if channel == Channel.APP and contact.channel_user_id:
        return ReplyTarget(pub.CHANNEL_NEWS_APP_PUSH, contact.channel_user_id)
    if contact.phone:
        digits = "".join(c for c in contact.phone if c.isdigit())
        if 9 <= len(digits) <= 11:
            return ReplyTarget(pub.CHANNEL_SMS, digits)
    return None


def contact_ref(submission_id: str) -> str:
    return f"intake:contact:{submission_id}"


def reply(
    sealer: Sealer,
    target: ReplyTarget,
    submission_id: str,
    tracking_id: str,
    new_status: str,
    note: str,
    answers: str,
    requested_at: Timestamp,
) -> pub.DispatchRequested | None:
    """The status reply for `new_status`, or None when the citizen is not told about that status.

    `answers` names what the reply is for (`created`, or the status-change event id): the dispatch id is derived
    from it, so the same change always asks for the same reply.
    """
    text = TEXTS.get(new_status)
    if text is None:
        return None
    body = text.format(tracking_id=tracking_id)
    if note.strip() and new_status not in (status.RECEIVED,):
        body += f"\n{' '.join(note.split())[:NOTE_MAX]}"
    ref = contact_ref(submission_id)
    sealed = sealer.seal(target.address, ref)
    return pub.DispatchRequested(
        dispatch_id=str(uuid.uuid5(_NAMESPACE, f"{submission_id}|{answers}|{pub.Channel.Name(target.channel)}")),
        message_id=f"{tracking_id}:{new_status}",
        thread_id=tracking_id,
        channel=target.channel,
        priority=pub.PRIORITY_ROUTINE,
        purpose=PURPOSE,
        audience=pub.Audience(
            sealed_targets=[pub.SealedTarget(key_id=sealed.key_id, ciphertext=sealed.ciphertext, ref=sealed.ref)]
        ),
        renderings=[pub.Rendering(language="ko", title="서울시 민원 처리 안내", body=body)],
        requested_at=requested_at,
        requester=REQUESTER,
    )
