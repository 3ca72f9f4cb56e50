"""Validate tenant re-rank rules and apply them to a scored candidate list (pure: no Django, no I/O).

A rule is a kind, a params object, a priority, an enabled flag and an optional schedule. `validate_rule`
(and `validate_schedule`) refuse a definition that cannot be applied, naming the field ("params.when.op:
..."); `apply_rules` is a deterministic function of (candidates, rules, k, now) that explains itself: each
`Ranked` item carries its model score and position, its final score, and one `Effect` per rule that moved
it (score delta for boosts and buries, "moved 4 -> 1" for diversity and pins).

Order of application
--------------------
1. filters: an item matching any live filter is removed (reported in `RuleOutcome.removed`, credited to
   the first matching filter by priority). Filters are hard constraints: nothing later brings it back.
2. model score: survivors are sorted by model score, best first; ties keep the given order.
3. boosts and buries, highest priority first: each adds (boost) or subtracts (bury) `weight * spread` to
   every matching item's score, where `spread` = max - min of the model scores of the items that
   survived the filters (1.0 when that is 0, e.g. one item or all scores equal). Effects add up. The
   list is then re-sorted by final score; ties by model score, then the given order.
   So weights mean the same whatever the model's scale (scores x 100, or shifted, give the same order):
   weight 0.1 lifts an item by a tenth of the list's score range; weight 1 lifts the worst item level
   with the best (the tie goes to the better model score); weight > 1 puts every matching item above
   every non-matching one.
4. diversity, highest priority first, each rule re-ordering the result of the previous one.
5. promotions, highest priority first: each makes at least `slots` of the top `top` items match its
   condition, pulling the best-scored matching items from further down into evenly spread slots of the
   top (2 of 10: positions 5 and 10), each taking the slot of the lowest non-matching item there.
6. pins, highest priority first. Pins are applied last, so a pin beats a diversity cap or a promotion.
Then the list is cut to the top `k`. Positions are 1-based and absolute: a pin to position 12 with
k=10 is applied but falls outside the response.

Within a stage, rules run by priority (higher first); equal priorities keep the order they were given
in. Disabled rules and rules outside their schedule (`starts_at` inclusive, `ends_at` exclusive) are
skipped. A stored rule that no longer validates is skipped and reported in `RuleOutcome.not_applied`,
so one bad row cannot break serving.

Conflicts (documented outcomes, all reported in `not_applied` or in the item's effects):
- two pins for one slot: the higher-priority pin takes it; the other goes to the next free slot after
  it (or, when every slot after it is taken, the nearest free slot before it).
- one item pinned by two rules: the higher-priority pin applies; the other is not applied.
- a pinned item that a filter removed stays removed; the pin is not applied.
- a pinned item absent from the candidate list: the pin is not applied.
- a pin position beyond the list's length: the item is placed last.

Params schema
-------------
Condition (used by filter, boost and bury under "when"):
    {"field": "<field>", "op": "<op>", "value": <value>}
    {"all": [<condition>, ...]}   every one matches     {"any": [<condition>, ...]}   at least one
    {"not": <condition>}          (nesting up to 5 levels)

    field            ops                                   value
    item_id          eq ne | in not_in                     string | non-empty list of strings
    category         eq ne | in not_in                     string | non-empty list of strings
    tags             contains | in not_in                  string (has the tag) | list (has any / none)
    available        eq ne                                 true / false
    price            eq ne lt lte gt gte | between         number | [lo, hi] (inclusive)
    age_days         lt lte gt gte | between               number >= 0 | [lo, hi]; days since created_at
    attributes.<key> eq ne | in not_in | lt lte gt gte |   string/number/boolean | list of those |
                     between | contains                    number | [lo, hi] | value in a list or string

    A condition on a value the item lacks (price null, no created_at, attribute key absent or null) is
    false whatever the op; wrap it in "not" to match items that lack it. Ordering ops on an attribute
    that is not a number are false. true never equals 1.

filter     {"when": <condition>}
           {"when": {"field": "available", "op": "eq", "value": false}}
boost      {"when": <condition>, "weight": <number > 0, at most 1000>}
           {"when": {"field": "category", "op": "in", "value": ["Books", "Music"]}, "weight": 0.2}
           freshness: {"when": {"field": "age_days", "op": "lte", "value": 7}, "weight": 0.3}
           price range: {"when": {"field": "price", "op": "between", "value": [10, 25]}, "weight": 0.1}
bury       same as boost, subtracts.
           {"when": {"field": "attributes.brand", "op": "eq", "value": "Acme"}, "weight": 0.5}
diversity  {"max_per_category": <int >= 1>, "top": <int >= 1, optional>}
               at most n items per category in the top `top`: walking the list best first, an item whose
               category already has n items in the top is deferred to just after it. Items without a
               category are never capped. When too few other items remain, deferred items fill the
               remaining top slots in order (the cap is relaxed rather than leaving holes).
           {"mmr_lambda": <number in [0, 1]>, "top": <int >= 1, optional>}
               maximal marginal relevance (Carbonell & Goldstein, 1998): pick the top `top` greedily by
               lambda * relevance - (1 - lambda) * (max cosine similarity to the items already picked),
               relevance = final score min-max normalised over the list. 1 keeps the order; 0 is pure
               novelty. Items without an embedding count as dissimilar (cosine 0) to every item.
           "top" defaults to k (the whole list when k is None).
           {"max_per_category": 2, "top": 10}    {"mmr_lambda": 0.7, "top": 20}
pin        {"item_id": "<id>", "position": <int >= 1>}
           {"item_id": "sku-42", "position": 1}
promote    {"when": <condition>, "slots": <int >= 1>, "top": <int >= slots, optional>}
               at least `slots` of the top `top` (default k) match `when`: a promotion, like a share of
               slots filled from a filter. Fewer matching candidates than slots: all are promoted, and
               `not_applied` says how many slots stayed unfilled.
           {"when": {"field": "tags", "op": "contains", "value": "sale"}, "slots": 2, "top": 10}

Every kind also takes "placements": a non-empty list of placement names (e.g. ["home", "cart"]); such a
rule applies only to requests for one of them (`applies_to`). Without it a rule applies everywhere.

Unknown keys are refused. Integers written as 3.0 are accepted as 3.
"""
from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timezone
from operator import attrgetter
from typing import Any, Callable

