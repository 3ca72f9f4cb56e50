"""Top-k ranking metrics under leave-last-out: one held-out target per user."""
from __future__ import annotations

import numpy as np


def target_ranks(top: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """Return each target's 0-based position in its row of `top` (B, k), or -1 when absent."""
    hit = top == targets[:, None]  # (B, k)
    return np.where(hit.any(1), hit.argmax(1), -1)


def ranking_metrics(top: np.ndarray, targets: np.ndarray, n_items: int, k: int = 10) -> dict[str, float]:
    """Return NDCG@k, HitRate@k (= Recall@k with one target), MRR@k, catalogue coverage@k, and the
    half-width of NDCG@k's 95% confidence interval over these users (normal approximation: 1.96 sd / sqrt(n)).

    `top` holds item indices best first, -1 for padding; a target outside the top k counts as a miss.
    """
    top = np.asarray(top)[:, :k]
    targets = np.asarray(targets)
    if len(targets) == 0:
        return {f"ndcg@{k}": 0.0, f"hit@{k}": 0.0, f"mrr@{k}": 0.0, f"coverage@{k}": 0.0, f"ndcg@{k}_ci95": 0.0}
    rank = target_ranks(top, targets)
    found = rank >= 0
    ndcg = np.where(found, 1.0 / np.log2(np.maximum(rank, 0) + 2.0), 0.0)
    mrr = np.where(found, 1.0 / (np.maximum(rank, 0) + 1.0), 0.0)
    shown = np.unique(top[top >= 0])
    return {
        f"ndcg@{k}": float(ndcg.mean()),
        f"hit@{k}": float(found.mean()),
        f"mrr@{k}": float(mrr.mean()),
        f"coverage@{k}": float(len(shown) / max(1, n_items)),
        f"ndcg@{k}_ci95": float(1.96 * ndcg.std(ddof=1) / np.sqrt(len(ndcg))) if len(ndcg) > 1 else 0.0,
    }


def recall_at(candidates: np.ndarray, targets: np.ndarray) -> float:
    """Return the share of targets present anywhere in their candidate list."""
    if len(targets) == 0:
        return 0.0
    return float((np.asarray(candidates) == np.asarray(targets)[:, None]).any(1).mean())
