from __future__ import annotations

import pytest

from sotong_alerting.cap import MsgType, ResponseType, Status
from sotong_alerting.channels import (
    Button,
    Channel,
    Unit,
    cell_broadcast_length,
    check_channels,
    euc_kr_length,
    fill_template,
    is_gsm7,
    marker,
    render,
    render_all,
    x_weighted_length,
)

from .factories import english_info, korean_info, make_alert


def test_measures() -> None:
    assert is_gsm7("Heavy rain @ Dobong-gu: 50mm/h!")
    assert not is_gsm7("호우")
    assert cell_broadcast_length("a" * 10) == (10, 157)
    assert cell_broadcast_length("€[]") == (6, 157)  # extension characters take two septets
    assert cell_broadcast_length("가" * 10) == (10, 90)
    assert euc_kr_length("가나다abc") == 9
    assert euc_kr_length("비 🌧") is None
    assert x_weighted_length("hello") == 5
    assert x_weighted_length("호우경보") == 8
    assert x_weighted_length("see https://safecity.seoul.go.kr/a/very/long/path/indeed") == 4 + 23


def test_korean_cell_broadcast_of_91_characters_is_refused_and_90_accepted() -> None:
    alert = make_alert()
    ok = render(alert, Channel.CELL_BROADCAST, text="가" * 90)
    too_long = render(alert, Channel.CELL_BROADCAST, text="가" * 91)
    assert ok.ok
    assert (ok.measured, ok.limit, ok.kind) == (90, 90, "UCS-2")
    assert not too_long.ok
    violation = too_long.violations[0]
    assert (violation.measured, violation.limit, violation.part) == (91, 90, "text")
    assert "over the limit of 90 by 1" in violation.message


def test_gsm_only_cell_broadcast_gets_157_characters() -> None:
    alert = make_alert()
    assert render(alert, Channel.CELL_BROADCAST, "en", text="a" * 157).ok
    refused = render(alert, Channel.CELL_BROADCAST, "en", text="a" * 158)
    assert refused.violations[0].limit == 157
    mixed = render(alert, Channel.CELL_BROADCAST, "en", text="a" * 100 + "가")
    assert mixed.limit == 90
    assert not mixed.ok


def test_sms_switches_to_lms_and_refuses_over_2000_bytes() -> None:
    alert = make_alert()
    short = render(alert, Channel.SMS, text="가" * 45)
    assert (short.kind, short.measured, short.limit, short.unit) == ("SMS", 90, 90, Unit.EUC_KR_BYTES)
    long = render(alert, Channel.SMS, text="가" * 46)
    assert (long.kind, long.measured, long.limit) == ("LMS", 92, 2000)
    assert long.ok
    refused = render(alert, Channel.SMS, text="가" * 1001)
    assert refused.violations[0].measured == 2002
    emoji = render(alert, Channel.SMS, text="비가 와요 🌧")
    assert "cannot be sent by SMS" in emoji.violations[0].message


def test_kakao_template_fills_variables_and_checks_buttons() -> None:
    alert = make_alert()
    rendering = render(alert, Channel.KAKAO)
    assert rendering.ok
    assert "■ 행동요령: 하천변 산책로 이용을 자제하세요." in rendering.text
    assert "#{" not in rendering.text
    assert rendering.buttons == (Button("자세히 보기", "https://safecity.seoul.go.kr/"),)

    unfilled = render(alert, Channel.KAKAO, template="#{headline} #{shelter}")
    assert [v.part for v in unfilled.violations] == ["template"]
    assert "shelter" in unfilled.violations[0].message

    buttons = [Button("대피소 위치 안내 바로가기 버튼", "https://x.example/")] + [Button("b", "ftp://x")] * 5
    crowded = render(alert, Channel.KAKAO, buttons=buttons)
    parts = {v.part for v in crowded.violations}
    assert {"buttons", "button 1 name", "button 2 link"} <= parts


def test_kakao_body_over_1000_characters_is_refused() -> None:
    alert = make_alert(infos=(korean_info(description="가" * 1000),))
    assert [v.part for v in render(alert, Channel.KAKAO).violations] == ["body"]


def test_fill_template_reports_missing_names() -> None:
    assert fill_template("#{a}-#{b}", {"a": "1"}) == ("1-#{b}", ("b",))


