"""What a feed format is, and the validator every format shares.

A format (`FeedFormat`) says which platform consent it needs, its kinds (full, summary), the columns of each
kind in order, how each column is computed from the catalogue (a SQL expression over the product `p` and the
merchant `m`: the feed is streamed straight out of PostgreSQL, see `feed_store`), and the rules a platform
applies to each value. Adding a platform is a module with one `FeedFormat`; the HTTP routes, the validator CLI
and the stand-in tests pick it up from `feeds.FORMATS`.

The validator reads a feed file line by line (constant memory but for the set of ids seen) and reports each
problem with its line, its column and a Korean explanation a merchant can act on.
"""

from __future__ import annotations

import gzip
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import BinaryIO
from urllib.parse import urlsplit

FULL = "full"
SUMMARY = "summary"

_TAG = re.compile(r"<[A-Za-z/!][^>]*>")


@dataclass(frozen=True)
class Problem:
    line: int
    column: int  # 1-based field number; 0 for the whole line
    field: str
    message: str  # Korean, for the merchant

    def render(self, path: str) -> str:
        where = f"{path}:{self.line}:{self.column}" if self.column else f"{path}:{self.line}"
        return f"{where}: {self.field} — {self.message}" if self.field else f"{where}: {self.message}"


# A rule looks at one value (never empty: emptiness is `required`'s business) and returns a Korean message or None.
Check = Callable[[str], str | None]


@dataclass(frozen=True)
class Column:
    name: str
    label: str  # Korean name shown to merchants
    sql: str  # expression over p (products), m (merchants) and $2 (the homepage base URL)
    required: bool = False
    max_chars: int | None = None
    checks: tuple[Check, ...] = ()
    html_allowed: bool = False


RowCheck = Callable[[Mapping[str, str]], Iterable[tuple[str, str]]]


@dataclass(frozen=True)
class FeedFormat:
    name: str  # the path segment: /ep/{group}/{name}/{kind}.tsv
    title: str
    platform: str  # the consent a merchant gives for its products to appear
    kinds: Mapping[str, tuple[Column, ...]]
    id_column: str = "id"
    row_checks: tuple[RowCheck, ...] = ()
    # For a summary: the column holding I/U/D and the columns a D row may leave empty.
    class_column: str | None = None
    delete_needs: tuple[str, ...] = ()
    content_type: str = "text/tab-separated-values; charset=utf-8"
    notes: Sequence[str] = field(default_factory=tuple)
    # The products column holding each product's full-feed line, rendered when the product is written (see
    # `feed_store.stored_line_function`); None renders the full feed when it is pulled.
    stored_line: str | None = None

    def columns(self, kind: str) -> tuple[Column, ...]:
        return self.kinds[kind]

    def kind_of_header(self, names: Sequence[str]) -> str | None:
        for kind, columns in self.kinds.items():
            if [c.name for c in columns] == list(names):
                return kind
        return None


# -- checks -------------------------------------------------------------------------------------------------------


def positive_integer(value: str) -> str | None:
    if not value.isascii() or not value.isdigit():
        return "숫자만 입력해 주세요 (쉼표나 '원' 없이, 예: 15000)"
    if int(value) <= 0:
        return "0보다 큰 금액이어야 합니다"
    return None


def integer_at_least(low: int, message: str) -> Check:
    def check(value: str) -> str | None:
        try:
            number = int(value)
        except ValueError:
            return message
        return None if number >= low and value.lstrip("-").isdigit() else message

    return check


def absolute_url(value: str) -> str | None:
    try:
        parts = urlsplit(value)
    except ValueError:
        return "주소 형식이 올바르지 않습니다"
    scheme = parts.scheme.lower()
    if not scheme:
        return "http:// 또는 https://로 시작하는 전체 주소를 넣어 주세요 (상대 경로는 쓸 수 없습니다)"
    if scheme not in ("http", "https"):
        return f"{scheme}: 주소는 쓸 수 없습니다. http:// 또는 https://로 시작하는 주소를 넣어 주세요"
    if not parts.hostname:
        return "주소에 도메인(예: shop.example.kr)이 없습니다"
    if any(c.isspace() for c in value):
        return "주소에 공백이 있습니다. 공백은 %20으로 바꿔 주세요"
    return None


def url_list(separator: str, max_items: int, max_chars: int) -> Check:
    def check(value: str) -> str | None:
        items = value.split(separator)
        if len(items) > max_items:
            return f"최대 {max_items}개까지 넣을 수 있습니다 (현재 {len(items)}개). 나머지는 지워 주세요"
        for position, item in enumerate(items, 1):
            if not item:
                return f"{position}번째 주소가 비어 있습니다 ('{separator}'가 연달아 있거나 끝에 있습니다)"
            if len(item) > max_chars:
                return f"{position}번째 주소가 {max_chars}자를 넘습니다"
            problem = absolute_url(item)
            if problem:
                return f"{position}번째 주소: {problem}"
        return None

    return check


def one_of(choices: Mapping[str, str]) -> Check:
    listed = ", ".join(f"{k}({v})" for k, v in choices.items())

    def check(value: str) -> str | None:
        return None if value in choices else f"{listed} 중 하나여야 합니다"

    return check


def timestamp(pattern: str, example: str) -> Check:
    def check(value: str) -> str | None:
        try:
            datetime.strptime(value, pattern)
        except ValueError:
            return f"날짜와 시각은 {example} 형식이어야 합니다"
        return None

    return check


# -- the validator -------------------------------------------------------------------------------------------------


