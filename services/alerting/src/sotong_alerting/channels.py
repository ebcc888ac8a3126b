"""Per-channel texts of an alert, measured against each channel's limits before anyone approves it.

A disaster message that a carrier truncates or a platform rejects fails exactly when it matters, so every
rendering is measured the way its channel measures (characters, EUC-KR bytes, X's weighted length) and each
breach is returned as a `Violation` for the drafter to fix. Nothing is ever truncated silently.

Limits (the `LIMITS` table) and where they come from:

- Cell broadcast (재난문자, CBS): 90 characters when the text needs UCS-2 (any Korean or other non-GSM
  character), 157 characters when it is GSM 7-bit only (GSM extension characters count twice). This is the
  project's stated rule for Korean CBS, documented here so it can be revised in one place.
- SMS/LMS: Korean carriers measure in EUC-KR (CP949) bytes, 2 per Hangul syllable: up to 90 bytes is an SMS,
  up to 2000 bytes an LMS; longer cannot be sent. Characters outside CP949 (emoji) cannot be sent at all.
- KakaoTalk channel template: body at most 1000 characters after the #{variables} are filled, at most 5
  buttons, button names at most 14 characters, and every template variable must be filled.
- X: 280 in X's weighted length (twitter-text v3: most Latin, punctuation and symbols weigh 1, CJK and
  Hangul 2, every URL 23). Emoji sequences are counted per code point: that over-counts, the safe side.
- Facebook 63,206 characters; Instagram caption 2,200; Threads 500.
- Press mailing list: subject at most 78 characters (RFC 5322 line length; longer subjects are cut in list
  views), body unlimited.
- Push notification: title at most 50 and body at most 240 characters (what iOS and Android show without
  truncation, well inside the 4 kB payload limits of APNs and FCM).
- Group chat (the internal response group): 4,000 characters. Pager (duty officers): 160 characters.

Test, Exercise, System and Draft alerts carry a visible marker ("[훈련]", "[TEST]", ...) at the start of every
text, and updates, cancellations and all-clears say so too; the markers count toward the limits.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum

from sotong_alerting.cap.datetimes import to_seoul
from sotong_alerting.cap.model import Alert, Info, MsgType, ResponseType, Status
from sotong_common import kakao_templates


class Channel(StrEnum):
    """Every kind of channel the publishing engine renders for."""

    CELL_BROADCAST = "cell_broadcast"
    SMS = "sms"
    KAKAO = "kakao"
    X = "x"
    FACEBOOK = "facebook"
    INSTAGRAM = "instagram"
    THREADS = "threads"
    PRESS = "press"
    PUSH = "push"
    GROUP_CHAT = "group_chat"
    PAGER = "pager"


class Unit(StrEnum):
    """How a limit is measured; the same text is longer in some units than in others."""

    CHARACTERS = "characters"
    EUC_KR_BYTES = "EUC-KR bytes"
    WEIGHTED = "weighted characters"
    COUNT = "items"


CBS_UCS2_LIMIT = 90
CBS_GSM7_LIMIT = 157
SMS_BYTES = 90
LMS_BYTES = 2000
KAKAO_BODY_LIMIT = 1000
KAKAO_MAX_BUTTONS = 5
KAKAO_BUTTON_NAME_LIMIT = 14
X_WEIGHTED_LIMIT = 280
X_URL_WEIGHT = 23
FACEBOOK_LIMIT = 63_206
INSTAGRAM_LIMIT = 2_200
THREADS_LIMIT = 500
PRESS_SUBJECT_LIMIT = 78
PUSH_TITLE_LIMIT = 50
PUSH_BODY_LIMIT = 240
GROUP_CHAT_LIMIT = 4_000
PAGER_LIMIT = 160

LIMITS: Mapping[Channel, str] = {
    Channel.CELL_BROADCAST: f"{CBS_UCS2_LIMIT} characters (Korean, UCS-2) or {CBS_GSM7_LIMIT} (GSM 7-bit)",
    Channel.SMS: f"SMS up to {SMS_BYTES} EUC-KR bytes, LMS up to {LMS_BYTES}",
    Channel.KAKAO: f"body {KAKAO_BODY_LIMIT} characters, {KAKAO_MAX_BUTTONS} buttons of "
    f"{KAKAO_BUTTON_NAME_LIMIT} characters, all #{{variables}} filled",
    Channel.X: f"{X_WEIGHTED_LIMIT} weighted characters (Hangul/CJK count 2, URLs {X_URL_WEIGHT})",
    Channel.FACEBOOK: f"{FACEBOOK_LIMIT} characters",
    Channel.INSTAGRAM: f"caption {INSTAGRAM_LIMIT} characters",
    Channel.THREADS: f"{THREADS_LIMIT} characters",
    Channel.PRESS: f"subject {PRESS_SUBJECT_LIMIT} characters",
    Channel.PUSH: f"title {PUSH_TITLE_LIMIT} characters, body {PUSH_BODY_LIMIT} characters",
    Channel.GROUP_CHAT: f"{GROUP_CHAT_LIMIT} characters",
    Channel.PAGER: f"{PAGER_LIMIT} characters",
}
"""Each channel's limits in words, for operator consoles and documentation."""