import numpy as np

KINDS = ("filter", "boost", "bury", "diversity", "promote", "pin")
MAX_PLACEMENT = 50  # characters of a placement name
MAX_DEPTH = 5  # deeper nesting is never needed by an admin UI and bounds evaluation cost
# A weight above 1 already lifts every matching item above every other; far larger ones only risk
# overflowing scores to inf/NaN (1e308 x the score range).
MAX_WEIGHT = 1000.0
MAX_LIST = 1000  # values in one "in" list; larger sets belong in an attribute or a tag

_STR_OPS = ("eq", "ne", "in", "not_in")
_ORDER_OPS = ("lt", "lte", "gt", "gte")
_FIELD_OPS: dict[str, tuple[str, ...]] = {
    "item_id": _STR_OPS,
    "category": _STR_OPS,
    "tags": ("contains", "in", "not_in"),
    "available": ("eq", "ne"),
    "price": ("eq", "ne", *_ORDER_OPS, "between"),
    "age_days": (*_ORDER_OPS, "between"),  # equality on a continuous age never matches in practice
}
_ATTR_OPS = ("eq", "ne", "in", "not_in", *_ORDER_OPS, "between", "contains")


class RuleError(ValueError):
    """A rule definition that cannot be applied; `field` names where ("params.when.op")."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


@dataclass
class Candidate:
    """One item of the list being ranked."""

    item_id: str
    score: float  # model score, higher is better; any real scale
    category: str = ""
    tags: list[str] = field(default_factory=list)
    attributes: dict = field(default_factory=dict)
    price: float | None = None
    available: bool = True
    created_at: datetime | None = None  # aware; a naive one is read as UTC
    embedding: np.ndarray | None = None  # L2-normalised text embedding, for MMR diversity


@dataclass
class Rule:
    id: int | str
    name: str
    kind: str
    params: dict
    priority: int = 0  # higher applies first within its stage and wins pin conflicts
    enabled: bool = True
    starts_at: datetime | None = None  # inclusive
    ends_at: datetime | None = None  # exclusive

    def is_live(self, now: datetime) -> bool:
        """Return whether the rule is enabled and `now` lies in its schedule."""
        if not self.enabled:
            return False
        if self.starts_at is not None and now < self.starts_at:
            return False
        return self.ends_at is None or now < self.ends_at


@dataclass
class Effect:
    """What one rule did to one item (or, in `not_applied`, why it did nothing)."""

    rule_id: int | str
    rule_name: str
    kind: str
    delta: float | None  # score change, for boost and bury
    detail: str
    from_position: int | None = None
    to_position: int | None = None


@dataclass
class Ranked:
    item_id: str
    score: float  # model score plus boost/bury deltas; diversity and pins move items without changing it
    model_score: float
    position: int  # 1-based
    effects: list[Effect]
    model_position: int = 0  # position by model score alone, after filters


@dataclass
class RuleOutcome:
    items: list[Ranked]
    removed: list[tuple[str, Effect]]  # filtered items with the filter that removed them
    not_applied: list[Effect] = field(default_factory=list)  # live rules that could not apply, and why


# --- validation -------------------------------------------------------------------------------------


def validate_schedule(starts_at: datetime | None, ends_at: datetime | None) -> None:
    """Raise RuleError unless both bounds are aware and the window is non-empty."""
    for name, value in (("starts_at", starts_at), ("ends_at", ends_at)):
        if value is not None and value.utcoffset() is None:
            raise RuleError(name, "must include a time zone")
    if starts_at is not None and ends_at is not None and ends_at <= starts_at:
        raise RuleError("ends_at", "must be after starts_at")


def validate_rule(kind: str, params: dict) -> dict:
    """Return the cleaned params of a rule, or raise RuleError naming the offending field."""
    if kind not in KINDS:
        raise RuleError("kind", f"unknown kind {kind!r}; expected one of {', '.join(KINDS)}")
    if not isinstance(params, dict):
        raise RuleError("params", "must be an object")
    if "placements" not in params:
        return _validate_kind(kind, params)
    placements = params["placements"]
    if (
        not isinstance(placements, list) or not placements or len(placements) > MAX_LIST
        or not all(isinstance(p, str) and 0 < len(p) <= MAX_PLACEMENT for p in placements)
    ):
        raise RuleError("params.placements", f"must be a non-empty list of names of 1 to {MAX_PLACEMENT} characters")
    cleaned = _validate_kind(kind, {key: value for key, value in params.items() if key != "placements"})
    return {**cleaned, "placements": sorted(set(placements))}


def applies_to(rule: Rule, placement: str) -> bool:
    """Return whether the rule applies to requests for this placement (rules without a list: all)."""
    placements = (rule.params or {}).get("placements") if isinstance(rule.params, dict) else None
    return not placements or placement in placements


def _validate_kind(kind: str, params: dict) -> dict:
    if kind == "filter":
        _only_keys(params, ("when",), "params")
        return {"when": _condition(_required(params, "when", "params"), "params.when", 1)}
    if kind in ("boost", "bury"):
        _only_keys(params, ("when", "weight"), "params")
        when = _condition(_required(params, "when", "params"), "params.when", 1)
        weight = _number(_required(params, "weight", "params"), "params.weight")
        if weight <= 0:
            other = "bury" if kind == "boost" else "boost"
            raise RuleError("params.weight", f"must be greater than 0 (use {other} to go the other way)")
        if weight > MAX_WEIGHT:
            raise RuleError("params.weight", f"must be at most {MAX_WEIGHT:g}")
        return {"when": when, "weight": weight}
    if kind == "diversity":
        _only_keys(params, ("max_per_category", "mmr_lambda", "top"), "params")
        modes = [key for key in ("max_per_category", "mmr_lambda") if key in params]
        if len(modes) != 1:
            raise RuleError("params", "give exactly one of max_per_category or mmr_lambda")
        cleaned: dict[str, Any] = {}
        if "top" in params:
            cleaned["top"] = _count(params["top"], "params.top")
        if modes[0] == "max_per_category":
            cleaned["max_per_category"] = _count(params["max_per_category"], "params.max_per_category")
        else:
            lam = _number(params["mmr_lambda"], "params.mmr_lambda")
            if not 0.0 <= lam <= 1.0:
                raise RuleError("params.mmr_lambda", "must be between 0 and 1")
            cleaned["mmr_lambda"] = lam
        return cleaned
    if kind == "promote":
        _only_keys(params, ("when", "slots", "top"), "params")
        cleaned = {"when": _condition(_required(params, "when", "params"), "params.when", 1),
                   "slots": _count(_required(params, "slots", "params"), "params.slots")}
        if "top" in params:
            cleaned["top"] = _count(params["top"], "params.top")
            if cleaned["top"] < cleaned["slots"]:
                raise RuleError("params.top", "must be at least slots")
        return cleaned
    _only_keys(params, ("item_id", "position"), "params")
    item_id = _required(params, "item_id", "params")
    if not isinstance(item_id, str) or not item_id:
        raise RuleError("params.item_id", "must be a non-empty string")
    return {"item_id": item_id, "position": _count(_required(params, "position", "params"), "params.position")}


def _only_keys(obj: dict, allowed: tuple[str, ...], where: str) -> None:
    for key in obj:
        if key not in allowed:
            raise RuleError(f"{where}.{key}", f"unknown key; expected {', '.join(allowed)}")


def _required(obj: dict, key: str, where: str) -> Any:
    if key not in obj:
        raise RuleError(f"{where}.{key}", "is required")
    return obj[key]


def _is_number(value: Any) -> bool:
    # bool is an int subclass in Python, but `true` is never a price or a weight
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _number(value: Any, where: str) -> float:
    if not _is_number(value) or not math.isfinite(value):
        raise RuleError(where, "must be a finite number")
    return float(value)


def _count(value: Any, where: str) -> int:
    if _is_number(value) and isinstance(value, float) and value.is_integer():
        value = int(value)
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise RuleError(where, "must be a whole number of at least 1")
    return value


def _condition(node: Any, where: str, depth: int) -> dict:
    if not isinstance(node, dict):
        raise RuleError(where, "must be an object: {field, op, value}, {all: [...]}, {any: [...]} or {not: ...}")
    if depth > MAX_DEPTH:
        raise RuleError(where, f"conditions nest at most {MAX_DEPTH} levels")
    combos = [key for key in ("all", "any", "not") if key in node]
    if combos:
        if len(node) != 1:
            raise RuleError(where, "a combination has exactly one key: all, any or not")
        key = combos[0]
        if key == "not":
            return {"not": _condition(node["not"], f"{where}.not", depth + 1)}
        parts = node[key]
        if not isinstance(parts, list) or not parts:
            raise RuleError(f"{where}.{key}", "must be a non-empty list of conditions")
        return {key: [_condition(part, f"{where}.{key}[{i}]", depth + 1) for i, part in enumerate(parts)]}
    _only_keys(node, ("field", "op", "value"), where)
    name, op = _required(node, "field", where), _required(node, "op", where)
    value = _required(node, "value", where)
    if isinstance(name, str) and name.startswith("attributes."):
        if not name[len("attributes."):]:
            raise RuleError(f"{where}.field", "name the attribute: attributes.<key>")
        ops = _ATTR_OPS
    elif isinstance(name, str) and name in _FIELD_OPS:
        ops = _FIELD_OPS[name]
    else:
        known = ", ".join(_FIELD_OPS)
        raise RuleError(f"{where}.field", f"unknown field {name!r}; expected one of {known} or attributes.<key>")
    if op not in ops:
        raise RuleError(f"{where}.op", f"{op!r} is not valid for {name}; expected one of {', '.join(ops)}")
    return {"field": name, "op": op, "value": _condition_value(name, op, value, f"{where}.value")}


def _condition_value(name: str, op: str, value: Any, where: str) -> Any:
    is_attr = name.startswith("attributes.")

    def scalar(v: Any) -> bool:
        return isinstance(v, str) or (is_attr and (isinstance(v, bool) or (_is_number(v) and math.isfinite(v))))

    what = "strings, numbers or booleans" if is_attr else "strings"
    if op in ("in", "not_in"):
        if not isinstance(value, list) or not value or len(value) > MAX_LIST:
            raise RuleError(where, f"{op} needs a list of 1 to {MAX_LIST} {what}")
        if not all(scalar(v) for v in value):
            raise RuleError(where, f"{op} needs a list of {what}")
        return list(value)
    if op == "between":
        if not isinstance(value, list) or len(value) != 2:
            raise RuleError(where, "between needs [lo, hi]")
        lo, hi = _number(value[0], f"{where}[0]"), _number(value[1], f"{where}[1]")
        if lo > hi:
            raise RuleError(where, "between needs lo <= hi")
        if name == "age_days" and lo < 0:
            raise RuleError(where, "age_days cannot be negative")
        return [lo, hi]
    if op in _ORDER_OPS or name == "price":
        number = _number(value, where)
        if name == "age_days" and number < 0:
            raise RuleError(where, "age_days cannot be negative")
        return number
    if name == "available":
        if not isinstance(value, bool):
            raise RuleError(where, "must be true or false")
        return value
    if not scalar(value):
        raise RuleError(where, f"must be one of: {what}" if is_attr else "must be a string")
    return value


# --- evaluation -------------------------------------------------------------------------------------


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    return a == b


def _lookup(name: str, item: Candidate, now: datetime) -> tuple[bool, Any]:
    """Return (present, value) of a condition field for one item."""
    if name == "age_days":
        if item.created_at is None:
            return False, None
        created = item.created_at
        if created.utcoffset() is None:
            created = created.replace(tzinfo=timezone.utc)
        return True, (now - created).total_seconds() / 86400.0
    if name.startswith("attributes."):
        value = item.attributes.get(name[len("attributes."):])
        return value is not None, value
    value = getattr(item, name)
    return value is not None, value


def _compare(name: str, op: str, actual: Any, value: Any) -> bool:
    if name == "tags":
        tags = set(actual)
        return value in tags if op == "contains" else bool(tags.intersection(value)) == (op == "in")
    if op == "eq":
        return _same(actual, value)
    if op == "ne":
        return not _same(actual, value)
    if op in ("in", "not_in"):
        return any(_same(actual, v) for v in value) == (op == "in")
    if op == "contains":
        if isinstance(actual, str):
            return isinstance(value, str) and value in actual
        return isinstance(actual, (list, tuple)) and any(_same(a, value) for a in actual)
    if not _is_number(actual):
        return False  # ordering a string against a number says nothing useful
    if op == "between":
        return value[0] <= actual <= value[1]
    return {"lt": actual < value, "lte": actual <= value, "gt": actual > value, "gte": actual >= value}[op]


def matches(condition: dict, item: Candidate, now: datetime) -> bool:
    """Return whether a validated condition holds for one item at time `now`."""
    if "all" in condition:
        return all(matches(part, item, now) for part in condition["all"])
    if "any" in condition:
        return any(matches(part, item, now) for part in condition["any"])
    if "not" in condition:
        return not matches(condition["not"], item, now)
    present, actual = _lookup(condition["field"], item, now)
    return present and _compare(condition["field"], condition["op"], actual, condition["value"])


Predicate = Callable[[Candidate, datetime], bool]


def compile_condition(condition: dict) -> Predicate:
    """Return a predicate that answers as `matches(condition, item, now)` does, built once per rule.

    A filtered list tests every candidate (hundreds per request), and matches() re-reads the condition's
    keys and walks generators each time; here that is decided once, and a membership test (`in`, `not_in`,
    `eq`, `ne` on anything but tags) becomes a set lookup. Booleans keep matches()' typed equality
    (`true` is not 1): such values, and unhashable actual values, take the generic path.
    """
    if "all" in condition:
        parts = tuple(compile_condition(part) for part in condition["all"])
        return lambda item, now: all(part(item, now) for part in parts)
    if "any" in condition:
        parts = tuple(compile_condition(part) for part in condition["any"])
        return lambda item, now: any(part(item, now) for part in parts)
    if "not" in condition:
        inner = compile_condition(condition["not"])
        return lambda item, now: not inner(item, now)
    name, op, value = condition["field"], condition["op"], condition["value"]
    value_of = _value_getter(name)

    def generic(item: Candidate, now: datetime) -> bool:
        actual = value_of(item, now)
        return actual is not None and _compare(name, op, actual, value)

    if name == "tags" or op not in ("eq", "ne", "in", "not_in"):
        return generic
    values = value if op in ("in", "not_in") else [value]
    if any(isinstance(v, bool) for v in values):
        return generic
    members, want = frozenset(values), op in ("eq", "in")

    def member(item: Candidate, now: datetime) -> bool:
        actual = value_of(item, now)
        if actual is None:
            return False
        if isinstance(actual, bool):
            return generic(item, now)
        try:
            return (actual in members) == want
        except TypeError:  # an unhashable attribute value (a list, an object)
            return generic(item, now)

    return member


def _value_getter(name: str) -> Callable[[Candidate, datetime], Any]:
    """Return (item, now) -> the field's value, None where _lookup says it is not present."""
    if name == "age_days":
        return lambda item, now: _lookup(name, item, now)[1]
    if name.startswith("attributes."):
        key = name[len("attributes."):]
        return lambda item, now: item.attributes.get(key)
    get = attrgetter(name)
    return lambda item, now: get(item)


