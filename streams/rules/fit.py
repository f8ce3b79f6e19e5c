"""Fit: how close a partner is to the vendor's ideal partner (../shared/CONTRACT.md §8).

The ideal is data (`schemas/ideal_partner.yaml`, or the file PARTNERPULSE_IDEAL_PARTNER
names): must-haves and weighted nice-to-haves over the profile's fit fields. `load_ideal`
refuses a bad file whole, naming its line; `assess_fit` is a pure function of the latest
profile and the ideal, so changing the file changes every partner's fit at once.
`fit_sql` is the same rule as a ClickHouse expression, for the dashboards."""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from streams.config import ideal_partner_file
from streams.errors import FitError
from streams.paths import SCHEMAS_DIR
from streams.rules.scoring import sql_string

DEFAULT_IDEAL = SCHEMAS_DIR / "ideal_partner.yaml"
BUSINESS_MODELS = ("reseller", "var", "msp", "si", "distributor", "isv", "other")
NUMBER_FIELDS = ("employees",)
SCALAR_FIELDS = ("business_model",)
LIST_FIELDS = ("customer_segments", "regions", "certifications", "specializations")
FIT_FIELDS = (*NUMBER_FIELDS, *SCALAR_FIELDS, *LIST_FIELDS)
# Each operator: the fields it applies to, and what its value must be.
OPERATORS = {
    "at_least": (NUMBER_FIELDS, "a number"),
    "at_most": (NUMBER_FIELDS, "a number"),
    "in": (SCALAR_FIELDS, "a list of values"),
    "includes": (LIST_FIELDS, "one value"),
    "overlaps": (LIST_FIELDS, "a list of values"),
}
HIGH_FIT = 60.0  # quadrants and alert priority
GOOD_SCORE = 65.0
QUADRANTS = ("core", "invest", "review", "deprioritise")


@dataclass(frozen=True)
class Condition:
    field: str
    op: str
    value: Any
    weight: float = 1.0  # nice-to-haves only

    def met(self, profile: dict[str, Any]) -> bool:
        have = profile.get(self.field)
        if have is None:
            return False  # a missing field fails its condition
        if self.op == "at_least":
            return have >= self.value
        if self.op == "at_most":
            return have <= self.value
        if self.op == "in":
            return have in self.value
        if self.op == "includes":
            return self.value in have
        return bool(set(have) & set(self.value))

    def gap(self, profile: dict[str, Any]) -> str:
        """What is not met, as a phrase: "business_model is distributor, not one of …"."""
        have = profile.get(self.field)
        if have is None or have == []:
            return (
                f"{self.field} unknown ({self.wanted(True)})"
                if have is None
                else f"no {self.field} ({self.wanted(True)})"
            )
        shown = ", ".join(map(str, have)) if isinstance(have, list) else _number(have)
        if self.op in ("includes", "overlaps"):
            return f"{self.field} {shown}: {self.wanted()}"
        return f"{self.field} is {shown}, {self.wanted()}"

    def wanted(self, missing: bool = False) -> str:
        """What the condition asks for (`missing`: said to a partner without the field)."""
        v = self.value
        if self.op in ("at_least", "at_most"):
            return f"wanted at {self.op.removeprefix('at_')} {_number(v)}"
        if self.op == "includes":
            return f"wanted {v}"
        return f"{'not' if self.op == 'in' and not missing else 'wanted'} one of {', '.join(v)}"


def _number(v: Any) -> str:
    return f"{v:g}" if isinstance(v, float) else str(v)


@dataclass(frozen=True)
class Ideal:
    must_have: tuple[Condition, ...]
    nice_to_have: tuple[Condition, ...]
    source: str  # the file it came from, for messages


@dataclass(frozen=True)
class Fit:
    fit: float | None
    fit_gaps: list[str]


def round_fit(value: float) -> float:
    # Half-up to 0.1, as the SQL of `fit_sql` does it.
    return math.floor(value * 10 + 0.5 + 1e-9) / 10