# GSM 03.38 default alphabet and its extension table (extension characters take two septets).
_GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡"
    "ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
_GSM7_EXTENSION = frozenset("^{}\\[~]|€\f")
_URL = re.compile(r"https?://\S+", re.IGNORECASE)
_TEMPLATE_VARIABLE = re.compile(r"#\{([^}]*)\}")
# twitter-text v3 configuration: code point ranges that weigh 1; everything else weighs 2.
_X_LIGHT_RANGES = ((0, 4351), (8192, 8205), (8208, 8223), (8242, 8247))


# --- measuring ----------------------------------------------------------------------------------------------


def is_gsm7(text: str) -> bool:
    """Whether the text fits the GSM 7-bit alphabet (no Korean, no emoji): that earns the longer CBS limit."""
    return all(ch in _GSM7_BASIC or ch in _GSM7_EXTENSION for ch in text)


def cell_broadcast_length(text: str) -> tuple[int, int]:
    """(length, limit) of a cell-broadcast text: GSM septet count against 157, else characters against 90."""
    if is_gsm7(text):
        return sum(2 if ch in _GSM7_EXTENSION else 1 for ch in text), CBS_GSM7_LIMIT
    return len(text), CBS_UCS2_LIMIT


def euc_kr_length(text: str) -> int | None:
    """Bytes the text takes in EUC-KR/CP949 as Korean carriers count them; None if it cannot be encoded."""
    try:
        return len(text.encode("cp949"))
    except UnicodeEncodeError:
        return None


def x_weighted_length(text: str) -> int:
    """X's weighted length (twitter-text v3): NFC text, URLs weigh 23, Hangul/CJK and emoji weigh 2."""
    normalized = unicodedata.normalize("NFC", text)
    total = 0
    position = 0
    for match in _URL.finditer(normalized):
        total += _x_plain_weight(normalized[position : match.start()]) + X_URL_WEIGHT
        position = match.end()
    return total + _x_plain_weight(normalized[position:])


def _x_plain_weight(text: str) -> int:
    return sum(1 if any(low <= ord(ch) <= high for low, high in _X_LIGHT_RANGES) else 2 for ch in text)


def fill_template(template: str, variables: Mapping[str, str]) -> tuple[str, tuple[str, ...]]:
    """Fill `#{name}` variables (KakaoTalk template syntax); the text and the names left unfilled."""
    missing: list[str] = []

    def substitute(match: re.Match[str]) -> str:
        name = match.group(1)
        value = variables.get(name)
        if value is None:
            missing.append(name)
            return match.group(0)
        return value

    return _TEMPLATE_VARIABLE.sub(substitute, template), tuple(missing)


# --- results ------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Violation:
    """One way a rendering breaks its channel's rules, with the numbers the drafter needs to fix it."""

    channel: Channel
    part: str
    message: str
    measured: int | None = None
    limit: int | None = None

    def __str__(self) -> str:
        return f"{self.channel.value} {self.part}: {self.message}"


