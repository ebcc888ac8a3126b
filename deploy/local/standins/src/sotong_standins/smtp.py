"""The press mailing list over SMTP (aiosmtpd), sharing the HTTP stand-ins' desk.

Stage 1 of the disaster flow mails a press briefing to the press list. Mail has its own idempotency key, the
``Message-ID`` header, so a resent message with the same Message-ID is acknowledged (250) and counted as a
duplicate per recipient instead of reaching journalists twice. Refusals use SMTP's transient codes (451/421),
because that is how a real relay says "try again later": an injected 503 outage becomes 451 4.3.0, a rate limit
451 4.7.1. With a token configured, clients must AUTH (PLAIN or LOGIN) with the token as password; plain-text
AUTH is allowed here because the stand-in only listens on loopback.
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import json
import logging
import time
import warnings
from collections.abc import Mapping
from email.message import EmailMessage
from typing import Any

from aiohttp import web
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

from .desk import ProviderDesk
from .ledger import Outcome

access_log = logging.getLogger("sotong_standins.access")

MAX_MESSAGE_BYTES = 10 * 1024 * 1024
MAX_RECIPIENTS = 1000
TEXT_PREVIEW_CHARS = 2000


def render_mail_error(status: int, code: str, message: str) -> web.Response:
    """Only reached through the control API; SMTP clients see SMTP replies."""
    return web.json_response({"error": {"code": code, "message": message}}, status=status)


class MailStandIn:
    """aiosmtpd handler: every accepted message is one delivery per recipient in the desk's ledger."""

    name = "mail"

    def __init__(self, desk: ProviderDesk) -> None:
        self.desk = desk
        self.messages = 0
        self.recipients = 0
        desk.extra_stats = self.extra_stats

    def extra_stats(self) -> Mapping[str, Any]:
        return {"messages": self.messages, "recipients": self.recipients}

    def reset(self) -> None:
        self.desk.reset()
        self.messages = 0
        self.recipients = 0

    def authenticate(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, auth_data: Any
    ) -> AuthResult:
        ok = isinstance(auth_data, LoginPassword) and auth_data.password.decode() == self.desk.token
        return AuthResult(success=ok, handled=False)

    def protocol(self) -> SMTP:
        """A fresh SMTP protocol instance per connection, bound to this handler."""
        token_required = self.desk.token is not None
        with warnings.catch_warnings():
            # aiosmtpd warns about AUTH without TLS; the stand-in only ever listens on loopback
            warnings.filterwarnings("ignore", message="Requiring AUTH while not requiring TLS")
            return SMTP(
                self,
                data_size_limit=MAX_MESSAGE_BYTES,
                authenticator=self.authenticate if token_required else None,
                auth_required=token_required,
                auth_require_tls=False,
                hostname="press-list.standin.local",
            )

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, rcpt_options: list[str]
    ) -> str:
        if len(envelope.rcpt_tos) >= MAX_RECIPIENTS:
            return f"452 4.5.3 Too many recipients (at most {MAX_RECIPIENTS} per message)"
        if "@" not in address:
            return "553 5.1.3 Recipient address is not a valid mailbox"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        started = time.perf_counter()
        reply = await self._accept(server, envelope)
        if access_log.isEnabledFor(logging.DEBUG):
            access_log.debug(
                json.dumps(
                    {
                        "ts": round(time.time(), 3),
                        "event": "smtp_data",
                        "provider": self.name,
                        "recipients": len(envelope.rcpt_tos),
                        "reply": reply[:3],
                        "ms": round((time.perf_counter() - started) * 1000, 2),
                    }
                )
            )
        return reply

    async def _accept(self, server: SMTP, envelope: Envelope) -> str:
        refusal = await self.desk.screen(authorized=True)  # AUTH already enforced by aiosmtpd
        if refusal is not None:
            self.desk.rejected[refusal.status] += 1
            if refusal.status == 429:
                return f"451 4.7.1 Rate limited, retry in {refusal.retry_after_s} s"
            return "451 4.3.0 Temporary failure (injected), try again later"
        raw = envelope.original_content or envelope.content
        if not isinstance(raw, bytes):
            raw = str(raw).encode()
        message = email.message_from_bytes(raw, policy=email.policy.default)
        if not message.get("From"):
            self.desk.rejected[400] += 1
            return "550 5.6.0 Message has no From header"
        message_id = str(message.get("Message-ID") or "").strip()
        if not message_id:
            if not self.desk.allow_unkeyed:
                self.desk.rejected[400] += 1
                return "550 5.6.0 Message-ID header is required (it is the idempotency key)"
            message_id = self.desk.ledger.next_unkeyed_key()
        subject = str(message.get("Subject") or "")
        text = f"{subject}\n{_body_text(message)}"
        new_recipients = 0
        for recipient in envelope.rcpt_tos:
            outcome, _ = self.desk.ledger.record(
                f"{message_id}:{recipient.lower()}",
                "mail",
                recipient.lower(),
                text,
                {"message_id": message_id},
            )
            if outcome is Outcome.NEW:
                new_recipients += 1
            elif outcome is Outcome.CONFLICT:
                self.desk.item_failures["KEY_REUSED"] += 1
        if new_recipients:
            self.messages += 1
            self.recipients += new_recipients
        if self.desk.should_drop() and server.transport is not None:
            server.transport.close()
            await asyncio.sleep(0)
        return f"250 2.0.0 Queued as {message_id}"


def _body_text(message: email.message.Message) -> str:
    if isinstance(message, EmailMessage):
        part = message.get_body(preferencelist=("plain", "html"))
        if part is not None and isinstance(part, EmailMessage):
            content = part.get_content()
            if isinstance(content, str):
                return content[:TEXT_PREVIEW_CHARS]
    return ""