def describe(condition: dict) -> str:
    """Return a condition as one readable line, for explanations."""
    if "all" in condition or "any" in condition:
        key = "all" if "all" in condition else "any"
        return "(" + f" {'and' if key == 'all' else 'or'} ".join(describe(part) for part in condition[key]) + ")"
    if "not" in condition:
        return f"not {describe(condition['not'])}"
    return f"{condition['field']} {condition['op']} {condition['value']!r}"


# --- application ------------------------------------------------------------------------------------


def apply_rules(
    candidates: list[Candidate], rules: list[Rule], *, k: int | None = None, now: datetime | None = None
) -> RuleOutcome:
    """Return the candidates filtered, re-ordered and cut to k by the live rules, with explanations.

    Costs O(rules x items) plus O(top x items x dim) for an MMR rule.
    """
    now = now or datetime.now(timezone.utc)
    if k is not None and k < 1:
        raise ValueError("k must be at least 1")
    ids = [c.item_id for c in candidates]
    if len(set(ids)) != len(ids):
        raise ValueError("candidates must have distinct item_id values")
    if not all(math.isfinite(c.score) for c in candidates):
        raise ValueError("candidate scores must be finite")
    stages, not_applied = _live_by_stage(rules, now)
    when = {id(p): compile_condition(p["when"]) for stage in stages.values() for _, p in stage if "when" in p}

    # 1. filters
    kept: list[int] = []
    removed: list[tuple[str, Effect]] = []
    # One effect per filter, shared by the items it removes (effects are never changed once made).
    filters = [(when[id(p)], _effect(r, None, f"removed: {describe(p['when'])}")) for r, p in stages["filter"]]
    for i, item in enumerate(candidates):
        hit = next((effect for test, effect in filters if test(item, now)), None)
        if hit is None:
            kept.append(i)
        else:
            removed.append((item.item_id, hit))

    # 2. model score
    order = sorted(kept, key=lambda i: (-candidates[i].score, i))
    model_position = {i: p for p, i in enumerate(order, 1)}
    final = {i: float(candidates[i].score) for i in order}
    effects: dict[int, list[Effect]] = {i: [] for i in order}

    # 3. boosts and buries: one spread for all, so one rule cannot inflate the next one's unit
    model_scores = [candidates[i].score for i in order]
    spread = (max(model_scores) - min(model_scores)) if order else 0.0
    spread = spread if spread > 0 else 1.0
    for rule, params in stages["boost"]:
        delta = (1 if rule.kind == "boost" else -1) * params["weight"] * spread
        test = when[id(params)]
        for i in order:
            if test(candidates[i], now):
                final[i] += delta
                detail = f"{rule.kind} {delta:+.4g} (weight {params['weight']:g} x score range {spread:.4g})"
                effects[i].append(_effect(rule, delta, detail))
    order.sort(key=lambda i: (-final[i], -candidates[i].score, i))

    # 4. diversity
    for rule, params in stages["diversity"]:
        top = min(params.get("top") or k or len(order), len(order))
        if "max_per_category" in params:
            order = _cap_categories(order, candidates, params["max_per_category"], top, rule, effects)
        else:
            order = _mmr(order, candidates, final, params["mmr_lambda"], top, rule, effects)

    # 5. promotions
    for rule, params in stages["promote"]:
        top = min(params.get("top") or k or len(order), len(order))
        order = _promote(order, candidates, params, when[id(params)], top, rule, effects, not_applied, now)

    # 6. pins
    removed_by = {item_id: effect for item_id, effect in removed}
    order = _pin(order, candidates, stages["pin"], removed_by, effects, not_applied)

    shown = order if k is None else order[:k]
    items = [
        Ranked(candidates[i].item_id, final[i], float(candidates[i].score), p, effects[i], model_position[i])
        for p, i in enumerate(shown, 1)
    ]
    return RuleOutcome(items=items, removed=removed, not_applied=not_applied)


