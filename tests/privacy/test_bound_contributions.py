"""Contribution bounding keeps at most m rows per user, chosen at random, and every row of light users."""
from __future__ import annotations

import numpy as np
import pytest

from reranking.dp import bound_contributions, make_rng


def test_it_keeps_at_most_m_rows_per_user_and_every_row_of_users_under_m():
    rng = make_rng(1)
    users = rng.integers(0, 200, size=5_000)
    keep = bound_contributions(users, 3, rng)
    kept = np.bincount(users[keep], minlength=200)
    total = np.bincount(users, minlength=200)
    assert (kept == np.minimum(total, 3)).all()


def test_it_works_with_string_ids_and_keeps_row_positions():
    users = np.array(["ann", "bob", "ann", "ann", "cy", "ann", "bob"])
    keep = bound_contributions(users, 2, make_rng(2))
    assert keep.dtype == bool and keep.shape == users.shape
    assert keep[[1, 4, 6]].all()  # bob has 2 rows, cy 1: all kept
    assert keep[users == "ann"].sum() == 2


def test_a_heavy_users_rows_are_kept_uniformly_at_random():
    users = np.zeros(10, dtype=int)
    rng = make_rng(3)
    kept = np.stack([bound_contributions(users, 3, rng) for _ in range(5_000)])
    assert kept.mean(axis=0) == pytest.approx(np.full(10, 0.3), abs=0.03)  # ~4.6 standard errors


def test_a_seeded_generator_gives_the_same_mask():
    users = np.arange(100) % 7
    assert (bound_contributions(users, 2, make_rng(4)) == bound_contributions(users, 2, make_rng(4))).all()


def test_an_empty_input_gives_an_empty_mask():
    assert bound_contributions(np.array([]), 1, make_rng(5)).shape == (0,)


@pytest.mark.parametrize("bad", [0, -1, 1.5, True])
def test_it_refuses_a_bound_below_one_naming_it(bad):
    with pytest.raises(ValueError, match="^max_per_user must"):
        bound_contributions(np.array([1, 2]), bad, make_rng(0))
