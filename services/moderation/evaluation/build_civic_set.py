"""Build the project's labelled set of Seoul civic comments (``civic.jsonl``).

The sentences below were written for Sotong by hand: comments of the kind the city's
accounts receive about subways, buses, parks, 따릉이, 민원, 재개발 and 구청 work, with
positives for the clauses no public dataset covers (advertising, personal data,
political purposes, repetition, defamation) and hard negatives that look like them
(시발점, 새끼발가락, order numbers, dates, a company's 1588 number in a complaint).
Identifiers in positives are synthetic: resident numbers get a valid check digit from
the formula, phone numbers are in ranges a person could hold, none belongs to anyone.

Run ``python evaluation/build_civic_set.py`` to regenerate the JSONL (deterministic).
Labels are clause names; an empty list means the comment should be published as is.
Lines are evaluated in file order with one repetition state, so the ``repetition`` label
is on the second and later copies only.
"""

from __future__ import annotations

import json
from pathlib import Path

OUT = Path(__file__).resolve().parents[1] / "src" / "sotong_moderation" / "eval_sets" / "civic.jsonl"
W = (2, 3, 4, 5, 6, 7, 8, 9, 2, 3, 4, 5)


def rrn(front: str, gender: str, rest5: str, foreign: bool = False) -> str:
    twelve = front + gender + rest5
    total = sum(int(d) * w for d, w in zip(twelve, W, strict=True))
    check = ((13 if foreign else 11) - total % 11) % 10
    return f"{front}-{gender}{rest5}{check}"


FULL_WIDTH = str.maketrans("0123456789-", "０１２３４５６７８９－")


def rrn_typo(front: str, gender: str, rest5: str, foreign: bool = False) -> str:
    """The same number with a wrong check digit: a citizen's typo, still a leak (issue 17)."""
    good = rrn(front, gender, rest5, foreign)
    return good[:-1] + str((int(good[-1]) + 3) % 10)