def _effect(rule: Rule, delta: float | None, detail: str, moved: tuple[int, int] | None = None) -> Effect:
    src, dst = moved if moved else (None, None)
    return Effect(rule.id, rule.name, rule.kind, delta, detail, src, dst)


def _live_by_stage(rules: list[Rule], now: datetime) -> tuple[dict[str, list[tuple[Rule, dict]]], list[Effect]]:
    """Return live, valid rules grouped by stage in priority order, and the invalid ones as effects."""
    stages: dict[str, list[tuple[Rule, dict]]] = {"filter": [], "boost": [], "diversity": [], "promote": [], "pin": []}
    invalid: list[Effect] = []
    ranked = sorted(enumerate(rules), key=lambda pair: (-pair[1].priority, pair[0]))
    for _, rule in ranked:
        if not rule.is_live(now):
            continue
        try:
            params = validate_rule(rule.kind, rule.params)
        except RuleError as err:
            invalid.append(_effect(rule, None, f"not applied: invalid rule ({err})"))
            continue
        stages["boost" if rule.kind == "bury" else rule.kind].append((rule, params))
    return stages, invalid


def _cap_categories(
    order: list[int], items: list[Candidate], cap: int, top: int, rule: Rule, effects: dict[int, list[Effect]]
) -> list[int]:
    head: list[int] = []
    deferred: list[tuple[int, str]] = []
    in_top: Counter[str] = Counter()
    seen: Counter[str] = Counter()
    walked = 0
    for i in order:
        if len(head) == top:
            break
        walked += 1
        category = items[i].category
        seen[category] += 1
        if not category or in_top[category] < cap:
            in_top[category] += 1
            head.append(i)
        else:
            deferred.append((i, f"capped: {_ordinal(seen[category])} {category!r} item in top {top}"))
    new = head + [i for i, _ in deferred] + order[walked:]
    before = {i: p for p, i in enumerate(order, 1)}
    reasons = dict(deferred)
    for p, i in enumerate(new, 1):
        if i in reasons and p != before[i]:
            effects[i].append(_effect(rule, None, f"{reasons[i]}, moved {before[i]} -> {p}", (before[i], p)))
        elif p <= top < before[i]:
            detail = f"moved {before[i]} -> {p}: took a slot freed by the category cap"
            effects[i].append(_effect(rule, None, detail, (before[i], p)))
    return new


