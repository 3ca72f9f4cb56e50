"""Benchmark the re-ranker on ml-latest-small: metrics table, training time, scoring latency, goals.

    python bench/quality.py [PATH] [--seed N] [--json OUT] [--protocols]

--protocols also runs the live-serving protocols of reranking/ml/protocols.py (cold items, unseen users)
with their goals (docs/serving-live.md#measuring-it).

PATH defaults to ../shared/datasets/ml-latest-small relative to the repo root (read in place, never copied).
"""
from __future__ import annotations

import argparse
import json
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from reranking.ml.config import RerankerConfig  # noqa: E402
from reranking.ml.data import load_movielens  # noqa: E402
from reranking.ml.evaluate import format_table, run  # noqa: E402

DEFAULT_PATH = os.path.join(ROOT, "..", "shared", "datasets", "ml-latest-small")
SOURCES = ("transition", "item_knn", "als", "text", "recent_popularity")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("path", nargs="?", default=DEFAULT_PATH)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", dest="json_out", default=os.path.join(ROOT, "bench", "out", "quality.json"))
    parser.add_argument("--protocols", action="store_true",
                        help="also run the live-serving protocols (cold items, unseen users) and their goals")
    args = parser.parse_args()

    dataset = load_movielens(os.path.abspath(args.path))
    config = RerankerConfig(seed=args.seed)
    print(f"{os.path.abspath(args.path)}: {dataset.n_users} users, {dataset.n_items} items, "
          f"{len(dataset.event_items)} events")
    metrics = run(dataset, config)
    rows = {row["name"]: row for row in metrics["methods"]}
    best_name = max(SOURCES, key=lambda s: rows[s]["ndcg@10"])
    best, ours = rows[best_name]["ndcg@10"], rows["reranker"]["ndcg@10"]
    n = config.n_candidates

    print(format_table(metrics))
    print(f"candidate recall@{n}: {metrics[f'candidate_recall@{n}']:.4f}   users evaluated: "
          f"{metrics['users_evaluated']}   left out: {metrics['users_left_out']}")
    t = metrics["timings"]
    print(f"training {metrics['train_seconds']:.1f}s (embedding {t['embedding']:.1f}s, candidates {t['candidates']:.1f}s, "
          f"network {t['training']:.1f}s, best epoch {metrics['best_epoch']}); evaluation {t['evaluating']:.1f}s")
    print(f"rerank 200 candidates p50 {metrics['score_ms_p50']:.2f} ms; recommend {metrics['recommend_users_per_second']:.0f} users/s")
    goals = [
        (f"NDCG@10 >= 1.2x best source ({best_name} {best:.4f})", ours >= 1.2 * best, f"{ours:.4f} = {ours / max(best, 1e-9):.2f}x"),
        ("NDCG@10 >= 0.065", ours >= 0.065, f"{ours:.4f}"),
        ("training <= 180 s", metrics["train_seconds"] <= 180, f"{metrics['train_seconds']:.1f}s"),
        ("rerank p50 <= 10 ms", metrics["score_ms_p50"] <= 10, f"{metrics['score_ms_p50']:.2f} ms"),
    ]
    if args.protocols:
        from reranking.ml.protocols import run_protocols

        metrics["protocols"] = run_protocols(dataset, config)
        goals += [(f"{report['protocol']}: {goal}", met, "see above")
                  for report in metrics["protocols"] for goal, met in report["goals"].items()]
    for name, ok, value in goals:
        print(f"[{'PASS' if ok else 'MISS'}] {name}: {value}")
    os.makedirs(os.path.dirname(os.path.abspath(args.json_out)), exist_ok=True)
    with open(args.json_out, "w", encoding="utf-8") as f:
        json.dump(metrics, f, indent=2, default=bool)
    return 0


if __name__ == "__main__":
    sys.exit(main())
