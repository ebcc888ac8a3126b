"""The city's comment policy as data: clauses, rules and thresholds from a YAML file.

Moderators change word lists and thresholds far more often than engineers change code,
so the policy is a file in the spirit of Reddit's AutoModerator: each rule names the
policy clause it enforces, what it matches (words, regular expressions, link domains or
a personal-data detector), a score and a human-readable reason.  The file is validated
completely before it is used; an error names the line of the file that is wrong, and
:class:`PolicyStore` keeps serving the previous policy when a reload fails, so a typo
never takes moderation down.
"""

from __future__ import annotations

import dataclasses
import os
import re
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from sotong_common.regex_steps import has_unbounded_repeat

from .advertising import LinkRule
from .personal_data import KINDS as PII_DETECTORS

__all__ = [
    "CLAUSES",
    "NEVER_AUTO_REMOVE",
    "Clause",
    "HeadConfig",
    "PiiRule",
    "Policy",
    "PolicyError",
    "PolicyStore",
    "RepetitionConfig",
    "Rule",
    "default_policy_path",
    "load_policy",
    "parse_policy",
]

CLAUSES = (
    "advertising",
    "copyright",
    "profanity",
    "slander",
    "defamation",
    "political",
    "repetition",
    "personal_data",
    "public_interest",
)
# Judging these needs context a machine does not have (is the claim true? is it about a
# real person? is it campaigning?), so a person always decides.  Enforced in code: the
# policy file cannot switch it off.
NEVER_AUTO_REMOVE = frozenset({"slander", "defamation", "political", "copyright"})
PII_KINDS = frozenset(PII_DETECTORS) | {"alien_registration"}
VIEWS = ("base", "tight", "jamo", "latin")
ACTIONS = ("mask", "review", "remove")


class PolicyError(ValueError):
    """A policy file that cannot be used; the message names the file and line."""


@dataclass(frozen=True, slots=True)
class Clause:
    name: str
    review_at: float
    remove_at: float | None
    description: str


@dataclass(frozen=True, slots=True)
class Rule:
    """A matching rule: its compiled pattern runs on one view of the comment."""

    id: str
    clause: str
    kind: str  # "words" | "pattern" | "link_domain"
    view: str
    score: float
    reason: str
    regex: re.Pattern[str] | None
    exceptions: re.Pattern[str] | None
    domains: tuple[str, ...]
    line: int
    # For word lists: every word's first two characters (or the one character of a
    # one-character word).  A comment that contains none of them cannot match, which
    # lets the engine skip most rules on most comments without running their regex.
    prefixes: frozenset[str] = frozenset()
    # For patterns: substrings of which at least one must occur before the (costlier)
    # expression runs, written by the policy author as ``if_contains``.
    if_contains: tuple[str, ...] = ()
    if_contains_re: re.Pattern[str] | None = None
    # AutoModerator-style action: when set, a match alone makes the clause at least
    # ``review`` or ``remove``, whatever the scores add up to.
    action: str | None = None
    # For link_domain rules: the domains, top-level domains and host words to look for.
    link: LinkRule | None = None


@dataclass(frozen=True, slots=True)
class PiiRule:
    id: str
    kind: str
    action: str
    reason: str
    line: int


@dataclass(frozen=True, slots=True)
class HeadConfig:
    """How one classifier head maps onto a clause; ``None`` means use the model's tuned threshold."""

    head: str
    clause: str
    review_at: float | None
    remove_at: float | None


@dataclass(frozen=True, slots=True)
class RepetitionConfig:
    min_chars: int = 10
    near_duplicate: float = 0.8
    site_window: int = 20_000
    site_authors: int = 3
    exact_author_score: float = 0.95
    near_author_score: float = 0.9
    site_score: float = 0.6


@dataclass(frozen=True, slots=True)
class Policy:
    version: str
    clauses: Mapping[str, Clause]
    rules: Sequence[Rule]
    personal_data: Sequence[PiiRule]
    heads: Sequence[HeadConfig]
    repetition: RepetitionConfig
    source: str = "<memory>"
    rules_by_view: Mapping[str, Sequence[Rule]] = field(default_factory=dict)
    personal_data_by_kind: Mapping[str, PiiRule] = field(default_factory=dict)
    personal_data_kinds: frozenset[str] = frozenset()


