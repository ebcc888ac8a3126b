"""Safe reading and validation of CAP 1.2 documents: the XSD plus the spec rules the XSD cannot express.

Upstream CAP comes from outside the city (the weather agency, partners), so the reader assumes hostile input:
no DTD is loaded, no entity is expanded, nothing is fetched from the network, any DOCTYPE is refused before
the XML parser sees the document, and documents above a size limit are refused unread. Every finding is
returned as a `Problem`; garbage input yields problems, never an exception.

The work is linear in the size of the document, because a hostile one is built to find anything that is not:
an element's path is computed from one index of its parent's children (not by scanning the siblings again for
every problem), schema errors are located through the same index (not by an XPath per error), element counts
the standard never needs are refused before the schema and the rules run, and at most `MAX_PROBLEMS` problems
are reported. Checking element counts first also bounds libxml2's own per-error work (it locates each schema
error by walking the element's previous siblings).
"""

from __future__ import annotations

import base64
import binascii
import math
import re
from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from functools import cache
from importlib import resources
from urllib.parse import urlparse

from lxml import etree

from sotong_alerting.cap.datetimes import cap_datetime_problem, cap_datetime_warning
from sotong_alerting.cap.model import CAP_NAMESPACE

MAX_DOCUMENT_BYTES = 2 * 1024 * 1024
"""Largest CAP document accepted: real alerts are a few kB, embedded (derefUri) images need headroom."""

_NS = "{" + CAP_NAMESPACE + "}"
_FORBIDDEN_ID_CHARS = frozenset(",<&")
_DECIMAL = re.compile(r"^[-+]?(\d+(\.\d*)?|\.\d+)$")
_MIME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]*/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]*(\s*;.*)?$")
_NEGATIVE_INTEGER = re.compile(r"^\s*-0*[1-9][0-9]*\s*$")
_SHA1_HEX = re.compile(r"^[0-9A-Fa-f]{40}$")
_QUOTED_LIST_ITEM = re.compile(r'"([^"]*)"|(\S+)')
_DOCTYPE_MARKERS = tuple(
    marker.encode(codec)
    for marker in ("<!DOCTYPE", "<!doctype", "<!ENTITY", "<!entity")
    for codec in ("utf-8", "utf-16-le", "utf-16-be", "utf-32-le", "utf-32-be")
)
_MSG_TYPES_WITH_REFERENCES = frozenset({"Update", "Cancel", "Ack", "Error"})
_REPEATABLE = frozenset(
    {"info", "area", "resource", "polygon", "circle", "geocode", "parameter", "eventCode", "code", "category"}
)

MAX_PROBLEMS = 100
"""Problems reported per document; the rest are counted in one last problem. Nobody reads the 16,000th."""

MAX_ELEMENTS = 20_000
"""Elements per document. A real alert has tens; a few languages with hundreds of geocodes stay far below."""

MAX_CHILDREN = 4_096
"""Element children of any one element (an <area> with every geocode it may carry stays below)."""

MAX_SAME_CHILDREN = 64
"""Children of one name under one parent, for names the table below does not list."""

REPEAT_LIMITS: Mapping[tuple[str, str], int] = {
    ("alert", "info"): 16,  # one block per language; CAP 1.2 3.2.2
    ("alert", "code"): 64,
    ("info", "category"): 12,  # there are 12 categories; repeating one says nothing new
    ("info", "responseType"): 9,  # there are 9 response types
    ("info", "eventCode"): 64,
    ("info", "parameter"): 256,
    ("info", "resource"): 64,
    ("info", "area"): 256,
    ("area", "polygon"): 256,
    ("area", "circle"): 256,
    ("area", "geocode"): 2_048,  # a nation-wide alert may list every county or zone code
}
"""How many children of a name CAP elements may have (by local names); anything more is refused unread."""

_PER_POLYGON_PROBLEMS = 5


@dataclass(frozen=True, slots=True)
class Problem:
    """One reason a document is not valid CAP 1.2: where (line, element path) and what, in words.

    `warning` marks a finding that does not make the document invalid (UTC written as +00:00); validation
    results list only the others, `check_cap` and `CapDocument.warnings` carry the warnings.
    """

    line: int | None
    path: str
    message: str
    warning: bool = False

    def __str__(self) -> str:
        where = f"{self.path}: " if self.path else ""
        return f"{self.line or 0}: {where}{self.message}"


@dataclass(frozen=True, slots=True)
class CapCheck:
    """Everything a reader learns about a document: the problems that make it invalid, and the warnings."""

    problems: tuple[Problem, ...]
    warnings: tuple[Problem, ...] = ()

    @property
    def valid(self) -> bool:
        return not self.problems


