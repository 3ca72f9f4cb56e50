"""Listwise re-ranker network: a SASRec history encoder and a PRM-style candidate-context scorer.

Follows SASRec (Kang & McAuley, ICDM 2018) for the history: causal self-attention over the last L
interactions, trained on every position with a next-item target. Follows PRM (Pei et al., RecSys 2019)
for the list: each candidate becomes a token (its embedding, its interaction with the user state
and the first-stage features), and a Transformer encoder over the whole list lets each score depend
on the other candidates.
NOTE: item tokens add a projected MiniLM text embedding to the id embedding, so unseen items still
      have a representation (cold start); SASRec uses ids only.
NOTE: tokens carry an event-type embedding and a log-bucketed gap to the previous event.
NOTE: PRM's personalised vector comes from a pre-trained model; here the user state is the last
      SASRec output, trained jointly with the list loss.
NOTE: SASRec's binary cross-entropy with one negative is replaced by a sampled softmax over shared
      negatives, and PRM's list softmax is kept over the first-stage candidates.
"""
from __future__ import annotations


import numpy as np
import torch
from torch import nn

from .config import RerankerConfig
from .sources import N_FEATURES

N_GAP_BUCKETS = 32  # log2 buckets of seconds/60 between consecutive events; 0 is padding


def gap_buckets(times: np.ndarray) -> np.ndarray:
    """Return log2 buckets (1..N_GAP_BUCKETS-1) of each event's gap to the previous one (first: 1)."""
    gaps = np.diff(np.asarray(times, dtype=np.float64), prepend=times[0] if len(times) else 0.0)
    return (1 + np.clip(np.log2(1.0 + np.maximum(gaps, 0.0) / 60.0), 0, N_GAP_BUCKETS - 2)).astype(np.int64)


class ItemEncoder(nn.Module):
    """Embed items as id embedding + projected (frozen) text embedding; index 0 is padding."""

    def __init__(self, config: RerankerConfig, n_items: int) -> None:
        super().__init__()
        self.ids = nn.Embedding(n_items + 1, config.d_model, padding_idx=0)
        self.register_buffer("text", torch.zeros(n_items + 1, config.text_dim))  # row 0 stays zero
        self.text_proj = nn.Linear(config.text_dim, config.d_model)
        nn.init.normal_(self.ids.weight, std=0.02)
        with torch.no_grad():
            self.ids.weight[0].zero_()

        self._table: tuple[tuple, torch.Tensor] | None = None  # inference: every item's vector, computed once

    def forward(self, items: torch.Tensor) -> torch.Tensor:
        # items: (...) int64, 0 = padding
        if not self.training and not torch.is_grad_enabled():
            return self.table()[items]  # serving: a lookup instead of a (N, 384) gather and projection per call
        out = self.ids(items) + self.text_proj(self.text[items])  # (..., D)
        return out * (items > 0).unsqueeze(-1)

    def table(self) -> torch.Tensor:
        """Return (n_items + 1, D): each item's vector (row 0, padding, zero), as `forward` computes it.

        Kept until a weight or the text buffer changes (their in-place version counters are the key).
        Threads that find it missing at once each compute an equal table; the last one assigned is kept.
        """
        params = (self.ids.weight, self.text_proj.weight, self.text_proj.bias, self.text)
        try:
            key = tuple((t.data_ptr(), t._version) for t in params)
        except RuntimeError:  # weights made under inference_mode keep no version counter: compute afresh
            key = None
        if key is None or self._table is None or self._table[0] != key:
            table = self.ids.weight + self.text_proj(self.text)
            table[0] = 0.0
            self._table = (key, table)
        return self._table[1]