CLEAN = [
    "지하철 2호선 강남역 에스컬레이터 수리 감사합니다. 출근길이 훨씬 편해졌어요",
    "따릉이 앱에서 대여소 잔여 대수가 실제랑 달라요. 확인 부탁드립니다",
    "한강공원 뚝섬지구 화장실이 밤 10시에 잠기는데 조금만 더 열어주시면 좋겠어요",
    "우리 동네 어린이공원 그네가 고장 난 지 2주째입니다. 수리 일정이 궁금해요",
    "버스 정류장 전광판이 계속 꺼져 있어요. 472번 도착 시간을 알 수가 없네요",
    "서울시 청년월세 지원 신청 기간이 언제까지인가요?",
    "구청 민원실 직원분이 친절하게 안내해주셔서 감사했습니다",
    "재개발 구역 주민설명회 자료를 홈페이지에도 올려주실 수 있나요",
    "겨울철 제설 작업 빨리 해주셔서 출근길 걱정이 덜었어요",
    "청계천 산책로 조명이 예뻐졌네요. 가족이랑 산책하기 좋아요",
    "지하철 9호선 급행 너무 붐벼요. 배차 간격 좀 줄여주세요",
    "폐건전지 수거함이 주민센터에만 있는데 아파트 단지에도 설치해주세요",
    "서울사랑상품권 가맹점 목록은 어디서 볼 수 있나요",
    "어르신 스마트폰 교실 다음 기수 신청하고 싶습니다",
    "불법 주차 신고했는데 처리 결과를 어디서 확인하나요",
    "올림픽대로 방음벽 공사 소음이 새벽까지 이어집니다. 작업 시간 확인 부탁드려요",
    "공공자전거 헬멧 대여 서비스 다시 해주시면 좋겠어요",
    "광화문광장 분수 운영 시간이 궁금합니다",
    "장애인 콜택시 대기 시간이 너무 길어요. 증차 계획이 있나요",
    "미세먼지 심한 날 지하철 역사 공기질 측정 결과도 공개해주세요",
    "남산 둘레길 안내판이 오래돼서 글씨가 안 보여요",
    "마을버스 노선이 바뀌었는데 정류장 안내문이 아직 예전 그대로예요",
    "서울시 공공와이파이 속도가 많이 좋아졌네요",
    "동네 도서관 주말 운영 시간 연장해주셔서 감사합니다",
    "쓰레기 무단투기 단속 카메라 설치 요청합니다. 골목 입구가 늘 지저분해요",
    "야간 보행로 가로등이 하나 꺼져 있어요. 성산대교 북단 쪽입니다",
    "구립 어린이집 대기 순번은 어떻게 확인하나요",
    "지하철역 엘리베이터 점검 일정을 미리 알려주시면 휠체어 이용자에게 도움이 됩니다",
    "서울둘레길 스탬프 투어 완주했어요! 인증서 너무 예뻐요",
    "여름철 무더위 쉼터 위치 지도 공유 부탁드려요",
    "청년 일자리 박람회 일정이 나오면 알려주세요",
    "공원 음수대 물이 안 나와요. 여의도공원 자전거 대여소 옆입니다",
    "버스 기사님이 어르신 탈 때까지 기다려주셔서 감동했어요",
    "자치구별 재활용 분리배출 기준이 달라서 헷갈려요. 통일해주세요",
    "한파 쉼터 운영하는 경로당 목록도 올려주시면 좋겠습니다",
    "지하철 5호선 냉방이 너무 세요. 약냉방칸 표시를 더 크게 해주세요",
    "따릉이 정기권 결제가 계속 오류 나요",
    "시립미술관 무료 관람일이 언제인가요",
    "우리 아파트 앞 횡단보도 신호가 너무 짧아서 어르신들이 못 건너세요",
    "주민참여예산 투표 결과는 언제 발표되나요",
    "서울시 120 다산콜센터 상담원분 정말 친절하셨어요",
    "공사장 가림막이 인도를 막고 있어서 유모차가 못 지나가요",
    "구청 홈페이지 민원 게시판 글자 크기 키우는 기능 있으면 좋겠어요",
    "비 오는 날 지하보도에 물이 고여요. 배수 점검 부탁드립니다",
    "서울시 반려견 놀이터 추가 설치 계획이 있나요",
    "출퇴근 시간 마을버스 증차 요청드립니다. 매번 두세 대를 보내고 타요",
    "벚꽃 축제 기간 셔틀버스 운행 정보 알려주세요",
    "구청 앞 공영주차장 요금 정산기가 카드 인식을 못 해요",
    "작년에 신청한 방범 CCTV가 설치되어 골목이 안전해졌어요. 감사합니다",
    "지하철 1호선 시발역 근처 안내 방송이 잘 안 들려요",
    "지역아동센터 자원봉사 신청은 어디서 하나요",
    "새로 생긴 자전거 도로 덕분에 출퇴근이 즐거워졌어요",
    "노후 하수관 교체 공사 기간이 얼마나 되나요",
    "서울시 정책 제안했는데 답변이 한 달째 없네요. 진행 상황 알려주세요",
    "시내버스 와이파이가 자주 끊겨요",
    "공원에 그늘막을 더 설치해주시면 좋겠어요. 여름에 너무 뜨거워요",
    "경의선숲길 자전거 통행 금지 표지판이 잘 안 보여요",
    "지하철 환승 통로에 의자 몇 개만 놓아주세요. 어르신들 쉬어가시게",
    "교통카드 충전기가 고장 났어요. 신림역 2번 출구 쪽입니다",
    "재건축 조합 총회 공지가 늦게 와서 참석을 못 했어요",
    "구청에서 하는 김장 나눔 행사에 참여하고 싶어요",
    "어린이 보호구역 과속 단속 카메라 설치 감사합니다",
    "도로 포트홀 때문에 자전거가 넘어질 뻔했어요. 빨리 메워주세요",
    "서울시 청년수당 면접 일정 문자를 못 받았어요",
    "탄천 산책로 야간 조명 시간 좀 늘려주세요",
    "공공 체육시설 예약 사이트가 너무 느려요",
    "주민센터 무인민원발급기 점검 중이라는데 언제 재개되나요",
    "버스 환승 할인 시간 30분은 너무 짧아요",
    "불꽃축제 끝나고 쓰레기 치우시는 분들 고생 많으셨어요",
    "지하철 역명 다국어 안내가 잘 되어 있어서 외국인 친구가 좋아했어요",
    "아이 둘 키우는데 서울형 키즈카페 예약이 너무 어려워요",
    "전기차 충전소가 아파트 단지에 더 필요합니다",
    "인왕산 등산로 계단 보수 공사 감사해요",
    "노인 일자리 사업 모집 공고는 언제 나오나요",
    "청소년 문화의집 프로그램 너무 알차요",
    "1인 가구 안심 귀가 서비스 신청 방법 알려주세요",
    "한강 수영장 개장일이 언제인가요",
    "구청장님 현장 방문 때 말씀드린 놀이터 보수 건 진행되고 있나요",
    "서울시 공공배달앱 가맹점이 더 늘었으면 좋겠어요",
    "우리 동 주민센터 주차장이 너무 좁아요",
    "장마 전에 빗물받이 청소 부탁드립니다. 매년 역류해요",
    "버스 정류장 온열의자 정말 좋아요. 더 많이 설치해주세요",
    "지하철 무임승차 단속 강화해주세요",
    "자전거 보관대가 꽉 차서 세울 곳이 없어요",
    "도시재생 사업 설명회 영상 다시보기가 있을까요",
    "공공임대주택 입주자 모집 공고 알림 신청하고 싶어요",
    "평일 저녁에도 보건소 예방접종 받을 수 있나요",
    "구청 SNS 소식 덕분에 동네 행사를 놓치지 않고 있어요",
    "서울 야경 명소 추천 게시물 잘 봤습니다",
    "시민 안전 교육 프로그램에 가족이랑 참여했어요. 유익했어요",
    "지하철 첫차 시간을 조금만 앞당겨 주세요. 새벽 근무자들이 힘들어요",
    "구청 앞 은행나무 열매 냄새가 심해요. 수거 부탁드려요",
    "공유 킥보드가 인도에 아무렇게나 세워져 있어요. 단속해주세요",
    "마포구 쓰레기 소각장 관련 공청회 일정이 궁금합니다",
    "서울식물원 야간 개장 정말 좋았어요",
    "택시 승차 거부 신고는 어디에 하나요",
    "민원 답변 감사합니다. 빠르게 처리해주셔서 놀랐어요",
    "다문화 가정 한국어 교실 시간표 알려주세요",
    "청량리역 환승 안내 표지판이 헷갈려요",
    "노들섬 공연 일정이 궁금해요",
    "우리 구에도 공공 산후조리원이 생겼으면 좋겠어요",
    "폭염 때 살수차 운행 감사합니다",
    "횡단보도 옆 그늘막 덕분에 신호 기다리기 편해요",
    "지하철 역사 내 수유실 위치 안내가 부족해요",
    "구청 민원 처리 기한이 14일이라는데 20일이 지났어요",
    "서울 도서관 전자책 대출 권수 늘려주세요",
    "동네 공원 운동기구 사용법 안내판이 있으면 좋겠어요",
    "재개발 이주 대책 설명 자료가 너무 어려워요. 쉽게 정리해주세요",
    "따릉이 새싹 자전거 정말 가볍고 좋네요",
]

