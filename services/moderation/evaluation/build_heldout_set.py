"""Build the held-out civic set (``civic_heldout.jsonl``).

Written after the rules and thresholds were frozen against ``civic.jsonl``, and run
once for the report: nothing was tuned on it.  Same format and label rules as
``build_civic_set.py`` (synthetic identifiers; labels are clause names; evaluated in
order with one repetition state).  It leans on personal data, because that goal
(precision >= 0.99, recall >= 0.95) is the strictest, and includes realistic hard cases
we expect to get wrong, such as a public office's phone number (not personal data) and
a number spelled out in Hangul.
"""

from __future__ import annotations

import json
from pathlib import Path

from build_civic_set import FULL_WIDTH, rrn

OUT = Path(__file__).resolve().parents[1] / "src" / "sotong_moderation" / "eval_sets" / "civic_heldout.jsonl"

ROWS: list[tuple[str, list[str], str]] = [
    # personal data: positives
    ("민원 처리되면 010-7264-1183 으로 문자 주세요", ["personal_data"], "p"),
    ("엄마 핸드폰 010 2291 4478 로 안내 부탁드립니다", ["personal_data"], "p"),
    ("연락처: 01055382291", ["personal_data"], "p"),
    ("+82 10 9912 3377 (해외 거주 중)", ["personal_data"], "p"),
    ("+821044817720 로 카톡 주세요", ["personal_data"], "p"),
    ("회신은 02-741-2290 으로 부탁드려요 저희 가게 번호입니다", ["personal_data"], "p"),
    ("집 번호 032-515-7781 이에요", ["personal_data"], "p"),
    ("사무실 070-4412-9983 으로 연락 바랍니다", ["personal_data"], "p"),
    ("제 이메일은 parkjh1990@naver.com 입니다", ["personal_data"], "p"),
    ("자료 요청은 seo.yuna@korea.ac.kr 로 보내주세요", ["personal_data"], "p"),
    ("메일 주소 happy_day77@hanmail.net 로 결과 알려주세요", ["personal_data"], "p"),
    (f"아버지 주민번호 {rrn('520817', '1', '09321')} 입니다 경로우대 신청 건", ["personal_data"], "p"),
    (f"주민등록번호 {rrn('991231', '2', '44871').replace('-', ' - ')} 확인 부탁", ["personal_data"], "p"),
    (f"제 주민번호 {rrn('030609', '4', '11285').replace('-', '')} 로 조회가 안 돼요", ["personal_data"], "p"),
    ("아기 주민번호 230411-3518842 출생신고 후 받았어요", ["personal_data"], "p"),
    (f"외국인등록번호 {rrn('900115', '5', '60231', foreign=True)} 체류 연장 문의", ["personal_data"], "p"),
    ("여권번호 M70294418 로 예약했어요", ["personal_data"], "p"),
    ("passport no. M91827364 분실 신고하려고요", ["personal_data"], "p"),
    ("운전면허 12-08-552913-60 갱신 안내 문자를 못 받았어요", ["personal_data"], "p"),
    ("환급금 기업은행 010-228391-01-018 로 넣어주세요", ["personal_data"], "p"),
    ("입금 계좌 국민 94380201338271 예금주 이정민", ["personal_data"], "p"),
    ("새마을금고 9002-1938-4471-2 로 송금 부탁드려요", ["personal_data"], "p"),
    ("우체국 계좌 012345-02-118273 로 환불 바랍니다", ["personal_data"], "p"),
    ("아파트 주차장에 장기 방치된 차 45다 8812 처리해주세요", ["personal_data"], "p"),
    ("오토바이 말고 승용차 경기12가3344 가 매일 소화전 앞에 세워요", ["personal_data"], "p"),
    ("택시 31사 4471 기사님 불친절 신고합니다", ["personal_data"], "p"),
    ("힐스테이트 203동 1704호 층간소음 너무 심해요", ["personal_data"], "p"),
    ("우리집 101동 302호 앞 복도 전등이 나갔어요", ["personal_data"], "p"),
    ("저희 집 주소가 노원구 동일로 1414 인데 쓰레기 수거가 안 됩니다", ["personal_data"], "p"),
    ("거주지 송파구 올림픽로 300 12층 민원인입니다", ["personal_data"], "p"),
    ("할머니 댁 관악로 145 3층 에 방문 간호 부탁드려요", ["personal_data"], "p"),
    ("연락 010-3382-1190 / 메일 minsu.k@gmail.com", ["personal_data"], "p"),
    ("공일공 일이삼사 오육칠팔 로 연락주세요", ["personal_data"], "p"),
    # personal data: hard negatives
    ("사업자등록번호 214-86-12345 로 지원금 신청이 되나요", [], "n"),
    ("우편번호 04524 로 서류 보냈어요", [], "n"),
    ("민원 접수번호 1AA-2411-123456 처리 상태 알려주세요", [], "n"),
    ("주민센터 대표번호 02-2148-5000 으로 문의하라고 하시네요", [], "n"),
    ("버스 6716번 7019번 둘 다 배차 간격이 길어요", [], "n"),
    ("2025년 3월 1일부터 요금이 1,550원으로 오른다네요", [], "n"),
    ("오전 10:30~12:00 에 설명회가 있어요", [], "n"),
    ("주문번호 202411250001 환불 처리 확인 부탁드립니다", [], "n"),
    ("상품코드 M12345678 제품이 리콜 대상인가요", [], "n"),
    ("면적이 84.97제곱미터인 아파트 분양가가 궁금해요", [], "n"),
    ("101번 버스 기사님 정말 친절하세요", [], "n"),
    ("지하철 2호선 신도림역 1번 출구 앞 공사 언제 끝나요", [], "n"),
    ("시청역 5678 번 출구는 없죠? 안내 표지판이 이상해요", [], "n"),
    ("2024-11-25 14:30 민원 접수했어요", [], "n"),
    ("1899-0001 번호로 자꾸 광고 전화가 와요 신고 어디에 하나요", [], "n"),
    ("전용면적 59㎡ 3룸 임대주택 모집 공고 봤어요", [], "n"),
    ("110번지 일대 재개발 구역 지정 고시 확인했어요", [], "n"),
    ("세종대로 110 서울시청 본관 앞 집회 소음이 심해요", [], "n"),
    ("우리 동네 12단지 앞 횡단보도 신호등 고장", [], "n"),
    ("3동 주민센터 2층 헬스장 운영 시간 알려주세요", [], "n"),
    # advertising
    ("무료 부업 설명회 참여하세요 오픈채팅 open.kakao.com/o/job2024", ["advertising"], "a"),
    ("해외축구 중계 무료 사이트 먹튀검증 완료 bit.ly/soccer24", ["advertising"], "a"),
    ("급전 필요하면 텔레그램 t.me/quickloan 당일입금", ["advertising"], "a"),
    ("주식 종목 무료 추천 리딩방 수익인증 참고 카톡 아이디: stock_king", ["advertising"], "a"),
    ("피부관리샵 오픈 기념 특가 이벤트진행 1544-8282 예약 문의", ["advertising"], "a"),
    ("신용카드 현금화 당일지급 카톡문의 cash99", ["advertising"], "a"),
    ("인터넷 TV 결합 가입시 현금 최대 지급 최저가 1600-2288 상담문의", ["advertising"], "a"),
    ("밤에 외로우시면 조건만남 사이트 방문하세요", ["advertising"], "a"),
    ("이 동네 맛집 블로그 리뷰 더보기 naver.me/xAbc12", ["advertising"], "a"),
    ("코인 선물 무료체험방 고수익 보장 텔레 @coinvip", ["advertising"], "a"),
    # advertising: hard negatives
    ("구청 공식 카카오톡 채널에서 민원 접수가 되나요", [], "n"),
    ("서울시 홈페이지 seoul.go.kr 에서 신청하면 되나요", [], "n"),
    ("동네 시장 할인 행사 정보를 구청에서 알려주시면 좋겠어요", [], "n"),
    ("불법 대출 광고 전단지가 전봇대마다 붙어 있어요 단속 부탁", [], "n"),
    ("중고 거래하다 사기당했는데 어디에 신고하나요", [], "n"),
    # political
    ("이번 시의원 선거 기호 4번 뽑아주세요", ["political"], "po"),
    ("정권 심판 투표로 보여줍시다 모두 투표장으로", ["political"], "po"),
    ("국민의힘 후보 찍어 주세요 우리 구 발전 확실합니다", ["political"], "po"),
    ("민주당 후보에게 지지 부탁드립니다 청년 공약 최고", ["political"], "po"),
    ("빨갱이 구청장 물러나라", ["political"], "po"),
    # political: hard negatives
    ("구청장 주민과의 대화 행사 일정 알려주세요", [], "n"),
    ("사전투표소 장애인 접근성 개선 부탁드립니다", [], "n"),
    ("선거 벽보가 비에 다 젖어서 떨어졌어요", [], "n"),
    # defamation
    ("우리 동 주민센터 팀장이 업체에서 뒷돈 받았대요", ["defamation"], "d"),
    ("조합장이 공사비 빼돌렸다는 얘기가 조합원 사이에 돌아요", ["defamation"], "d"),
    ("구의원 김씨 성희롱 전과 있다더라 다들 조심하세요", ["defamation"], "d"),
    ("관리소장이 관리비 횡령했다고 주민들이 다 알아요", ["defamation"], "d"),
    ("시장 측근이 건설사 리베이트 챙겼다는 소문이 있어요", ["defamation"], "d"),
    # defamation: hard negatives
    ("공무원 뇌물 사건 재발 방지 대책이 궁금합니다", [], "n"),
    ("횡령 신고 포상금 제도가 있나요", [], "n"),
    # profanity (extra)
    ("씨1발 지하철 또 지연이네", ["profanity"], "v"),
    ("버스 배차 개같이 하네 진짜", ["profanity"], "v"),
    ("ㅆㅂ 민원 답변 언제 와", ["profanity"], "v"),
    # profanity hard negatives
    ("새끼발가락 골절로 장애 등급 문의드립니다", [], "n"),
    ("시발역 앞 버스 정류장 위치가 바뀌었나요", [], "n"),
    ("신호등이 꺼져 있어서 위험해요", [], "n"),
]

