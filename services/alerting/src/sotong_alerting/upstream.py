"""Upstream CAP (`IngestCap`): who may speak for which sender, and what an incident may take from a document.

A CAP document names its own `<sender>`, and anybody can write any name there. The incident's actor and its
dedupe key used to come from that text alone, so a partner's token could send `sender=kma@korea.kr` with the
agency's next identifier, and the agency's real alert was then dropped as a duplicate. Now:

- each caller (the token's canonical subject) is bound by configuration to the senders it may speak for
  (`SOTONG_ALERTING_CAP_SENDERS`, a JSON object `{"subject": ["sender", ...]}`); a caller without a binding, or
  a document whose `<sender>` is not among the caller's, is refused with PERMISSION_DENIED. `admin` gets no
  exception: speaking for an agency is a binding, not a role;
- an upstream incident is keyed on (authenticated caller, sender, identifier), so no caller can spend another's
  identifiers, and an Update or Cancel is matched only against the alerts the same caller sent;
- what goes from the document into the incident's columns and indexes (identifier, sender, event, headline) is
  bounded, so a 400,000-character `<event>` is INVALID_ARGUMENT naming the element, not a failed insert.

Reading the document itself happens in `sotong_alerting.cap.reader` (another process, within a time budget).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from sotong_alerting.cap import Alert
from sotong_common.auth import same_subject, subject_problem
from sotong_common.errors import FieldViolation

MAX_IDENTIFIER_CHARS = 200
MAX_SENDER_CHARS = 200
MAX_EVENT_CHARS = 200
MAX_HEADLINE_CHARS = 2_000
"""Bounds on what an upstream document puts into an incident. CAP sets none; no real alert comes near them, and
the incident's indexes (hazard, request key) must hold them."""


@dataclass(frozen=True)
class SenderBindings:
    """Which CAP senders each authenticated caller may speak for."""

    by_subject: Mapping[str, frozenset[str]]

    @classmethod
    def parse(cls, raw: str) -> SenderBindings:
        """`{"subject": ["sender", ...], ...}`; ValueError naming what is wrong (read once at start)."""
        if not raw.strip():
            return cls({})
        try:
            loaded = json.loads(raw)
        except json.JSONDecodeError as error:
            raise ValueError(f"must be a JSON object of subject -> list of senders: {error}") from None
        if not isinstance(loaded, dict):
            raise ValueError('must be a JSON object such as {"svc-kma-feed": ["cap@kma.go.kr"]}')
        found: dict[str, frozenset[str]] = {}
        for subject, senders in loaded.items():
            problem = subject_problem(subject)
            if problem is not None:
                raise ValueError(f"subject {subject!r}: {problem}")
            if not isinstance(senders, list) or not senders or not all(isinstance(s, str) and s for s in senders):
                raise ValueError(f"subject {subject!r}: needs a non-empty list of sender strings")
            found[subject] = frozenset(senders)
        return cls(found)

    def senders_for(self, subject: str) -> frozenset[str]:
        for bound, senders in self.by_subject.items():
            if same_subject(bound, subject):
                return senders
        return frozenset()

    def refusal(self, subject: str, sender: str | None = None) -> str | None:
        """Why `subject` may not ingest CAP (as `sender`, when given), or None when it may."""
        allowed = self.senders_for(subject)
        if not allowed:
            return (
                f"{subject} may not ingest CAP for any sender; bind its subject to the senders it speaks for "
                "in SOTONG_ALERTING_CAP_SENDERS"
            )
        if sender is not None and sender not in allowed:
            return f"{subject} may not send CAP as {sender!r}; it speaks for {', '.join(sorted(allowed))}"
        return None


def upstream_key(caller: str, sender: str, identifier: str) -> str:
    """The incident's request key for an upstream alert: one incident per (caller, sender, identifier)."""
    return f"cap:{caller}:{sender}:{identifier}"


def referenced_keys(caller: str, alert: Alert, legacy: Iterable[str] = ()) -> list[str]:
    """Request keys of the incidents an upstream Update or Cancel may refer to: the caller's own alerts.

    `legacy` senders (the caller's own) also match the key form used before keys named the caller, so an
    agency's update of an alert ingested before the change still finds its incident.
    """
    keys = [upstream_key(caller, ref.sender, ref.identifier) for ref in alert.references]
    own = set(legacy)
    keys += [f"cap:{ref.sender}:{ref.identifier}" for ref in alert.references if ref.sender in own]
    return keys


def size_violations(alert: Alert) -> list[FieldViolation]:
    """What of the document is too large to go into an incident, named by the element's path in `cap_xml`."""
    found: list[FieldViolation] = []

    def check(path: str, value: str | None, limit: int) -> None:
        if value is not None and len(value) > limit:
            found.append(FieldViolation("cap_xml", f"{path} has {len(value)} characters; at most {limit} are accepted"))

    check("alert/identifier", alert.identifier, MAX_IDENTIFIER_CHARS)
    check("alert/sender", alert.sender, MAX_SENDER_CHARS)
    for index, reference in enumerate(alert.references, 1):
        check(f"alert/references[{index}] sender", reference.sender, MAX_SENDER_CHARS)
        check(f"alert/references[{index}] identifier", reference.identifier, MAX_IDENTIFIER_CHARS)
    for index, info in enumerate(alert.infos, 1):
        check(f"alert/info[{index}]/event", info.event, MAX_EVENT_CHARS)
        check(f"alert/info[{index}]/headline", info.headline, MAX_HEADLINE_CHARS)
    return found