def assess_fit(profile: dict[str, Any] | None, ideal: Ideal) -> Fit:
    """fit = null without a profile (no fit field known: a profile with only a name says
    nothing about fit); 0 if a must-have fails; else the weighted share of nice-to-haves
    met, 0–100 (100 with none). Gaps: what is not met, must-haves first."""
    if not profile:
        return Fit(None, [])
    failed = [c for c in ideal.must_have if not c.met(profile)]
    missed = [c for c in ideal.nice_to_have if not c.met(profile)]
    gaps = [f"must: {c.gap(profile)}" for c in failed] + [c.gap(profile) for c in missed]
    if failed:
        return Fit(0.0, gaps)
    total = sum(c.weight for c in ideal.nice_to_have)
    if not total:
        return Fit(100.0, gaps)
    met = total - sum(c.weight for c in missed)
    return Fit(round_fit(100 * met / total), gaps)


def quadrant(fit: float | None, score: float) -> str | None:
    """core, invest (the right partner drifting: act first), review, deprioritise."""
    if fit is None:
        return None
    if fit >= HIGH_FIT:
        return "core" if score >= GOOD_SCORE else "invest"
    return "review" if score >= GOOD_SCORE else "deprioritise"


def priority(fit: float | None) -> str:
    return "high" if fit is not None and fit >= HIGH_FIT else "normal"


# --- the file ------------------------------------------------------------------------


def _fail(where: str, node: yaml.Node | None, reason: str) -> FitError:
    line = f":{node.start_mark.line + 1}" if node is not None else ""
    return FitError(f"{where}{line}: {reason}")


def _scalar(node: yaml.Node) -> Any:
    return yaml.safe_load(yaml.serialize(node)) if node is not None else None


def _condition(where: str, node: yaml.Node, must: bool) -> Condition:
    if not isinstance(node, yaml.MappingNode):
        raise _fail(where, node, "a condition is a mapping like {field: employees, at_least: 10}")
    items = {k.value: (k, v) for k, v in node.value}
    allowed = {"field", *OPERATORS} | (set() if must else {"weight"})
    for name, (key, _) in items.items():
        if name not in allowed:
            hint = " (must-haves have no weight: they either hold or fit is 0)" if name == "weight" else ""
            raise _fail(where, key, f"unknown key {name!r}{hint}; a condition has field, one of "
                                    f"{', '.join(OPERATORS)}{'' if must else ' and an optional weight'}")  # fmt: skip
    if "field" not in items:
        raise _fail(where, node, "the condition names no field")
    field = _scalar(items["field"][1])
    if field not in FIT_FIELDS:
        raise _fail(where, items["field"][1], f"unknown field {field!r}; fields: {', '.join(FIT_FIELDS)}")
    ops = [name for name in items if name in OPERATORS]
    if len(ops) != 1:
        raise _fail(where, node, f"a condition has exactly one of {', '.join(OPERATORS)}, this one has "
                                 f"{', '.join(ops) or 'none'}")  # fmt: skip
    op = ops[0]
    fields, kind = OPERATORS[op]
    value_node = items[op][1]
    value = _scalar(value_node)
    if field not in fields:
        raise _fail(where, items[op][0], f"{op} does not apply to {field} (it applies to {', '.join(fields)})")
    number = isinstance(value, int | float) and not isinstance(value, bool)
    text_list = isinstance(value, list) and value and all(isinstance(v, str) for v in value)
    if (
        (kind == "a number" and not number)
        or (kind == "a list of values" and not text_list)
        or (kind == "one value" and not isinstance(value, str))
    ):
        raise _fail(where, value_node, f"{op} takes {kind}, got {value!r}")
    if field == "business_model" and (unknown := [v for v in value if v not in BUSINESS_MODELS]):
        raise _fail(
            where, value_node, f"unknown business_model {', '.join(unknown)}; one of {', '.join(BUSINESS_MODELS)}"
        )
    weight = 1.0
    if "weight" in items:
        weight = _scalar(items["weight"][1])
        if not isinstance(weight, int | float) or isinstance(weight, bool) or weight <= 0:
            raise _fail(where, items["weight"][1], f"weight must be a number above 0, got {weight!r}")
    return Condition(field, op, value, float(weight))


