"""Filters remove items; boosts and buries move them by weight x the list's score range."""
from __future__ import annotations

from datetime import timedelta

import pytest

from tests.rules.helpers import NOW, ids, item, rule, run, scored, when


def test_a_filter_removes_matching_items_and_reports_the_rule():
    items = [item("a", 3.0), item("b", 2.0, available=False), item("c", 1.0)]
    unavailable = rule("filter", {"when": when("available", "eq", False)}, name="Unavailable")
    out = run(items, [unavailable])
    assert ids(out) == ["a", "c"]
    [(removed_id, effect)] = out.removed
    assert removed_id == "b"
    assert (effect.rule_id, effect.rule_name, effect.kind) == (unavailable.id, "Unavailable", "filter")
    assert effect.detail == "removed: available eq False"
    assert effect.delta is None


def test_an_item_matching_two_filters_is_credited_to_the_higher_priority_one():
    items = [item("a", 1.0, category="Books", available=False)]
    low = rule("filter", {"when": when("available", "eq", False)}, priority=1)
    high = rule("filter", {"when": when("category", "eq", "Books")}, priority=5)
    out = run(items, [low, high])
    assert [(i, e.rule_id) for i, e in out.removed] == [("a", high.id)]


def test_without_rules_items_come_back_in_model_score_order():
    items = [item("low", 0.1), item("high", 0.9), item("mid", 0.5)]
    out = run(items, [])
    assert ids(out) == ["high", "mid", "low"]
    assert [r.position for r in out.items] == [1, 2, 3]
    assert all(r.score == r.model_score and not r.effects for r in out.items)


def test_a_boost_adds_weight_times_the_score_range():
    items = [item("a", 5.0), item("b", 3.0), item("c", 1.0, category="Sale")]
    boost = rule("boost", {"when": when("category", "eq", "Sale"), "weight": 0.75})
    out = run(items, [boost])
    assert ids(out) == ["a", "c", "b"]  # 1 + 0.75 * (5 - 1) = 4, between 5 and 3
    c = out.items[1]
    assert c.score == pytest.approx(4.0)
    assert c.effects[0].delta == pytest.approx(3.0)


def test_a_bury_subtracts_weight_times_the_score_range():
    items = [item("a", 5.0, attributes={"brand": "Acme"}), item("b", 3.0), item("c", 1.0)]
    bury = rule("bury", {"when": when("attributes.brand", "eq", "Acme"), "weight": 0.6})
    out = run(items, [bury])
    assert ids(out) == ["b", "a", "c"]  # 5 - 0.6 * 4 = 2.6
    assert out.items[1].effects[0].delta == pytest.approx(-2.4)


def test_a_weight_above_one_lifts_every_match_above_every_other_item():
    items = scored("a", "b", "c", "d", "e")
    items[3].tags = ["promo"]
    items[4].tags = ["promo"]
    out = run(items, [rule("boost", {"when": when("tags", "contains", "promo"), "weight": 1.01})])
    assert ids(out) == ["d", "e", "a", "b", "c"]


def test_a_weight_of_one_ties_the_worst_with_the_best_and_the_model_score_breaks_it():
    items = [item("a", 2.0), item("b", 1.0, category="X")]
    out = run(items, [rule("boost", {"when": when("category", "eq", "X"), "weight": 1.0})])
    assert ids(out) == ["a", "b"]
    assert out.items[0].score == out.items[1].score


@pytest.mark.parametrize(("factor", "shift"), [(100.0, 0.0), (0.001, 0.0), (1.0, -50.0), (37.0, 12.0)])
def test_weights_mean_the_same_whatever_the_score_scale(factor, shift):
    base = [0.91, 0.8, 0.62, 0.5, 0.33, 0.2, 0.05]
    cats = ["A", "B", "A", "C", "B", "C", "A"]
    rules = [
        rule("boost", {"when": when("category", "eq", "C"), "weight": 0.4}),
        rule("bury", {"when": when("category", "eq", "A"), "weight": 0.25}),
    ]

    def order(scale: float, offset: float) -> list[str]:
        items = [item(f"i{n}", s * scale + offset, category=c) for n, (s, c) in enumerate(zip(base, cats))]
        return ids(run(items, rules))

    assert order(factor, shift) == order(1.0, 0.0)
    assert order(1.0, 0.0) != [f"i{n}" for n in range(len(base))]  # the rules did move something


def test_deltas_scale_with_the_scores():
    items = [item("a", 1.0), item("b", 0.0, category="X")]
    boost = rule("boost", {"when": when("category", "eq", "X"), "weight": 0.5})
    small = run(items, [boost]).items
    big = run([item("a", 100.0), item("b", 0.0, category="X")], [boost]).items
    assert big[-1].effects[0].delta == pytest.approx(100 * small[-1].effects[0].delta)


def test_when_all_scores_are_equal_the_range_counts_as_one():
    items = [item("a", 0.5), item("b", 0.5, category="X"), item("c", 0.5)]
    out = run(items, [rule("boost", {"when": when("category", "eq", "X"), "weight": 0.1})])
    assert ids(out) == ["b", "a", "c"]
    assert out.items[0].effects[0].delta == pytest.approx(0.1)


def test_boosts_and_buries_on_one_item_add_up():
    items = [item("a", 3.0), item("b", 2.0), item("c", 1.0, category="X", tags=["old"])]
    rules = [
        rule("boost", {"when": when("category", "eq", "X"), "weight": 0.95}),
        rule("bury", {"when": when("tags", "contains", "old"), "weight": 0.4}),
    ]
    out = run(items, rules)
    c = next(r for r in out.items if r.item_id == "c")
    assert c.score == pytest.approx(1.0 + (0.95 - 0.4) * 2.0)  # 2.1, just above b
    assert ids(out) == ["a", "c", "b"]


def test_a_freshness_boost_lifts_recent_items():
    items = [
        item("old", 3.0, created_at=NOW - timedelta(days=90)),
        item("fresh", 2.0, created_at=NOW - timedelta(days=2)),
        item("undated", 1.0),
    ]
    out = run(items, [rule("boost", {"when": when("age_days", "lte", 7), "weight": 0.6})])
    assert ids(out) == ["fresh", "old", "undated"]


def test_a_price_range_boost_lifts_items_in_the_range():
    items = [item("dear", 3.0, price=99.0), item("mid", 2.0, price=20.0), item("cheap", 1.0, price=5.0)]
    out = run(items, [rule("boost", {"when": when("price", "between", [10, 25]), "weight": 0.6})])
    assert ids(out) == ["mid", "dear", "cheap"]