def _mmr(
    order: list[int],
    items: list[Candidate],
    final: dict[int, float],
    lam: float,
    top: int,
    rule: Rule,
    effects: dict[int, list[Effect]],
) -> list[int]:
    n = len(order)
    if n == 0:
        return order
    scores = np.array([final[i] for i in order])
    span = scores.max() - scores.min()
    relevance = (scores - scores.min()) / span if span > 0 else np.ones(n)
    emb = _embedding_matrix([items[i].embedding for i in order])  # (n, d), zero rows where missing
    picked: list[int] = []  # indices into `order`
    max_sim = np.zeros(n)
    free = np.ones(n, dtype=bool)
    for step in range(top):
        gain = lam * relevance - (1.0 - lam) * (max_sim if step else 0.0)
        j = int(np.argmax(np.where(free, gain, -np.inf)))  # first maximum: ties keep the current order
        picked.append(j)
        free[j] = False
        sims = emb @ emb[j]  # (n,)
        max_sim = sims if step == 0 else np.maximum(max_sim, sims)
    new_idx = picked + [j for j in range(n) if free[j]]
    new = [order[j] for j in new_idx]
    for p, j in enumerate(new_idx, 1):
        if p != j + 1 and min(p, j + 1) <= top:
            detail = f"mmr (lambda {lam:g}) in top {top}: moved {j + 1} -> {p}"
            effects[order[j]].append(_effect(rule, None, detail, (j + 1, p)))
    return new


