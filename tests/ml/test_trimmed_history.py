"""Inference trims left padding from history windows; the scores must be those of the full window."""
from __future__ import annotations

import numpy as np
import torch

from reranking.ml.model import N_FEATURES, RerankerNet, gap_buckets, history_tensors
from tests.ml.conftest import small_config


def histories(rng: np.random.Generator, lengths: list[int], n_items: int):
    items = [rng.integers(0, n_items, n) for n in lengths]
    types = [rng.integers(0, 2, n) for n in lengths]
    gaps = [gap_buckets(np.cumsum(rng.integers(1, 10_000, n)).astype(float)) if n else np.zeros(0, np.int64)
            for n in lengths]
    return items, types, gaps


def test_trimmed_windows_are_as_long_as_the_longest_history_and_never_empty():
    rng = np.random.default_rng(0)
    assert history_tensors(*histories(rng, [4, 2], 30), 50, trim=True)[0].shape == (2, 4)
    assert history_tensors(*histories(rng, [80, 2], 30), 50, trim=True)[0].shape == (2, 50)
    assert history_tensors(*histories(rng, [0], 30), 50, trim=True)[0].shape == (1, 1)
    assert history_tensors(*histories(rng, [4], 30), 50)[0].shape == (1, 50)


def test_user_state_and_list_scores_of_a_trimmed_window_equal_the_full_windows():
    torch.manual_seed(0)
    cfg = small_config()
    net = RerankerNet(cfg, 30, 2).eval()
    rng = np.random.default_rng(1)
    lists = torch.from_numpy(rng.integers(1, 31, (4, 12)))
    feats = torch.randn(4, 12, N_FEATURES)
    batch = histories(rng, [0, 1, 4, 9], 30)
    with torch.inference_mode():
        full = history_tensors(*batch, cfg.max_history)
        trimmed = history_tensors(*batch, cfg.max_history, trim=True)
        assert trimmed[0].shape[1] == 9 < full[0].shape[1]
        torch.testing.assert_close(net.user_state(*trimmed), net.user_state(*full), atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(net(*trimmed, lists, feats), net(*full, lists, feats), atol=1e-5, rtol=1e-5)
        # The positions differ from the untrimmed ones only by where the window starts: a history of
        # max_history events is the same tensor either way.
        long = histories(rng, [cfg.max_history + 5], 30)
        assert torch.equal(history_tensors(*long, cfg.max_history, trim=True)[0], history_tensors(*long, cfg.max_history)[0])