@cache
def cap_schema() -> etree.XMLSchema:
    """The OASIS CAP 1.2 XSD shipped in this package (loaded once, read with the same safe parser)."""
    xsd = resources.files("sotong_alerting").joinpath("data/cap12.xsd").read_bytes()
    return etree.XMLSchema(etree.fromstring(xsd, parser=safe_parser()))


def safe_parser() -> etree.XMLParser:
    """An lxml parser that never loads a DTD, expands an entity, touches the network or builds a huge tree.

    A fresh parser per document, because lxml parsers keep state and must not be shared between threads.
    """
    return etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        dtd_validation=False,
        huge_tree=False,
        remove_comments=False,
    )


def _line_of(data: bytes, offset: int) -> int:
    return data.count(b"\n", 0, offset) + 1


def read_xml(data: bytes, *, max_bytes: int = MAX_DOCUMENT_BYTES) -> tuple[etree._Element | None, list[Problem]]:
    """Parse untrusted XML bytes safely; the root element, or None with the problems that stopped us."""
    if len(data) > max_bytes:
        return None, [Problem(None, "", f"document is too large; the limit is {max_bytes} bytes")]
    if not data.strip():
        return None, [Problem(1, "", "document is empty")]
    for marker in _DOCTYPE_MARKERS:
        offset = data.find(marker)
        if offset >= 0:
            return None, [
                Problem(
                    _line_of(data, offset),
                    "",
                    "document has a DOCTYPE or entity declaration; refused (CAP needs none, and DTDs enable "
                    "entity-expansion and external-entity attacks)",
                )
            ]
    try:
        root = etree.fromstring(data, parser=safe_parser())
    except etree.XMLSyntaxError as error:
        line = error.position[0] if error.position else None
        return None, [Problem(line, "", f"not well-formed XML: {error.msg}")]
    except ValueError as error:  # lxml raises ValueError for some encodings and unparseable inputs
        return None, [Problem(None, "", f"not readable as XML: {error}")]
    tree = root.getroottree()
    if tree.docinfo.doctype or tree.docinfo.internalDTD is not None:
        return None, [Problem(1, "", "document has a DOCTYPE; refused")]
    for node in root.iter():
        if isinstance(node, etree._Entity):
            return None, [Problem(node.sourceline, "", "document uses entity references; refused")]
    return root, []


def _local(element: etree._Element) -> str:
    tag = element.tag
    return tag.rpartition("}")[2] if isinstance(tag, str) else ""


class Locator:
    """Readable element paths (alert/info[1]/area[2]/polygon[1]) in time linear in the document.

    The position of an element among its same-named siblings is looked up in an index of its parent's children,
    built once per parent the first time any of them is named; the index holds the element proxies, so lxml
    hands back the same objects and the lookups hit.
    """

    def __init__(self) -> None:
        self._children: dict[etree._Element, list[etree._Element]] = {}
        self._places: dict[etree._Element, tuple[int, int]] = {}

    def children(self, parent: etree._Element) -> list[etree._Element]:
        """The element children of `parent` (comments and processing instructions left out), indexed once."""
        found = self._children.get(parent)
        if found is None:
            found = list(parent.iterchildren(etree.Element))
            self._children[parent] = found
            tags = [str(child.tag) for child in found]
            totals = Counter(tags)
            seen: Counter[str] = Counter()
            for child, tag in zip(found, tags, strict=True):
                seen[tag] += 1
                self._places[child] = (seen[tag], totals[tag])
        return found

    def path(self, element: etree._Element) -> str:
        parts: list[str] = []
        node: etree._Element | None = element
        while node is not None:
            name = _local(node)
            parent = node.getparent()
            if parent is None:
                parts.append(name)
            else:
                self.children(parent)
                position, total = self._places[node]
                parts.append(f"{name}[{position}]" if total > 1 or name in _REPEATABLE else name)
            node = parent
        return "/".join(reversed(parts))

    def resolve(self, root: etree._Element, node_path: str) -> etree._Element | None:
        """The element libxml2 names "/*/*[4]/ds:Reference[2]" (its xmlGetNodePath form), or None.

        A "*" step (an element in a default namespace) counts every element sibling, a named step only the
        siblings of that name; steps are resolved through the children index, never by an XPath search.
        """
        steps = node_path.strip("/").split("/")
        if not steps or not steps[0]:
            return None
        node = root
        for step in steps[1:]:
            name, _, rest = step.partition("[")
            try:
                position = int(rest.rstrip("]")) if rest else 1
            except ValueError:
                return None
            children = self.children(node)
            if name != "*":
                local = name.rpartition(":")[2]
                children = [child for child in children if _local(child) == local]
            if not 1 <= position <= len(children):
                return None
            node = children[position - 1]
        return node