def _embedding_matrix(vectors: list[np.ndarray | None]) -> np.ndarray:
    dims = {np.asarray(v).shape[-1] for v in vectors if v is not None}
    if len(dims) > 1:
        raise ValueError(f"candidate embeddings have different sizes: {sorted(dims)}")
    out = np.zeros((len(vectors), dims.pop() if dims else 1))
    for row, v in enumerate(vectors):
        if v is not None:
            v = np.asarray(v, dtype=float).ravel()
            norm = np.linalg.norm(v)
            out[row] = v / norm if norm > 0 else 0.0  # renormalise: callers' "normalised" drifts in float16
    return out


def _promote(
    order: list[int],
    items: list[Candidate],
    params: dict,
    test: Predicate,
    top: int,
    rule: Rule,
    effects: dict[int, list[Effect]],
    not_applied: list[Effect],
    now: datetime,
) -> list[int]:
    head, tail = order[:top], order[top:]
    hits = {i for i in order if test(items[i], now)}
    slots = min(params["slots"], top)
    need = slots - sum(i in hits for i in head)
    if need <= 0:
        return order
    pulled = [i for i in tail if i in hits][:need]
    if len(pulled) < need:
        filled = slots - need + len(pulled)
        not_applied.append(_effect(rule, None, f"not applied in full: {filled} of {slots} slots in the top {top} "
                                               f"match, the candidates hold no more"))
    if not pulled:
        return order
    dropped = [i for i in reversed(head) if i not in hits][: len(pulled)][::-1]
    new_head = [i for i in head if i not in dropped]
    for j, i in enumerate(pulled):  # evenly spread: 2 of 10 go to positions 5 and 10
        new_head.insert(max(round((j + 1) * top / len(pulled)) - 1, 0), i)
    taken = set(pulled)
    new = new_head + dropped + [i for i in tail if i not in taken]
    before = {i: p for p, i in enumerate(order, 1)}
    for p, i in enumerate(new, 1):
        if i in taken:
            detail = f"promoted: {describe(params['when'])}, moved {before[i]} -> {p}"
            effects[i].append(_effect(rule, None, detail, (before[i], p)))
        elif p != before[i] and i in dropped:
            effects[i].append(_effect(rule, None, f"moved {before[i]} -> {p}: slot given to a promoted item",
                                      (before[i], p)))
    return new


