"""How much work a backtracking regular expression does on a text, counted deterministically.

CPython's `re` is a backtracking engine that reports no work count, and wall-clock time on a shared 2-core machine
is noise. Tests that must show a pattern applied to citizens' text is linear (a hostile post must not stall a
worker: `'ab.' * 6000` once took 5 s in moderation's link pattern) count *steps* here instead: this module
interprets the parse tree `re` itself compiles (`re._parser`), in the order `re` explores it (leftmost start;
greedy, lazy, possessive repeats; alternatives in order; lookarounds; atomic groups; back references), and counts
one step per node tried and per character a repeat consumes. `re`'s optimisations (a literal prefix scan, checking
the character after a repeat before backtracking into it) change the count by a constant factor, never how it
grows with the text, so "steps(4n) / steps(n) stays near 4" is a fair, reproducible proxy for "`re` is linear
here". A pattern without any unbounded repeat is linear by construction (`has_unbounded_repeat`).

Supported: everything the project's patterns use. IGNORECASE and MULTILINE are refused (`Unsupported`) rather than
modelled wrongly.
"""

from __future__ import annotations

import re
import sys
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from re import _constants as C  # type: ignore[attr-defined]
from re import _parser as P  # type: ignore[attr-defined]
from typing import Any

__all__ = [
    "StepLimit",
    "Unsupported",
    "alphabet",
    "count_steps",
    "grows_linearly",
    "has_unbounded_repeat",
    "hostile_texts",
    "simulate",
]

Caps = dict[int, tuple[int, int]]
Cont = Callable[[int, Caps], bool]
Node = Callable[[int, Caps, Cont], bool]


class Unsupported(ValueError):
    """A construct this model does not interpret (so its count would not mean anything)."""


class StepLimit(Exception):
    """The count passed the caller's limit; the search stopped there (so quadratic patterns stay cheap to test)."""


@dataclass
class _Run:
    text: str
    limit: int
    steps: int = 0

    def tick(self, n: int = 1) -> None:
        self.steps += n
        if self.steps > self.limit:
            raise StepLimit(self.steps)


def _recorder(into: list[tuple[int, Caps]]) -> Cont:
    """A continuation that accepts the first way through and remembers where it ended."""

    def k(pos: int, caps: Caps) -> bool:
        into.append((pos, caps))
        return True

    return k


def _is_word(ch: str) -> bool:
    return ch.isalnum() or ch == "_"


_CATEGORIES: dict[Any, Callable[[str], bool]] = {
    C.CATEGORY_DIGIT: str.isdecimal,
    C.CATEGORY_NOT_DIGIT: lambda ch: not ch.isdecimal(),
    C.CATEGORY_SPACE: str.isspace,
    C.CATEGORY_NOT_SPACE: lambda ch: not ch.isspace(),
    C.CATEGORY_WORD: _is_word,
    C.CATEGORY_NOT_WORD: lambda ch: not _is_word(ch),
}


def _char_class(items: list[tuple[Any, Any]]) -> Callable[[str], bool]:
    negate = False
    singles: set[str] = set()
    ranges: list[tuple[int, int]] = []
    cats: list[Callable[[str], bool]] = []
    for op, av in items:
        if op is C.NEGATE:
            negate = True
        elif op is C.LITERAL:
            singles.add(chr(av))
        elif op is C.RANGE:
            ranges.append(av)
        elif op is C.CATEGORY:
            cats.append(_CATEGORIES[av])
        else:
            raise Unsupported(f"character class item {op}")

    def pred(ch: str) -> bool:
        o = ord(ch)
        hit = ch in singles or any(lo <= o <= hi for lo, hi in ranges) or any(c(ch) for c in cats)
        return hit != negate

    return pred


