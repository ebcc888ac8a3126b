"""Audience resolution: who "all news-app users", "users in districts 11140,11110", "every official SNS account"
or "the drill audience" are, per channel.

Two kinds of audience live in the directory:
- **Named lists** (`list:<name>`), kept in the engine's schema (`store.DirectoryStore`): the official SNS accounts
  (`sns:official`), the press desks (`mail:press`), each channel's drill recipients (`drill:<kind>`). They are
  seeded at start from the directory file (`data/directory.yaml` or SOTONG_PUBLISHING_DIRECTORY) and changed at
  run time by the directory-feed topics of the catalog, so that the community service's SNS account registry
  becomes the source of the official accounts when it publishes them.
- **Subscriber segments** (`all`, `districts:<codes>`) of the news app, SMS and the KakaoTalk channel. Those
  directories (device tokens, phone numbers, KakaoTalk friends) are not Sotong's data yet, so each is a
  deterministic synthetic directory of a configured size: member i of the push directory is always the same
  token and lives in district i mod 25. That keeps a million-recipient audience free to store, identical after
  a crash (checkpoints are batch indices into it) and countable at the stand-ins.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from sotong_common.geo import Seoul


@cache
def district_codes() -> tuple[str, ...]:
    return tuple(sorted(d.code for d in Seoul.load().districts()))


OFFICIAL_SNS = "sns:official"
PRESS = "mail:press"
SEGMENT_CHANNELS = ("push", "sms", "kakao")
"""Channels with a subscriber directory, where `all` and `districts:` name subscribers."""


def drill_list(kind: str) -> str:
    """The list of who receives a test or exercise on channel `kind`."""
    return f"drill:{kind}"


class AudienceError(ValueError):
    """A segment the directory cannot resolve: a contract violation, dead-lettered."""


@dataclass(frozen=True)
class Segment:
    """A resolved subscriber audience: members are `member(i)` for i in `indices`, ordered and stable."""

    size: int
    districts: tuple[str, ...] | None
    member_prefix: str
    phone: bool

    def __len__(self) -> int:
        if self.districts is None:
            return self.size
        codes = district_codes()
        picks = {codes.index(code) for code in self.districts}
        full, rest = divmod(self.size, len(codes))
        return sum(full + (1 if d < rest else 0) for d in picks)

    def _index(self, n: int) -> int:
        """The directory index of the n-th member of this segment."""
        if self.districts is None:
            return n
        codes = district_codes()
        picks = sorted(codes.index(code) for code in self.districts)
        full_round, within = divmod(n, len(picks))
        return full_round * len(codes) + picks[within]

    def member(self, n: int) -> str:
        index = self._index(n)
        if self.phone:
            return f"010{index:08d}"
        return f"{self.member_prefix}{index:08d}"

    def slice(self, start: int, stop: int) -> list[str]:
        return [self.member(n) for n in range(start, min(stop, len(self)))]


@dataclass(frozen=True)
class Subscribers:
    """Sizes of the synthetic subscriber directories (SOTONG_PUBLISHING_DIRECTORY_* settings)."""

    push_devices: int = 10_000
    sms_subscribers: int = 200
    kakao_friends: int = 200

    def segment(self, channel: str, segment: str) -> Segment:
        name, _, argument = segment.partition(":")
        districts: tuple[str, ...] | None = None
        if name == "districts":
            districts = tuple(dict.fromkeys(code.strip() for code in argument.split(",") if code.strip()))
            unknown = [code for code in districts if code not in district_codes()]
            if not districts or unknown:
                raise AudienceError(f"audience.segment {segment[:100]!r}: unknown district codes {unknown[:5]}")
        elif name != "all":
            raise AudienceError(
                f"audience.segment {segment[:100]!r} is not 'all', 'districts:<codes>' or 'list:<name>'"
            )
        if channel == "push":
            return Segment(self.push_devices, districts, "fcm-device-", phone=False)
        if channel == "sms":
            return Segment(self.sms_subscribers, districts, "", phone=True)
        if channel == "kakao":
            return Segment(self.kakao_friends, districts, "", phone=True)
        raise AudienceError(f"channel {channel} has no subscriber directory for segment {segment[:100]!r}")


def list_name(segment: str) -> str | None:
    """`list:<name>` -> name; None for any other segment."""
    prefix, sep, name = segment.partition(":")
    return name if sep and prefix == "list" and name else None


def explicit(targets: Sequence[str]) -> list[str]:
    """Explicit targets, in order, without blanks and repeats (one delivery per target, however often named)."""
    seen: dict[str, None] = {}
    for target in targets:
        target = target.strip()
        if target:
            seen.setdefault(target, None)
    return list(seen)


@dataclass(frozen=True)
class DirectoryFile:
    """The directory file: lists to seed and lists to import from a provider's own registry."""

    lists: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    imports: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def load(cls, path: Path | None = None) -> DirectoryFile:
        """The file at `path`, or the packaged one; ValueError naming what is wrong."""
        if path is None:
            text = resources.files("sotong_publishing").joinpath("data/directory.yaml").read_text("utf-8")
        else:
            text = path.read_text("utf-8")
        raw: Any = yaml.safe_load(text) or {}
        if not isinstance(raw, dict) or set(raw) - {"lists", "imports"}:
            raise ValueError("the directory file has the keys lists and imports only")
        lists = raw.get("lists") or {}
        imports = raw.get("imports") or {}
        if not isinstance(lists, dict) or not all(
            isinstance(k, str) and isinstance(v, list) and all(isinstance(t, str) and t.strip() for t in v)
            for k, v in lists.items()
        ):
            raise ValueError("lists must map list names to lists of non-empty target strings")
        if not isinstance(imports, dict) or not all(v == "provider" for v in imports.values()):
            raise ValueError("imports must map list names to 'provider'")
        return cls({k: tuple(explicit(v)) for k, v in lists.items()}, dict(imports))