@dataclass(frozen=True, slots=True)
class Button:
    """A link button (KakaoTalk templates)."""

    name: str
    url: str


@dataclass(frozen=True, slots=True)
class Rendering:
    """The text one channel would send, how it was measured, and what is wrong with it (if anything).

    `kind` says how the channel will carry it: "SMS"/"LMS", "GSM-7"/"UCS-2" for cell broadcast.
    """

    channel: Channel
    language: str
    text: str
    measured: int
    limit: int
    unit: Unit
    title: str | None = None
    kind: str | None = None
    buttons: tuple[Button, ...] = ()
    violations: tuple[Violation, ...] = ()

    @property
    def ok(self) -> bool:
        return not self.violations

    def summary(self) -> str:
        """One line for consoles: "47/90 characters, UCS-2"."""
        kind = f", {self.kind}" if self.kind else ""
        return f"{self.measured}/{self.limit} {self.unit.value}{kind}"


# --- markers and wording ------------------------------------------------------------------------------------

_STATUS_MARKERS: Mapping[Status, tuple[str, str]] = {
    Status.EXERCISE: ("[훈련]", "[EXERCISE]"),
    Status.TEST: ("[테스트]", "[TEST]"),
    Status.SYSTEM: ("[시스템]", "[SYSTEM]"),
    Status.DRAFT: ("[초안]", "[DRAFT]"),
}
_KIND_MARKERS: Mapping[str, tuple[str, str]] = {
    "update": ("[변경]", "[UPDATE]"),
    "cancel": ("[취소]", "[CANCELLED]"),
    "all_clear": ("[해제]", "[ALL CLEAR]"),
}
_LABELS: Mapping[str, tuple[str, str]] = {
    "area": ("지역", "Area"),
    "details": ("내용", "Details"),
    "instruction": ("행동요령", "What to do"),
    "effective": ("발효", "Effective"),
    "expires": ("종료", "Expires"),
    "contact": ("문의", "Contact"),
    "more": ("자세히 보기", "More"),
    "press": ("[보도참고자료]", "[Press notice]"),
}


def _korean(language: str) -> bool:
    return language.lower().startswith("ko")


def _pick(pair: tuple[str, str], language: str) -> str:
    return pair[0] if _korean(language) else pair[1]


def marker(alert: Alert, info: Info | None = None, language: str = "ko") -> str:
    """The visible prefix for non-Actual alerts and for updates/cancellations/all-clears ("" otherwise).

    People must never mistake a drill for a real disaster, nor an all-clear for a new alert.
    """
    parts = []
    status = _STATUS_MARKERS.get(alert.status)
    if status is not None:
        parts.append(_pick(status, language))
    if info is not None and ResponseType.ALL_CLEAR in info.response_types:
        parts.append(_pick(_KIND_MARKERS["all_clear"], language))
    elif alert.msg_type is MsgType.UPDATE:
        parts.append(_pick(_KIND_MARKERS["update"], language))
    elif alert.msg_type is MsgType.CANCEL:
        parts.append(_pick(_KIND_MARKERS["cancel"], language))
    return "".join(parts) + " " if parts else ""


def _area_text(info: Info) -> str:
    return ", ".join(area.area_desc for area in info.areas)


def _headline(info: Info) -> str:
    return info.headline or info.event


def _sender(info: Info, alert: Alert) -> str:
    return info.sender_name or alert.sender


def _headline_with_area(info: Info) -> str:
    headline = _headline(info)
    area = _area_text(info)
    if area and area not in headline:
        return f"{headline} ({area})"
    return headline


def _sentence(text: str) -> str:
    """End a headline with a full stop when it runs on into an instruction in one line."""
    return text if not text or text[-1] in ".!?。" else text + "."


def _lines(*parts: str | None) -> str:
    return "\n".join(part for part in parts if part)


def _labelled(label: str, value: str | None, language: str) -> str | None:
    return f"■ {_pick(_LABELS[label], language)}: {value}" if value else None


def _when(info: Info, language: str) -> str | None:
    parts = []
    for label, moment in (("effective", info.effective), ("expires", info.expires)):
        if moment is not None:
            parts.append(f"{_pick(_LABELS[label], language)} {to_seoul(moment):%Y-%m-%d %H:%M} KST")
    return " / ".join(parts) or None