# --- YAML loading with line numbers -------------------------------------------------


class _LineLoader(yaml.SafeLoader):
    """SafeLoader that remembers the line of every mapping and of every list item."""


def _construct_mapping(loader: _LineLoader, node: yaml.MappingNode) -> dict[str, Any]:
    mapping: dict[str, Any] = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        if not isinstance(key, str):
            raise PolicyError(f"line {key_node.start_mark.line + 1}: keys must be strings, got {key!r}")
        if key in mapping:
            raise PolicyError(f"line {key_node.start_mark.line + 1}: duplicate key {key!r}")
        mapping[key] = loader.construct_object(value_node, deep=True)
        mapping[f"__line__{key}"] = value_node.start_mark.line + 1
        if isinstance(value_node, yaml.SequenceNode):
            mapping[f"__lines__{key}"] = [item.start_mark.line + 1 for item in value_node.value]
    mapping["__line__"] = node.start_mark.line + 1
    return mapping


_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


class _Ctx:
    def __init__(self, source: str) -> None:
        self.source = source

    def fail(self, line: int, message: str) -> PolicyError:
        return PolicyError(f"{self.source}:{line}: {message}")


def _line(d: Mapping[str, Any], key: str | None = None) -> int:
    if key is not None and f"__line__{key}" in d:
        return int(d[f"__line__{key}"])
    return int(d.get("__line__", 0))


def _keys(d: Mapping[str, Any]) -> list[str]:
    return [k for k in d if not k.startswith("__line")]


def _check_keys(ctx: _Ctx, d: Mapping[str, Any], allowed: set[str], what: str) -> None:
    for k in _keys(d):
        if k not in allowed:
            raise ctx.fail(_line(d, k), f"unknown key {k!r} in {what} (allowed: {', '.join(sorted(allowed))})")


def _number(ctx: _Ctx, d: Mapping[str, Any], key: str, default: float | None, lo: float, hi: float) -> float | None:
    if key not in d:
        return default
    v = d[key]
    if v is None:
        return None
    if isinstance(v, bool) or not isinstance(v, int | float) or not lo <= float(v) <= hi:
        raise ctx.fail(_line(d, key), f"{key} must be a number between {lo} and {hi}, got {v!r}")
    return float(v)


def _string(ctx: _Ctx, d: Mapping[str, Any], key: str, default: str | None = None) -> str:
    v = d.get(key, default)
    if not isinstance(v, str) or not v:
        raise ctx.fail(_line(d, key) if key in d else _line(d), f"{key} must be a non-empty string")
    return v


def _string_list(ctx: _Ctx, d: Mapping[str, Any], key: str) -> list[tuple[str, int]]:
    if key not in d:
        return []
    v = d[key]
    if not isinstance(v, list):
        raise ctx.fail(_line(d, key), f"{key} must be a list")
    lines = d.get(f"__lines__{key}", [_line(d, key)] * len(v))
    out: list[tuple[str, int]] = []
    for item, ln in zip(v, lines, strict=False):
        if isinstance(item, int | float) and not isinstance(item, bool):
            item = str(item)
        if not isinstance(item, str) or not item.strip():
            raise ctx.fail(ln, f"entries of {key} must be non-empty strings, got {item!r}")
        out.append((item, ln))
    return out


def _compile(ctx: _Ctx, patterns: list[tuple[str, int]], literal: bool) -> re.Pattern[str] | None:
    if not patterns:
        return None
    parts: list[str] = []
    for p, ln in patterns:
        if literal:
            # Words match on lower-cased views, so lower-case them too.
            parts.append(re.escape(p.lower()))
            continue
        try:
            compiled = re.compile(p)
        except re.error as exc:
            raise ctx.fail(ln, f"invalid regular expression {p!r}: {exc}") from None
        if compiled.flags & ~(re.UNICODE | re.DOTALL) or has_unbounded_repeat(compiled):
            # A bounded pattern explores a bounded number of paths per start position, so
            # matching stays linear in the comment's length whatever a citizen writes.
            raise ctx.fail(
                ln,
                f"regular expression {p!r} has an unbounded repeat (*, + or {{n,}}) or inline flags;"
                " use bounded repeats such as \\s{0,3} or [0-9]{1,4} so matching stays linear",
            )
        parts.append(f"(?:{p})")
    if literal:
        parts.sort(key=len, reverse=True)  # longest first so 개새끼 wins over 새끼
    return re.compile("|".join(parts))