class _Compiler:
    def __init__(self, run: _Run, flags: int) -> None:
        self.run = run
        self.flags = flags

    def single(self, op: Any, av: Any, flags: int) -> Callable[[str], bool] | None:
        """A predicate when the node matches exactly one character, else None."""
        if op is C.LITERAL:
            lit = chr(av)
            return lambda ch: ch == lit
        if op is C.NOT_LITERAL:
            lit = chr(av)
            return lambda ch: ch != lit
        if op is C.ANY:
            if flags & re.DOTALL:
                return lambda ch: True
            return lambda ch: ch != "\n"
        if op is C.IN:
            return _char_class(av)
        return None

    def seq(self, items: Iterable[tuple[Any, Any]], flags: int) -> Node:
        nodes = [self.node(op, av, flags) for op, av in items]
        run = self.run

        def chain(i: int) -> Node:
            if i == len(nodes):
                return lambda pos, caps, k: k(pos, caps)
            first, rest = nodes[i], chain(i + 1)

            def m(pos: int, caps: Caps, k: Cont) -> bool:
                return first(pos, caps, lambda p, c: rest(p, c, k))

            return m

        whole = chain(0)

        def m(pos: int, caps: Caps, k: Cont) -> bool:
            run.tick()
            return whole(pos, caps, k)

        return m

    def node(self, op: Any, av: Any, flags: int) -> Node:
        run = self.run
        pred = self.single(op, av, flags)
        if pred is not None:
            p = pred

            def one(pos: int, caps: Caps, k: Cont) -> bool:
                run.tick()
                text = run.text
                return pos < len(text) and p(text[pos]) and k(pos + 1, caps)

            return one
        if op is C.BRANCH:
            alts = [self.seq(alt, flags) for alt in av[1]]

            def branch(pos: int, caps: Caps, k: Cont) -> bool:
                return any(alt(pos, caps, k) for alt in alts)

            return branch
        if op is C.SUBPATTERN:
            group, add_flags, del_flags, sub = av
            inner = self.seq(sub, (flags | add_flags) & ~del_flags)
            if group is None:
                return inner

            def capture(pos: int, caps: Caps, k: Cont) -> bool:
                return inner(pos, caps, lambda p, c: k(p, {**c, group: (pos, p)}))

            return capture
        if op in (C.MAX_REPEAT, C.MIN_REPEAT, C.POSSESSIVE_REPEAT):
            return self.repeat(op, av, flags)
        if op is C.ATOMIC_GROUP:
            inner = self.seq(av, flags)
            return self.atomic(inner)
        if op in (C.ASSERT, C.ASSERT_NOT):
            direction, sub = av
            inner = self.seq(sub, flags)
            width = sub.getwidth()[0] if direction < 0 else 0
            want = op is C.ASSERT

            def look(pos: int, caps: Caps, k: Cont) -> bool:
                run.tick()
                if direction < 0:
                    start = pos - width
                    ok = start >= 0 and inner(start, caps, lambda p, c: p == pos)
                else:
                    ok = inner(pos, caps, lambda p, c: True)
                return ok == want and k(pos, caps)

            return look
        if op is C.AT:
            return self.at(av, flags)
        if op is C.GROUPREF:
            group = av

            def ref(pos: int, caps: Caps, k: Cont) -> bool:
                run.tick()
                span = caps.get(group)
                if span is None:
                    return False
                piece = run.text[span[0] : span[1]]
                run.tick(len(piece))
                return run.text.startswith(piece, pos) and k(pos + len(piece), caps)

            return ref
        raise Unsupported(f"regular expression construct {op}")

    def atomic(self, inner: Node) -> Node:
        def m(pos: int, caps: Caps, k: Cont) -> bool:
            found: list[tuple[int, Caps]] = []
            if inner(pos, caps, _recorder(found)):
                return k(*found[0])
            return False

        return m

    def repeat(self, op: Any, av: Any, flags: int) -> Node:
        lo, hi, sub = av
        run = self.run
        items = list(sub)
        pred = None
        if len(items) == 1:
            first_op, first_av = items[0]
            pred = self.single(first_op, first_av, flags)
        if pred is not None:
            p = pred

            def single_repeat(pos: int, caps: Caps, k: Cont) -> bool:
                run.tick()
                text = run.text
                top = len(text) if hi is C.MAXREPEAT else min(len(text), pos + hi)
                if op is C.MIN_REPEAT:
                    end = pos
                    while end - pos < lo:
                        run.tick()
                        if end >= top or not p(text[end]):
                            return False
                        end += 1
                    while True:
                        run.tick()
                        if k(end, caps):
                            return True
                        if end >= top or not p(text[end]):
                            return False
                        end += 1
                end = pos
                while end < top and p(text[end]):
                    run.tick()
                    end += 1
                if end - pos < lo:
                    return False
                if op is C.POSSESSIVE_REPEAT:
                    return k(end, caps)
                for e in range(end, pos + lo - 1, -1):
                    run.tick()
                    if k(e, caps):
                        return True
                return False

            return single_repeat
        inner = self.seq(items, flags)
        if op is C.POSSESSIVE_REPEAT:
            once = self.atomic(inner)

            def possessive(pos: int, caps: Caps, k: Cont) -> bool:
                count, p, c = 0, pos, caps
                while hi is C.MAXREPEAT or count < hi:
                    run.tick()
                    found: list[tuple[int, Caps]] = []
                    if not once(p, c, _recorder(found)) or found[0][0] == p:
                        break
                    p, c = found[0]
                    count += 1
                return count >= lo and k(p, c)

            return possessive
        greedy = op is C.MAX_REPEAT

        def general(pos: int, caps: Caps, k: Cont) -> bool:
            def step(count: int, p: int, c: Caps) -> bool:
                run.tick()
                more = hi is C.MAXREPEAT or count < hi
                if not greedy and count >= lo and k(p, c):
                    return True
                # An iteration that matched nothing ends the loop, as in `re`.
                if more and inner(p, c, lambda p2, c2: p2 != p and step(count + 1, p2, c2)):
                    return True
                return greedy and count >= lo and k(p, c)

            return step(0, pos, caps)

        return general

    def at(self, code: Any, flags: int) -> Node:
        run = self.run
        if flags & re.MULTILINE:
            raise Unsupported("MULTILINE")

        def test(pos: int) -> bool:
            text = run.text
            if code in (C.AT_BEGINNING, C.AT_BEGINNING_STRING):
                return pos == 0
            if code is C.AT_END:
                return pos == len(text) or (pos == len(text) - 1 and text[pos] == "\n")
            if code is C.AT_END_STRING:
                return pos == len(text)
            before = pos > 0 and _is_word(text[pos - 1])
            after = pos < len(text) and _is_word(text[pos])
            if code is C.AT_BOUNDARY:
                return before != after
            if code is C.AT_NON_BOUNDARY:
                return before == after
            raise Unsupported(f"anchor {code}")

        def m(pos: int, caps: Caps, k: Cont) -> bool:
            run.tick()
            return test(pos) and k(pos, caps)

        return m