def _pin(
    order: list[int],
    items: list[Candidate],
    pins: list[tuple[Rule, dict]],
    removed_by: dict[str, Effect],
    effects: dict[int, list[Effect]],
    not_applied: list[Effect],
) -> list[int]:
    n = len(order)
    index_of = {items[i].item_id: i for i in order}
    before = {i: p for p, i in enumerate(order, 1)}
    slots: list[int | None] = [None] * n
    pinned_by: dict[int, Rule] = {}
    for rule, params in pins:
        item_id, want = params["item_id"], params["position"]
        if item_id in removed_by:
            by = removed_by[item_id].rule_name
            not_applied.append(_effect(rule, None, f"not applied: {item_id!r} was removed by filter {by!r}"))
            continue
        i = index_of.get(item_id)
        if i is None:
            not_applied.append(_effect(rule, None, f"not applied: {item_id!r} is not in the candidate list"))
            continue
        if i in pinned_by:
            by = pinned_by[i].name
            not_applied.append(_effect(rule, None, f"not applied: {item_id!r} is already pinned by rule {by!r}"))
            continue
        start = min(want, n) - 1
        later = [s for s in range(start, n) if slots[s] is None]
        slot = later[0] if later else max(s for s in range(start) if slots[s] is None)
        slots[slot] = i
        pinned_by[i] = rule
        detail = f"pinned to {slot + 1}"
        if slot + 1 != want:
            taken = slots[start]
            if want > n and slot == n - 1:
                why = f"the list has {n} items"
            else:
                why = f"slot {start + 1} taken by rule {pinned_by[taken].name!r}"
            detail += f" (asked {want}: {why})"
        detail += f", moved {before[i]} -> {slot + 1}" if before[i] != slot + 1 else " (already there)"
        effects[i].append(_effect(rule, None, detail, (before[i], slot + 1)))
    rest = iter(i for i in order if i not in pinned_by)
    return [s if s is not None else next(rest) for s in slots]


def _ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"