def _parse_rule(ctx: _Ctx, d: Any, ln: int, clauses: Mapping[str, Clause]) -> Rule | PiiRule:
    rule = _parse_rule_body(ctx, d, ln, clauses)
    if isinstance(rule, PiiRule) or "action" not in d:
        return rule
    action = d["action"]
    if action not in ("review", "remove"):
        raise ctx.fail(_line(d, "action"), f"rule {rule.id}: action must be review or remove, got {action!r}")
    if action == "remove" and rule.clause in NEVER_AUTO_REMOVE:
        raise ctx.fail(_line(d, "action"), f"rule {rule.id}: clause {rule.clause} is never removed automatically")
    return dataclasses.replace(rule, action=action)


def _parse_rule_body(ctx: _Ctx, d: Any, ln: int, clauses: Mapping[str, Clause]) -> Rule | PiiRule:
    if not isinstance(d, dict):
        raise ctx.fail(ln, "each rule must be a mapping")
    rid = _string(ctx, d, "id")
    kind = _string(ctx, d, "kind")
    if kind == "personal_data":
        _check_keys(ctx, d, {"id", "kind", "detector", "action", "reason", "clause"}, f"rule {rid}")
        det = _string(ctx, d, "detector")
        if det not in PII_KINDS:
            raise ctx.fail(_line(d, "detector"), f"unknown detector {det!r} (known: {', '.join(sorted(PII_KINDS))})")
        action = _string(ctx, d, "action", "mask")
        if action not in ACTIONS:
            raise ctx.fail(_line(d, "action"), f"action must be one of {ACTIONS}, got {action!r}")
        return PiiRule(rid, det, action, str(d.get("reason", det)), _line(d))
    _check_keys(
        ctx,
        d,
        {"id", "kind", "clause", "view", "score", "reason", "words", "patterns", "exceptions", "domains"}
        | {"if_contains", "action", "tlds", "host_words", "except_domains"},
        f"rule {rid}",
    )
    clause = _string(ctx, d, "clause")
    if clause not in clauses:
        raise ctx.fail(_line(d, "clause"), f"rule {rid}: clause {clause!r} is not declared under clauses")
    score = _number(ctx, d, "score", None, 0.0, 1.0)
    if score is None:
        raise ctx.fail(_line(d), f"rule {rid}: score is required")
    reason = _string(ctx, d, "reason")
    default_view = "tight" if kind == "words" else "base"
    view = _string(ctx, d, "view", default_view)
    if view not in VIEWS:
        raise ctx.fail(_line(d, "view"), f"view must be one of {VIEWS}, got {view!r}")
    exceptions = _compile(ctx, _string_list(ctx, d, "exceptions"), literal=kind == "words")
    if kind == "words":
        words = _string_list(ctx, d, "words")
        if not words:
            raise ctx.fail(_line(d), f"rule {rid}: words must not be empty")
        prefixes = frozenset(w.lower()[:2] for w, _ in words)
        return Rule(
            rid, clause, kind, view, score, reason, _compile(ctx, words, True), exceptions, (), _line(d), prefixes
        )
    if kind == "pattern":
        pats = _string_list(ctx, d, "patterns")
        if not pats:
            raise ctx.fail(_line(d), f"rule {rid}: patterns must not be empty")
        hints = tuple(h.lower() for h, _ in _string_list(ctx, d, "if_contains"))
        hint_re = re.compile("|".join(re.escape(h) for h in hints)) if hints else None
        regex = _compile(ctx, pats, False)
        return Rule(
            rid, clause, kind, view, score, reason, regex, exceptions, (), _line(d), frozenset(), hints, hint_re
        )
    if kind == "link_domain":

        def names(key: str) -> tuple[str, ...]:
            return tuple(x.lower().strip(".") for x, _ in _string_list(ctx, d, key))

        link = LinkRule(names("domains"), names("tlds"), names("host_words"), names("except_domains"))
        if not (link.domains or link.tlds or link.host_words):
            raise ctx.fail(_line(d), f"rule {rid}: give domains, tlds or host_words")
        return Rule(rid, clause, kind, "base", score, reason, None, None, link.domains, _line(d), link=link)
    raise ctx.fail(_line(d, "kind"), f"rule {rid}: unknown kind {kind!r} (words, pattern, link_domain, personal_data)")


