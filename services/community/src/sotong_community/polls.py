"""Polls and surveys: question kinds, what a valid response is, and what a response adds to the live results.

Results are counted as responses arrive: each response adds one to a cell (question, option, district, age band)
per choice it makes, and a changed response first takes its old cells away. Ranking questions add Borda points
(n-1 for first place down to 0 for last) beside the count of respondents who ranked the option. Free texts are
moderated and shown only once published.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sotong_common.errors import FieldViolation

SINGLE, MULTIPLE, SCALE, RANKING, FREE_TEXT = "single", "multiple", "scale", "ranking", "free_text"
KINDS = (SINGLE, MULTIPLE, SCALE, RANKING, FREE_TEXT)
SCALE_VALUES = range(1, 6)
AGE_BANDS = ("10s", "20s", "30s", "40s", "50s", "60s", "70+")
MAX_QUESTIONS = 50
MAX_OPTIONS = 30
MAX_TEXT = 2_000


@dataclass(frozen=True)
class Question:
    text: str
    kind: str
    options: tuple[str, ...] = ()
    max_choices: int = 0
    required: bool = False

    def as_json(self) -> dict[str, Any]:
        return {
            "text": self.text,
            "kind": self.kind,
            "options": list(self.options),
            "max_choices": self.max_choices,
            "required": self.required,
        }

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> Question:
        return cls(raw["text"], raw["kind"], tuple(raw["options"]), int(raw["max_choices"]), bool(raw["required"]))


def question_problems(questions: list[Question]) -> list[FieldViolation]:
    found: list[FieldViolation] = []
    if not questions:
        found.append(FieldViolation("poll.questions", "a poll needs at least one question"))
    if len(questions) > MAX_QUESTIONS:
        found.append(FieldViolation("poll.questions", f"at most {MAX_QUESTIONS} questions"))
    for i, q in enumerate(questions[:MAX_QUESTIONS]):
        where = f"poll.questions[{i}]"
        if not q.text.strip() or len(q.text) > 500:
            found.append(FieldViolation(where + ".text", "a question's text is 1..500 characters"))
        if q.kind not in KINDS:
            found.append(FieldViolation(where + ".kind", "kind must be single, multiple, scale, ranking or free text"))
            continue
        if q.kind in (SINGLE, MULTIPLE, RANKING):
            if not 2 <= len(q.options) <= MAX_OPTIONS:
                found.append(FieldViolation(where + ".options", f"2..{MAX_OPTIONS} options"))
            if any(not o.strip() or len(o) > 200 for o in q.options):
                found.append(FieldViolation(where + ".options", "each option is 1..200 characters"))
            if len(set(q.options)) != len(q.options):
                found.append(FieldViolation(where + ".options", "options must differ"))
        elif q.options:
            found.append(FieldViolation(where + ".options", f"a {q.kind} question has no options"))
        if q.kind == MULTIPLE:
            if q.max_choices < 0 or q.max_choices > len(q.options):
                found.append(FieldViolation(where + ".max_choices", "max_choices must be 0..the number of options"))
        elif q.max_choices:
            found.append(FieldViolation(where + ".max_choices", "only multiple-choice questions have max_choices"))
    return found


@dataclass(frozen=True)
class Answer:
    question: int
    choices: tuple[int, ...] = ()
    scale: int = 0
    text: str = ""

    def as_json(self) -> dict[str, Any]:
        return {"question": self.question, "choices": list(self.choices), "scale": self.scale, "text": self.text}

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> Answer:
        return cls(int(raw["question"]), tuple(raw["choices"]), int(raw["scale"]), str(raw["text"]))


def answer_problems(questions: list[Question], answers: list[Answer]) -> list[FieldViolation]:
    found: list[FieldViolation] = []
    seen: set[int] = set()
    for i, a in enumerate(answers):
        where = f"answers[{i}]"
        if not 0 <= a.question < len(questions):
            found.append(FieldViolation(where + ".question", f"the poll has questions 0..{len(questions) - 1}"))
            continue
        if a.question in seen:
            found.append(FieldViolation(where + ".question", f"question {a.question} is answered twice"))
            continue
        seen.add(a.question)
        q = questions[a.question]
        n = len(q.options)
        if q.kind in (SINGLE, MULTIPLE, RANKING) and any(not 0 <= c < n for c in a.choices):
            found.append(FieldViolation(where + ".choices", f"choices are option indexes 0..{n - 1}"))
            continue
        if len(set(a.choices)) != len(a.choices):
            found.append(FieldViolation(where + ".choices", "a choice is made once"))
            continue
        if q.kind == SINGLE and len(a.choices) != 1:
            found.append(FieldViolation(where + ".choices", "a single-choice question takes exactly one choice"))
        elif q.kind == MULTIPLE and not 1 <= len(a.choices) <= (q.max_choices or n):
            found.append(FieldViolation(where + ".choices", f"choose 1..{q.max_choices or n} options"))
        elif q.kind == RANKING and len(a.choices) != n:
            found.append(FieldViolation(where + ".choices", f"a ranking orders all {n} options, best first"))
        elif q.kind == SCALE and a.scale not in SCALE_VALUES:
            found.append(FieldViolation(where + ".scale", "scale answers are 1..5"))
        elif q.kind == FREE_TEXT and (not a.text.strip() or len(a.text) > MAX_TEXT):
            found.append(FieldViolation(where + ".text", f"a free-text answer is 1..{MAX_TEXT} characters"))
        if q.kind != SCALE and a.scale:
            found.append(FieldViolation(where + ".scale", f"a {q.kind} question takes no scale value"))
        if q.kind != FREE_TEXT and a.text:
            found.append(FieldViolation(where + ".text", f"a {q.kind} question takes no text"))
        if q.kind in (SCALE, FREE_TEXT) and a.choices:
            found.append(FieldViolation(where + ".choices", f"a {q.kind} question takes no choices"))
    for i, q in enumerate(questions):
        if q.required and i not in seen:
            found.append(FieldViolation("answers", f"question {i} must be answered"))
    return found


@dataclass(frozen=True)
class Cell:
    """One unit of the live results: question, option (or scale value), and what a response adds there."""

    question: int
    option: int
    count: int
    points: int


def cells(questions: list[Question], answers: list[Answer]) -> list[Cell]:
    """What a (valid) response adds to the results; free texts are counted as answered (option 0)."""
    out: list[Cell] = []
    for a in answers:
        q = questions[a.question]
        if q.kind in (SINGLE, MULTIPLE):
            out.extend(Cell(a.question, c, 1, 0) for c in a.choices)
        elif q.kind == RANKING:
            n = len(a.choices)
            out.extend(Cell(a.question, c, 1, n - 1 - place) for place, c in enumerate(a.choices))
        elif q.kind == SCALE:
            out.append(Cell(a.question, a.scale, 1, 0))
        else:
            out.append(Cell(a.question, 0, 1, 0))
    return out


def state(opens_at: datetime, closes_at: datetime, closed_at: datetime | None, now: datetime) -> str:
    if closed_at is not None or now >= closes_at:
        return "closed"
    return "open" if now >= opens_at else "scheduled"
