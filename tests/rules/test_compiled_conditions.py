"""compile_condition answers as matches() does, for every field, op and awkward value (random conditions)."""
from __future__ import annotations

import random
from datetime import timedelta
from decimal import Decimal

import pytest

from reranking.rules import RuleError, compile_condition, matches, validate_rule
from tests.rules.helpers import NOW, item

# Values that differ in type but may compare equal: booleans against 1 and 0, ints against floats,
# Decimals (prices read from the database), strings that look like numbers, lists and None.
VALUES = [True, False, 1, 0, 1.0, 2, 2.5, "1", "a", "b", "Books", "", Decimal("2.50"), None, ["a", "b"], {"k": 1}]
FIELDS = ["item_id", "category", "tags", "price", "available", "age_days", "attributes.x", "attributes.y"]
OPS = ["eq", "ne", "in", "not_in", "contains", "lt", "lte", "gt", "gte", "between"]


def random_condition(rng: random.Random, depth: int = 0) -> dict:
    if depth < 2 and rng.random() < 0.3:
        kind = rng.choice(["all", "any", "not"])
        if kind == "not":
            return {"not": random_condition(rng, depth + 1)}
        return {kind: [random_condition(rng, depth + 1) for _ in range(rng.randint(1, 3))]}
    op = rng.choice(OPS)
    if op in ("in", "not_in"):
        value = rng.sample([v for v in VALUES if v is not None and not isinstance(v, (list, dict))], rng.randint(1, 4))
    elif op == "between":
        value = sorted(rng.sample([0, 1, 2, 2.5, 10], 2))
    else:
        value = rng.choice(VALUES)
    return {"field": rng.choice(FIELDS), "op": op, "value": value}


def random_item(rng: random.Random):
    return item(
        f"i{rng.randint(0, 3)}", 1.0, category=rng.choice(["Books", "a", "", "1"]),
        tags=rng.sample(["a", "b", "Books", "1"], rng.randint(0, 3)),
        price=rng.choice([None, 1, 2.5, Decimal("2.50"), 0.0, 10]), available=rng.choice([True, False]),
        attributes={key: rng.choice(VALUES) for key in ("x", "y") if rng.random() < 0.8},
        created_at=rng.choice([None, NOW - timedelta(days=rng.choice([0, 1, 2.5, 30]))]),
    )


def test_compiled_conditions_answer_as_matches_does():
    rng = random.Random(7)
    compared = 0
    for _ in range(6000):
        try:
            condition = validate_rule("filter", {"when": random_condition(rng)})["when"]
        except RuleError:
            continue  # invalid combinations of field, op and value: never reach evaluation
        test = compile_condition(condition)
        for _ in range(8):
            candidate = random_item(rng)
            assert test(candidate, NOW) is matches(condition, candidate, NOW), (condition, candidate)
            compared += 1
    assert compared > 5000  # enough valid conditions were drawn for the comparison to mean something


@pytest.mark.parametrize(("actual", "value", "op", "expected"), [
    (True, [1, "x"], "in", False),  # typed equality: true is not 1
    (1, [True], "in", False),
    (["a"], ["a"], "in", False),  # an unhashable attribute value takes the generic path
    (2, [2.0], "in", True),
    (None, ["a"], "not_in", False),  # a missing attribute matches neither in nor not_in
])
def test_membership_edge_cases(actual, value, op, expected):
    condition = validate_rule("filter", {"when": {"field": "attributes.x", "op": op, "value": value}})["when"]
    candidate = item("i", 1.0, attributes={} if actual is None else {"x": actual})
    assert matches(condition, candidate, NOW) is expected
    assert compile_condition(condition)(candidate, NOW) is expected
