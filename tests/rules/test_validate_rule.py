"""A rule that cannot be applied is refused when saved, with a message naming the field."""
from __future__ import annotations

from datetime import datetime, timezone

import pytest

from reranking.rules import KINDS, RuleError, validate_rule, validate_schedule

OK = {"field": "category", "op": "eq", "value": "Books"}


def nest(depth: int) -> dict:
    node: dict = OK
    for _ in range(depth):
        node = {"not": node}
    return node


MALFORMED = [
    # (kind, params, field named in the error)
    ("sort", {}, "kind"),
    ("filter", ["when"], "params"),
    ("filter", {}, "params.when"),
    ("filter", {"when": OK, "weight": 1}, "params.weight"),
    ("filter", {"when": "available"}, "params.when"),
    ("filter", {"when": {"field": "colour", "op": "eq", "value": "red"}}, "params.when.field"),
    ("filter", {"when": {"field": "attributes.", "op": "eq", "value": "red"}}, "params.when.field"),
    ("filter", {"when": {"field": "category", "op": "lt", "value": "A"}}, "params.when.op"),
    ("filter", {"when": {"field": "category", "op": "like", "value": "A"}}, "params.when.op"),
    ("filter", {"when": {"field": "age_days", "op": "eq", "value": 3}}, "params.when.op"),
    ("filter", {"when": {"field": "tags", "op": "eq", "value": "new"}}, "params.when.op"),
    ("filter", {"when": {"field": "category", "op": "eq"}}, "params.when.value"),
    ("filter", {"when": {"field": "category", "op": "eq", "value": 3}}, "params.when.value"),
    ("filter", {"when": {"field": "category", "op": "in", "value": "Books"}}, "params.when.value"),
    ("filter", {"when": {"field": "category", "op": "in", "value": []}}, "params.when.value"),
    ("filter", {"when": {"field": "item_id", "op": "not_in", "value": ["a", 2]}}, "params.when.value"),
    ("filter", {"when": {"field": "price", "op": "lt", "value": "10"}}, "params.when.value"),
    ("filter", {"when": {"field": "price", "op": "gte", "value": True}}, "params.when.value"),
    ("filter", {"when": {"field": "price", "op": "between", "value": [20, 10]}}, "params.when.value"),
    ("filter", {"when": {"field": "price", "op": "between", "value": [1, "x"]}}, "params.when.value[1]"),
    ("filter", {"when": {"field": "price", "op": "between", "value": 5}}, "params.when.value"),
    ("filter", {"when": {"field": "age_days", "op": "lt", "value": -1}}, "params.when.value"),
    ("filter", {"when": {"field": "available", "op": "eq", "value": "no"}}, "params.when.value"),
    ("filter", {"when": {"field": "attributes.size", "op": "lt", "value": "L"}}, "params.when.value"),
    ("filter", {"when": {"field": "attributes.size", "op": "eq", "value": {"a": 1}}}, "params.when.value"),
    ("filter", {"when": {"field": "category", "op": "eq", "value": "A", "weight": 2}}, "params.when.weight"),
    ("filter", {"when": {"all": []}}, "params.when.all"),
    ("filter", {"when": {"any": OK}}, "params.when.any"),
    ("filter", {"when": {"any": [OK, {"field": "category", "op": "eq"}]}}, "params.when.any[1].value"),
    ("filter", {"when": {"all": [OK], "any": [OK]}}, "params.when"),
    ("filter", {"when": {"not": {"field": "price", "op": "in", "value": [1]}}}, "params.when.not.op"),
    ("filter", {"when": nest(5)}, "params.when.not.not.not.not.not"),
    ("boost", {"when": OK}, "params.weight"),
    ("boost", {"weight": 1}, "params.when"),
    ("boost", {"when": OK, "weight": -0.5}, "params.weight"),
    ("bury", {"when": OK, "weight": 0}, "params.weight"),
    ("boost", {"when": OK, "weight": "0.5"}, "params.weight"),
    ("boost", {"when": OK, "weight": float("nan")}, "params.weight"),
    ("boost", {"when": OK, "weight": float("inf")}, "params.weight"),
    ("bury", {"when": OK, "weight": True}, "params.weight"),
    ("diversity", {}, "params"),
    ("diversity", {"max_per_category": 2, "mmr_lambda": 0.5}, "params"),
    ("diversity", {"max_per_category": 0}, "params.max_per_category"),
    ("diversity", {"max_per_category": 1.5}, "params.max_per_category"),
    ("diversity", {"mmr_lambda": 1.5}, "params.mmr_lambda"),
    ("diversity", {"mmr_lambda": -0.1}, "params.mmr_lambda"),
    ("diversity", {"mmr_lambda": "high"}, "params.mmr_lambda"),
    ("diversity", {"mmr_lambda": 0.5, "top": 0}, "params.top"),
    ("diversity", {"max_per_category": 2, "top": "10"}, "params.top"),
    ("diversity", {"max_per_category": 2, "per": "brand"}, "params.per"),
    ("pin", {"item_id": "a", "position": 0}, "params.position"),
    ("pin", {"item_id": "a", "position": -3}, "params.position"),
    ("pin", {"item_id": "a", "position": True}, "params.position"),
    ("pin", {"item_id": "a"}, "params.position"),
    ("pin", {"position": 1}, "params.item_id"),
    ("pin", {"item_id": "", "position": 1}, "params.item_id"),
    ("pin", {"item_id": 42, "position": 1}, "params.item_id"),
]


