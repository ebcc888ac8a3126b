"""Active alerts for apps and web pages, read from alerting's Atom feed of the alerts in force.

Alerting already decides what is in force (Actual, public, not expired, not superseded by an Update or Cancel) when
it renders its CAP feed, and the feed is open to citizens; so the gateway reads that one document instead of
asking for alerts one by one or deciding again what counts as active. An app gets structured entries, a feed
reader the Atom document itself.
"""

from __future__ import annotations

import xml.etree.ElementTree as ElementTree
from datetime import datetime
from urllib.parse import urlsplit

from sotong.gateway.v1 import gateway_service_pb2 as pb

ATOM = "{http://www.w3.org/2005/Atom}"


def _text(parent: ElementTree.Element, name: str) -> str:
    found = parent.find(ATOM + name)
    return (found.text or "").strip() if found is not None else ""


def _identifier(cap_url: str) -> str:
    """The CAP identifier from its document URL (`.../alerts/<identifier>.xml`)."""
    last = urlsplit(cap_url).path.rsplit("/", 1)[-1]
    return last.removesuffix(".xml")


def _stamp(text: str, into: pb.ActiveAlert | pb.ListActiveAlertsResponse, field: str) -> None:
    if not text:
        return
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return
    getattr(into, field).FromDatetime(moment)


def active_alerts(atom_xml: str) -> pb.ListActiveAlertsResponse:
    """The feed's entries as `ActiveAlert`s, in the feed's order (newest first)."""
    root = ElementTree.fromstring(atom_xml.encode("utf-8"))
    reply = pb.ListActiveAlertsResponse()
    _stamp(_text(root, "updated"), reply, "updated_at")
    for entry in root.findall(ATOM + "entry"):
        link = entry.find(ATOM + "link")
        cap_url = link.get("href", "") if link is not None else _text(entry, "id")
        category = entry.find(ATOM + "category")
        author = entry.find(ATOM + "author")
        alert = pb.ActiveAlert(
            identifier=_identifier(cap_url),
            title=_text(entry, "title"),
            event=category.get("term", "") if category is not None else "",
            description=_text(entry, "summary"),
            cap_url=cap_url,
            sender_name=_text(author, "name") if author is not None else "",
        )
        _stamp(_text(entry, "updated"), alert, "sent_at")
        reply.alerts.append(alert)
    return reply
