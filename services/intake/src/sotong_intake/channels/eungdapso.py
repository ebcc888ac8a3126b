"""Records from the 응답소 civil-complaint portal sync.

응답소 is Seoul's own complaint portal; intake pulls its new and changed complaints periodically. The portal's
export uses Korean field names, and this module fixes the record shape the sync (and the project's stand-in)
exchange:

    {
      "민원번호": "2AA-2511-0012345",
      "민원유형": "불편신고",            # 불편신고 | 제안 | 질의 | 민원 | 재난제보
      "제목": "망원동 빗물받이 막힘",
      "내용": "비만 오면 물이 넘칩니다 …",
      "처리상태": "접수",               # 접수 | 처리중 | 이첩 | 완료 | 취하
      "접수일시": "2026-11-24 09:12:33",  # KST, no offset
      "자치구": "마포구",               # name or 5-digit code
      "위치": {"주소": "서울특별시 마포구 망원동 …", "위도": 37.556, "경도": 126.901},
      "첨부파일": ["https://eungdapso.seoul.go.kr/files/…"],
      "신청인": {"성명": "홍길동", "연락처": "010-1234-5678", "이메일": "hong@example.com"},
      "분류": "flooding"               # optional: our category code when the portal's staff set one
    }

민원번호 is the idempotency key: the same complaint synced twice is the same submission. 처리상태 changes are
reported separately (`status_of`) so the worker can update an existing submission rather than create one.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from typing import Any

from sotong_common.geo import Seoul
from sotong_intake.channels.payload import Reader
from sotong_intake.submission import Channel, Contact, Location, Submission, SubmissionKind, clean_text

TYPE_KINDS: Mapping[str, SubmissionKind] = {
    "불편신고": SubmissionKind.REPORT,
    "신고": SubmissionKind.REPORT,
    "제안": SubmissionKind.OPINION,
    "의견": SubmissionKind.OPINION,
    "질의": SubmissionKind.COMPLAINT,
    "민원": SubmissionKind.COMPLAINT,
    "재난제보": SubmissionKind.DISASTER_REPORT,
}


class PortalStatus(StrEnum):
    """The portal's handling states, reduced to what intake tracks."""

    OPEN = "open"  # 접수, 처리중, 이첩 (handed to another agency, still open for the citizen)
    CLOSED = "closed"  # 완료
    WITHDRAWN = "withdrawn"  # 취하: the citizen withdrew it


_STATUSES: Mapping[str, PortalStatus] = {
    "접수": PortalStatus.OPEN,
    "처리중": PortalStatus.OPEN,
    "이첩": PortalStatus.OPEN,
    "완료": PortalStatus.CLOSED,
    "취하": PortalStatus.WITHDRAWN,
}


def status_of(record: Mapping[str, Any]) -> PortalStatus:
    """The record's status; an unknown 처리상태 is an error rather than a guess, since it drives closure."""
    read = Reader()
    raw = read.text(record, "처리상태", "처리상태", required=True)
    if raw is not None and raw not in _STATUSES:
        read.fail("처리상태", f"unknown status {raw!r}; expected one of {', '.join(_STATUSES)}")
    read.raise_if_failed()
    return _STATUSES[raw or ""]


def submission_from_record(record: Mapping[str, Any], seoul: Seoul | None = None) -> Submission:
    """Map a portal record; raises `ChannelPayloadError` if its structure is broken."""
    seoul = seoul or Seoul.load()
    read = Reader()
    number = read.text(record, "민원번호", "민원번호", required=True)
    title = read.text(record, "제목", "제목")
    body = read.text(record, "내용", "내용", required=True)
    complaint_type = read.text(record, "민원유형", "민원유형")
    received = read.timestamp(record, "접수일시", "접수일시")
    district_text = read.text(record, "자치구", "자치구")
    place = read.obj(record, "위치", "위치")
    address = read.text(place, "주소", "위치.주소")
    point = read.point(read.number(place, "위도", "위치.위도"), read.number(place, "경도", "위치.경도"), "위치")
    attachments = read.strings(record, "첨부파일", "첨부파일")
    applicant = read.obj(record, "신청인", "신청인")
    name = read.text(applicant, "성명", "신청인.성명")
    phone = read.text(applicant, "연락처", "신청인.연락처")
    email = read.text(applicant, "이메일", "신청인.이메일")
    category_code = read.text(record, "분류", "분류")
    if complaint_type is not None and complaint_type not in TYPE_KINDS:
        read.fail("민원유형", f"unknown complaint type {complaint_type!r}")
    read.raise_if_failed()

    district_code = _district_code(district_text, seoul)
    if district_text and district_code is None:
        # Keep what the portal said; validation will name location.district_code if it is not a Seoul district.
        district_code = district_text
    location = Location(point=point, address=address, district_code=district_code)
    contact = Contact(name=name, phone=phone, email=email)
    return Submission(
        kind=TYPE_KINDS.get(complaint_type or "", SubmissionKind.COMPLAINT),
        text=clean_text(body or ""),
        title=clean_text(title) if title else None,
        channel=Channel.EUNGDAPSO,
        channel_message_id=number,
        source="eungdapso",
        category=category_code,
        location=None if location.is_empty else location,
        media=attachments,
        contact=None if contact.is_empty else contact,
        submitted_at=received,
    )


def _district_code(text: str | None, seoul: Seoul) -> str | None:
    """The portal writes 자치구 as a name ("마포구") or as the code ("11440"); both become the code."""
    if not text:
        return None
    if seoul.district(text) is not None:
        return text
    place = seoul.resolve_address(text)
    return place.district_code if place else None
