"""The press mailing list over SMTP: one message per dispatch, one delivery per recipient.

The Message-ID is the idempotency key (the relay keys each recipient `<Message-ID>:<address>`), derived from the
dispatch id so a resent message is recognised. SMTP's own classes map onto the engine's: 4xx replies and lost
connections are transient, 5xx replies permanent; recipients refused one by one fail alone. The standard
library's client runs in a thread: press mail is a few dozen recipients, not a hot path, and it keeps the
dependency list short.
"""

from __future__ import annotations

import asyncio
import smtplib
from email.message import EmailMessage
from email.utils import formatdate
from urllib.parse import urlsplit

from sotong_publishing.idempotency import message_id
from sotong_publishing.providers.base import ItemResult, ItemStatus, Job, PermanentError, TransientError

MAX_BATCH = 200


class MailProvider:
    kind = "mail"
    max_batch = MAX_BATCH

    def __init__(self, name: str, url: str, token: str, sender: str, timeout_s: float = 10.0) -> None:
        parts = urlsplit(url)
        if parts.scheme != "smtp" or not parts.hostname or not parts.port:
            raise ValueError(f"mail provider URL {url!r} is not smtp://host:port")
        self.name = name
        self.host = parts.hostname
        self.port = parts.port
        self.token = token
        self.sender = sender
        self.timeout_s = timeout_s
        self.domain = sender.rpartition("@")[2] or "sotong.local"

    async def close(self) -> None:
        return None

    async def send(self, job: Job, targets: list[str]) -> list[ItemResult]:
        rendering = job.rendering()
        mail = EmailMessage()
        mail["From"] = self.sender
        mail["To"] = self.sender  # recipients go in the envelope only: journalists do not see each other
        # One line, whatever the headline held: a line break in a header value would split the header (the email
        # library refuses it). Non-ASCII is written as RFC 2047 encoded words by the default policy.
        mail["Subject"] = " ".join((rendering.title or rendering.body[:60]).split())[:200] or "(제목 없음)"
        mail["Message-ID"] = message_id(job.dispatch_id, self.domain)
        mail["Date"] = formatdate(usegmt=True)
        mail.set_content(job.text(with_title=False))
        valid = [t for t in targets if _address(t)]
        refused = await asyncio.to_thread(self._send, mail, valid) if valid else {}
        return [
            ItemResult(t, ItemStatus.FAILED, "not an ASCII e-mail address")
            if not _address(t)
            else ItemResult(t, ItemStatus.FAILED, refused[t])
            if t in refused
            else ItemResult(t, ItemStatus.DELIVERED)
            for t in targets
        ]

    def _send(self, mail: EmailMessage, targets: list[str]) -> dict[str, str]:
        try:
            with smtplib.SMTP(self.host, self.port, timeout=self.timeout_s) as client:
                if self.token:
                    client.login("sotong-alerting", self.token)
                refused = client.send_message(mail, to_addrs=targets)
        except smtplib.SMTPRecipientsRefused as exc:
            return {str(r): f"{code} {msg!r}" for r, (code, msg) in exc.recipients.items()}
        except smtplib.SMTPResponseException as exc:
            detail = f"{self.name}: SMTP {exc.smtp_code} {exc.smtp_error!r}"
            if 400 <= exc.smtp_code < 500:
                raise TransientError(detail) from None
            raise PermanentError(detail) from None
        except ConnectionRefusedError as exc:  # never connected: nothing was sent
            raise TransientError(f"{self.name}: {type(exc).__name__}: {exc}") from None
        except (OSError, smtplib.SMTPException) as exc:  # a timeout or a lost connection: maybe delivered
            raise TransientError(f"{self.name}: {type(exc).__name__}: {exc}", ambiguous=True) from None
        return {str(r): f"{code} {msg!r}" for r, (code, msg) in refused.items()}


def _address(target: str) -> bool:
    """An envelope recipient SMTP without SMTPUTF8 can carry: one ASCII address with a domain."""
    local, at, domain = target.rpartition("@")
    return bool(at and local and "." in domain) and target.isascii() and target.isprintable() and " " not in target
