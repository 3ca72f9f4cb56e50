"""Each ranked item explains itself: model score, final score, and which rules moved it by how much."""
from __future__ import annotations

import dataclasses
import json

import pytest

from tests.rules.helpers import item, rule, run, when


def test_each_item_lists_the_rules_that_moved_it_with_deltas_in_priority_order():
    items = [item("a", 4.0), item("b", 3.0), item("c", 2.0, category="Sale", tags=["old"]), item("d", 0.0)]
    sale = rule("boost", {"when": when("category", "eq", "Sale"), "weight": 0.75}, name="Sale", priority=2)
    old = rule("bury", {"when": when("tags", "contains", "old"), "weight": 0.25}, name="Old stock", priority=1)
    hero = rule("pin", {"item_id": "d", "position": 1}, name="Hero")
    out = run(items, [old, sale, hero])

    by_id = {r.item_id: r for r in out.items}
    c = by_id["c"]
    assert (c.model_score, c.model_position) == (2.0, 3)
    assert [(e.rule_name, e.kind, e.delta) for e in c.effects] == [("Sale", "boost", 3.0), ("Old stock", "bury", -1.0)]
    assert c.effects[0].detail == "boost +3 (weight 0.75 x score range 4)"
    assert c.score == pytest.approx(2.0 + 3.0 - 1.0)
    assert [r.item_id for r in out.items] == ["d", "a", "c", "b"]
    assert by_id["d"].effects[0].detail == "pinned to 1, moved 4 -> 1"
    assert by_id["a"].effects == [] and by_id["a"].score == by_id["a"].model_score


def test_the_outcome_serialises_to_json():
    items = [item("a", 1.0), item("b", 0.5, available=False)]
    out = run(items, [rule("filter", {"when": when("available", "eq", False)})])
    text = json.dumps(dataclasses.asdict(out))
    assert '"removed: available eq False"' in text
