"""The documented order (filters, model score, boosts/buries, diversity, pins), schedules, and guards."""
from __future__ import annotations

from datetime import timedelta

import pytest

from reranking.rules import Rule, apply_rules
from tests.rules.helpers import NOW, ids, item, rule, run, scored, when


def test_a_filter_removes_an_item_a_boost_would_have_lifted():
    items = [item("a", 3.0), item("b", 2.0), item("promo", 1.0, tags=["promo"], available=False)]
    rules = [
        rule("boost", {"when": when("tags", "contains", "promo"), "weight": 5.0}, priority=100),
        rule("filter", {"when": when("available", "eq", False)}, priority=-100),
    ]
    out = run(items, rules)
    assert ids(out) == ["a", "b"]
    assert out.removed[0][0] == "promo"


def test_a_pin_beats_a_diversity_cap():
    items = [item(f"B{n}", 10.0 - n, category="Books") for n in range(3)] + [item("M", 1.0, category="Music")]
    rules = [
        rule("diversity", {"max_per_category": 1, "top": 3}, priority=100),
        rule("pin", {"item_id": "B2", "position": 2}),
    ]
    out = run(items, rules)
    assert ids(out) == ["B0", "B2", "M", "B1"]  # two Books in the top 3: the pin wins


def test_diversity_sees_the_boosted_order():
    items = [item("A0", 3.0, category="A"), item("A1", 2.0, category="A"), item("B", 1.0, category="B")]
    rules = [
        rule("boost", {"when": when("item_id", "eq", "A1"), "weight": 2.0}),
        rule("diversity", {"max_per_category": 1, "top": 2}),
    ]
    assert ids(run(items, rules)) == ["A1", "B", "A0"]


def test_filters_run_before_the_score_range_is_taken():
    # the outlier's 100.0 would make the range 99 and the boost of 0.5 nearly nothing
    items = [item("outlier", 100.0, available=False), item("a", 2.0), item("b", 1.0, category="X")]
    rules = [
        rule("filter", {"when": when("available", "eq", False)}),
        rule("boost", {"when": when("category", "eq", "X"), "weight": 1.5}),
    ]
    assert ids(run(items, rules)) == ["b", "a"]


def test_ties_break_by_model_score_then_given_order():
    items = [item("x", 1.0), item("y", 1.0), item("z", 2.0, category="Z"), item("w", 1.0)]
    bury = rule("bury", {"when": when("category", "eq", "Z"), "weight": 1.0})  # z ends at 1.0 too
    assert ids(run(items, [bury])) == ["z", "x", "y", "w"]


def test_the_same_input_gives_the_same_output():
    items = [item(f"i{n}", (n * 37 % 11) / 10, category="AB"[n % 2]) for n in range(30)]
    rules = [
        rule("boost", {"when": when("category", "eq", "B"), "weight": 0.3}),
        rule("diversity", {"max_per_category": 3, "top": 10}),
        rule("pin", {"item_id": "i7", "position": 1}),
    ]
    assert run(items, rules, k=10) == run(items, rules, k=10)


def test_a_disabled_rule_is_skipped():
    out = run(scored("a", "b"), [rule("pin", {"item_id": "b", "position": 1}, enabled=False)])
    assert ids(out) == ["a", "b"]
    assert out.not_applied == []


@pytest.mark.parametrize(
    ("starts", "ends", "live"),
    [
        (None, None, True),
        (NOW, None, True),  # the start is inclusive
        (NOW + timedelta(seconds=1), None, False),
        (None, NOW, False),  # the end is exclusive
        (None, NOW + timedelta(seconds=1), True),
        (NOW - timedelta(days=7), NOW - timedelta(days=1), False),
    ],
)
def test_a_rule_applies_only_inside_its_schedule(starts, ends, live):
    pin = rule("pin", {"item_id": "b", "position": 1}, starts_at=starts, ends_at=ends)
    assert pin.is_live(NOW) is live
    assert ids(run(scored("a", "b"), [pin])) == (["b", "a"] if live else ["a", "b"])


def test_a_stored_rule_that_no_longer_validates_is_skipped_and_reported():
    broken = Rule(id=9, name="Old", kind="boost", params={"when": when("colour", "eq", "red"), "weight": 1})
    out = run(scored("a", "b"), [broken, rule("pin", {"item_id": "b", "position": 1})])
    assert ids(out) == ["b", "a"]
    [note] = out.not_applied
    assert note.rule_id == 9
    assert "params.when.field: unknown field 'colour'" in note.detail


def test_k_cuts_the_list_after_every_rule():
    out = run(scored("a", "b", "c", "d"), [rule("pin", {"item_id": "d", "position": 1})], k=2)
    assert ids(out) == ["d", "a"]


def test_an_empty_list_gives_an_empty_outcome():
    out = run([], [rule("pin", {"item_id": "a", "position": 1}), rule("diversity", {"mmr_lambda": 0.5})])
    assert out.items == [] and out.removed == []
    assert len(out.not_applied) == 1


def test_now_defaults_to_the_current_time():
    pin = rule("pin", {"item_id": "b", "position": 1}, ends_at=NOW)  # NOW is in the past
    assert [r.item_id for r in apply_rules(scored("a", "b"), [pin]).items] == ["a", "b"]


@pytest.mark.parametrize(
    ("items", "k", "message"),
    [
        ([item("a", 1.0), item("a", 2.0)], None, "distinct item_id"),
        ([item("a", float("nan"))], None, "finite"),
        ([item("a", 1.0)], 0, "k must be at least 1"),
    ],
)
def test_it_refuses_inputs_it_cannot_rank(items, k, message):
    with pytest.raises(ValueError, match=message):
        run(items, [], k=k)
