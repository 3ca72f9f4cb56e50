"""DP-SGD training through Opacus: one per-sample gradient per user, epsilon within target, still beats popularity."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from reranking.ml import private
from reranking.ml.model import RerankerNet
from reranking.ml.train import train
from tests.ml.conftest import make_walk_dataset, random_embeddings, small_config

# Small enough for ~10 s on a quiet 2-core machine: 150 users, 2 expected epochs of 3 steps.
DP = dict(dp_epsilon=4.0, dp_epochs=2, dp_batch_users=50, max_examples_per_user=4, train_list_size=16,
          max_history=12, d_model=16, n_negatives=32, max_epochs=1, dp_accountant="rdp")


@pytest.fixture(scope="module")
def dp_result():
    ds = make_walk_dataset(n_users=150, seed=4)
    return train(ds, small_config(**DP), item_embeddings=random_embeddings(ds.n_items))


def _ndcg(result, name: str) -> float:
    return next(m["ndcg@10"] for m in result.metrics["methods"] if m["name"] == name)


@pytest.mark.slow
def test_dp_training_runs_through_opacus_and_reports_epsilon_within_target(dp_result):
    p = dp_result.metrics["privacy"]
    assert 0 < p["epsilon"] <= DP["dp_epsilon"] and p["noise_multiplier"] > 0.3
    assert p["delta"] == pytest.approx(1 / (10 * 150)) and p["users"] == 150
    assert p["steps"] >= 2 and p["per_sample_gradient_rows"] > 0  # Opacus filled grad_sample, one row per user
    assert p["max_examples_per_user"] == 4
    assert dp_result.model.config.dp_epsilon == DP["dp_epsilon"]
    # Private choices: id embeddings stay zero, so items are their (public) text only.
    assert float(dp_result.model.net.items.ids.weight.detach().abs().max()) == 0.0
    assert _ndcg(dp_result, "reranker") > 3 * _ndcg(dp_result, "popularity")


def test_per_sample_gradients_are_per_user_and_match_the_plain_gradient():
    """Opacus' grad_sample rows are the users' own gradients: their sum is the batch gradient."""
    from opacus import GradSampleModule

    torch.manual_seed(0)
    cfg = small_config(**DP)
    net = private.prepare_private_net(RerankerNet(cfg, 30, 1))
    b, length, k, n = 3, cfg.max_history, 2, 5
    items = torch.randint(1, 31, (b, length))
    inputs = [items, torch.ones_like(items), torch.ones_like(items), torch.roll(items, -1, 1),
              torch.randint(1, 31, (b, 7)), torch.randint(0, 31, (b, k, n)), torch.rand(b, k, n, 14),
              torch.zeros(b, k, dtype=torch.long), torch.randint(0, length, (b, k)), torch.tensor([[1, 1], [1, 0], [0, 0]]).bool()]
    inputs[5][:, :, 0] = torch.randint(1, 31, (b, k))  # the label (index 0) is a real item
    module = GradSampleModule(private.UserLoss(net, 1.0), loss_reduction="sum")
    module(*inputs).sum().backward()
    for param in (p for p in net.parameters() if p.requires_grad):
        assert param.grad_sample.shape[0] == b
        assert torch.allclose(param.grad_sample.sum(0), param.grad, atol=1e-5)
    # User 2's gradient does not depend on user 0's data: change user 0, user 2's row stays.
    first = {name: p.grad_sample[2].clone() for name, p in net.named_parameters() if p.requires_grad}
    module.zero_grad()
    inputs[0] = inputs[0].clone()
    inputs[0][0] = torch.randint(1, 31, (length,))
    module(*inputs).sum().backward()
    for name, p in net.named_parameters():
        if p.requires_grad:
            assert torch.allclose(p.grad_sample[2], first[name], atol=1e-6), name


def test_private_attention_matches_torch_and_converts_back():
    torch.manual_seed(1)
    cfg = small_config(**DP)
    net = RerankerNet(cfg, 20, 1).eval()
    dp = private.to_private(net).eval()
    args = (torch.randint(0, 21, (4, cfg.max_history)),) * 1
    items = args[0]
    types, gaps = (items > 0).long(), (items > 0).long()
    cand = torch.randint(0, 21, (4, 6))
    cand[:, 0] = 1
    feats = torch.rand(4, 6, 14)
    with torch.no_grad():
        expected = net(items, types, gaps, cand, feats)
        got = dp(items, types, gaps, cand, feats)
        back = RerankerNet(cfg, 20, 1).eval()
        back.load_state_dict(private.standard_state(dp))
        again = back(items, types, gaps, cand, feats)
    finite = torch.isfinite(expected)
    assert torch.equal(finite, torch.isfinite(got))
    assert torch.allclose(expected[finite], got[finite], atol=1e-5)
    assert torch.allclose(expected[finite], again[finite], atol=1e-5)


def test_user_samples_pack_only_each_users_last_m_examples():
    ds = make_walk_dataset(n_users=20, seed=2)
    from reranking.ml.data import leave_last_out
    from reranking.ml.sources import text_neighbours
    from reranking.ml.train import _build_lists

    split = leave_last_out(ds)
    seqs = [split.history(u, "val") for u in range(ds.n_users)]
    cfg = small_config(max_examples_per_user=3)
    lists = _build_lists(cfg, ds, seqs, text_neighbours(random_embeddings(ds.n_items), 5), np.random.default_rng(0), None)
    s = private.user_samples(ds, seqs, lists, cfg.max_history, 3)
    assert len(s) == ds.n_users
    assert int((s.targets > 0).sum(1).max()) <= 3 and int(s.has_list.sum(1).max()) <= 3
    for u, seq in enumerate(seqs):
        # the state slot of each list holds the event just before its target
        for k in np.flatnonzero(s.has_list[u].numpy()):
            label_item = int(s.cand[u, k, s.label[u, k]])
            slot = int(s.slot[u, k])
            assert int(s.targets[u, slot]) == label_item
