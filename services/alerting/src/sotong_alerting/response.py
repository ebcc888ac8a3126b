"""Stage 0's response plan: which departments join the response group, who is paged, and who is paged next.

The plan is configuration, not code: every city reorganises its departments and rotas more often than it
changes software. It ships as `data/response.yaml` and can be replaced by a file of the same shape
(SOTONG_ALERTING_RESPONSE_MAP). A plan that cannot be read stops the process at start, naming the problem,
rather than failing on the first disaster.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from sotong_alerting.districts import district


class PlanError(ValueError):
    """The response plan file is malformed; the message names the key."""


@dataclass(frozen=True, slots=True)
class EscalationLevel:
    """Page `targets` when the previous page went unacknowledged for `after`."""

    after: timedelta
    targets: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class ResponsePlan:
    always: tuple[str, ...]
    hazards: Mapping[str, tuple[str, ...]]
    district_department: str
    duty_officers: tuple[str, ...]
    escalation: tuple[EscalationLevel, ...]
    press_list: tuple[str, ...]
    push_segment: str
    categories: Mapping[str, str] = field(default_factory=dict)

    def hazard_of(self, category: str) -> str:
        """The hazard a citizens' report category stands for (flooding → 호우); the category itself otherwise."""
        return self.categories.get(category, category)

    def departments(self, hazard: str, area_codes: Iterable[str]) -> tuple[str, ...]:
        """The response group for a hazard in some districts, without repeats, in a stable order."""
        found = [*self.always, *self.hazards.get(hazard.strip(), ())]
        for code in area_codes:
            try:
                name = district(code).name("ko")
            except KeyError:
                continue
            found.append(self.district_department.format(district=name))
        return tuple(dict.fromkeys(found))

    def next_page(self, level: int, paged_at: datetime) -> datetime | None:
        """When the page of `level` (0: duty officers) escalates if unacknowledged; None after the last level."""
        if level >= len(self.escalation):
            return None
        return paged_at + self.escalation[level].after

    def targets_of(self, level: int) -> tuple[str, ...]:
        """Who is paged at `level`: the duty officers at 0, then each escalation level's targets."""
        if level == 0:
            return self.duty_officers
        return self.escalation[level - 1].targets

    def with_delays(self, seconds: Sequence[float]) -> ResponsePlan:
        """The same plan with other escalation delays (tests and drills shorten them)."""
        if len(seconds) != len(self.escalation):
            raise PlanError(f"{len(seconds)} escalation delays given for {len(self.escalation)} escalation levels")
        levels = tuple(
            EscalationLevel(timedelta(seconds=s), level.targets)
            for s, level in zip(seconds, self.escalation, strict=True)
        )
        return replace(self, escalation=levels)


def _names(raw: Any, key: str) -> tuple[str, ...]:
    if not isinstance(raw, list) or not all(isinstance(item, str) and item.strip() for item in raw):
        raise PlanError(f"{key} must be a list of non-empty names")
    return tuple(raw)


def parse_plan(raw: Any) -> ResponsePlan:
    """A plan from the YAML's data; PlanError naming the first bad key."""
    if not isinstance(raw, dict):
        raise PlanError("the response plan must be a mapping")
    hazards_raw = raw.get("hazards", {})
    if not isinstance(hazards_raw, dict):
        raise PlanError("hazards must map a hazard name to a list of departments")
    hazards = {str(name): _names(value, f"hazards.{name}") for name, value in hazards_raw.items()}
    levels = []
    for index, level in enumerate(raw.get("escalation", [])):
        if not isinstance(level, dict):
            raise PlanError(f"escalation[{index}] must be a mapping with after_seconds and targets")
        after = level.get("after_seconds")
        if not isinstance(after, int | float) or isinstance(after, bool) or after <= 0:
            raise PlanError(f"escalation[{index}].after_seconds must be a positive number")
        levels.append(
            EscalationLevel(timedelta(seconds=after), _names(level.get("targets"), f"escalation[{index}].targets"))
        )
    template = raw.get("district_department", "{district} 안전재난과")
    if not isinstance(template, str) or "{district}" not in template:
        raise PlanError("district_department must contain {district}")
    push = raw.get("push_segment", "all")
    if push not in {"all", "districts"}:
        raise PlanError("push_segment must be 'all' or 'districts'")
    categories_raw = raw.get("categories", {})
    if not isinstance(categories_raw, dict) or not all(isinstance(v, str) for v in categories_raw.values()):
        raise PlanError("categories must map an intake category code to a hazard name")
    categories = {str(k): v for k, v in categories_raw.items()}
    officers = _names(raw.get("duty_officers"), "duty_officers")
    if not officers:
        raise PlanError("duty_officers must name at least one person")
    return ResponsePlan(
        always=_names(raw.get("always", []), "always"),
        hazards=hazards,
        district_department=template,
        duty_officers=officers,
        escalation=tuple(levels),
        press_list=_names(raw.get("press_list", []), "press_list"),
        push_segment=push,
        categories=categories,
    )


def load_plan(path: str | None = None) -> ResponsePlan:
    """The plan from `path`, or the one shipped with the package."""
    if path:
        text = Path(path).read_text("utf-8")
    else:
        text = resources.files("sotong_alerting").joinpath("data/response.yaml").read_text("utf-8")
    try:
        return parse_plan(yaml.safe_load(text))
    except yaml.YAMLError as error:
        raise PlanError(f"the response plan is not valid YAML: {error}") from None
