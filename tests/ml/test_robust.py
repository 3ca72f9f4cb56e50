"""The new-user bound: however many new accounts push an item, at most max(floor, established) of them count."""
from __future__ import annotations

import numpy as np

from reranking.ml.data import Dataset
from reranking.ml.robust import DAY, bound_new_users
from reranking.ml.train import train
from tests.ml.conftest import make_walk_dataset, random_embeddings, small_config

NOW = 1_000 * DAY
FAKE = 100_000  # first fake user id


def events(*rows: tuple[int, int, float]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    users, items, times = zip(*rows)
    return np.array(users), np.array(items), np.array(times, dtype=float)


def crowd(n_fake: int, established: int, target: int = 0, other: int = 1) -> list[tuple[int, int, float]]:
    """`established` old users on the target, 5,000 on a popular `other`; `n_fake` new users on both."""
    rows = [(u, target, NOW - 100 * DAY + u) for u in range(established)]
    rows += [(u, other, NOW - 100 * DAY) for u in range(established, established + 5_000)]
    for k in range(n_fake):
        u = FAKE + k
        rows += [(u, other, NOW - DAY + 10 * k), (u, target, NOW - DAY + 10 * k + 5)]
    return rows


def kept_users(users, items, keep, item: int) -> set[int]:
    return set(users[(items == item) & keep].tolist())


def test_a_crowd_of_new_users_counts_as_the_floor_on_an_unpopular_item():
    users, items, times = events(*crowd(n_fake=200, established=3))
    bound = bound_new_users(users, items, times, days=7, floor=10)
    fakes_on_target = kept_users(users, items, bound.keep, 0) - set(range(3))
    assert fakes_on_target == set(range(FAKE, FAKE + 10)), "the ten earliest new users count"
    assert kept_users(users, items, bound.keep, 1) >= set(range(FAKE, FAKE + 200)), "their other events all stay"
    assert (bound.new_users, bound.items_capped, bound.events_left_out) == (200, 1, 190)


def test_the_bound_does_not_grow_with_the_crowd():
    counted = []
    for n_fake in (20, 200, 2_000):
        users, items, times = events(*crowd(n_fake=n_fake, established=3))
        keep = bound_new_users(users, items, times, days=7, floor=10).keep
        counted.append(len(kept_users(users, items, keep, 0)))
    assert counted == [13, 13, 13]


def test_an_item_established_users_like_lets_as_many_new_users_in():
    users, items, times = events(*crowd(n_fake=40, established=50))
    bound = bound_new_users(users, items, times, days=7, floor=10)
    assert len(kept_users(users, items, bound.keep, 0)) == 50 + 40, "the target: 50 established, all 40 new count"
    assert len(kept_users(users, items, bound.keep, 1)) == 5_000 + 40


def test_users_past_the_window_count_in_full_and_zero_days_is_off():
    users, items, times = events(*crowd(n_fake=200, established=3))
    older = times - 10 * DAY * (users >= FAKE)  # the same crowd, ten days earlier
    assert bound_new_users(users, items, older, days=7, floor=10, now=NOW).keep.all()
    assert bound_new_users(users, items, times, days=0, floor=10).keep.all()


def test_a_young_tenant_without_enough_established_users_is_not_bounded():
    users, items, times = events(*crowd(n_fake=200, established=3))  # 5,003 established users
    assert not bound_new_users(users, items, times, days=7, floor=10, min_established=5_003).keep.all()
    assert bound_new_users(users, items, times, days=7, floor=10, min_established=5_004).keep.all()


def test_subset_drops_users_left_without_events_and_renumbers_the_rest():
    ds = Dataset.from_arrays(["a", "b"], ["A", "B"], ["x", "y", "y", "z"], ["a", "b", "a", "b"], [1.0, 2.0, 3.0, 4.0])
    sub = ds.subset(np.array([True, False, False, True]))
    assert sub.user_ids == ["x", "z"] and sub.event_users.tolist() == [0, 1]
    assert [sub.item_ids[i] for i in sub.event_items] == ["a", "b"] and sub.timestamps.tolist() == [1.0, 4.0]


def test_training_leaves_the_crowd_out_and_reports_it():
    ds = make_walk_dataset(n_users=120, seed=4)
    end = float(ds.timestamps.max())
    users = list(ds.user_ids[u] for u in ds.event_users) + [f"fake{k}" for k in range(60)]
    items = [ds.item_ids[i] for i in ds.event_items] + [ds.item_ids[7]] * 60
    times = list(ds.timestamps) + [end + 60.0 * k for k in range(60)]
    attacked = Dataset.from_arrays(ds.item_ids, ds.item_texts, users, items, times)
    config = small_config(max_epochs=1, new_user_days=7, new_user_item_floor=5, new_user_min_established=0)
    result = train(attacked, config, item_embeddings=random_embeddings(ds.n_items), evaluate=False)
    direct = bound_new_users(attacked.event_users, attacked.event_items, attacked.timestamps, days=7, floor=5)
    assert result.metrics["new_user_bound"] == {
        "new_users": direct.new_users, "items_capped": direct.items_capped, "events_left_out": direct.events_left_out,
    }
    fake = np.array([attacked.user_ids[u].startswith("fake") for u in attacked.event_users])
    honest_on_target = len(set(attacked.event_users[(attacked.event_items == 7) & ~fake].tolist()))
    assert (fake & direct.keep).sum() <= max(5, honest_on_target) < 60
    assert direct.items_capped >= 1