def _parse(pattern: re.Pattern[str]) -> Any:
    if not isinstance(pattern.pattern, str):
        raise Unsupported("bytes patterns")
    if pattern.flags & (re.IGNORECASE | re.MULTILINE | re.VERBOSE):
        raise Unsupported("IGNORECASE, MULTILINE and VERBOSE are not modelled")
    return P.parse(pattern.pattern, pattern.flags)


def count_steps(pattern: re.Pattern[str], text: str, mode: str = "finditer", limit: int = 10**9) -> int:
    """Steps a backtracking engine takes for `pattern.<mode>(text)`; raises StepLimit past `limit`.

    `mode` is how the caller applies the pattern: `finditer` (also `findall`, `sub`, `split`: every match, left to
    right), `search` (the first match), `match` (anchored at 0) or `fullmatch`.
    """
    return simulate(pattern, text, mode, limit)[0]


def simulate(
    pattern: re.Pattern[str], text: str, mode: str = "finditer", limit: int = 10**9
) -> tuple[int, list[tuple[int, int]]]:
    """The step count and the match spans the model found (tests compare the spans with `re`'s own)."""
    parsed = _parse(pattern)
    run = _Run(text, limit)
    root = _Compiler(run, parsed.state.flags).seq(parsed, parsed.state.flags)
    result: list[int] = []
    spans: list[tuple[int, int]] = []
    error: list[BaseException] = []

    def attempt(start: int, whole: bool) -> int | None:
        ends: list[int] = []
        n = len(text)

        def done(p: int, c: Caps) -> bool:
            if whole and p != n:
                return False
            ends.append(p)
            return True

        return ends[0] if root(start, {}, done) else None

    def body() -> None:
        try:
            if mode in ("match", "fullmatch"):
                end = attempt(0, mode == "fullmatch")
                if end is not None:
                    spans.append((0, end))
            else:
                pos = 0
                while pos <= len(text):
                    end = None
                    start = pos
                    while start <= len(text):
                        run.tick()
                        end = attempt(start, False)
                        if end is not None:
                            break
                        start += 1
                    if end is None:
                        break
                    spans.append((start, end))
                    if mode == "search":
                        break
                    pos = end if end > start else end + 1
            result.append(run.steps)
        except BaseException as exc:  # carried to the caller's thread
            error.append(exc)

    # Backtracking is recursion; give it a deep stack of its own instead of raising the caller's limits.
    old_limit = sys.getrecursionlimit()
    old_size = threading.stack_size()
    sys.setrecursionlimit(max(old_limit, 200_000))
    threading.stack_size(512 * 1024 * 1024)
    try:
        worker = threading.Thread(target=body, name="regex-steps")
        worker.start()
        worker.join()
    finally:
        threading.stack_size(old_size)
        sys.setrecursionlimit(old_limit)
    if error:
        raise error[0]
    return result[0], spans


