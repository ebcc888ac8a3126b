"""Audience resolution: who "all news-app users" or "users in districts 11140,11110" are, per channel.

Explicit targets (officers, press desks, SNS accounts) come in the dispatch itself. Named segments resolve
here. The subscriber directories of the real channels (device tokens, phone numbers, KakaoTalk friends) are
not Sotong's data yet, so each is a deterministic synthetic directory of a configured size: member i of the
push directory is always the same token and lives in district i mod 25. That keeps a million-recipient
audience free to store, identical after a crash (checkpoints are batch indices into it) and countable at the
stand-ins.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sotong_alerting.districts import districts

DISTRICT_CODES: tuple[str, ...] = tuple(sorted(districts()))


class AudienceError(ValueError):
    """A segment the directory cannot resolve: a contract violation, dead-lettered."""


@dataclass(frozen=True)
class Segment:
    """A resolved named audience: members are `member(i)` for i in `indices`, ordered and stable."""

    size: int
    districts: tuple[str, ...] | None
    member_prefix: str
    phone: bool

    def __len__(self) -> int:
        if self.districts is None:
            return self.size
        picks = {DISTRICT_CODES.index(code) for code in self.districts}
        full, rest = divmod(self.size, len(DISTRICT_CODES))
        return sum(full + (1 if d < rest else 0) for d in picks)

    def _index(self, n: int) -> int:
        """The directory index of the n-th member of this segment."""
        if self.districts is None:
            return n
        picks = sorted(DISTRICT_CODES.index(code) for code in self.districts)
        full_round, within = divmod(n, len(picks))
        return full_round * len(DISTRICT_CODES) + picks[within]

    def member(self, n: int) -> str:
        index = self._index(n)
        if self.phone:
            return f"010{index:08d}"
        return f"{self.member_prefix}{index:08d}"

    def slice(self, start: int, stop: int) -> list[str]:
        return [self.member(n) for n in range(start, min(stop, len(self)))]


@dataclass(frozen=True)
class Directory:
    """Sizes of the synthetic subscriber directories (SOTONG_ALERTING_DIRECTORY_* settings)."""

    push_devices: int = 10_000
    sms_subscribers: int = 200
    kakao_friends: int = 200
    press_list: tuple[str, ...] = tuple(f"desk{n:02d}@press.example.kr" for n in range(1, 31))

    def segment(self, channel: str, segment: str) -> Segment:
        name, _, argument = segment.partition(":")
        districts: tuple[str, ...] | None = None
        if name == "districts":
            districts = tuple(code.strip() for code in argument.split(",") if code.strip())
            unknown = [code for code in districts if code not in DISTRICT_CODES]
            if not districts or unknown:
                raise AudienceError(f"audience.segment {segment!r}: unknown district codes {unknown}")
        elif name != "all":
            raise AudienceError(f"audience.segment {segment!r} is not 'all' or 'districts:<codes>'")
        if channel == "push":
            return Segment(self.push_devices, districts, "fcm-device-", phone=False)
        if channel == "sms":
            return Segment(self.sms_subscribers, districts, "", phone=True)
        if channel == "kakao":
            return Segment(self.kakao_friends, districts, "", phone=True)
        raise AudienceError(f"channel {channel} has no subscriber directory for segment {segment!r}")


def explicit(targets: Sequence[str]) -> list[str]:
    """Explicit targets, in order, without blanks and repeats (one delivery per target, however often named)."""
    seen: dict[str, None] = {}
    for target in targets:
        target = target.strip()
        if target:
            seen.setdefault(target, None)
    return list(seen)