def parse_policy(text: str, source: str = "<policy>") -> Policy:
    """Validate and compile a policy document, or raise :class:`PolicyError`."""
    ctx = _Ctx(source)
    try:
        doc = yaml.load(text, Loader=_LineLoader)
    except PolicyError as exc:
        raise PolicyError(f"{source}:{str(exc).removeprefix('line ')}") from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else 0
        raise ctx.fail(line, f"not valid YAML: {exc.problem or exc}") from None
    except yaml.YAMLError as exc:
        raise ctx.fail(0, f"not valid YAML: {exc}") from None
    if not isinstance(doc, dict):
        raise ctx.fail(1, "the policy must be a mapping with version, clauses and rules")
    _check_keys(ctx, doc, {"version", "clauses", "rules", "classifier", "repetition"}, "the policy")
    version = doc.get("version")
    if not isinstance(version, str | int | float) or isinstance(version, bool) or not str(version):
        raise ctx.fail(_line(doc, "version") if "version" in doc else 1, "version is required (a string)")

    raw_clauses = doc.get("clauses")
    if not isinstance(raw_clauses, dict):
        raise ctx.fail(_line(doc, "clauses") if "clauses" in doc else 1, "clauses must be a mapping")
    clauses: dict[str, Clause] = {}
    for name in _keys(raw_clauses):
        c = raw_clauses[name]
        cl = _line(raw_clauses, name)
        if name not in CLAUSES:
            raise ctx.fail(cl, f"unknown clause {name!r} (known: {', '.join(CLAUSES)})")
        if not isinstance(c, dict):
            raise ctx.fail(cl, f"clause {name} must be a mapping")
        _check_keys(ctx, c, {"review_at", "remove_at", "description"}, f"clause {name}")
        review_at = _number(ctx, c, "review_at", 0.5, 0.0, 1.0)
        remove_at = _number(ctx, c, "remove_at", None, 0.0, 1.0)
        if name in NEVER_AUTO_REMOVE and remove_at is not None:
            raise ctx.fail(_line(c, "remove_at"), f"clause {name} is never removed automatically; delete remove_at")
        assert review_at is not None
        if remove_at is not None and remove_at < review_at:
            raise ctx.fail(_line(c, "remove_at"), f"clause {name}: remove_at must be >= review_at")
        clauses[name] = Clause(name, review_at, remove_at, str(c.get("description", "")))

    raw_rules = doc.get("rules", [])
    if not isinstance(raw_rules, list):
        raise ctx.fail(_line(doc, "rules"), "rules must be a list")
    rule_lines = doc.get("__lines__rules", [0] * len(raw_rules))
    rules: list[Rule] = []
    pii: list[PiiRule] = []
    seen: set[str] = set()
    for raw, ln in zip(raw_rules, rule_lines, strict=False):
        r = _parse_rule(ctx, raw, ln, clauses)
        if r.id in seen:
            raise ctx.fail(r.line, f"duplicate rule id {r.id!r}")
        seen.add(r.id)
        if isinstance(r, PiiRule):
            if "personal_data" not in clauses:
                raise ctx.fail(r.line, "personal_data rules need the personal_data clause")
            pii.append(r)
        else:
            rules.append(r)

    heads: list[HeadConfig] = []
    raw_cls = doc.get("classifier", {})
    if not isinstance(raw_cls, dict):
        raise ctx.fail(_line(doc, "classifier"), "classifier must be a mapping of head name to settings")
    for head in _keys(raw_cls):
        h = raw_cls[head]
        if not isinstance(h, dict):
            raise ctx.fail(_line(raw_cls, head), f"classifier head {head} must be a mapping")
        _check_keys(ctx, h, {"clause", "review_at", "remove_at"}, f"classifier head {head}")
        clause = _string(ctx, h, "clause")
        if clause not in clauses:
            raise ctx.fail(_line(h, "clause"), f"classifier head {head}: clause {clause!r} is not declared")
        ra = h.get("review_at", "model")
        review_at = None if ra == "model" else _number(ctx, h, "review_at", None, 0.0, 1.0)
        remove_at = _number(ctx, h, "remove_at", None, 0.0, 1.0)
        if clause in NEVER_AUTO_REMOVE and remove_at is not None:
            raise ctx.fail(_line(h, "remove_at"), f"clause {clause} is never removed automatically; delete remove_at")
        heads.append(HeadConfig(head, clause, review_at, remove_at))

    rep = RepetitionConfig()
    raw_rep = doc.get("repetition", {})
    if not isinstance(raw_rep, dict):
        raise ctx.fail(_line(doc, "repetition"), "repetition must be a mapping")
    if raw_rep:
        ints = {"min_chars": (1, 10_000), "site_window": (1, 10_000_000),
                "site_authors": (2, 1000)}  # fmt: skip
        floats = ("near_duplicate", "exact_author_score", "near_author_score", "site_score")
        _check_keys(ctx, raw_rep, set(ints) | set(floats), "repetition")
        values: dict[str, Any] = {}
        for k, (lo, hi) in ints.items():
            if k in raw_rep:
                v = raw_rep[k]
                if not isinstance(v, int) or isinstance(v, bool) or not lo <= v <= hi:
                    raise ctx.fail(_line(raw_rep, k), f"repetition.{k} must be an integer in [{lo}, {hi}]")
                values[k] = v
        for k in floats:
            if k in raw_rep:
                values[k] = _number(ctx, raw_rep, k, None, 0.0, 1.0)
        rep = RepetitionConfig(**values)
        if "repetition" not in clauses:
            raise ctx.fail(_line(doc, "repetition"), "repetition settings need the repetition clause")

    by_view: dict[str, list[Rule]] = {v: [] for v in VIEWS}
    for r in rules:
        by_view[r.view].append(r)
    return Policy(
        version=str(version),
        clauses=clauses,
        rules=tuple(rules),
        personal_data=tuple(pii),
        heads=tuple(heads),
        repetition=rep,
        source=source,
        rules_by_view={k: tuple(v) for k, v in by_view.items()},
        personal_data_by_kind={r.kind: r for r in pii},
        personal_data_kinds=frozenset(r.kind for r in pii),
    )


