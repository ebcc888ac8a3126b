"""Atom 1.0 feed of active alerts, the way CAP alert hubs publish them (one entry per alert, linking to CAP).

A feed is what aggregators, other agencies and apps poll, so it lists only what is in force: expired alerts,
alerts superseded by a later Update or Cancel in the same set, Ack/Error messages and non-public alerts are
left out. Cancel messages stay listed until they expire so that pollers learn of the withdrawal.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime

from lxml import etree

from sotong_alerting.cap.datetimes import to_seoul
from sotong_alerting.cap.model import CAP_MIME_TYPE, Alert, MsgType, Scope, Status
from sotong_alerting.channels import marker

ATOM_NAMESPACE = "http://www.w3.org/2005/Atom"
_ATOM = "{" + ATOM_NAMESPACE + "}"


def is_expired(alert: Alert, now: datetime) -> bool:
    """True when every info block has an expiry and all have passed; alerts without expiry stay in force."""
    expiries = [info.expires for info in alert.infos]
    if not expiries or any(expires is None for expires in expiries):
        return False
    return all(expires is not None and expires <= now for expires in expiries)


def active_alerts(
    alerts: Iterable[Alert],
    now: datetime,
    *,
    statuses: frozenset[Status] = frozenset({Status.ACTUAL}),
) -> list[Alert]:
    """The alerts a public feed should list at `now`, newest first."""
    if now.utcoffset() is None:
        raise ValueError("now must be timezone-aware")
    pool = list(alerts)
    superseded = {
        (ref.sender, ref.identifier)
        for alert in pool
        if alert.msg_type in {MsgType.UPDATE, MsgType.CANCEL}
        for ref in alert.references
    }
    listed = [
        alert
        for alert in pool
        if alert.status in statuses
        and alert.scope is Scope.PUBLIC
        and alert.msg_type in {MsgType.ALERT, MsgType.UPDATE, MsgType.CANCEL}
        and (alert.sender, alert.identifier) not in superseded
        and not is_expired(alert, now)
    ]
    return sorted(listed, key=lambda alert: alert.sent, reverse=True)


def _sub(parent: etree._Element, name: str, text: str | None = None, **attributes: str) -> etree._Element:
    child = etree.SubElement(parent, _ATOM + name, attributes)
    if text is not None:
        child.text = text
    return child


def _stamp(moment: datetime) -> str:
    return to_seoul(moment).replace(microsecond=0).isoformat()


def render_atom_feed(
    alerts: Iterable[Alert],
    *,
    feed_id: str,
    title: str,
    self_url: str,
    cap_url: Callable[[Alert], str],
    now: datetime,
    language: str = "ko",
    statuses: frozenset[Status] = frozenset({Status.ACTUAL}),
) -> bytes:
    """An Atom 1.0 document of the active alerts; `cap_url` gives each alert's CAP document URL."""
    entries = active_alerts(alerts, now, statuses=statuses)
    feed = etree.Element(_ATOM + "feed", nsmap={None: ATOM_NAMESPACE})
    feed.set("{http://www.w3.org/XML/1998/namespace}lang", language)
    _sub(feed, "id", feed_id)
    _sub(feed, "title", title)
    _sub(feed, "updated", _stamp(max((alert.sent for alert in entries), default=now)))
    _sub(feed, "link", rel="self", href=self_url, type="application/atom+xml")
    _sub(_sub(feed, "author"), "name", title)
    for alert in entries:
        info = alert.info_for(language) or (alert.infos[0] if alert.infos else None)
        url = cap_url(alert)
        entry = _sub(feed, "entry")
        _sub(entry, "id", url)
        headline = (info.headline or info.event) if info is not None else alert.identifier
        _sub(entry, "title", marker(alert, info, language) + headline)
        _sub(entry, "updated", _stamp(alert.sent))
        _sub(_sub(entry, "author"), "name", (info.sender_name if info else None) or alert.sender)
        _sub(entry, "link", rel="alternate", type=CAP_MIME_TYPE, href=url)
        if info is not None:
            _sub(entry, "category", term=info.event)
            if info.description:
                _sub(entry, "summary", info.description)
    return bytes(etree.tostring(feed, xml_declaration=True, encoding="UTF-8", pretty_print=True))