@pytest.mark.parametrize(("kind", "params", "field"), MALFORMED)
def test_it_refuses_a_malformed_rule_naming_the_field(kind, params, field):
    with pytest.raises(RuleError) as caught:
        validate_rule(kind, params)
    err = caught.value
    assert err.field == field
    assert err.message
    assert str(err) == f"{field}: {err.message}"


def test_rule_error_is_a_value_error():
    assert issubclass(RuleError, ValueError)


def test_unknown_kind_message_lists_the_kinds():
    with pytest.raises(RuleError, match="filter, boost, bury, diversity, promote, pin"):
        validate_rule("teleport", {})


def test_bad_op_message_lists_the_ops_valid_for_the_field():
    with pytest.raises(RuleError, match="expected one of contains, in, not_in"):
        validate_rule("filter", {"when": {"field": "tags", "op": "eq", "value": "x"}})


DOCUMENTED_EXAMPLES = [
    ("filter", {"when": {"field": "available", "op": "eq", "value": False}}),
    ("boost", {"when": {"field": "category", "op": "in", "value": ["Books", "Music"]}, "weight": 0.2}),
    ("boost", {"when": {"field": "age_days", "op": "lte", "value": 7}, "weight": 0.3}),
    ("boost", {"when": {"field": "price", "op": "between", "value": [10, 25]}, "weight": 0.1}),
    ("bury", {"when": {"field": "attributes.brand", "op": "eq", "value": "Acme"}, "weight": 0.5}),
    ("diversity", {"max_per_category": 2, "top": 10}),
    ("diversity", {"mmr_lambda": 0.7, "top": 20}),
    ("pin", {"item_id": "sku-42", "position": 1}),
    ("promote", {"when": {"field": "tags", "op": "contains", "value": "sale"}, "slots": 2, "top": 10}),
    ("filter", {"when": {"all": [OK, {"not": {"field": "tags", "op": "contains", "value": "new"}}]}}),
    ("filter", {"when": {"any": [OK, {"field": "attributes.colors", "op": "contains", "value": "red"}]}}),
    ("filter", {"when": nest(4)}),
]


@pytest.mark.parametrize(("kind", "params"), DOCUMENTED_EXAMPLES)
def test_it_accepts_the_documented_examples(kind, params):
    assert validate_rule(kind, params) == validate_rule(kind, validate_rule(kind, params))


def test_every_kind_has_a_documented_example():
    assert {kind for kind, _ in DOCUMENTED_EXAMPLES} == set(KINDS)


def test_it_cleans_numbers_to_their_canonical_types():
    assert validate_rule("boost", {"when": OK, "weight": 2}) == {"when": OK, "weight": 2.0}
    assert validate_rule("pin", {"item_id": "a", "position": 3.0}) == {"item_id": "a", "position": 3}
    cleaned = validate_rule("filter", {"when": {"field": "price", "op": "between", "value": [1, 2]}})
    assert cleaned["when"]["value"] == [1.0, 2.0]


def test_it_refuses_a_naive_schedule():
    with pytest.raises(RuleError) as caught:
        validate_schedule(datetime(2025, 1, 1), None)
    assert caught.value.field == "starts_at"


def test_it_refuses_a_schedule_that_ends_before_it_starts():
    start = datetime(2025, 1, 2, tzinfo=timezone.utc)
    with pytest.raises(RuleError) as caught:
        validate_schedule(start, datetime(2025, 1, 1, tzinfo=timezone.utc))
    assert caught.value.field == "ends_at"
    validate_schedule(start, None)
    validate_schedule(None, None)
