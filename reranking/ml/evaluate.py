"""Offline evaluation CLI: train under the leave-last-out protocol and print every method's metrics.

    python -m reranking.ml.evaluate PATH                       # MovieLens folder (ml-latest-small or ml-100k)
    python -m reranking.ml.evaluate --interactions F --items F # generic CSV
    options: --seed N, --json OUT, --save DIR, --max-epochs N
"""
from __future__ import annotations

import argparse
import json
import sys
import time

import numpy as np
import torch

from .artifact import History, Reranker
from .config import RerankerConfig
from .data import Dataset, load_generic_csv, load_movielens
from .train import train

COLUMNS = ("ndcg@10", "hit@10", "mrr@10", "coverage@10")


def measure_latency(model: Reranker, dataset: Dataset, n_users: int = 100, seed: int = 0) -> dict[str, float]:
    """Return p50/p95 ms of `rerank` on 200 candidates for one user, and `recommend` users per second.

    Measured with one torch thread, as the web process runs.
    """
    rng = np.random.default_rng(seed)
    seqs = dataset.user_sequences()
    users = rng.choice(len(seqs), size=min(n_users, len(seqs)), replace=False) if seqs else []
    histories = [History([dataset.item_ids[i] for i in dataset.event_items[seqs[u]]],
                         dataset.timestamps[seqs[u]].tolist(),
                         [dataset.event_type_names[t] for t in dataset.event_types[seqs[u]]]) for u in users]
    if not histories:
        return {"score_ms_p50": 0.0, "score_ms_p95": 0.0, "recommend_users_per_second": 0.0}
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as in the web process
    start = time.perf_counter()
    recs = model.recommend(histories, k=model.config.n_candidates)
    per_second = len(histories) / (time.perf_counter() - start)
    times = []
    for history, rec in zip(histories, recs):
        candidates = [item for item, _ in rec]
        candidates += list(rng.choice(model.item_ids, size=max(0, 200 - len(candidates))))
        t = time.perf_counter()
        model.rerank(history, candidates[:200])
        times.append(1000 * (time.perf_counter() - t))
    torch.set_num_threads(threads)
    return {"score_ms_p50": float(np.median(times)), "score_ms_p95": float(np.percentile(times, 95)),
            "recommend_users_per_second": per_second}


def format_table(metrics: dict) -> str:
    """Return the metrics table as aligned text."""
    lines = [f"{'method':<20}" + "".join(f"{c:>13}" for c in COLUMNS)]
    for row in metrics.get("methods", []):
        lines.append(f"{row['name']:<20}" + "".join(f"{row[c]:>13.4f}" for c in COLUMNS))
    return "\n".join(lines)


def run(dataset: Dataset, config: RerankerConfig, save: str | None = None,
        item_embeddings: np.ndarray | None = None) -> dict:
    """Train with a progress bar, then return the CLI's JSON report (MiniLM runs unless `item_embeddings`)."""
    from tqdm import tqdm

    bar = tqdm(total=100, bar_format="{desc:<28}{percentage:3.0f}%|{bar}| {elapsed}", file=sys.stderr)

    def progress(phase: str, fraction: float) -> None:
        bar.set_description_str(phase)
        bar.n = int(100 * fraction)
        bar.refresh()

    result = train(dataset, config, progress=progress, item_embeddings=item_embeddings)
    bar.close()
    if save:
        result.model.save(save)
    metrics = dict(result.metrics)
    metrics.update(measure_latency(result.model, dataset, seed=config.seed))
    metrics["timings"] = result.timings
    metrics["device"] = result.device
    return metrics


def add_dataset_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the data set and training options every evaluation CLI takes (this one, protocols.py)."""
    parser.add_argument("path", nargs="?", help="MovieLens folder (movies.csv+ratings.csv or u.item+u.data)")
    parser.add_argument("--interactions", help="CSV: user_id,item_id,timestamp[,event_type,value]")
    parser.add_argument("--items", help="CSV: item_id,title[,description,category,tags,...]")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--max-epochs", type=int, default=None)


def dataset_and_config(parser: argparse.ArgumentParser, args: argparse.Namespace) -> tuple[Dataset, RerankerConfig]:
    """Load the data set the arguments name and the config they set (see add_dataset_arguments)."""
    if args.path:
        dataset = load_movielens(args.path)
    elif args.interactions and args.items:
        dataset = load_generic_csv(args.interactions, args.items)
    else:
        parser.error("give a MovieLens PATH or both --interactions and --items")
    config = RerankerConfig(seed=args.seed)
    if args.max_epochs:
        config.max_epochs = args.max_epochs
    return dataset, config


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m reranking.ml.evaluate", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    add_dataset_arguments(parser)
    parser.add_argument("--json", dest="json_out", help="write the report here")
    parser.add_argument("--save", help="also save the production model into this folder")
    parser.add_argument("--protocols", action="store_true",
                        help="also run the live-serving protocols: cold items and unseen users (protocols.py)")
    args = parser.parse_args(argv)
    dataset, config = dataset_and_config(parser, args)
    print(f"{dataset.n_users} users, {dataset.n_items} items, {len(dataset.event_items)} events "
          f"({dataset.n_dropped} dropped: unknown item)")
    metrics = run(dataset, config, save=args.save)
    print(format_table(metrics))
    n = config.n_candidates
    print(f"candidate recall@{n}: {metrics.get(f'candidate_recall@{n}', 0.0):.4f}   "
          f"users evaluated: {metrics['users_evaluated']}   left out (<3 events): {metrics['users_left_out']}")
    t = metrics["timings"]
    print(f"train: {metrics['train_seconds']:.1f}s (embedding {t['embedding']:.1f}s, candidates {t['candidates']:.1f}s, "
          f"network {t['training']:.1f}s, best epoch {metrics['best_epoch']}) on {metrics['device']}; "
          f"evaluation {t['evaluating']:.1f}s")
    print(f"rerank 200 candidates: p50 {metrics['score_ms_p50']:.2f} ms, p95 {metrics['score_ms_p95']:.2f} ms; "
          f"recommend: {metrics['recommend_users_per_second']:.0f} users/s")
    if args.protocols:
        from .protocols import run_protocols  # protocols.py imports this module's argument helpers

        metrics["protocols"] = run_protocols(dataset, config)
    if args.json_out:
        with open(args.json_out, "w", encoding="utf-8") as f:
            json.dump(metrics, f, indent=2, default=bool)
    return 0


if __name__ == "__main__":
    sys.exit(main())