def element_path(element: etree._Element) -> str:
    """A readable location like alert/info[1]/area[2]/polygon[1] (1-based, per element name)."""
    return Locator().path(element)


def _count_problems(root: etree._Element, locate: Locator) -> list[Problem]:
    """Element counts no CAP document needs, found in one pass before any per-element work."""
    problems: list[Problem] = []
    total = 0
    for parent in root.iter(etree.Element):
        total += 1
        if total > MAX_ELEMENTS:
            return [Problem(parent.sourceline, "", f"document has more than {MAX_ELEMENTS} elements; refused")]
        children = locate.children(parent)
        if len(children) > MAX_CHILDREN:
            problems.append(
                Problem(
                    parent.sourceline,
                    locate.path(parent),
                    f"{_local(parent)} has {len(children)} child elements; at most {MAX_CHILDREN} are accepted",
                )
            )
            continue
        counts = Counter(_local(child) for child in children)
        for name, count in counts.items():
            limit = REPEAT_LIMITS.get((_local(parent), name), MAX_SAME_CHILDREN)
            if count > limit:
                problems.append(
                    Problem(
                        parent.sourceline,
                        locate.path(parent),
                        f"{_local(parent)} has {count} <{name}> elements; at most {limit} are accepted "
                        "(more than any alert needs)",
                    )
                )
    return problems


def _schema_problems(root: etree._Element, locate: Locator) -> list[Problem]:
    schema = cap_schema()
    if schema.validate(root):
        return []
    problems = []
    for entry in schema.error_log:
        message = entry.message.replace(_NS, "cap:")
        found = locate.resolve(root, entry.path) if entry.path else None
        problems.append(Problem(entry.line, "" if found is None else locate.path(found), f"schema: {message}"))
    return problems


def _text(parent: etree._Element, name: str) -> tuple[etree._Element | None, str | None]:
    element = parent.find(_NS + name)
    if element is None:
        return None, None
    return element, element.text or ""


def _identifier_problem(kind: str, value: str) -> str | None:
    if not value:
        return f"{kind} is empty"
    if any(ch.isspace() for ch in value):
        return f"{kind} {value!r} contains whitespace; CAP 1.2 forbids spaces in {kind}"
    bad = sorted(_FORBIDDEN_ID_CHARS.intersection(value))
    if bad:
        return f"{kind} {value!r} contains {' '.join(bad)}; CAP 1.2 forbids commas and restricted characters"
    return None


def _decimal(text: str) -> float | None:
    if not _DECIMAL.match(text):
        return None
    value = float(text)
    return value if math.isfinite(value) else None


def _point_problem(pair: str) -> str | None:
    parts = pair.split(",")
    if len(parts) != 2:
        return f"coordinate {pair!r} is not a 'latitude,longitude' pair"
    lat, lon = _decimal(parts[0]), _decimal(parts[1])
    if lat is None or lon is None:
        return f"coordinate {pair!r} is not two decimal numbers"
    if not -90 <= lat <= 90:
        return f"latitude {parts[0]} in {pair!r} is outside -90..90"
    if not -180 <= lon <= 180:
        return f"longitude {parts[1]} in {pair!r} is outside -180..180"
    return None


def polygon_problems(text: str) -> list[str]:
    """CAP 1.2 3.2.4: whitespace-separated WGS 84 pairs, at least 4, first and last the same."""
    pairs = text.split()
    found = [problem for pair in pairs if (problem := _point_problem(pair)) is not None]
    if len(found) > _PER_POLYGON_PROBLEMS:
        more = len(found) - _PER_POLYGON_PROBLEMS
        return [*found[:_PER_POLYGON_PROBLEMS], f"and {more} more malformed coordinate pairs in this polygon"]
    if found:
        return found
    if len(pairs) < 4:
        return [f"polygon has {len(pairs)} coordinate pairs; CAP 1.2 requires at least 4 (closed ring)"]
    first = tuple(float(v) for v in pairs[0].split(","))
    last = tuple(float(v) for v in pairs[-1].split(","))
    if first != last:
        return [f"polygon is not closed: first pair {pairs[0]} differs from last pair {pairs[-1]}"]
    return []