def _lines(stream: BinaryIO) -> Iterator[tuple[int, bytes]]:
    for number, raw in enumerate(stream, 1):
        yield number, raw.rstrip(b"\n").rstrip(b"\r")


def open_feed(path: Path) -> BinaryIO:
    """The file's bytes, un-gzipped when it is a gzip file (as a platform may have stored a pull)."""
    handle = path.open("rb")
    if handle.peek(2)[:2] == b"\x1f\x8b":
        return gzip.open(handle, "rb")  # type: ignore[return-value]
    return handle


def validate(stream: BinaryIO, fmt: FeedFormat, kind: str | None = None, limit: int = 0) -> Iterator[Problem]:
    """Every problem of a feed file, in order; `kind` is taken from the header when not given.

    `limit` > 0 stops after that many problems (a broken file of a million rows need not print a million lines).
    """
    count = 0

    def emit(problem: Problem) -> bool:
        nonlocal count
        count += 1
        return bool(limit) and count >= limit

    lines = _lines(stream)
    first = next(lines, None)
    if first is None:
        yield Problem(1, 0, "", "파일이 비어 있습니다. 첫 줄에 머리글, 그 아래에 상품을 한 줄에 하나씩 넣어 주세요")
        return
    _, head = first
    if head.startswith(b"\xef\xbb\xbf"):
        head = head[3:]
    names = head.decode("utf-8", "replace").split("\t")
    found_kind = fmt.kind_of_header(names)
    if kind is None:
        kind = found_kind
    columns = fmt.columns(kind) if kind else None
    if columns is None or found_kind != kind:
        expected = columns or next(iter(fmt.kinds.values()))
        want = [c.name for c in expected]
        for position, name in enumerate(want, 1):
            got = names[position - 1] if position <= len(names) else "(없음)"
            if got != name:
                yield Problem(
                    1,
                    position,
                    name,
                    f"1행은 {fmt.title} 머리글이어야 합니다. {position}번째 열 이름은 '{name}'인데 '{got}'입니다"
                    f" (열 이름과 순서: {', '.join(want[:6])} …)",
                )
                return
        if len(names) > len(want):
            yield Problem(1, len(want) + 1, names[len(want)], f"머리글에 없어야 할 열 '{names[len(want)]}'이 있습니다")
        return
    index = {c.name: i for i, c in enumerate(columns)}
    seen: dict[str, int] = {}
    for number, raw in lines:
        if not raw:
            continue
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            problem = Problem(
                number,
                0,
                "",
                f"UTF-8이 아닌 글자가 있습니다 ({exc.start + 1}번째 바이트). 파일을 UTF-8로 저장해 주세요",
            )
            yield problem
            if emit(problem):
                return
            continue
        values = text.split("\t")
        if len(values) != len(columns):
            problem = Problem(
                number,
                0,
                "",
                f"열 개수가 머리글과 다릅니다 (머리글 {len(columns)}개, 이 줄 {len(values)}개)."
                " 값 안에 탭 문자나 줄바꿈이 들어 있지 않은지 확인해 주세요",
            )
            yield problem
            if emit(problem):
                return
            continue
        row = dict(zip((c.name for c in columns), values, strict=True))
        deleting = fmt.class_column is not None and row.get(fmt.class_column) == "D"
        for problem in _row_problems(number, row, columns, index, fmt, deleting, seen):
            yield problem
            if emit(problem):
                return


def _row_problems(
    number: int,
    row: Mapping[str, str],
    columns: Sequence[Column],
    index: Mapping[str, int],
    fmt: FeedFormat,
    deleting: bool,
    seen: dict[str, int],
) -> Iterator[Problem]:
    for position, column in enumerate(columns, 1):
        value = row[column.name]
        needed = column.required and (not deleting or column.name in fmt.delete_needs)
        if not value:
            if needed:
                yield Problem(number, position, column.name, f"필수 항목 '{column.label}'이(가) 비어 있습니다")
            continue
        if deleting and column.name not in fmt.delete_needs:
            continue
        if value != value.strip():
            yield Problem(number, position, column.name, f"'{column.label}' 앞뒤에 공백이 있습니다. 지워 주세요")
        if any(ord(c) < 0x20 for c in value):
            yield Problem(number, position, column.name, f"'{column.label}'에 제어 문자가 있습니다. 지워 주세요")
            continue
        if not column.html_allowed and _TAG.search(value):
            yield Problem(
                number,
                position,
                column.name,
                f"'{column.label}'에 HTML 태그가 있습니다. 태그를 지우고 글자만 남겨 주세요",
            )
        if column.max_chars is not None and len(value) > column.max_chars:
            yield Problem(
                number,
                position,
                column.name,
                f"'{column.label}'은(는) {column.max_chars}자 이하여야 합니다 (현재 {len(value)}자)",
            )
        for check in column.checks:
            message = check(value)
            if message:
                yield Problem(number, position, column.name, f"'{column.label}': {message}")
                break
    product_id = row.get(fmt.id_column, "")
    if product_id:
        if product_id in seen:
            yield Problem(
                number,
                index[fmt.id_column] + 1,
                fmt.id_column,
                f"상품 ID '{product_id}'가 {seen[product_id]}행과 겹칩니다. 상품마다 다른 ID를 써 주세요",
            )
        else:
            seen[product_id] = number
    if deleting:
        return
    for row_check in fmt.row_checks:
        for name, why in row_check(row):
            yield Problem(number, index[name] + 1, name, why)
