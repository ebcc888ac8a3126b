"""The channel kinds the engine serves, as the contract numbers them and as settings and adapters name them."""

from __future__ import annotations

from sotong.publishing.v1 import publishing_events_pb2 as pb

CHANNEL_KINDS: dict[int, str] = {
    pb.CHANNEL_GROUP_CHAT: "chat",
    pb.CHANNEL_PAGER: "pager",
    pb.CHANNEL_PRESS_MAIL: "mail",
    pb.CHANNEL_PORTAL_NOTICE: "notice",
    pb.CHANNEL_SNS: "sns",
    pb.CHANNEL_NEWS_APP_PUSH: "push",
    pb.CHANNEL_KAKAO_CHANNEL: "kakao",
    pb.CHANNEL_SMS: "sms",
    pb.CHANNEL_KAKAO_BOT: "kakao_bot",
}
KIND_CHANNELS = {kind: channel for channel, kind in CHANNEL_KINDS.items()}
