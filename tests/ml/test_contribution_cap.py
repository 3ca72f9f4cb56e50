"""Per-user contribution cap: each user gives at most m next-item targets and m lists, from their latest events."""
from __future__ import annotations

import numpy as np

from reranking.ml.data import Dataset, first_positions, leave_last_out
from reranking.ml.train import _build_lists, _sequence_windows
from reranking.ml.sources import text_neighbours
from tests.ml.conftest import make_walk_dataset, random_embeddings, small_config


def _dataset(lengths: list[int]) -> Dataset:
    """One user per length; user u walks items u*100, u*100+1, ... at increasing times."""
    items = [str(i) for i in range(100 * len(lengths))]
    users, events, times = [], [], []
    for u, n in enumerate(lengths):
        users += [f"u{u}"] * n
        events += [str(100 * u + k) for k in range(n)]
        times += [float(k) for k in range(n)]
    return Dataset.from_arrays(items, items, users, events, times)


def test_first_positions_keeps_the_last_m_targets_and_never_position_zero():
    assert first_positions([1, 2, 5, 30], 0).tolist() == [1, 1, 1, 1]
    assert first_positions([1, 2, 5, 30], 3).tolist() == [1, 1, 2, 27]


def _targets_per_user(ds: Dataset, seqs, length: int, cap: int) -> dict[int, list[int]]:
    *_, targets = _sequence_windows(ds, seqs, length, cap)
    out: dict[int, list[int]] = {}
    for t in targets[targets > 0].tolist():
        out.setdefault((t - 1) // 100, []).append((t - 1) % 100)  # (user, position in the user's walk)
    return {u: sorted(v) for u, v in out.items()}


def test_windows_give_each_user_at_most_m_targets_from_the_most_recent_positions():
    ds = _dataset([3, 12, 40])
    seqs = ds.user_sequences()
    assert _targets_per_user(ds, seqs, 8, 0) == {0: [1, 2], 1: list(range(1, 12)), 2: list(range(1, 40))}
    assert _targets_per_user(ds, seqs, 8, 5) == {0: [1, 2], 1: list(range(7, 12)), 2: list(range(35, 40))}
    # The capped targets still see their full history window: the input before target 35 is item 34 and earlier.
    items, _, _, targets = _sequence_windows(ds, seqs, 8, 5)
    row = int(np.flatnonzero((targets == 200 + 35 + 1).any(1))[0])
    col = int(np.flatnonzero(targets[row] == 200 + 35 + 1)[0])
    assert items[row, col] == 200 + 34 + 1 and (items[row, :col] > 0).all()


def test_lists_give_each_user_at_most_m_lists_from_the_most_recent_positions():
    ds = make_walk_dataset(n_users=60, seed=1)
    split = leave_last_out(ds)
    seqs = [split.history(u, "val") for u in range(ds.n_users)]
    text_nn = text_neighbours(random_embeddings(ds.n_items), 10)
    cap = 2
    lists = _build_lists(small_config(max_examples_per_user=cap), ds, seqs, text_nn, np.random.default_rng(0), None)
    uncapped = _build_lists(small_config(), ds, seqs, text_nn, np.random.default_rng(0), None)
    counts = np.bincount(lists.user.numpy(), minlength=ds.n_users)
    assert counts.max() <= cap < np.bincount(uncapped.user.numpy()).max()
    for row, u in enumerate(lists.user.tolist()):
        n_hist = int((lists.h_items[row] > 0).sum())  # history length = the list's position (max_history 16)
        assert n_hist >= min(len(seqs[u]) - cap, 16)