HARD_NEGATIVES = [
    "지하철 1호선 시발점인 소요산역까지 가는 첫차 시간이 궁금해요",
    "이번 노선 개편의 시발점이 된 민원이 뭔지 알고 싶어요",
    "새끼발가락을 보도블록 턱에 찧었어요. 튀어나온 블록 좀 고쳐주세요",
    "그 시 발표에 따르면 공사가 다음 달에 끝난다던데 맞나요",
    "주문번호 01012345678 인데 서울사랑상품권 환불이 안 돼요",
    "접수번호 2024112512345 민원 처리 상황 알려주세요",
    "2024-11-25 오후 3시에 주민설명회 한다고 들었어요",
    "11월 25일 14:00 구청 대강당에서 공청회가 열립니다",
    "1588-3000 고객센터에 전화했는데 연결이 안 돼요. 통신사 문제인가요",
    "시내버스 7016번 배차 간격이 너무 길어요",
    "아파트 3단지 2동 앞 가로등이 나갔어요",
    "지하철 5호선 상일동행 막차가 23시 50분 맞나요",
    "서울시청 주소가 세종대로 110 맞죠? 민원실 몇 층인가요",
    "구청에 120 다산콜로 문의하라고 안내받았어요",
    "시바견 산책시키기 좋은 공원 추천해주세요",
    "병 신고는 어디에 하나요? 길에 깨진 유리병이 많아요",
    "가로등이 꺼져 있어서 밤길이 무서워요",
    "따릉이 대여 번호 1234 자전거 브레이크가 고장 났어요",
    "공사 기간은 2025.03.01~2025.06.30 이라고 적혀 있네요",
    "버스 정류장 번호 23-456 에 전광판이 없어요",
    "청년월세 지원금 20만원이 아직 안 들어왔어요",
    "지역구 국회의원 사무실 위치를 묻는 글은 아니고, 구청 민원실 위치 문의입니다",
    "선거 투표소 위치를 미리 공지해주세요. 작년엔 찾기 어려웠어요",
    "지방선거 때 쓰인 현수막 수거가 아직 안 됐어요",
    "새끼 고양이가 공원 배수로에 빠졌어요. 구조 부탁드려요",
    "미친 듯이 더운 날씨에 그늘막 설치해주셔서 감사합니다",
    "이 정책이 주민 생활에 영향을 미친 사례를 공유해주세요",
    "우리 동네 발전 계획 발표는 언제인가요",
    "차량 2부제 시행 기간 알려주세요",
    "주차위반 과태료 4만원 고지서를 받았는데 이의신청 방법이 궁금해요",
    "예약번호 A2411-0332 로 체육관 예약했는데 확인이 안 돼요",
    "시청역 3번 출구 엘리베이터가 고장입니다",
    "카드 번호 앞자리 4자리만 보이는 영수증을 받았는데 정상인가요",
    "하수관 공사로 2차로 중 1차로가 통제된대요",
    "지하철 요금이 1,400원으로 오른다는 기사가 맞나요",
    "구청 대표번호 02로 시작하는 번호가 홈페이지에 없어요",
    "버스 번호 6411번 첫차 시간은 04:00 맞죠",
    "킥보드 사고 통계 발표 자료 잘 봤습니다",
    "아이가 새끼손가락을 다쳐서 야간 진료하는 병원을 찾고 있어요",
    "세금 고지서 납부 기한이 12월 31일까지인가요",
    "우리 구 출산 지원금이 200만원으로 늘었다는데 사실인가요",
    "재개발 조합 설립 인가 날짜가 2023년 5월 17일이었던 것 같아요",
    "관리사무소에 문의하니 101동은 내일 단수라고 하네요",
    "공원 입구에 기호 표시가 헷갈려요. 화장실 기호를 크게 해주세요",
    "시 발전 계획에 우리 동네도 포함되나요",
    "한 시 반쯤 도착하는 버스가 안 와요",
    "1577-1234 택배사에 전화해도 안 받아서 구청에 문의드려요. 관할이 아닌가요",
    "지하철 분실물 센터에 가방을 맡겼다는 연락을 받았어요",
    "공원 관리 조례 개정안 입법예고 기간이 궁금합니다",
    "총 3만 2천명이 참여한 설문 결과 감사합니다",
    "후보지 선정 기준이 궁금합니다. 공공도서관 후보지 말이에요",
    "교통 체증이 심한 시간대는 오전 8시에서 9시 사이예요",
    "다음 주 화요일 10시 구청 앞에서 만나기로 했어요",
    "전화번호부에 나온 주민센터 번호가 바뀌었나요",
    "공원에서 주운 지갑을 경찰서에 맡겼어요",
    "택배 송장번호 6082 1234 5678 인데 아파트 무인택배함 오류가 나요",
    "우리 동네 공약 이행률 자료가 구청 홈페이지에 있나요",
    "불법 전단지가 골목에 너무 많이 붙어 있어요. 수거 부탁드려요",
    "스팸 문자가 구청 이름으로 와요. 보이스피싱 주의 공지 부탁드려요",
    "오픈채팅방으로 민원 받는다는 말이 사실인가요? 공식 채널이 궁금해요",
]

