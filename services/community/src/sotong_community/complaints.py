"""Comments that are really complaints: the comment policy routes requests needing an answer to the complaint
portal instead of leaving them in a thread nobody answers.

A comment reads as a complaint when it asks for something to be done (a request ending: 해 주세요, 고쳐 주세요,
바랍니다, 조치 …) about a concrete local problem (a broken streetlight, illegal parking, noise, rubbish …), or
when it says outright that it is a complaint (민원, 신고합니다). Opinions about a proposal ("좋은 제안이네요,
찬성합니다") are not. The check works on the text with its spaces removed, by substring, so it is linear in the
comment's length whatever a citizen types.

A routed comment becomes a `SubmitReportRequest` (kind complaint, channel app, channel message id
`community:comment:<id>`) on intake.raw-submission.v1, written through community's outbox; intake's tracking id
comes back on intake.submission-received.v1 under the same channel message id and is shown to the author.
"""

from __future__ import annotations

from sotong.intake.v1 import intake_service_pb2 as ipb
from sotong.intake.v1 import intake_types_pb2 as itypes

REQUESTS = (
    "해주세요", "해주십시오", "해주시기", "해주시면", "해줬으면", "고쳐주", "고쳐주세요", "치워주", "바랍니다",
    "요청합니다", "요청드립니다", "조치", "시정", "처리해", "수리해", "정비해", "단속해", "개선해", "설치해",
    "답변부탁", "답변해", "확인부탁", "확인해주",
)  # fmt: skip
PROBLEMS = (
    "가로등", "신호등", "보도블록", "보도블럭", "도로", "포트홀", "싱크홀", "맨홀", "하수구", "쓰레기", "무단투기",
    "불법주차", "주차", "소음", "악취", "누수", "침수", "공사", "파손", "고장", "깨져", "깨진", "망가", "방치",
    "정류장", "따릉이", "놀이터", "횡단보도", "계단", "난간", "벤치", "화장실", "cctv", "불법광고", "현수막",
)  # fmt: skip
OUTRIGHT = ("민원", "신고합니다", "신고드립니다", "신고해요")

CHANNEL_MESSAGE_PREFIX = "community:comment:"


def is_complaint(text: str) -> bool:
    """Whether a comment asks the city to act on a concrete problem (see the module doc)."""
    tight = "".join(text.split()).lower()
    if any(word in tight for word in OUTRIGHT):
        return True
    return any(word in tight for word in REQUESTS) and any(word in tight for word in PROBLEMS)


def channel_message_id(comment_id: str) -> str:
    return CHANNEL_MESSAGE_PREFIX + comment_id


def comment_of(channel_message_id_: str) -> str | None:
    """The comment id a submission came from, if it came from a community comment."""
    if channel_message_id_.startswith(CHANNEL_MESSAGE_PREFIX):
        return channel_message_id_[len(CHANNEL_MESSAGE_PREFIX) :]
    return None


def submission(comment_id: str, text: str, district_code: str) -> ipb.SubmitReportRequest:
    """The complaint intake receives for a comment (no contact: the author follows it on the comment)."""
    request = ipb.SubmitReportRequest(
        kind=itypes.SUBMISSION_KIND_COMPLAINT,
        text=text,
        channel="app",
        channel_message_id=channel_message_id(comment_id),
    )
    if district_code:
        request.district_code = district_code
    return request