@lru_cache(maxsize=16)  # `health` reads the file on every call; parsing it took ~3 ms
def parse_ideal(text: str, where: str) -> Ideal:
    """The ideal from YAML text; a FitError names the line and the reason."""
    try:
        root = yaml.compose(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f":{mark.line + 1}" if mark is not None else ""
        raise FitError(f"{where}{line}: not valid YAML ({getattr(exc, 'problem', None) or exc})") from None
    if not isinstance(root, yaml.MappingNode):
        raise _fail(where, root, "the ideal partner is a mapping with must_have and nice_to_have lists")
    lists: dict[str, tuple[Condition, ...]] = {"must_have": (), "nice_to_have": ()}
    for key, value in root.value:
        if key.value not in lists:
            raise _fail(where, key, f"unknown key {key.value!r}; the file has must_have and nice_to_have")
        if isinstance(value, yaml.ScalarNode) and value.value in ("", "null", "~"):
            continue
        if not isinstance(value, yaml.SequenceNode):
            raise _fail(where, value, f"{key.value} is a list of conditions")
        lists[key.value] = tuple(_condition(where, item, key.value == "must_have") for item in value.value)
    return Ideal(lists["must_have"], lists["nice_to_have"], where)


def load_ideal(path: str | Path | None = None) -> Ideal:
    """The ideal partner: the file given, or PARTNERPULSE_IDEAL_PARTNER, or the default."""
    path = Path(path or ideal_partner_file() or DEFAULT_IDEAL)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise FitError(f"cannot read the ideal partner file {path}: {exc.strerror}") from None
    return parse_ideal(text, str(path))


# --- the same rule in SQL, for the dashboards ---------------------------------------------


def _condition_sql(c: Condition, profile: str) -> str:
    has = f"JSONHas({profile}, {sql_string(c.field)})"
    if c.field in NUMBER_FIELDS:
        number = f"JSONExtractFloat({profile}, {sql_string(c.field)})"
        return f"({has} AND {number} {'>=' if c.op == 'at_least' else '<='} {float(c.value)!r})"
    if c.field in SCALAR_FIELDS:
        values = ", ".join(map(sql_string, c.value))
        return f"({has} AND JSONExtractString({profile}, {sql_string(c.field)}) IN ({values}))"
    items = f"JSONExtract({profile}, {sql_string(c.field)}, 'Array(String)')"
    if c.op == "includes":
        return f"has({items}, {sql_string(c.value)})"
    return f"hasAny({items}, [{', '.join(map(sql_string, c.value))}])"


def fit_sql(ideal: Ideal, profile: str = "fit_profile") -> str:
    """fit as a ClickHouse expression over `profile` (the JSON of the fit fields; NULL
    without a profile): the same rule, rounding and edge cases as `assess_fit`."""
    must = " AND ".join(_condition_sql(c, profile) for c in ideal.must_have) or "1"
    total = sum(c.weight for c in ideal.nice_to_have)
    if total:
        met = " + ".join(f"if({_condition_sql(c, profile)}, {c.weight!r}, 0)" for c in ideal.nice_to_have)
        share = f"floor(100 * ({met}) / {total!r} * 10 + 0.5 + 1e-9) / 10"
    else:
        share = "100."
    return f"if(ifNull({profile}, '') IN ('', '{{}}'), NULL, if({must}, {share}, 0.))"


def gaps_sql(ideal: Ideal, profile: str = "fit_profile") -> str:
    """fit_gaps as one '; '-joined string in ClickHouse (what is wanted, not the partner's
    values: those are in `health`), for the dashboards' hover."""
    phrases = [(c, f"must: {c.field}: {c.wanted(True)}") for c in ideal.must_have]
    phrases += [(c, f"{c.field}: {c.wanted(True)}") for c in ideal.nice_to_have]
    items = ", ".join(f"if({_condition_sql(c, profile)}, '', {sql_string(text)})" for c, text in phrases)
    joined = f"arrayStringConcat(arrayFilter(x -> x != '', [{items or chr(39) * 2}]), '; ')"
    return f"if(ifNull({profile}, '') IN ('', '{{}}'), '', {joined})"


def quadrant_sql(fit: str, score: str) -> str:
    return (f"multiIf({fit} IS NULL, NULL, {fit} >= {HIGH_FIT!r} AND {score} >= {GOOD_SCORE!r}, 'core', "
            f"{fit} >= {HIGH_FIT!r}, 'invest', {score} >= {GOOD_SCORE!r}, 'review', 'deprioritise')")  # fmt: skip