def circle_problems(text: str) -> list[str]:
    """CAP 1.2 3.2.4: "latitude,longitude radius", the radius in kilometres."""
    tokens = text.split()
    if len(tokens) != 2:
        return [f"circle {text!r} is not 'latitude,longitude radius'"]
    problem = _point_problem(tokens[0])
    if problem is not None:
        return [problem]
    radius = _decimal(tokens[1])
    if radius is None or radius < 0:
        return [f"circle radius {tokens[1]!r} is not a non-negative number of kilometres"]
    return []


def _reference_problems(text: str, strict: bool) -> tuple[list[str], list[str]]:
    """Problems and warnings of a <references> text."""
    entries = text.split()
    if not entries:
        return ["references is empty"], []
    problems = []
    warnings = []
    for entry in entries:
        parts = entry.split(",")
        if len(parts) != 3:
            problems.append(f"reference {entry!r} is not a 'sender,identifier,sent' triple")
            continue
        sender, identifier, sent = parts
        for kind, value in (("sender", sender), ("identifier", identifier)):
            issue = _identifier_problem(kind, value)
            if issue is not None:
                problems.append(f"reference {entry!r}: {issue}")
        issue = cap_datetime_problem(sent, strict=strict)
        if issue is not None:
            problems.append(f"reference {entry!r}: {issue}")
        elif (warning := cap_datetime_warning(sent)) is not None:
            warnings.append(f"reference {entry!r}: {warning}")
    return problems, warnings


def split_quoted_list(text: str) -> list[str]:
    """CAP's space-delimited lists (addresses, incidents), with double-quoted items that contain spaces."""
    return [quoted if quoted else bare for quoted, bare in _QUOTED_LIST_ITEM.findall(text)]


class _Rules:
    """The spec rules the XSD cannot express, for one document (its locator, and whether to be strict)."""

    def __init__(self, locate: Locator, strict: bool) -> None:
        self._locate = locate
        self._strict = strict

    def _problem(self, element: etree._Element, message: str, *, warning: bool = False) -> Problem:
        return Problem(element.sourceline, self._locate.path(element), message, warning)

    def _datetime(self, element: etree._Element, value: str) -> Iterator[Problem]:
        issue = cap_datetime_problem(value, strict=self._strict)
        if issue is not None:
            yield self._problem(element, issue)
        elif (warning := cap_datetime_warning(value)) is not None:
            yield self._problem(element, warning, warning=True)

    def alert(self, root: etree._Element) -> Iterator[Problem]:
        for name in ("identifier", "sender"):
            element, value = _text(root, name)
            if element is not None and value is not None:
                issue = _identifier_problem(name, value)
                if issue is not None:
                    yield self._problem(element, issue)
        element, value = _text(root, "sent")
        if element is not None and value is not None:
            yield from self._datetime(element, value)

        scope_element, scope = _text(root, "scope")
        if scope_element is not None:
            restriction = _text(root, "restriction")[1]
            if scope == "Restricted" and not (restriction or "").strip():
                yield self._problem(scope_element, "scope Restricted requires a non-empty <restriction>")
            addresses = _text(root, "addresses")[1]
            if scope == "Private" and not (addresses or "").strip():
                yield self._problem(scope_element, "scope Private requires a non-empty <addresses>")
        for name in ("addresses", "incidents"):
            element, value = _text(root, name)
            if element is not None and value is not None and value.count('"') % 2:
                yield self._problem(element, f"{name} has an unbalanced double quote")

        msg_element, msg_type = _text(root, "msgType")
        ref_element, references = _text(root, "references")
        if msg_element is not None and msg_type in _MSG_TYPES_WITH_REFERENCES and ref_element is None:
            yield self._problem(
                msg_element, f"msgType {msg_type} requires <references> naming the message(s) it refers to"
            )
        if ref_element is not None and references is not None:
            issues, warnings = _reference_problems(references, self._strict)
            for issue in issues:
                yield self._problem(ref_element, issue)
            for warning in warnings:
                yield self._problem(ref_element, warning, warning=True)

        for info in root.findall(_NS + "info"):
            yield from self.info(info)

    def info(self, info: etree._Element) -> Iterator[Problem]:
        for name in ("effective", "onset", "expires"):
            element, value = _text(info, name)
            if element is not None and value is not None:
                yield from self._datetime(element, value)
        element, web = _text(info, "web")
        if element is not None and web is not None:
            parsed = urlparse(web.strip())
            if not parsed.scheme or not (parsed.netloc or parsed.path):
                yield self._problem(element, f"web {web!r} is not a full absolute URI")
        for resource in info.findall(_NS + "resource"):
            yield from self.resource(resource)
        for area in info.findall(_NS + "area"):
            yield from self.area(area)

    def resource(self, resource: etree._Element) -> Iterator[Problem]:
        element, mime = _text(resource, "mimeType")
        if element is not None and mime is not None and not _MIME.match(mime.strip()):
            yield self._problem(element, f"mimeType {mime!r} is not a 'type/subtype' media type (RFC 2046)")
        element, size = _text(resource, "size")
        if element is not None and size is not None and _NEGATIVE_INTEGER.match(size):
            yield self._problem(element, f"size {size} is negative; it is the resource's size in bytes")
        element, digest = _text(resource, "digest")
        if element is not None and digest is not None and not _SHA1_HEX.match(digest.strip()):
            yield self._problem(element, "digest is not a SHA-1 hash (40 hexadecimal digits)")
        element, deref = _text(resource, "derefUri")
        if element is not None and deref is not None:
            try:
                base64.b64decode("".join(deref.split()), validate=True)
            except (binascii.Error, ValueError):
                yield self._problem(element, "derefUri is not Base64 data")

    def area(self, area: etree._Element) -> Iterator[Problem]:
        for polygon in area.findall(_NS + "polygon"):
            for issue in polygon_problems(polygon.text or ""):
                yield self._problem(polygon, issue)
        for circle in area.findall(_NS + "circle"):
            for issue in circle_problems(circle.text or ""):
                yield self._problem(circle, issue)
        altitude_element, altitude = _text(area, "altitude")
        ceiling_element, ceiling = _text(area, "ceiling")
        if ceiling_element is not None and altitude_element is None:
            yield self._problem(ceiling_element, "ceiling may only be used together with altitude")
        if altitude is not None and ceiling is not None and ceiling_element is not None:
            low, high = _decimal(altitude.strip()), _decimal(ceiling.strip())
            if low is not None and high is not None and high < low:
                yield self._problem(ceiling_element, f"ceiling {ceiling} is below altitude {altitude}")