ADVERTISING = [
    "주식 리딩방 무료 입장 open.kakao.com/o/sXk29Lq 수익보장 합니다",
    "부업 하실 분 하루 2시간 일당 10만원 텔레그램 t.me/easyjob_kr 문의",
    "재택부업 모집 중입니다 카톡 아이디: money777 로 연락주세요",
    "바카라 카지노사이트 가입코드 SEOUL 첫충 20% bit.ly/3xYzAbc",
    "무직자대출 당일대출 가능 1666-7788 상담문의",
    "토토사이트 먹튀검증 완료 안전한 곳 알려드림 han.gl/AbCd1",
    "코인 리딩방 수익인증 매일 올립니다 오픈채팅 들어오세요 open.kakao.com/o/gCoin88",
    "급전 필요하신 분 작업대출 가능합니다 텔레 @loan_fast",
    "출장안마 24시 서울 전지역 010-5847-2291 카톡문의",
    "최저가 보장 인터넷 가입 현금 사은품 최대 50만원 1588-4321 지금바로 전화주세요",
    "서울 전지역 이사 청소 특가 이벤트진행 중 me2.do/5Gh7Kp 방문하세요",
    "고수익보장 해외선물 무료체험방 open.kakao.com/o/futures01",
    "분양문의 역세권 오피스텔 선착순모집 1644-2580",
    "비아그라 정품 당일배송 vo.la/x8Qw2",
    "부업문의 주세요 하루 30분 투자로 월 300 가능 t.me/side300",
    "추천인코드 입력하면 5천원 바로 지급 앱테크 부업 url.kr/ab12cd",
    "슬롯사이트 신규 가입 보너스 라인 아이디: slot_vip",
    "급등주 무료 추천 vip방 입장 open.kakao.com/o/stockvip",
    "공동구매 최저가 특가 이벤트 카톡문의 주세요 pf.kakao.com/_xYzAb",
    "대포통장 삽니다 건당 200 텔레그램 문의",
    "파워볼 픽 무료로 드립니다 문의는 텔레 @powerpick",
    "누수 탐지 전문 24시 출동 1577-9988 최저가 상담문의",
    "인스타 팔로워 늘려드립니다 최저가 bit.ly/fol10w",
    "다이어트 한약 무료상담 카톡 아이디: slimkr 선착순모집",
    "온라인카지노 신규 첫충 보너스 지급 cutt.ly/casino7",
    "회원모집 고수익 알바 당일지급 010-3921-7740 문자주세요",
    "중고차 최저가 매입 1600-1234 지금바로 상담문의",
    "조건만남 원하시는 분 오픈채팅으로 open.kakao.com/o/meet24",
    "리딩방 수익보장 원금보장 무료체험방 입장하세요",
    "사설토토 먹튀없는 곳 추천 텔레그램 t.me/safe_toto",
    "일수대출 신불자대출 가능 카톡문의 lend88",
    "부동산 경매 무료상담 선착순모집 1661-3030 최저가 수강료",
    "해외직구 명품 최저가 특가 이벤트진행 buly.kr/AB1cD2",
    "학원 원생 모집 특가 할인쿠폰 지금바로 bit.ly/edu50",
    "유튜브 조회수 구독자 늘려드려요 카톡 아이디: ytboost",
    "서울 아파트 분양문의 계약금 5% 선착순모집 1800-4545",
    "가상화폐 에어드랍 참여하세요 t.me/airdrop_kr 추천코드 FREE",
    "정수기 렌탈 최저가 사은품 지급 상담문의 1599-0000",
    "출장마사지 예약 카톡문의 massage24",
    "홀덤사이트 신규 입장 open.kakao.com/o/holdem7",
]

POLITICAL = [
    "이번 구청장 선거 기호 2번 꼭 찍어주세요",
    "정권 심판하려면 이번에 투표합시다",
    "시장 보궐선거 우리 후보 뽑아주세요 서울을 바꿉시다",
    "기호 1번 후보 당선시켜 주십시오 교통 공약 최고입니다",
    "민주당 심판 투표로 보여줍시다",
    "국민의힘 후보 찍어주세요 재개발 확실히 됩니다",
    "빨갱이들이 시정을 망치고 있습니다",
    "토착왜구 같은 놈들 이번 선거에서 낙선운동 합시다",
    "대깨문들 서울시 게시판까지 와서 난리네",
    "좌빨 시장 때문에 서울이 망했다",
    "다음 총선에서 정의당 지지해 주세요",
    "탄핵만이 답이다 주말 집회 다 같이 나갑시다",
    "수꼴들은 이번에도 찍겠지",
    "지방선거 기호 3번 뽑아주세요 청년 정책 확실합니다",
    "이번엔 꼭 투표해 주세요 적폐 청산해야 합니다",
    "조국혁신당 후보 밀어 주세요",
    "우리 구 의원 후보 ○○○ 지지 부탁드립니다",
    "개딸들 선동에 넘어가지 맙시다",
    "구청장 후보 공약 보고 정권 심판 투표하세요",
    "개혁신당 후보 찍어주세요 젊은 서울 만듭시다",
    "매국당 후보는 절대 뽑지 맙시다 낙선시킵시다",
    "민주당놈들 예산 낭비 심판해야 합니다",
    "국힘놈들 재개발 특혜 주고 있다 심판합시다",
    "보궐선거 기호 2번 찍어 주세요 우리 동네 일꾼입니다",
    "진보당 후보에게 투표해 주세요 노동자를 위한 서울",
    "새누리당 시절이 그립다 이번에 보수 후보 뽑아주세요",
    "정권 바꿔야 서울이 산다 이번 선거 투표합시다",
    "좌좀들 게시판 도배 그만해라",
    "지지 호소합니다 이번 구의원 선거 기호 5번",
    "빨갱이 시장 물러나라 탄핵하자",
]