# --- channel renderers --------------------------------------------------------------------------------------


def _length_violation(channel: Channel, part: str, measured: int, limit: int, unit: Unit) -> Violation | None:
    if measured <= limit:
        return None
    return Violation(
        channel,
        part,
        f"{measured} {unit.value}, over the limit of {limit} by {measured - limit}; shorten it",
        measured,
        limit,
    )


def _simple(channel: Channel, language: str, text: str, limit: int, *, title: str | None = None) -> Rendering:
    measured = len(text)
    found = _length_violation(channel, "text", measured, limit, Unit.CHARACTERS)
    return Rendering(
        channel,
        language,
        text,
        measured,
        limit,
        Unit.CHARACTERS,
        title=title,
        violations=(found,) if found else (),
    )


def _cell_broadcast(alert: Alert, info: Info, language: str, text: str | None) -> Rendering:
    body = text or " ".join(
        part for part in (f"[{_sender(info, alert)}]", _sentence(_headline_with_area(info)), info.instruction) if part
    )
    body = _with_marker(alert, info, language, body)
    measured, limit = cell_broadcast_length(body)
    kind = "GSM-7" if limit == CBS_GSM7_LIMIT else "UCS-2"
    found = _length_violation(Channel.CELL_BROADCAST, "text", measured, limit, Unit.CHARACTERS)
    return Rendering(
        Channel.CELL_BROADCAST,
        language,
        body,
        measured,
        limit,
        Unit.CHARACTERS,
        kind=kind,
        violations=(found,) if found else (),
    )


def _sms(alert: Alert, info: Info, language: str, text: str | None) -> Rendering:
    body = text or _lines(f"[{_sender(info, alert)}] {_headline_with_area(info)}", info.instruction, info.web)
    body = _with_marker(alert, info, language, body)
    size = euc_kr_length(body)
    if size is None:
        bad = "".join(sorted({ch for ch in body if euc_kr_length(ch) is None}))
        violation = Violation(
            Channel.SMS, "text", f"characters {bad!r} cannot be sent by SMS (not in EUC-KR); remove them"
        )
        return Rendering(
            Channel.SMS,
            language,
            body,
            len(body.encode("cp949", "replace")),
            LMS_BYTES,
            Unit.EUC_KR_BYTES,
            violations=(violation,),
        )
    kind = "SMS" if size <= SMS_BYTES else "LMS"
    limit = SMS_BYTES if kind == "SMS" else LMS_BYTES
    found = _length_violation(Channel.SMS, "text", size, LMS_BYTES, Unit.EUC_KR_BYTES)
    return Rendering(
        Channel.SMS,
        language,
        body,
        size,
        limit,
        Unit.EUC_KR_BYTES,
        kind=kind,
        violations=(found,) if found else (),
    )


def kakao_template(alert: Alert, language: str) -> tuple[str, str]:
    """The registered KakaoTalk template (code, text) an alert is sent with: by message type and language.

    The templates are the ones registered with Kakao (`sotong_common.kakao_templates`), so the text checked here
    is the text Kakao builds from the variables.
    """
    code = {MsgType.UPDATE: "SOTONG_DISASTER_UPDATE", MsgType.CANCEL: "SOTONG_DISASTER_CANCEL"}.get(
        alert.msg_type, "SOTONG_DISASTER_ALERT"
    )
    if not _korean(language):
        code += "_EN"
    return code, kakao_templates.templates()[code]


def kakao_variables(alert: Alert, info: Info, language: str) -> dict[str, str]:
    """The values for the KakaoTalk template variables; absent CAP fields are left out (and reported), except
    the marker and the link, which may be empty."""
    values = {
        "marker": marker(alert, info, language),
        "sender": _sender(info, alert),
        "headline": _headline(info),
        "area": _area_text(info),
        "description": info.description or "",
        "instruction": info.instruction or "",
        "link": info.web or "",
    }
    return {name: value for name, value in values.items() if value or name in ("marker", "link")}


