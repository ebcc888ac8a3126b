"""The press mailing list over SMTP, driven by the standard library's smtplib as a real client would."""

from __future__ import annotations

import asyncio
import smtplib
from email.message import EmailMessage

import pytest

from sotong_standins.control import StandinControl
from sotong_standins.server import Ports

from .conftest import TOKEN

PRESS = ["desk@yna.example", "news@kbs.example", "city@hani.example"]


def briefing(message_id: str | None = "<inc-1.press@sotong.seoul>") -> EmailMessage:
    message = EmailMessage()
    message["From"] = "press@seoul.go.kr"
    message["To"] = "press-list@seoul.go.kr"
    message["Subject"] = "[보도자료] 지진 대응 브리핑"
    if message_id:
        message["Message-ID"] = message_id
    message.set_content("오후 3시 시청 브리핑룸에서 브리핑이 있습니다.")
    return message


def send(port: int, message: EmailMessage, password: str | None = TOKEN) -> None:
    with smtplib.SMTP("127.0.0.1", port, timeout=10) as client:
        if password is not None:
            client.login("sotong", password)
        client.send_message(message, to_addrs=PRESS)


async def test_mail_counts_messages_and_recipients_and_dedups_by_message_id(
    ports: Ports, control: StandinControl
) -> None:
    assert ports.smtp is not None
    await asyncio.to_thread(send, ports.smtp, briefing())
    await asyncio.to_thread(send, ports.smtp, briefing())  # the same Message-ID again: a retry
    stats = await control.provider_stats("mail")
    assert stats["extra"] == {"messages": 1, "recipients": 3}
    assert stats["accepted"] == 3
    assert stats["duplicates"] == 3
    deliveries = await control.deliveries("mail")
    assert sorted(d["target"] for d in deliveries) == sorted(PRESS)
    assert deliveries[0]["text"].startswith("[보도자료] 지진 대응 브리핑\n")


async def test_mail_requires_auth_and_message_id(ports: Ports, control: StandinControl) -> None:
    assert ports.smtp is not None
    with pytest.raises(smtplib.SMTPSenderRefused):
        await asyncio.to_thread(send, ports.smtp, briefing(), None)
    with pytest.raises(smtplib.SMTPAuthenticationError):
        await asyncio.to_thread(send, ports.smtp, briefing(), "wrong")
    with pytest.raises(smtplib.SMTPDataError) as refused:
        await asyncio.to_thread(send, ports.smtp, briefing(message_id=None))
    assert refused.value.smtp_code == 550
    assert (await control.provider_stats("mail"))["accepted"] == 0


async def test_mail_outage_is_a_transient_451(ports: Ports, control: StandinControl) -> None:
    assert ports.smtp is not None
    await control.inject("mail", fail_rate=1.0, duration_s=30)
    with pytest.raises(smtplib.SMTPDataError) as refused:
        await asyncio.to_thread(send, ports.smtp, briefing())
    assert refused.value.smtp_code == 451
    await control.reset("mail")
    await asyncio.to_thread(send, ports.smtp, briefing())
    assert (await control.provider_stats("mail"))["accepted"] == 3