REPEATS: list[tuple[str, str, bool]] = [
    ("r_kim", "놀이터 바닥 고무매트가 다 찢어졌어요 아이들이 넘어집니다 빨리 교체해주세요", False),
    ("r_kim", "놀이터 바닥 고무매트가 다 찢어졌어요. 아이들이 넘어집니다. 빨리 교체해 주세요", True),
    ("r_lee", "소각장 반대합니다 주민 동의 없는 결정 철회하라", False),
    ("r_park", "소각장 반대합니다 주민 동의 없는 결정 철회하라", False),
    ("r_choi", "소각장 반대합니다 주민 동의 없는 결정 철회하라!!", True),
    ("r_jung", "버스 정류장 금연 구역인데 담배 피우는 사람이 많아요 단속해주세요", False),
    ("r_jung", "공원 음수대 수질 검사 결과를 공개해주세요", False),
    ("r_kang", "지하철역 화장실 비데 고장 신고합니다 빨리 고쳐주세요", False),
    ("r_kang", "지하철역 화장실 비데 고장 신고합니다 빨리 고쳐주세요", True),
]


# Issue 17, written on 2026-12-03 after the new rules were written and before they were run on this set: the same
# classes as civic.jsonl's REAL_WORLD rows in other words, with hard negatives. Appended, so earlier ids stay.
def _typo(number: str) -> str:
    return number[:-1] + str((int(number[-1]) + 4) % 10)