DEFAMATION = [
    "○○구청 김 과장이 공사업체한테 뇌물 받았대요 다들 알아야 합니다",
    "주민센터 동장이 보조금 횡령했다고 소문났어요",
    "재개발 조합장 이씨가 리베이트 챙겼다더라",
    "구의원 박모씨 음주운전 전과 있다던데 왜 아무도 말 안 하나요",
    "시장이 건설사에서 뒷돈 받았다는 찌라시 돌던데 사실인가요",
    "구청 주무관이 민원인 정보를 팔았다는 소문이 있어요",
    "아파트 관리소장이 관리비 횡령한 거 다 알아요",
    "조합 이사장이 비자금 만들었다고 조합원들이 다 알아요",
    "그 공무원 불륜 때문에 징계받았다더라",
    "구청장 아들이 특혜 채용됐다는 카더라가 있네요. 비리 의혹 밝혀주세요",
    "청소업체 대표가 구청 팀장한테 뇌물 줬대요",
    "교장이 학교 급식비 횡령했다고 학부모들이 난리예요",
    "재건축 추진위원장이 배임 혐의 받았다던데요",
    "시의원 최씨 땅 투기 했다고 동네 사람들이 다 알아요",
    "동장님이 성추행 했다는 얘기가 돌아요",
    "관리사무소 과장이 업체 선정 비리 저질렀대요",
    "구청 국장이 탈세 혐의로 조사받았다더라",
    "보건소장이 제약사 리베이트 받았다고 들었어요",
    "그 위원장 전과 3범이라던데 왜 그 자리에 있나요",
    "어린이집 원장이 보조금 비리로 신고당했다고 하더라",
    "공원 관리 업체 대표랑 팀장이 뒷돈 주고받았대요",
    "구의원 정씨가 마약 했다는 소문이 있어요",
    "재개발 조합장이 뇌물 받았다고 조합원 단톡방에 퍼졌어요",
    "시설관리공단 이사장이 횡령해서 잘렸다더라",
    "우리 동 통장님이 지원금 횡령했다고 들었어요",
]

PROFANITY = [
    "시1발 구청 일 진짜 안하네",
    "민원 넣어도 답이 없고 ㅅㅂ 세금 아깝다",
    "버스 기사 개새끼 승객 다 서기도 전에 출발함",
    "따릉이 고장 난 거 또 빌렸네 씨.발",
    "이딴 걸 정책이라고 병신같이",
    "구청 공무원들 존나 느려터졌네",
    "지하철 냉방 좆같이 틀어놨네",
    "재개발 조합 놈들 지랄하고 있네",
    "시 발 놈들아 공사 소음 좀 줄여라",
    "씨ㅂㅏㄹ 또 엘리베이터 고장",
    "닥쳐라 민원 답변 복붙하지 마라",
    "공원에서 술 마시는 미친놈들 단속 좀 해라",
]

SLANDER = [
    "이 사기꾼 구청장 같으니라고",
    "담당 주무관 완전 양아치네요 민원을 무시해요",
    "재개발 조합장 인간쓰레기 아닌가요",
]

COPYRIGHT = [
    "구청 홍보 영상 배경음악 무료다운로드 토렌트 여기 있어요",
    "오늘 자 신문 기사 전문 올립니다 무단 전재 금지인 거 알지만 공유해요",
    "서울시 교육 강의 스캔본 pdf공유 합니다",
]

PUBLIC_INTEREST = [
    "한남충들 지하철 타지 마라",
    "구청 찾아가서 담당자 죽여버리겠다",
    "마약팝니다 서울 전지역 직거래",
]

