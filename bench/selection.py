"""Model selection on generated shops of other shapes: does each version serve the better of the two?

    nice -n 10 .venv/bin/python bench/selection.py [--seed 0]

Trains the ML core (reranking/ml, no Django) on three generated shops and applies the platform's
selection rule (ml/selection.py, chosen on validation): a small chain shop (300 users, 150 items,
users walk fixed item sequences: the transition source already knows everything there is), few items
and many users (2,000 users, 40 items in co-bought groups), and sparse users (1,000 users with 2-4
events each over 300 items). Item texts are random vectors here (no MiniLM), so the text source is
noise. Prints validation and test NDCG@10 of the re-ranker and the best source, what is served, and
whether the served method's test NDCG@10 is within noise (one standard error of the per-user mean,
or 2% relative) of the better of the two. ml-latest-small: bench/quality.py (the re-ranker is selected).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from reranking.ml.config import RerankerConfig  # noqa: E402
from reranking.ml.data import Dataset  # noqa: E402
from reranking.ml.selection import choose  # noqa: E402
from reranking.ml.sources import SOURCES  # noqa: E402
from reranking.ml.train import train  # noqa: E402


def build(users: list[str], items: list[str], item_ids: list[str], rng: np.random.Generator) -> Dataset:
    times = np.cumsum(rng.integers(60, 86_400, size=len(users))).astype(float)
    return Dataset.from_arrays(item_ids, [f"item {i}" for i in item_ids], users, items, list(times))


def chain_shop(rng: np.random.Generator) -> Dataset:
    item_ids = [f"c{c}_{k}" for c in range(6) for k in range(25)]
    users, items = [], []
    for u in range(300):
        chain, length = int(rng.integers(6)), int(rng.integers(5, 15))
        start = int(rng.integers(0, 25 - length + 1))
        users += [f"u{u}"] * length
        items += [f"c{chain}_{k}" for k in range(start, start + length)]
    return build(users, items, item_ids, rng)


def few_items(rng: np.random.Generator) -> Dataset:
    item_ids = [f"i{n}" for n in range(40)]
    groups = [list(range(g * 8, g * 8 + 8)) for g in range(5)]
    popularity = 1.0 / np.arange(1, 9)
    users, items = [], []
    for u in range(2000):
        group = groups[int(rng.integers(5))]
        picks = rng.choice(group, size=int(rng.integers(3, 8)), p=popularity / popularity.sum())
        users += [f"u{u}"] * len(picks)
        items += [f"i{n}" for n in picks]
    return build(users, items, item_ids, rng)


def sparse_users(rng: np.random.Generator) -> Dataset:
    item_ids = [f"i{n}" for n in range(300)]
    weights = 1.0 / np.arange(1, 301) ** 0.8
    users, items = [], []
    for u in range(1000):
        n = int(rng.integers(2, 5))
        first = int(rng.choice(300, p=weights / weights.sum()))
        picks = [first] + [int((first + rng.integers(1, 4)) % 300) for _ in range(n - 1)]  # a nearby item next
        users += [f"u{u}"] * n
        items += [f"i{p}" for p in picks]
    return build(users, items, item_ids, rng)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    print(f"{'shop':<14}{'users':>6}{'items':>6}{'val re-ranker':>14}{'val best source':>24}{'served':>12}"
          f"{'test served':>12}{'test better':>12}  within noise")
    for name, make in (("chain shop", chain_shop), ("few items", few_items), ("sparse users", sparse_users)):
        rng = np.random.default_rng(args.seed)
        data = make(rng)
        emb = rng.normal(size=(data.n_items, 384)).astype(np.float32)
        emb /= np.linalg.norm(emb, axis=1, keepdims=True)
        config = RerankerConfig(seed=args.seed)
        metrics = train(data, config, item_embeddings=emb).metrics
        choice = choose(metrics["validation"], config.selection_margin)
        test = {row["name"]: row["ndcg@10"] for row in metrics["methods"]}
        best_source = max((s for s in SOURCES if s in test), key=lambda s: test[s])
        better = max(test["reranker"], test[best_source])
        served = test[choice.served]
        # Standard error of a mean NDCG over the evaluated users (NDCG per user lies in [0, 1]).
        noise = max(np.sqrt(better * (1 - better) / max(metrics["users_evaluated"], 1)), 0.02 * better)
        print(f"{name:<14}{data.n_users:>6}{data.n_items:>6}{choice.reranker_ndcg:>14.3f}"
              f"{f'{choice.best_source} {choice.best_source_ndcg:.3f}':>24}{choice.served:>12}{served:>12.3f}"
              f"{better:>12.3f}  {'yes' if better - served <= noise else 'NO'} (noise {noise:.3f})")


if __name__ == "__main__":
    main()
