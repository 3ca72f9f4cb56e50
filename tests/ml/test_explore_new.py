"""Exploration slots for items added since training (artifact.explore_new)."""
from __future__ import annotations

from reranking.ml.artifact import explore_new

RANKED = [(f"old-{n}", 1.0 - n / 100) for n in range(12)] + [("new-a", 0.5), ("new-b", 0.4), ("new-c", 0.3)]
NEW = {"new-a", "new-b", "new-c"}


def ids(pairs):
    return [item for item, _ in pairs]


def test_two_of_ten_places_go_to_the_best_new_items_spread_out():
    out = ids(explore_new(RANKED, NEW, 0.2))
    assert out[4] == "new-a" and out[9] == "new-b", "evenly spread, the better one first"
    assert [i for i in out[:10] if i.startswith("old")] == [f"old-{n}" for n in range(8)], "the rest keep their order"
    assert sorted(out) == sorted(ids(RANKED)), "nothing lost or repeated"


def test_no_exploration_or_no_new_items_leaves_the_list_as_it_was():
    assert explore_new(RANKED, NEW, 0.0) == RANKED
    assert explore_new(RANKED, set(), 0.2) == RANKED


def test_a_new_item_already_high_counts_as_a_slot_and_never_moves_down():
    ranked = [("new-a", 0.9)] + RANKED[:12] + [("new-b", 0.4), ("new-c", 0.3)]
    out = ids(explore_new(ranked, NEW, 0.2))
    assert out[0] == "new-a" and out[9] == "new-b", "one slot taken already: one more item moves up"
    assert out.index("new-c") > 9


def test_a_short_list_is_not_padded():
    ranked = [("old-0", 0.8), ("old-1", 0.7), ("new-a", 0.1)]
    assert ids(explore_new(ranked, {"new-a"}, 0.2)) == ["old-0", "old-1", "new-a"]


def test_new_items_that_catch_on_join_the_list_although_their_text_is_far(trained):
    """The second newer-item source: events since an item was added, not only its text."""
    import numpy as np

    from reranking.ml.artifact import History

    model = trained.model
    history = History(item_ids=["i0_3", "i0_4", "i0_5"])
    head = [i for i, _ in model.recommend([history], k=30)[0]]
    rng = np.random.default_rng(1)
    centre = np.mean([model.text_vectors(history.item_ids)[i] for i in history.item_ids], axis=0)
    near = centre + 0.05 * rng.normal(size=(25, 384))  # 25 new items that read like the history
    far = -centre + 0.05 * rng.normal(size=(1, 384))  # one that reads like nothing in it
    matrix = np.vstack([near, far]).astype(np.float32)
    new_ids = [f"near-{n}" for n in range(25)] + ["far-hit"]
    by_text = model.rerank_with_new(history, head, new_ids, matrix, n_near=5)
    assert "far-hit" not in ids(by_text)
    counts = np.zeros(26)
    counts[-1] = 40  # forty events since it was added
    with_counts = model.rerank_with_new(history, head, new_ids, matrix, n_near=5, new_counts=counts)
    assert "far-hit" in ids(with_counts)
    explored = ids(model.rerank_with_new(history, head, new_ids, matrix, n_near=5, new_counts=counts, explore=0.2))
    assert sum(item in set(new_ids) for item in explored[:10]) >= 2, "two of the first ten places explore new items"