PII = [
    # (text, kind) -- identifiers are synthetic
    ("따릉이 고장 신고했는데 연락은 010-2847-3915 로 주세요", "phone"),
    ("제 번호 01093847261 로 처리 결과 문자 부탁드려요", "phone"),
    ("외국에 있어서 +82 10-5521-8843 로 연락 바랍니다", "phone"),
    ("사무실 번호 02-6372-1148 로 전화 주세요", "phone"),
    ("집 전화 031-912-3348 로 연락 주시면 됩니다", "phone"),
    ("연락처 010.4418.2290 입니다 놀이터 보수 건", "phone"),
    ("(02) 553-8817 로 회신 부탁드립니다", "phone"),
    ("010 7731 0045 로 연락 주세요 재개발 설명회 건", "phone"),
    ("답변은 kimminsu84@naver.com 으로 보내주세요", "email"),
    ("서류는 jiyoung.park@gmail.com 로 보내주시면 됩니다", "email"),
    ("제 메일 seoul_mom22@daum.net 로 연락 주세요", "email"),
    ("청년수당 서류 문의 hyunwoo.lee@kakao.com", "email"),
    (
        f"청년월세 신청하는데 주민번호 {rrn('950714', '1', '23456')} 맞게 입력했는데 오류가 나요",
        "resident_registration",
    ),
    (f"어머니 주민등록번호 {rrn('580302', '2', '04917')} 로 조회 부탁드립니다", "resident_registration"),
    (f"아이 주민번호가 {rrn('190825', '4', '33012')} 인데 어린이집 대기 등록이 안 돼요", "resident_registration"),
    (f"등록번호 {rrn('881111', '1', '52831')} 기초연금 신청 건 확인해주세요", "resident_registration"),
    (f"{rrn('010203', '3', '47720')} 이 제 번호예요 민원 처리 확인 부탁", "resident_registration"),
    ("2021년생 아이 번호 210517-4839201 로 보육료 신청했어요", "resident_registration"),
    (f"외국인등록번호 {rrn('870922', '5', '18374', foreign=True)} 로 자전거 회원 가입이 안 돼요", "alien_registration"),
    (f"아내 외국인등록번호가 {rrn('920404', '6', '27735', foreign=True)} 인데 지원 대상인가요", "alien_registration"),
    ("여권번호 M48213907 로 외국인 관광 할인 등록했어요", "passport"),
    ("여권 번호는 M123A4567 입니다 재발급 후 변경된 번호예요", "passport"),
    ("운전면허번호 11-19-384756-21 로 공유 킥보드 인증이 안 돼요", "driver_licence"),
    ("면허번호 서울 13-228391-40 확인 부탁드립니다", "driver_licence"),
    ("환불금은 국민은행 482901-01-338271 로 입금해 주세요", "bank_account"),
    ("신한은행 110-384-559201 예금주 김민지 로 보내주세요", "bank_account"),
    ("지원금 받을 계좌 우리은행 1002-847-339102 입니다", "bank_account"),
    ("농협 계좌 301-2231-8847-11 로 환급 부탁드려요", "bank_account"),
    ("카카오뱅크 3333-08-4471925 로 보증금 돌려주세요", "bank_account"),
    ("불법 주차 차량 12가 3456 매일 인도에 세워요", "car_plate"),
    ("소방차 전용구역에 서울31바4417 차량이 항상 주차되어 있어요", "car_plate"),
    ("어린이보호구역에서 과속하는 차 123호 4567 신고합니다", "car_plate"),
    ("38더 9921 차량이 매일 밤 경적을 울려요", "car_plate"),
    ("래미안 101동 1203호 층간소음 문제로 민원 넣습니다", "address"),
    ("저희 집이 은평구 통일로 684 3동 502호 인데 택배함이 없어요", "address"),
    ("우리집 성수이로7길 12 앞에 쓰레기가 쌓여 있어요", "address"),
    ("105동 804호 사는데 관리사무소가 답이 없어요", "address"),
    ("제가 사는 곳은 망원동 412-17 번지입니다 하수구 냄새가 나요", "address"),
    ("독거 어르신 댁 주소 마포구 월드컵로 212 2층 방문 부탁드립니다", "address"),
    ("연락은 010-6620-1184, 주소는 12동 301호 입니다", "phone"),
    ("서류 보낼 메일 minji.k@hanmail.net 전화 010-4831-2270", "email"),
    ("계좌 하나은행 620-228813-447 로 환불해주세요 예금주 박서준", "bank_account"),
    ("제 연락처 010 3391 8276 입니다 빠른 회신 부탁", "phone"),
    ("민원 담당자 이메일이 hong.official@seoul.go.kr 맞나요? 거기로 사진 보냈어요", "email"),
    ("주차 위반 차량 번호 57로 2938 입니다", "car_plate"),
    ("010-9912-7731 이 번호로 택배 기사님 연락 부탁드려요", "phone"),
    ("4동 1102호 누수 문제로 윗집과 분쟁 중입니다", "address"),
    ("외할머니 주민번호 " + rrn("400101", "2", "12345") + " 로 장기요양 신청했습니다", "resident_registration"),
    ("동생 메일로 보내주세요 dongsaeng.kim@outlook.com", "email"),
    ("+82-10-2293-4471 로 문자 주세요 해외 체류 중입니다", "phone"),
]

REPEATS = [
    # (author, text, is_repeat)
    ("u_park", "우리 동네 공원 화장실 좀 고쳐주세요 벌써 한달째 고장입니다", False),
    ("u_park", "우리 동네 공원 화장실 좀 고쳐주세요 벌써 한달째 고장입니다", True),
    ("u_park", "우리 동네 공원 화장실 좀 고쳐주세요!! 벌써 한 달째 고장입니다", True),
    ("u_choi", "재개발 반대 서명 부탁드립니다 모두 구청 게시판에 같은 글을 올려주세요", False),
    ("u_jung", "재개발 반대 서명 부탁드립니다 모두 구청 게시판에 같은 글을 올려주세요", False),
    ("u_kang", "재개발 반대 서명 부탁드립니다 모두 구청 게시판에 같은 글을 올려주세요", True),
    ("u_yoon", "재개발 반대 서명 부탁드립니다. 모두 구청 게시판에 같은 글을 올려주세요!", True),
    ("u_lim", "마을버스 배차 간격 좀 줄여주세요 출근 시간에 너무 힘듭니다 제발요", False),
    ("u_lim", "마을버스 배차 간격 좀 줄여주세요 출근 시간에 너무 힘듭니다 제발요 ㅠㅠ", True),
    ("u_lim", "마을버스 배차 간격 좀 줄여주세요. 출근 시간에 너무 힘듭니다. 제발요", True),
    ("u_han", "쓰레기 소각장 건립 결사 반대합니다 주민 의견을 들어주세요", False),
    ("u_oh", "쓰레기 소각장 건립 결사 반대합니다 주민 의견을 들어주세요", False),
    ("u_seo", "쓰레기 소각장 건립 결사 반대합니다 주민 의견을 들어주세요", True),
    ("u_shin", "쓰레기 소각장 건립 결사 반대합니다. 주민 의견을 들어주세요", True),
    ("u_kwon", "쓰레기 소각장 건립 결사 반대합니다 주민의견을 들어주세요!!", True),
    ("u_hwang", "어린이집 대기 순번 확인 방법 좀 알려주세요 홈페이지에서 안 보여요", False),
    ("u_hwang", "어린이집 대기 순번 확인 방법 좀 알려주세요 홈페이지에서 안 보여요", True),
    ("u_ahn", "공원 산책로 가로등 수리 요청합니다 밤에 너무 어두워요", False),
    ("u_song", "도서관 주말 운영 시간 연장해 주셔서 정말 감사합니다", False),
    ("u_ahn", "도서관 열람실 좌석 예약 시스템이 자꾸 오류가 나요 확인 부탁", False),
    ("u_ahn", "공원 산책로 가로등 수리 요청합니다. 밤에 너무 어두워요!!", True),
    ("u_jeon", "지하철 역사 내 엘리베이터 설치 요청합니다 계단이 너무 많아요", False),
    ("u_jeon", "버스 정류장 의자 설치 요청합니다 어르신들이 서서 기다려요", False),
    ("u_go", "광고 전단지 불법 부착 단속 요청합니다 골목마다 붙어 있어요", False),
    ("u_go", "광고 전단지 불법 부착 단속 요청합니다 골목마다 붙어 있어요", True),
    ("u_moon", "감사합니다", False),
    ("u_moon", "감사합니다", False),
    ("u_moon", "감사합니다", False),
    ("u_yang", "버스 노선 개편 설명회 일정 알려주세요", False),
    ("u_son", "버스 노선 개편 설명회 장소는 어디인가요", False),
    ("u_bae", "한강 자전거길 공사 언제 끝나나요 우회로 안내가 부족합니다", False),
    ("u_bae", "한강 자전거길 공사 언제 끝나나요? 우회로 안내가 너무 부족합니다", True),
]