def has_unbounded_repeat(pattern: re.Pattern[str]) -> bool:
    """Whether any repeat in the pattern is unbounded (`*`, `+`, `{n,}`).

    Without one, every match attempt from one start position explores a bounded set of paths, so the work is at
    most a constant (set by the pattern) per position of the text: linear by construction.
    """

    def walk(items: Iterable[tuple[Any, Any]]) -> bool:
        for op, av in items:
            if op in (C.MAX_REPEAT, C.MIN_REPEAT, C.POSSESSIVE_REPEAT):
                if av[1] is C.MAXREPEAT or walk(av[2]):
                    return True
            elif op is C.BRANCH:
                if any(walk(alt) for alt in av[1]):
                    return True
            elif op is C.SUBPATTERN:
                if walk(av[3]):
                    return True
            elif op in (C.ASSERT, C.ASSERT_NOT):
                if walk(av[1]):
                    return True
            elif op is C.ATOMIC_GROUP and walk(av):
                return True
        return False

    return walk(_parse(pattern))


def alphabet(pattern: re.Pattern[str]) -> tuple[list[str], list[str]]:
    """Characters to build hostile inputs from: (those inside repeats, all others the pattern names).

    Representatives only: each literal, both ends of each range and one character per category. Inputs made of
    repeats of these (`'a.' * n`, `'1-' * n`, ...) are the shapes that make a backtracking engine retry.
    """
    inside: dict[str, None] = {}
    outside: dict[str, None] = {}
    reps = {
        C.CATEGORY_DIGIT: "1",
        C.CATEGORY_NOT_DIGIT: "a",
        C.CATEGORY_SPACE: " ",
        C.CATEGORY_NOT_SPACE: "a",
        C.CATEGORY_WORD: "a",
        C.CATEGORY_NOT_WORD: ".",
    }

    def add(ch: str, in_repeat: bool) -> None:
        (inside if in_repeat else outside).setdefault(ch, None)

    def walk(items: Iterable[tuple[Any, Any]], in_repeat: bool) -> None:
        for op, av in items:
            if op in (C.LITERAL, C.NOT_LITERAL):
                add(chr(av) if op is C.LITERAL else "가", in_repeat)
            elif op is C.ANY:
                add("a", in_repeat)
            elif op is C.IN:
                for iop, iav in av:
                    if iop is C.LITERAL:
                        add(chr(iav), in_repeat)
                    elif iop is C.RANGE:
                        add(chr(iav[0]), in_repeat)
                        add(chr(iav[1]), in_repeat)
                    elif iop is C.CATEGORY:
                        add(reps[iav], in_repeat)
            elif op in (C.MAX_REPEAT, C.MIN_REPEAT, C.POSSESSIVE_REPEAT):
                walk(av[2], in_repeat or av[1] is C.MAXREPEAT or av[1] > 1)
            elif op is C.BRANCH:
                for alt in av[1]:
                    walk(alt, in_repeat)
            elif op is C.SUBPATTERN:
                walk(av[3], in_repeat)
            elif op in (C.ASSERT, C.ASSERT_NOT):
                walk(av[1], in_repeat)
            elif op is C.ATOMIC_GROUP:
                walk(av, in_repeat)

    walk(_parse(pattern), False)
    return list(inside), [c for c in outside if c not in inside]