def _kakao(
    alert: Alert, info: Info, language: str, template: str | None, buttons: Sequence[Button] | None
) -> Rendering:
    chosen = template or kakao_template(alert, language)[1]
    body, missing = fill_template(chosen, kakao_variables(alert, info, language))
    body = _with_marker(alert, info, language, body)  # a custom template may have left the marker out
    if buttons is None:
        buttons = [Button(_pick(_LABELS["more"], language), info.web)] if info.web else []
    found: list[Violation] = []
    if missing:
        found.append(Violation(Channel.KAKAO, "template", f"template variables not filled: {', '.join(missing)}"))
    too_long = _length_violation(Channel.KAKAO, "body", len(body), KAKAO_BODY_LIMIT, Unit.CHARACTERS)
    if too_long:
        found.append(too_long)
    if len(buttons) > KAKAO_MAX_BUTTONS:
        found.append(
            Violation(
                Channel.KAKAO,
                "buttons",
                f"{len(buttons)} buttons; at most {KAKAO_MAX_BUTTONS} allowed",
                len(buttons),
                KAKAO_MAX_BUTTONS,
            )
        )
    for number, button in enumerate(buttons, start=1):
        long_name = _length_violation(
            Channel.KAKAO, f"button {number} name", len(button.name), KAKAO_BUTTON_NAME_LIMIT, Unit.CHARACTERS
        )
        if long_name:
            found.append(long_name)
        if not button.url.lower().startswith(("https://", "http://")):
            found.append(Violation(Channel.KAKAO, f"button {number} link", f"{button.url!r} is not a web link"))
    return Rendering(
        Channel.KAKAO,
        language,
        body,
        len(body),
        KAKAO_BODY_LIMIT,
        Unit.CHARACTERS,
        buttons=tuple(buttons),
        violations=tuple(found),
    )


def _x(alert: Alert, info: Info, language: str, text: str | None) -> Rendering:
    body = _with_marker(alert, info, language, text or _lines(_headline_with_area(info), info.instruction, info.web))
    measured = x_weighted_length(body)
    found = _length_violation(Channel.X, "text", measured, X_WEIGHTED_LIMIT, Unit.WEIGHTED)
    return Rendering(
        Channel.X,
        language,
        body,
        measured,
        X_WEIGHTED_LIMIT,
        Unit.WEIGHTED,
        violations=(found,) if found else (),
    )


def _full_text(alert: Alert, info: Info, language: str) -> str:
    return _lines(
        f"[{_sender(info, alert)}] {_headline(info)}",
        _labelled("area", _area_text(info), language),
        _labelled("details", info.description, language),
        _labelled("instruction", info.instruction, language),
        _when(info, language),
        info.web,
    )


def _press(alert: Alert, info: Info, language: str, text: str | None) -> Rendering:
    subject = _with_marker(alert, info, language, f"{_pick(_LABELS['press'], language)} {_headline(info)}")
    body = text or _lines(
        _full_text(alert, info, language),
        _labelled("contact", info.contact, language),
        f"CAP: {alert.identifier}",
    )
    found = _length_violation(Channel.PRESS, "subject", len(subject), PRESS_SUBJECT_LIMIT, Unit.CHARACTERS)
    return Rendering(
        Channel.PRESS,
        language,
        body,
        len(subject),
        PRESS_SUBJECT_LIMIT,
        Unit.CHARACTERS,
        title=subject,
        violations=(found,) if found else (),
    )


def _push(alert: Alert, info: Info, language: str, text: str | None) -> Rendering:
    title = _with_marker(alert, info, language, _headline(info))
    body = text or (f"{_area_text(info)}: " if _area_text(info) else "") + (info.instruction or info.description or "")
    found = [
        violation
        for violation in (
            _length_violation(Channel.PUSH, "title", len(title), PUSH_TITLE_LIMIT, Unit.CHARACTERS),
            _length_violation(Channel.PUSH, "body", len(body), PUSH_BODY_LIMIT, Unit.CHARACTERS),
        )
        if violation is not None
    ]
    return Rendering(
        Channel.PUSH,
        language,
        body,
        len(body),
        PUSH_BODY_LIMIT,
        Unit.CHARACTERS,
        title=title,
        violations=tuple(found),
    )