# Issue 17, written on 2026-12-03: the everyday spam, campaigning, registration numbers and Latin swear words the
# pipeline let through, with hard negatives next to each (text, labels, kind). Appended after the repetition rows so
# the ids above stay as they were.
REAL_WORLD: list[tuple[str, list[str], str]] = [
    # advertising: loans with business numbers, messenger IDs, job scams, counterfeits, bare shop domains
    ("급하게 돈 필요하신 분 무직자 주부 당일 대출 가능합니다 1577-3482", ["advertising"], "advertising_loan"),
    ("저신용 신불자도 승인 가능 한도조회 무료 ☎1644 2291", ["advertising"], "advertising_loan"),
    ("개인돈 급전 필요하면 1855.7730 으로 연락 주세요 비밀 보장", ["advertising"], "advertising_loan"),
    ("카톡 ID seoulvip77 로 연락주시면 바로 상담해 드려요", ["advertising"], "advertising_messenger"),
    ("텔레 아이디 @moneyking_kr 입금 확인 즉시 진행", ["advertising"], "advertising_messenger"),
    ("카톡아이디 luckyjob2 추가하세요 재택으로 하루 2시간", ["advertising"], "advertising_messenger"),
    ("재택알바 구합니다 일당 12만원 이상 지급 누구나 가능", ["advertising"], "advertising_job"),
    ("꿀알바 단순업무 핸드폰만 있으면 됩니다 주급지급", ["advertising"], "advertising_job"),
    ("명품가방 미러급 정품급 판매중 사진 문의주세요", ["advertising"], "advertising_counterfeit"),
    ("홍콩명품 시계 레플리카 특a급 택배발송 가능", ["advertising"], "advertising_counterfeit"),
    ("싸게 사실 분은 dongdaemun-outlet.co 에서 주문하세요", ["advertising"], "advertising_domain"),
    ("주방용품 세일 kitchen-mall.kr 오늘만 초특가", ["advertising"], "advertising_domain"),
    ("가입만 해도 포인트 지급 luckybet.xyz 지금바로", ["advertising"], "advertising_domain"),
    ("주택도시보증공사 1566-9009 에 전세대출 문의했는데 답이 없어요", [], "hard_negative_advertising"),
    ("서울시 청년 전세대출 이자 지원 신청은 어디서 하나요", [], "hard_negative_advertising"),
    ("카톡으로 구청 소식을 받고 있는데 알림이 안 와요", [], "hard_negative_advertising"),
    ("구청 홈페이지 주소가 gangnam.go.kr 맞나요", [], "hard_negative_advertising"),
    ("기사 링크 hani.co.kr/arti/society 참고하세요", [], "hard_negative_advertising"),
    ("중고 거래 사기 당했어요 짝퉁인 줄 몰랐습니다 신고 방법 알려주세요", [], "hard_negative_advertising"),
    ("알바 구하는 청년들 위한 일자리센터 운영 시간이 궁금해요", [], "hard_negative_advertising"),
    # political purposes: endorsements, signature drives, party slogans (a person decides)
    ("이번 지방선거에서는 꼭 박영수 후보 찍어주세요", ["political"], "political_endorsement"),
    ("김민정 후보 지지합니다 여러분의 소중한 한 표 부탁드립니다", ["political"], "political_endorsement"),
    ("구청장 주민소환 서명 받고 있습니다 동참 부탁드립니다", ["political"], "political_signature"),
    ("시장 퇴진 서명운동 함께 해주세요 링크 올립니다", ["political"], "political_signature"),
    ("대통령 탄핵 국민청원 동의 눌러주세요", ["political"], "political_signature"),
    ("정의당과 함께 합시다 노동 존중 서울", ["political"], "political_slogan"),
    ("국민의힘 압승으로 서울을 바꾸자", ["political"], "political_slogan"),
    ("민주당 화이팅 이번에도 승리합시다", ["political"], "political_slogan"),
    ("정권 심판 투표로 보여줍시다", ["political"], "political_slogan"),
    ("다음 총선에서 무조건 3번 뽑읍시다", ["political"], "political_endorsement"),
    ("서명 5만 명 목표입니다 구청장 소환 청원에 힘을 보태주세요", ["political"], "political_signature"),
    ("기호 2번 이서연, 우리 동네를 바꿀 사람", ["political"], "political_endorsement"),
    ("선거 날 투표소까지 가는 셔틀버스가 있나요", [], "hard_negative_political"),
    ("주민센터에 청원 제출하는 방법을 알려주세요", [], "hard_negative_political"),
    ("국민의힘 시의원 사무실 위치가 어디인가요", [], "hard_negative_political"),
    ("민원 서명이 필요하다고 해서 서류 준비 중입니다", [], "hard_negative_political"),
    # resident and alien registration numbers (synthetic; some with a wrong check digit, still masked)
    (f"주민번호 {rrn_typo('850412', '1', '59382')} 로 조회가 안 됩니다", ["personal_data"], "rrn_typo"),
    (f"주민등록번호 {rrn('910723', '2', '34567').replace('-', ' - ')} 맞나요", ["personal_data"], "rrn"),
    (f"외국인등록번호 {rrn('880305', '5', '12345', foreign=True)} 연장 신청", ["personal_data"], "alien"),
    (f"제 주민 번호는 {' '.join(rrn('750211', '1', '23456'))} 입니다", ["personal_data"], "rrn_spaced"),
    (
        f"주민번호 {rrn_typo('920315', '2', '14567').translate(FULL_WIDTH)}",
        ["personal_data"],
        "rrn_full_width",
    ),
    (f"아이 주민번호 {rrn('190203', '4', '12345').replace('-', '')} 알려드려요", ["personal_data"], "rrn_13"),
    (f"{rrn_typo('900101', '1', '23456').replace('-', 'ㆍ')} 제 번호예요", ["personal_data"], "rrn_shape"),
    (
        f"외국인 번호 {rrn_typo('950312', '6', '23456', foreign=True).replace('-', '')} 체류 연장",
        ["personal_data"],
        "alien_typo",
    ),
    (f"주민번호 뒷자리 틀리게 적었어요 {rrn_typo('880101', '1', '23456')} 맞나요", ["personal_data"], "rrn_typo"),
    ("주문번호 2024112512345 배송 조회가 안 돼요", [], "hard_negative_rrn"),
    ("운송장 번호 6089-1234-5678 확인 부탁", [], "hard_negative_rrn"),
    ("사건번호 2026-1234567 진행 상황 알려주세요", [], "hard_negative_rrn"),
    ("접수번호 202611-3456789 로 신청했어요", [], "hard_negative_rrn"),
    ("계약번호 991231-0012345 로 조회됩니다", [], "hard_negative_rrn"),
    # profanity in Latin letters, spelled out, with separators, look-alikes, full width, mixed scripts
    ("f u c k 구청 일 좀 해라", ["profanity"], "latin_profanity"),
    ("s.h.i.t 이게 행정이냐", ["profanity"], "latin_profanity"),
    ("ssi-bal 버스 또 안 와", ["profanity"], "latin_profanity"),
    ("tlqkf 따릉이 또 고장", ["profanity"], "latin_profanity"),
    ("진짜 qudtls 같은 정책", ["profanity"], "latin_profanity"),
    ("F*CK 공사 소음 때문에 잠을 못 자", ["profanity"], "latin_profanity"),
    ("이런 sh1t 같은 도로", ["profanity"], "latin_profanity"),
    ("s i b a l 신호등 왜 이래", ["profanity"], "latin_profanity"),
    ("씨bal 주차 단속 너무하네", ["profanity"], "latin_profanity"),
    ("ｆｕｃｋ 진짜 짜증", ["profanity"], "latin_profanity"),
    ("gae-sae-kki 들 불법주차 좀 잡아라", ["profanity"], "latin_profanity"),
    ("wlfkf 하네 진짜 민원 처리 안 해주고", ["profanity"], "latin_profanity"),
    ("this hit song 축제에서 틀어주세요", [], "hard_negative_latin"),
    ("CBS 라디오 교통정보 잘 듣고 있어요", [], "hard_negative_latin"),
    ("Shiitake 버섯 농장 체험 신청 어디서 하나요", [], "hard_negative_latin"),
    ("a b c 순서대로 줄 서라고 안내해 주세요", [], "hard_negative_latin"),
    ("Sibaljeom 표지판 영문 표기가 이상해요", [], "hard_negative_latin"),
]


