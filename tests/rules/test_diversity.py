"""Diversity: a per-category cap in the top k, or an MMR trade-off over text embeddings."""
from __future__ import annotations

import numpy as np

from tests.rules.helpers import ids, item, rule, run


def catalogue(categories: str) -> list:
    """Return candidates best first, item i in category categories[i] (one letter each)."""
    return [item(f"{c}{n}", 100.0 - n, category=c) for n, c in enumerate(categories)]


def test_a_category_cap_defers_extra_items_to_just_after_the_top():
    out = run(catalogue("BBBMBF"), [rule("diversity", {"max_per_category": 2, "top": 4})])
    assert ids(out) == ["B0", "B1", "M3", "F5", "B2", "B4"]


def test_a_capped_item_explains_the_cap_and_its_move():
    cap = rule("diversity", {"max_per_category": 2, "top": 4}, name="Variety")
    out = run(catalogue("BBBMBF"), [cap])
    b2 = next(r for r in out.items if r.item_id == "B2")
    [effect] = b2.effects
    assert effect.detail == "capped: 3rd 'B' item in top 4, moved 3 -> 5"
    assert (effect.rule_name, effect.from_position, effect.to_position) == ("Variety", 3, 5)
    f5 = next(r for r in out.items if r.item_id == "F5")
    assert f5.effects[0].detail == "moved 6 -> 4: took a slot freed by the category cap"


def test_the_cap_only_holds_in_the_top_and_the_rest_keeps_its_order():
    out = run(catalogue("AABBCCAA"), [rule("diversity", {"max_per_category": 1, "top": 3})])
    assert ids(out) == ["A0", "B2", "C4", "A1", "B3", "C5", "A6", "A7"]


def test_the_cap_is_relaxed_when_too_few_other_items_remain():
    out = run(catalogue("BBBBM"), [rule("diversity", {"max_per_category": 1, "top": 4})])
    assert ids(out) == ["B0", "M4", "B1", "B2", "B3"]


def test_items_without_a_category_are_never_capped():
    items = catalogue("BB") + [item("x", 50.0), item("y", 49.0)]
    out = run(items, [rule("diversity", {"max_per_category": 1, "top": 3})])
    assert ids(out) == ["B0", "x", "y", "B1"]


def test_the_cap_window_defaults_to_k():
    rules = [rule("diversity", {"max_per_category": 1})]
    assert ids(run(catalogue("AAB"), rules, k=2)) == ["A0", "B2"]
    assert ids(run(catalogue("AAAB"), rules)) == ["A0", "B3", "A1", "A2"]  # no k: the whole list


def test_two_diversity_rules_apply_in_priority_order():
    strict = rule("diversity", {"max_per_category": 1, "top": 3}, priority=1)
    loose = rule("diversity", {"max_per_category": 2, "top": 3}, priority=9)
    out = run(catalogue("AAABC"), [strict, loose])
    assert ids(out)[:3] == ["A0", "B3", "C4"]  # the strict rule runs last and has the final word


def unit(*xs: float) -> np.ndarray:
    v = np.array(xs, dtype=float)
    return v / np.linalg.norm(v)


def near_duplicates() -> list:
    """Three near-identical items on top, one different item just below them."""
    return [
        item("a", 1.0, embedding=unit(1, 0.00, 0)),
        item("a2", 0.95, embedding=unit(1, 0.05, 0)),
        item("a3", 0.9, embedding=unit(1, 0.10, 0)),
        item("z", 0.8, embedding=unit(0, 0, 1)),
        item("low", 0.0, embedding=unit(0, 1, 0)),
    ]


def test_mmr_with_lambda_one_keeps_the_order():
    out = run(near_duplicates(), [rule("diversity", {"mmr_lambda": 1.0, "top": 5})])
    assert ids(out) == ["a", "a2", "a3", "z", "low"]
    assert not any(r.effects for r in out.items)


def test_mmr_lifts_a_dissimilar_item_above_near_duplicates():
    out = run(near_duplicates(), [rule("diversity", {"mmr_lambda": 0.5, "top": 3})])
    assert ids(out)[:2] == ["a", "z"]
    z = out.items[1]
    assert z.effects[0].detail == "mmr (lambda 0.5) in top 3: moved 4 -> 2"


def test_mmr_with_lambda_zero_maximises_novelty_after_the_first_pick():
    out = run(near_duplicates(), [rule("diversity", {"mmr_lambda": 0.0, "top": 3})])
    assert ids(out)[0] == "a"  # nothing picked yet: every gain is 0 and the tie keeps the order
    assert set(ids(out)[1:3]) == {"z", "low"}  # orthogonal to "a"


def test_items_without_embeddings_count_as_dissimilar():
    items = near_duplicates()
    items[3].embedding = None
    out = run(items, [rule("diversity", {"mmr_lambda": 0.5, "top": 3})])
    assert ids(out)[:2] == ["a", "z"]


def test_mmr_only_reorders_within_the_top_and_keeps_the_rest_in_order():
    items = near_duplicates() + [item("tail1", -1.0), item("tail2", -2.0)]
    out = run(items, [rule("diversity", {"mmr_lambda": 0.5, "top": 2})])
    assert ids(out) == ["a", "z", "a2", "a3", "low", "tail1", "tail2"]