def _group_chat(alert: Alert, info: Info, language: str, text: str | None) -> Rendering:
    facts = (
        f"{info.event} | {info.severity.value}/{info.urgency.value}/{info.certainty.value} | "
        f"{alert.status.value} {alert.msg_type.value} {alert.identifier}"
    )
    body = _with_marker(alert, info, language, text or _lines(_full_text(alert, info, language), facts))
    return _simple(Channel.GROUP_CHAT, language, body, GROUP_CHAT_LIMIT)


def _pager(alert: Alert, info: Info, language: str, text: str | None) -> Rendering:
    default = f"{info.event} {_area_text(info)} {info.severity.value}/{info.urgency.value} {alert.identifier}"
    return _simple(Channel.PAGER, language, _with_marker(alert, info, language, text or default), PAGER_LIMIT)


def _with_marker(alert: Alert, info: Info, language: str, text: str) -> str:
    """Prefix the marker unless the (operator-written) text already starts with it."""
    prefix = marker(alert, info, language)
    if not prefix or text.startswith(prefix.strip()):
        return text
    return prefix + text


# --- public entry points ------------------------------------------------------------------------------------


def render(
    alert: Alert,
    channel: Channel,
    language: str = "ko",
    *,
    text: str | None = None,
    template: str | None = None,
    buttons: Sequence[Button] | None = None,
) -> Rendering:
    """The text `channel` would send for the alert's info block in `language`, with its limit violations.

    `text` replaces the composed text (operators often hand-write the 90-character cell-broadcast text); the
    status marker is still enforced. `template` and `buttons` apply to KakaoTalk only.
    """
    info = alert.info_for(language)
    if info is None:
        have = ", ".join(i.language for i in alert.infos) or "none"
        missing = Violation(channel, "language", f"the alert has no info block in {language!r} (has: {have})")
        return Rendering(channel, language, "", 0, 0, Unit.CHARACTERS, violations=(missing,))
    if channel is Channel.CELL_BROADCAST:
        return _cell_broadcast(alert, info, language, text)
    if channel is Channel.SMS:
        return _sms(alert, info, language, text)
    if channel is Channel.KAKAO:
        return _kakao(alert, info, language, template, buttons)
    if channel is Channel.X:
        return _x(alert, info, language, text)
    if channel is Channel.PRESS:
        return _press(alert, info, language, text)
    if channel is Channel.PUSH:
        return _push(alert, info, language, text)
    if channel is Channel.GROUP_CHAT:
        return _group_chat(alert, info, language, text)
    if channel is Channel.PAGER:
        return _pager(alert, info, language, text)
    limits = {
        Channel.FACEBOOK: FACEBOOK_LIMIT,
        Channel.INSTAGRAM: INSTAGRAM_LIMIT,
        Channel.THREADS: THREADS_LIMIT,
    }
    if channel is Channel.THREADS:
        default = _lines(_headline_with_area(info), info.instruction, info.web)
    else:
        default = _full_text(alert, info, language)
    return _simple(channel, language, _with_marker(alert, info, language, text or default), limits[channel])


def render_all(alert: Alert, language: str = "ko", channels: Iterable[Channel] = tuple(Channel)) -> list[Rendering]:
    """Renderings of one language for several channels (all by default)."""
    return [render(alert, channel, language) for channel in channels]


def check_channels(
    alert: Alert,
    channels: Iterable[Channel] = tuple(Channel),
    languages: Iterable[str] = ("ko", "en"),
    overrides: Mapping[tuple[Channel, str], str] | None = None,
) -> list[Violation]:
    """Every limit violation across channels and languages: the pre-approval gate (empty means sendable).

    `overrides` maps (channel, language) to hand-written texts that replace the composed ones.
    """
    chosen = tuple(channels)
    found: list[Violation] = []
    for language in languages:
        for channel in chosen:
            text = (overrides or {}).get((channel, language))
            found.extend(render(alert, channel, language, text=text).violations)
    return found