def main() -> None:
    rows: list[dict[str, object]] = []

    def add(text: str, labels: list[str], author: str, kind: str, note: str = "") -> None:
        row: dict[str, object] = {
            "id": f"civic-{len(rows) + 1:04d}",
            "text": text,
            "author": author,
            "labels": labels,
            "kind": kind,
        }
        if note:
            row["note"] = note
        rows.append(row)

    for i, t in enumerate(CLEAN):
        add(t, [], f"c{i}", "clean")
    for i, t in enumerate(HARD_NEGATIVES):
        add(t, [], f"h{i}", "hard_negative")
    for i, t in enumerate(ADVERTISING):
        labels = ["advertising"]
        if any(x in t for x in ("010-", "010 ")):
            labels.append("personal_data")
        add(t, labels, f"a{i}", "advertising")
    for i, t in enumerate(POLITICAL):
        add(t, ["political"], f"p{i}", "political")
    for i, t in enumerate(DEFAMATION):
        add(t, ["defamation"], f"d{i}", "defamation")
    for i, t in enumerate(PROFANITY):
        add(t, ["profanity"], f"v{i}", "profanity")
    for i, t in enumerate(SLANDER):
        add(t, ["slander"], f"s{i}", "slander")
    for i, t in enumerate(COPYRIGHT):
        add(t, ["copyright"], f"cr{i}", "copyright")
    for i, t in enumerate(PUBLIC_INTEREST):
        add(t, ["public_interest"], f"pi{i}", "public_interest")
    for i, (t, kind) in enumerate(PII):
        add(t, ["personal_data"], f"pd{i}", "personal_data", kind)
    for author, t, rep in REPEATS:
        add(t, ["repetition"] if rep else [], author, "repetition")
    for i, (t, labels, kind) in enumerate(REAL_WORLD):
        add(t, labels, f"rw{i}", kind)
    OUT.parent.mkdir(parents=True, exist_ok=True)
    with OUT.open("w", encoding="utf-8") as f:
        for r in rows:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")
    print(f"wrote {len(rows)} rows to {OUT}")


if __name__ == "__main__":
    main()
