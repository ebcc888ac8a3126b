"""Feed formats, by the name in their URL (`/ep/{group}/{format}/{kind}.tsv`) and in `sotong-partner ep validate`."""

from __future__ import annotations

from sotong_partner.feeds.base import FULL, SUMMARY, FeedFormat, Problem, open_feed, validate
from sotong_partner.feeds.google import MERCHANT_CENTER
from sotong_partner.feeds.naver import EP3

FORMATS: dict[str, FeedFormat] = {fmt.name: fmt for fmt in (EP3, MERCHANT_CENTER)}
PLATFORMS: tuple[str, ...] = tuple(fmt.platform for fmt in FORMATS.values())

__all__ = ["FORMATS", "FULL", "PLATFORMS", "SUMMARY", "FeedFormat", "Problem", "open_feed", "validate"]