def _bounded(problems: list[Problem]) -> tuple[Problem, ...]:
    if len(problems) <= MAX_PROBLEMS:
        return tuple(problems)
    more = len(problems) - MAX_PROBLEMS
    return (*problems[:MAX_PROBLEMS], Problem(None, "", f"and {more} more problems not listed"))


def check_element(root: etree._Element, *, strict: bool = False) -> CapCheck:
    """Problems and warnings of an already (safely) parsed document: counts first, then the XSD and the rules."""
    if root.tag != _NS + "alert":
        qname = etree.QName(root)
        return CapCheck(
            (
                Problem(
                    root.sourceline,
                    qname.localname,
                    f"root element is {{{qname.namespace or ''}}}{qname.localname}; "
                    f"expected a CAP 1.2 <alert> in namespace {CAP_NAMESPACE}",
                ),
            )
        )
    locate = Locator()
    counted = _count_problems(root, locate)
    if counted:
        return CapCheck(_bounded(counted))
    found = list(_Rules(locate, strict).alert(root))
    spec = [problem for problem in found if not problem.warning]
    warnings = [problem for problem in found if problem.warning]
    explained = {problem.path for problem in spec}
    # Where a spec rule already says in plain words what is wrong with an element (a 'Z' date-time), the
    # schema's pattern message for the same element adds only noise.
    schema = [
        problem for problem in _schema_problems(root, locate) if not problem.path or problem.path not in explained
    ]
    problems = sorted(schema + spec, key=lambda problem: problem.line or 0)
    return CapCheck(_bounded(problems), _bounded(warnings))


def validate_element(root: etree._Element, *, strict: bool = False) -> list[Problem]:
    """All problems of an already (safely) parsed document: XSD first, then the spec rules."""
    return list(check_element(root, strict=strict).problems)


def check_cap(data: bytes, *, max_bytes: int = MAX_DOCUMENT_BYTES, strict: bool = False) -> CapCheck:
    """Every reason `data` is not a valid CAP 1.2 document, and what is accepted with a warning."""
    root, problems = read_xml(data, max_bytes=max_bytes)
    if root is None:
        return CapCheck(tuple(problems))
    return check_element(root, strict=strict)


def validate_cap(data: bytes, *, max_bytes: int = MAX_DOCUMENT_BYTES, strict: bool = False) -> list[Problem]:
    """Every reason `data` is not a valid CAP 1.2 document; an empty list means it is valid."""
    return list(check_cap(data, max_bytes=max_bytes, strict=strict).problems)