class HistoryEncoder(nn.Module):
    """Encode the last L interactions with causal self-attention; output at t summarises events <= t."""

    def __init__(self, config: RerankerConfig, n_event_types: int) -> None:
        super().__init__()
        d = config.d_model
        self.n_heads = config.n_heads
        self.types = nn.Embedding(n_event_types + 1, d, padding_idx=0)
        self.gaps = nn.Embedding(N_GAP_BUCKETS, d, padding_idx=0)
        self.positions = nn.Embedding(config.max_history, d)
        self.dropout = nn.Dropout(config.dropout)
        layer = nn.TransformerEncoderLayer(d, config.n_heads, 2 * d, config.dropout, batch_first=True, norm_first=True)
        self.layers = nn.TransformerEncoder(layer, config.n_history_layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(d)

    def forward(self, item_vecs: torch.Tensor, items: torch.Tensor, types: torch.Tensor,
                gaps: torch.Tensor) -> torch.Tensor:
        # item_vecs: (B, L, D); items, types, gaps: (B, L), left-padded with 0
        b, length, _ = item_vecs.shape
        # Positions count back from the window's end (the newest event is always the last position), so a
        # batch trimmed of left padding (`history_tensors(..., trim=True)`) reads exactly what the full window
        # does: padding is never a key. Training always passes the full max_history window.
        end = self.positions.num_embeddings
        pos = torch.arange(end - length, end, device=items.device)
        # Positions get a batch dimension so per-sample gradients (DP-SGD, private.py) see one row per sample.
        x = item_vecs + self.types(types) + self.gaps(gaps) + self.positions(pos.expand(b, length))  # (B, L, D)
        x = self.dropout(x)
        # Causal mask that also hides padding keys; the diagonal stays open so no row is fully masked.
        causal = torch.ones(length, length, dtype=torch.bool, device=items.device).tril()  # (L, L)
        allowed = causal[None] & (items > 0)[:, None, :]  # (B, L, L)
        allowed |= torch.eye(length, dtype=torch.bool, device=items.device)[None]
        mask = torch.zeros(b, length, length, device=items.device, dtype=x.dtype)
        mask = mask.masked_fill(~allowed, float("-inf")).repeat_interleave(self.n_heads, dim=0)  # (B*H, L, L)
        return self.norm(self.layers(x, mask=mask))  # (B, L, D)


class CandidateScorer(nn.Module):
    """Score a candidate list in the context of the user state and of the other candidates (PRM)."""

    def __init__(self, config: RerankerConfig) -> None:
        super().__init__()
        d = config.d_model
        self.inp = nn.Sequential(nn.Linear(3 * d + N_FEATURES + 1, d), nn.GELU(), nn.LayerNorm(d))
        # No dropout inside the list attention: it costs a third of a CPU step and the list loss barely overfits.
        layer = nn.TransformerEncoderLayer(d, config.n_heads, 2 * d, 0.0, batch_first=True, norm_first=True)
        self.context = nn.TransformerEncoder(layer, config.n_candidate_layers, enable_nested_tensor=False)
        self.out = nn.Linear(d, 1)
        self.feature_linear = nn.Linear(N_FEATURES + 1, 1)  # a wide path: first-stage features count directly

    def forward(self, user: torch.Tensor, cand_vecs: torch.Tensor, feats: torch.Tensor,
                valid: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        # user: (B, D), or (B, N, D) one state per candidate; cand_vecs: (B, N, D); feats: (B, N, F); valid: (B, N)
        # mask: optional (B*H, N, N) additive attention mask used instead of the padding mask (private.py packs
        # several lists into one row and keeps them apart with it)
        u = user.unsqueeze(1).expand_as(cand_vecs) if user.dim() == 2 else user  # (B, N, D)
        dot = (u * cand_vecs).sum(-1, keepdim=True)  # (B, N, 1)
        wide = torch.cat([feats, dot], -1)  # (B, N, F+1)
        x = self.inp(torch.cat([u * cand_vecs, cand_vecs, u, wide], -1))  # (B, N, D)
        if mask is not None:
            x = self.context(x, mask=mask)  # (B, N, D)
        elif bool(valid.all()):
            x = self.context(x)  # nothing to mask: the plain softmax is ~2x cheaper than the masked one on CPU
        else:
            x = self.context(x, src_key_padding_mask=~valid)
        score = self.out(x).squeeze(-1) + self.feature_linear(wide).squeeze(-1)  # (B, N)
        return score.masked_fill(~valid, float("-inf"))


class RerankerNet(nn.Module):
    """Hold the three modules; `forward` scores candidate lists, `next_item_logits` trains the encoder."""

    def __init__(self, config: RerankerConfig, n_items: int, n_event_types: int) -> None:
        super().__init__()
        self.items = ItemEncoder(config, n_items)
        self.history = HistoryEncoder(config, n_event_types)
        self.scorer = CandidateScorer(config)

    def user_state(self, items: torch.Tensor, types: torch.Tensor, gaps: torch.Tensor) -> torch.Tensor:
        """Return (B, D): the encoder output at the last position of left-padded histories."""
        return self.history(self.items(items), items, types, gaps)[:, -1]

    def forward(self, items: torch.Tensor, types: torch.Tensor, gaps: torch.Tensor,
                candidates: torch.Tensor, feats: torch.Tensor) -> torch.Tensor:
        # items/types/gaps: (B, L) history ids (+1 shifted, 0 = pad); candidates: (B, N) ids (0 = pad)
        user = self.user_state(items, types, gaps)  # (B, D)
        return self.scorer(user, self.items(candidates), feats, candidates > 0)  # (B, N)

    def next_item_logits(self, items: torch.Tensor, types: torch.Tensor, gaps: torch.Tensor,
                         targets: torch.Tensor, negatives: torch.Tensor) -> torch.Tensor:
        """Return (B, L, 1 + M) logits of each position's next item (column 0) versus shared negatives."""
        h = self.history(self.items(items), items, types, gaps)  # (B, L, D)
        pos = (h * self.items(targets)).sum(-1, keepdim=True)  # (B, L, 1)
        neg = h @ self.items(negatives).T  # (B, L, M)
        neg = neg.masked_fill(negatives[None, None, :] == targets.unsqueeze(-1), float("-inf"))
        return torch.cat([pos, neg], -1)


def history_tensors(items: list[np.ndarray], types: list[np.ndarray], gaps: list[np.ndarray],
                    length: int, trim: bool = False) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Return (B, L) left-padded item ids (+1), event types (+1) and gap buckets of the last L events.

    With `trim` (inference), L is the longest history in the batch (at most `length`, at least 1) instead
    of `length`: the encoder's last position reads the same events, and a new user's 4 clicks cost a
    4-position attention instead of a 50-position one.
    """
    if trim:
        length = max(1, min(length, max((len(it) for it in items), default=1)))
    out = np.zeros((3, len(items), length), dtype=np.int64)
    for b, (it, ty, gp) in enumerate(zip(items, types, gaps)):
        n = min(length, len(it))
        if n:
            out[0, b, length - n:] = it[-n:] + 1
            out[1, b, length - n:] = ty[-n:] + 1
            out[2, b, length - n:] = gp[-n:]
    return torch.from_numpy(out[0]), torch.from_numpy(out[1]), torch.from_numpy(out[2])
