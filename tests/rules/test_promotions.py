"""Promotion rules (a share of the top slots from a condition) and placements, in the pure engine."""
from __future__ import annotations

import pytest

from reranking.rules import RuleError, applies_to, validate_rule

from .helpers import ids, item, rule, run, when

SALE = when("tags", "contains", "sale")


def catalogue(n: int = 12, sale: tuple[int, ...] = (10, 11)) -> list:
    return [item(f"i{n_}", 100.0 - n_, tags=["sale"] if n_ in sale else []) for n_ in range(n)]


def test_a_promotion_fills_its_slots_evenly_spread_in_the_top():
    outcome = run(catalogue(), [rule("promote", {"when": SALE, "slots": 2, "top": 10})], k=10)
    assert ids(outcome) == ["i0", "i1", "i2", "i3", "i10", "i4", "i5", "i6", "i7", "i11"]
    promoted = outcome.items[4]
    assert promoted.effects[0].kind == "promote" and "moved 11 -> 5" in promoted.effects[0].detail


def test_matching_items_already_in_the_top_count_toward_the_slots():
    outcome = run(catalogue(sale=(1, 11)), [rule("promote", {"when": SALE, "slots": 2, "top": 10})], k=10)
    assert ids(outcome) == ["i0", "i1", "i2", "i3", "i4", "i5", "i6", "i7", "i8", "i11"]
    assert run(catalogue(sale=(1, 2)), [rule("promote", {"when": SALE, "slots": 2})], k=10).items[1].effects == []


def test_too_few_matching_items_fill_what_they_can_and_say_so():
    outcome = run(catalogue(sale=(11,)), [rule("promote", {"when": SALE, "slots": 3, "top": 10})], k=10)
    assert "i11" in ids(outcome)
    assert "1 of 3 slots" in outcome.not_applied[0].detail


def test_top_defaults_to_k():
    outcome = run(catalogue(), [rule("promote", {"when": SALE, "slots": 1})], k=4)
    assert ids(outcome) == ["i0", "i1", "i2", "i10"]


def test_a_pin_still_wins_its_slot():
    rules = [rule("promote", {"when": SALE, "slots": 2, "top": 10}), rule("pin", {"item_id": "i9", "position": 5})]
    assert ids(run(catalogue(), rules, k=10))[4] == "i9"


@pytest.mark.parametrize(
    "params, field",
    [({"when": SALE}, "params.slots"), ({"when": SALE, "slots": 0}, "params.slots"),
     ({"when": SALE, "slots": 3, "top": 2}, "params.top"), ({"slots": 1}, "params.when"),
     ({"when": SALE, "slots": 1, "share": 0.2}, "params.share")],
)
def test_bad_promotions_are_refused_naming_the_field(params, field):
    with pytest.raises(RuleError) as exc:
        validate_rule("promote", params)
    assert exc.value.field == field


def test_placements_limit_where_a_rule_applies():
    params = validate_rule("boost", {"when": SALE, "weight": 1, "placements": ["home", "cart", "home"]})
    assert params["placements"] == ["cart", "home"]
    limited = rule("boost", params)
    assert applies_to(limited, "home") and not applies_to(limited, "email")
    assert applies_to(rule("boost", {"when": SALE, "weight": 1}), "email")


@pytest.mark.parametrize("placements", [[], "home", [""], [1], ["x" * 51]])
def test_bad_placement_lists_are_refused(placements):
    with pytest.raises(RuleError) as exc:
        validate_rule("pin", {"item_id": "a", "position": 1, "placements": placements})
    assert exc.value.field == "params.placements"