REAL_WORLD: list[tuple[str, list[str], str]] = [
    ("신용 낮아도 OK 무직자 대출 가능 상담 1899-2034 연중무휴", ["advertising"], "advertising_loan"),
    ("급전 당일 지급 개인돈 ☎ 1522 8841", ["advertising"], "advertising_loan"),
    ("카톡 아이디 money8282 친추 후 상담", ["advertising"], "advertising_messenger"),
    ("텔레그램 @quick_loan24 으로 문의 주세요", ["advertising"], "advertising_messenger"),
    ("하루 1시간 투자 재택부업 일당 10만원 보장", ["advertising"], "advertising_job"),
    ("고액알바 모집 초보가능 출근없는 일", ["advertising"], "advertising_job"),
    ("명품 레플 정품급 지갑 특s급 판매합니다", ["advertising"], "advertising_counterfeit"),
    ("skincare-deal.shop 방문하시면 50% 할인", ["advertising"], "advertising_domain"),
    ("미용실 예약은 hair-shop.kr 에서 하세요", ["advertising"], "advertising_domain"),
    ("이벤트 참여 bonus-cash.site 가입 즉시 지급", ["advertising"], "advertising_domain"),
    ("서민금융진흥원 1397 상담이 너무 어렵네요", [], "hard_negative_advertising"),
    ("카드사 1588-1688 에 분실 신고했는데 재발급이 늦어요", [], "hard_negative_advertising"),
    ("청년 일자리 박람회 알바 정보도 있나요", [], "hard_negative_advertising"),
    ("서울시 공식 블로그 blog.naver.com/seoul_official 에 올라왔어요", [], "hard_negative_advertising"),
    ("교통정보는 www.topis.seoul.go.kr 에서 확인했어요", [], "hard_negative_advertising"),
    ("오는 보궐선거 때 꼭 최민호 후보 뽑아 주십시오", ["political"], "political_endorsement"),
    ("이번 선거 우리 구의원 후보님 지지 선언합니다", ["political"], "political_endorsement"),
    ("구청장 소환 청원 서명 좀 해주세요 마감 임박", ["political"], "political_signature"),
    ("하야 서명 받습니다 광장으로 모입시다", ["political"], "political_signature"),
    ("진보당이 답이다 노동자 서울", ["political"], "political_slogan"),
    ("국힘 심판 민주당 심판 모두 투표합시다", ["political"], "political_slogan"),
    ("정권재창출 반드시 이뤄냅시다", ["political"], "political_slogan"),
    ("개혁신당과 함께 새로운 서울", ["political"], "political_slogan"),
    ("탄핵 청원 동의 부탁드려요 링크는 프로필에", ["political"], "political_signature"),
    ("한 표가 세상을 바꿉니다 2번에게 한 표 주세요", ["political"], "political_endorsement"),
    ("투표소 엘리베이터가 고장이라 어르신들이 힘들어하셨어요", [], "hard_negative_political"),
    ("청원 게시판 답변이 언제 나오는지 궁금합니다", [], "hard_negative_political"),
    ("정당 현수막이 인도를 가려서 위험해요", [], "hard_negative_political"),
    ("주민소환제도가 뭔지 설명 자료가 있으면 좋겠어요", [], "hard_negative_political"),
    (f"엄마 주민번호 {_typo(rrn('560817', '2', '84719'))} 이거 맞나요", ["personal_data"], "rrn_typo"),
    (f"주민등록 번호 {rrn('020304', '4', '12345').replace('-', ' ')} 로 가입했어요", ["personal_data"], "rrn"),
    (
        f"외국인등록번호 {rrn('910520', '6', '23456', foreign=True).translate(FULL_WIDTH)}",
        ["personal_data"],
        "alien_full_width",
    ),
    (f"제 번호 {rrn('830915', '1', '57263')} 로 등본 떼주세요", ["personal_data"], "rrn_shape"),
    (f"주민번호: {' '.join(rrn('880701', '2', '09876').replace('-', ''))}", ["personal_data"], "rrn_spaced"),
    (
        f"외국인 등록번호 {_typo(rrn('990101', '7', '12345', foreign=True))} 체류지 변경",
        ["personal_data"],
        "alien_typo",
    ),
    (f"주민번호 13자리 {_typo(rrn('751225', '1', '23456')).replace('-', '')} 입니다", ["personal_data"], "rrn_13_typo"),
    (f"주민 번호 {rrn('941130', '2', '63487').replace('-', '–')} 로 민원 넣었어요", ["personal_data"], "rrn"),
    (
        f"등본에 있는 주민번호 {_typo(rrn('780606', '1', '34567')).replace('-', '.')} 입력이 안 돼요",
        ["personal_data"],
        "rrn_typo",
    ),
    ("택배 운송장 5123456789012 배송이 멈췄어요", [], "hard_negative_rrn"),
    ("영수증 번호 202612031234567 로 환불 요청", [], "hard_negative_rrn"),
    ("회원번호 881122-3344556 조회 부탁", [], "hard_negative_rrn"),
    ("b i t c h 같은 민원 응대", ["profanity"], "latin_profanity"),
    ("ＳＨＩＴ 도로 또 파네", ["profanity"], "latin_profanity"),
    ("sh!t 공사 언제 끝나", ["profanity"], "latin_profanity"),
    ("gaesaekki 같은 불법 주차", ["profanity"], "latin_profanity"),
    ("byeong-sin 행정 처리", ["profanity"], "latin_profanity"),
    ("tlqkf 민원 답변 언제 줘", ["profanity"], "latin_profanity"),
    ("s-h-i-b-a-l 소음 때문에 못 살겠다", ["profanity"], "latin_profanity"),
    ("시bal 또 정전이야", ["profanity"], "latin_profanity"),
    ("FUUUCK 지하철 또 지연", ["profanity"], "latin_profanity"),
    ("The bus driver said have a nice day 감사했어요", [], "hard_negative_latin"),
    ("Hit the road 캠페인 포스터가 예뻐요", [], "hard_negative_latin"),
    ("Seoul 365 app 알림 설정 방법", [], "hard_negative_latin"),
]


def main() -> None:
    rows = []
    for i, (text, labels, kind) in enumerate(ROWS):
        rows.append({"id": f"heldout-{i + 1:04d}", "text": text, "author": f"h{i}", "labels": labels, "kind": kind})
    for author, text, rep in REPEATS:
        rows.append({"id": f"heldout-{len(rows) + 1:04d}", "text": text, "author": author,
                     "labels": ["repetition"] if rep else [], "kind": "repetition"})  # fmt: skip
    for i, (text, labels, kind) in enumerate(REAL_WORLD):
        rows.append({"id": f"heldout-{len(rows) + 1:04d}", "text": text, "author": f"rw{i}", "labels": labels,
                     "kind": kind})  # fmt: skip
    with OUT.open("w", encoding="utf-8") as f:
        for r in rows:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")
    print(f"wrote {len(rows)} rows to {OUT}")


if __name__ == "__main__":
    main()