def test_x_counts_hangul_twice() -> None:
    alert = make_alert(infos=(korean_info(headline="가" * 140, instruction=None, web=None, areas=()),))
    assert render(alert, Channel.X).measured == 280
    assert render(alert, Channel.X).ok
    longer = make_alert(infos=(korean_info(headline="가" * 141, instruction=None, web=None, areas=()),))
    assert render(longer, Channel.X).violations[0].measured == 282


@pytest.mark.parametrize(
    ("channel", "limit"), [(Channel.INSTAGRAM, 2200), (Channel.THREADS, 500), (Channel.FACEBOOK, 63_206)]
)
def test_social_post_limits(channel: Channel, limit: int) -> None:
    alert = make_alert()
    assert render(alert, channel, text="a" * limit).ok
    assert render(alert, channel, text="a" * (limit + 1)).violations[0].limit == limit


def test_press_subject_and_push_title_limits() -> None:
    long_headline = make_alert(infos=(korean_info(headline="가" * 70),))
    press = render(long_headline, Channel.PRESS)
    assert press.title is not None
    assert press.title.startswith("[보도참고자료] ")
    assert [v.part for v in press.violations] == ["subject"]
    push = render(long_headline, Channel.PUSH)
    assert [v.part for v in push.violations] == ["title"]
    assert render(make_alert(), Channel.PUSH).ok


def test_pager_and_group_chat_are_short_and_complete() -> None:
    alert = make_alert()
    pager = render(alert, Channel.PAGER)
    assert pager.ok
    assert "SEOUL-2026-0001" in pager.text
    assert render(alert, Channel.PAGER, text="x" * 161).violations[0].limit == 160
    chat = render(alert, Channel.GROUP_CHAT)
    assert "Severe/Immediate/Observed" in chat.text
    assert "2026-07-14 14:00 KST" in chat.text


@pytest.mark.parametrize(
    ("status", "ko", "en"),
    [(Status.EXERCISE, "[훈련] ", "[EXERCISE] "), (Status.TEST, "[테스트] ", "[TEST] ")],
)
def test_tests_and_exercises_are_marked_in_every_rendering(status: Status, ko: str, en: str) -> None:
    alert = make_alert(status=status)
    for language, prefix in (("ko", ko), ("en", en)):
        for rendering in render_all(alert, language):
            shown = rendering.title if rendering.channel in {Channel.PRESS, Channel.PUSH} else rendering.text
            assert shown is not None
            assert shown.startswith(prefix), (rendering.channel, shown)


def test_marker_is_enforced_on_hand_written_text_and_counts_toward_the_limit() -> None:
    alert = make_alert(status=Status.EXERCISE)
    rendering = render(alert, Channel.CELL_BROADCAST, text="가" * 86)
    assert rendering.text == "[훈련] " + "가" * 86
    assert rendering.measured == 91
    assert not rendering.ok
    already = render(alert, Channel.CELL_BROADCAST, text="[훈련] 대피 훈련 중입니다")
    assert already.text == "[훈련] 대피 훈련 중입니다"


def test_updates_cancellations_and_all_clears_say_so() -> None:
    assert marker(make_alert(msg_type=MsgType.UPDATE), None, "ko") == "[변경] "
    assert marker(make_alert(msg_type=MsgType.CANCEL), None, "en") == "[CANCELLED] "
    all_clear = korean_info(response_types=(ResponseType.ALL_CLEAR,))
    alert = make_alert(status=Status.TEST, msg_type=MsgType.UPDATE, infos=(all_clear,))
    assert marker(alert, all_clear, "ko") == "[테스트][해제] "
    assert marker(make_alert(), None, "ko") == ""


def test_missing_language_is_a_violation() -> None:
    alert = make_alert(infos=(english_info(),))
    rendering = render(alert, Channel.SMS, "ko")
    assert "no info block in 'ko'" in rendering.violations[0].message


def test_check_channels_is_the_pre_approval_gate() -> None:
    alert = make_alert()
    assert check_channels(alert) == []
    found = check_channels(alert, overrides={(Channel.CELL_BROADCAST, "ko"): "가" * 91})
    assert [(v.channel, v.part) for v in found] == [(Channel.CELL_BROADCAST, "text")]