def load_policy(path: str | os.PathLike[str]) -> Policy:
    """Read and parse a policy file; unreadable files are a :class:`PolicyError` too."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise PolicyError(f"{p}:0: cannot read policy file: {exc}") from None
    return parse_policy(text, str(p))


def default_policy_path() -> Path:
    """The policy shipped inside the package."""
    return Path(str(resources.files("sotong_moderation") / "policy" / "default.yaml"))


class PolicyStore:
    """The current policy of one process, reloadable without a restart.

    ``reload()`` swaps in the new policy only after it parsed completely; on any error it
    raises :class:`PolicyError` and ``current`` stays the policy that was working.
    Readers take ``current`` once per decision, so a reload never mixes two policies
    within one decision.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self._mtime = self._stat()
        self._current = load_policy(self.path)
        self.last_error: PolicyError | None = None

    @property
    def current(self) -> Policy:
        return self._current

    def _stat(self) -> float:
        try:
            return self.path.stat().st_mtime_ns
        except OSError:
            return -1.0

    def reload(self) -> Policy:
        """Load the file again; keep the previous policy and raise if it is malformed."""
        with self._lock:
            mtime = self._stat()
            try:
                policy = load_policy(self.path)
            except PolicyError as exc:
                self.last_error = exc
                raise
            self._current = policy
            self._mtime = mtime
            self.last_error = None
            return policy

    def reload_if_changed(self) -> bool:
        """Cheap check (one ``stat``) for long-running workers; True if a new policy is in use."""
        if self._stat() == self._mtime:
            return False
        try:
            self.reload()
        except PolicyError:
            with self._lock:
                self._mtime = self._stat()  # do not retry the same broken file on every call
            return False
        return True
