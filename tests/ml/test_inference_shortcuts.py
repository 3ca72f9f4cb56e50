"""Inference shortcuts give what the training-mode forward gives: the item table and the unpadded list attention."""
from __future__ import annotations

import torch

from reranking.ml.config import RerankerConfig
from reranking.ml.model import CandidateScorer, ItemEncoder


def test_the_item_table_matches_the_forward_and_follows_weight_changes():
    torch.manual_seed(0)
    encoder = ItemEncoder(RerankerConfig(), 20)
    encoder.text.normal_()
    items = torch.tensor([[0, 3, 7, 3], [19, 0, 0, 1]])
    trained = encoder(items)  # training mode: computed per call
    encoder.eval()
    with torch.no_grad():
        looked_up = encoder(items)
        assert torch.allclose(looked_up, trained, atol=1e-6)
        assert looked_up[0, 0].abs().sum() == 0 and looked_up[1, 1:3].abs().sum() == 0, "padding stays zero"
        encoder.ids.weight[3] += 1.0  # an optimiser step, a load_state_dict: in place
        assert torch.allclose(encoder(items)[0, 1], trained[0, 1] + 1.0, atol=1e-6)
        encoder.text[7] = 0.0
        assert not torch.allclose(encoder(items)[0, 2], trained[0, 2])


def test_an_unpadded_list_scores_as_with_an_all_valid_padding_mask():
    torch.manual_seed(0)
    config = RerankerConfig()
    scorer = CandidateScorer(config).eval()
    from reranking.ml.sources import N_FEATURES

    user, cands = torch.randn(2, config.d_model), torch.randn(2, 30, config.d_model)
    feats = torch.randn(2, 30, N_FEATURES)
    valid = torch.ones(2, 30, dtype=torch.bool)
    with torch.no_grad():
        fast = scorer(user, cands, feats, valid)
        masked = scorer.context(scorer.inp(torch.cat([
            user[:, None] * cands, cands, user[:, None].expand_as(cands),
            torch.cat([feats, (user[:, None] * cands).sum(-1, keepdim=True)], -1)], -1)), src_key_padding_mask=~valid)
        wide = torch.cat([feats, (user[:, None] * cands).sum(-1, keepdim=True)], -1)
        slow = scorer.out(masked).squeeze(-1) + scorer.feature_linear(wide).squeeze(-1)
        assert torch.allclose(fast, slow, atol=1e-5)
        valid[1, 25:] = False  # padded rows still take the masked path
        partly = scorer(user, cands, feats, valid)
        assert torch.isinf(partly[1, 25:]).all() and torch.isfinite(partly[0]).all()
