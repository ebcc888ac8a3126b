"""One source for the KakaoTalk alimtalk templates: the text alerting checks at approval is the text the KakaoTalk
stand-in builds from the template it registered and the variables alerting sends (sotong_common.kakao_templates).

It needs no stack: alerting's renderings and the stand-in's template class meet on the one template file.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from sotong.publishing.v1 import publishing_events_pb2 as pub
from sotong_alerting import channels, publishing
from sotong_alerting.cap import Alert, parse_cap
from sotong_common import kakao_templates
from sotong_standins.providers.kakao import Template

EXAMPLES = Path(__file__).resolve().parents[2] / "services" / "alerting" / "examples"


def alert_of(example: Path) -> Alert:
    document = parse_cap(example.read_bytes())
    assert document.alert is not None, document.problems
    return document.alert


@pytest.mark.parametrize("example", ["heavy-rain-warning.valid.xml", "heavy-rain-update.valid.xml"])
def test_what_approval_checks_is_what_the_registered_template_builds(example: str) -> None:
    alert = alert_of(EXAMPLES / example)
    sent = publishing.renderings(alert, pub.CHANNEL_KAKAO_CHANNEL, "stage2", {})
    assert sent, "the example alert renders for KakaoTalk"
    for rendering in sent:
        registered = kakao_templates.templates()[rendering.template_code]
        built = Template(rendering.template_code, registered).render(dict(rendering.variables))
        checked = channels.render(alert, channels.Channel.KAKAO, rendering.language)
        unfilled = [v for v in checked.violations if v.part == "template"]
        if unfilled:  # approval refuses it, and so would Kakao (E102): the two agree on what is missing
            assert built is None
        else:
            assert built == checked.text == rendering.body


def test_every_template_alerting_can_choose_is_registered() -> None:
    registered = kakao_templates.templates()
    for example in EXAMPLES.glob("*.valid.xml"):
        alert = alert_of(example)
        for language in ("ko", "en"):
            assert channels.kakao_template(alert, language)[0] in registered