GENERIC = ("a", "1", " ", ".", "-", "가", "@", "/", ",", "ㅋ", "\n")


def _prefixes(pattern: re.Pattern[str], most: int = 8) -> list[str]:
    """Literal openings of the pattern (``카톡``, ``https://``), through leading groups and alternatives."""

    def openings(items: list[tuple[Any, Any]]) -> list[str]:
        lead = ""
        for i, (op, av) in enumerate(items):
            if op is C.LITERAL:
                lead += chr(av)
                continue
            if op is C.BRANCH and not lead:
                return [o for alt in av[1] for o in openings(list(alt))]
            if op is C.SUBPATTERN and not lead:
                inner = openings(list(av[3]))
                rest = items[i + 1 :]
                return inner if rest and rest[0][0] is not C.LITERAL else [o + r for o in inner for r in openings(rest)]
            break
        return [lead]

    out = [o for o in dict.fromkeys(openings(list(_parse(pattern)))) if o]
    return out[:most]


def hostile_texts(pattern: re.Pattern[str], size: int, pairs: int = 8) -> list[str]:
    """Texts of about `size` characters shaped to make this pattern backtrack, generated from the pattern itself.

    Runs of one character and of two alternating characters drawn from what the pattern's repeats accept (plus
    common separators, digits, Latin and Hangul letters), and the pattern's own literal openings followed by such
    runs. `'ab.' * n` against a link pattern is the kind of input this produces (as ``'a.' * n``).
    """
    inside, _ = alphabet(pattern)
    singles = list(dict.fromkeys([*inside, *GENERIC]))
    # A run that ends the text lets anchors such as `$` succeed at once; the same run followed by a character no
    # pattern here accepts (NUL) makes the engine try every way back.
    texts = [c * size + end for c in singles for end in ("", "\x00")]
    few = list(dict.fromkeys([*inside[:pairs], ".", " ", "a", "1"]))
    texts += [(a + b) * (size // 2) for a in few for b in few if a != b]
    for lead in _prefixes(pattern):
        texts += [lead + c * size + end for c in few[:4] for end in ("", "\x00")]
        texts.append((lead + " ") * (size // (len(lead) + 1)))
    return texts


def grows_linearly(
    pattern: re.Pattern[str],
    size: int = 256,
    mode: str = "finditer",
    factor: float = 5.0,
    first_only: bool = True,
    per_char: int = 2_000,
) -> list[str]:
    """Hostile texts on which the work from `size` to `4 * size` characters grows more than `factor` times.

    A text that already costs more than `per_char` steps per character at `size` counts as a problem too.

    Linear work grows about 4 times; quadratic work 16 times. Empty means no hostile text found a problem. The
    count on the larger text stops at the limit, so a quadratic pattern is found without paying for all of it.
    """
    problems: list[str] = []
    for small, large in zip(hostile_texts(pattern, size), hostile_texts(pattern, 4 * size), strict=True):
        try:
            base = count_steps(pattern, small, mode, limit=per_char * len(small))
        except StepLimit as over:
            problems.append(f"{small[:12]!r}...: more than {over.args[0]} steps for {len(small)} characters")
            if first_only:
                break
            continue
        try:
            count_steps(pattern, large, mode, limit=int(factor * base) + 64)
        except StepLimit as over:
            problems.append(f"{small[:12]!r}... x4 chars: steps {base} -> more than {over.args[0]}")
            if first_only:
                break
    return problems
