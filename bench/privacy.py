"""Cost of differential privacy: re-ranker NDCG@10 on ml-latest-small, non-private and DP at several epsilons.

    python bench/privacy.py [PATH] [--epsilons 8,4,1] [--modes network,end_to_end] [--seed N] [--dp-epochs N]
                            [--dp-batch-users N]
                            [--reference-ndcg X]   # skip the non-private run, compare with X (bench/quality.py)
    python bench/privacy.py --merge bench/out/privacy-network-8_4.json ...  # several runs: one table, one plot

Two DP modes (RerankerConfig.dp_mode): "network" = DP-SGD on the network only (the first stage is exact);
"end_to_end" = the first stage's counts private too (reranking/ml/private_first_stage.py), epsilon for the
whole run. Every row is the leave-last-out protocol of reranking/ml/evaluate.py (same `run`), with the MiniLM
item embeddings computed once and shared (kept in bench/out/). Prints a table and writes
bench/out/privacy.{json,png}. Goals: network mode at epsilon 8 keeps >= 80% of the non-private NDCG@10; end to
end at epsilon 8 keeps >= 70% and beats popularity at epsilon 1. Timings are wall-clock on a possibly shared
machine.
"""
from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import os
import sys

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from reranking.ml.config import RerankerConfig  # noqa: E402
from reranking.ml.data import load_movielens  # noqa: E402
from reranking.ml.evaluate import run  # noqa: E402
from reranking.ml.text import TextEncoder  # noqa: E402

DEFAULT_PATH = os.path.join(ROOT, "..", "shared", "datasets", "ml-latest-small")
OUT = os.path.join(ROOT, "bench", "out")
GOAL_EPSILON, GOAL_RATIO = 8.0, 0.8
E2E_RATIO, E2E_LOW_EPSILON = 0.7, 1.0
MODE_LABEL = {"network": "DP network only", "end_to_end": "DP end to end"}


def _row(metrics: dict, name: str) -> dict:
    return next(m for m in metrics["methods"] if m["name"] == name)


def plot(rows: list[dict], path: str) -> None:
    """NDCG@10 against epsilon (log axis), with the non-private level, the 80% goal and the merged candidates."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    base = rows[0]
    fig, ax = plt.subplots(figsize=(6, 4))
    for mode, style in (("network", "o-"), ("end_to_end", "s-")):
        private = [r for r in rows if r["epsilon_target"] and r["mode"] == mode]
        if private:
            ax.plot([r["epsilon_spent"] for r in private], [r["ndcg@10"] for r in private], style,
                    label=MODE_LABEL[mode])
    ax.axhline(base["ndcg@10"], color="k", label="non-private re-ranker")
    ax.axhline(E2E_RATIO * base["ndcg@10"], color="k", ls="--", label=f"{E2E_RATIO:.0%} of non-private")
    ax.axhline(base["candidates_ndcg@10"], color="grey", ls=":", label="merged first-stage candidates (exact)")
    ax.axhline(base["popularity_ndcg@10"], color="tab:red", ls="-.", label="popularity")
    ax.set_xscale("log")
    ax.set_xlabel("epsilon spent (per user)")
    ax.set_ylabel("test NDCG@10")
    ax.set_title("ml-latest-small: cost of differential privacy")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def cached_embeddings(texts: list[str]) -> np.ndarray:
    """MiniLM embeddings of `texts`, kept in bench/out/ by a digest of the texts (reruns skip the slow part)."""
    digest = hashlib.sha256("\n".join(texts).encode()).hexdigest()[:16]
    path = os.path.join(OUT, f"embeddings-{digest}.npy")
    if os.path.exists(path):
        return np.load(path)
    embeddings = TextEncoder.shared().encode(texts)
    os.makedirs(OUT, exist_ok=True)
    np.save(path, embeddings)
    return embeddings


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("path", nargs="?", default=DEFAULT_PATH)
    parser.add_argument("--epsilons", default="8,4,1")
    parser.add_argument("--modes", default="network,end_to_end", help="DP modes to run (RerankerConfig.dp_mode)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--dp-epochs", type=int, default=None, help="default: RerankerConfig.dp_epochs")
    parser.add_argument("--dp-batch-users", type=int, default=None, help="default: RerankerConfig.dp_batch_users")
    parser.add_argument("--reference-ndcg", type=float, default=None,
                        help="skip the non-private run and compare with this NDCG@10 (e.g. from bench/quality.py, "
                             "same seed and defaults: its metrics are deterministic)")
    parser.add_argument("--merge", nargs="+", metavar="JSON", help="only merge earlier runs' bench/out/privacy-*.json "
                        "into one table and bench/out/privacy.png (list a network-mode run first)")
    args = parser.parse_args()
    if args.merge:
        return merge(args.merge)

    dataset = load_movielens(os.path.abspath(args.path))
    print(f"{os.path.abspath(args.path)}: {dataset.n_users} users, {dataset.n_items} items, "
          f"{len(dataset.event_items)} events")
    embeddings = cached_embeddings(dataset.item_texts)  # public features: computed once, shared by every row
    base = RerankerConfig(seed=args.seed)
    overrides = {k: v for k, v in (("dp_epochs", args.dp_epochs), ("dp_batch_users", args.dp_batch_users)) if v}
    epsilons = [float(e) for e in args.epsilons.split(",")]
    settings = ([] if args.reference_ndcg else [("non-private", 0.0)]) + \
        [(mode, eps) for mode in args.modes.split(",") for eps in epsilons]
    rows = []
    for mode, eps in settings:
        config = dataclasses.replace(base, dp_epsilon=eps, **({"dp_mode": mode, **overrides} if eps else {}))
        print(f"--- {'non-private' if not eps else f'{MODE_LABEL[mode]}, target epsilon {eps:g}'}", flush=True)
        metrics = run(dataset, config, item_embeddings=embeddings)
        privacy = metrics.get("privacy", {})
        rows.append({"setting": "non-private" if not eps else f"{'e2e' if mode == 'end_to_end' else 'net'} eps {eps:g}",
                     "mode": mode, "epsilon_target": eps,
                     "epsilon_spent": privacy.get("epsilon", float("inf")), "delta": privacy.get("delta", 0.0),
                     "noise_multiplier": privacy.get("noise_multiplier", 0.0),
                     "ndcg@10": _row(metrics, "reranker")["ndcg@10"], "hit@10": _row(metrics, "reranker")["hit@10"],
                     "candidates_ndcg@10": _row(metrics, "candidates")["ndcg@10"],
                     "popularity_ndcg@10": _row(metrics, "popularity")["ndcg@10"],
                     "network_seconds": metrics["timings"]["training"], "train_seconds": metrics["train_seconds"],
                     "privacy": privacy})
        print(f"{rows[-1]['setting']}: NDCG@10 {rows[-1]['ndcg@10']:.4f}, epsilon spent "
              f"{rows[-1]['epsilon_spent']:.2f}, network {rows[-1]['network_seconds']:.0f}s", flush=True)
    if args.reference_ndcg:  # the non-private row is given, not measured
        rows.insert(0, {"setting": "non-private*", "mode": "non-private", "epsilon_target": 0.0,
                        "epsilon_spent": float("inf"), "delta": 0.0, "noise_multiplier": 0.0,
                        "ndcg@10": args.reference_ndcg, "hit@10": float("nan"),
                        "candidates_ndcg@10": rows[0]["candidates_ndcg@10"],
                        "popularity_ndcg@10": rows[0]["popularity_ndcg@10"], "network_seconds": float("nan"),
                        "train_seconds": float("nan"), "privacy": {}})
        print("* non-private NDCG@10 given by --reference-ndcg, not measured in this run")
    os.makedirs(OUT, exist_ok=True)
    part = f"{args.modes.replace(',', '_')}-{args.epsilons.replace(',', '_')}"
    png = os.path.join(OUT, f"privacy-{part}.png" if args.reference_ndcg else "privacy.png")
    summarise(rows, png)
    return 0


def summarise(rows: list[dict], png: str) -> None:
    """Print the table and the goals, write rows as JSON next to the plot, draw the plot."""
    ref = rows[0]["ndcg@10"]
    print(f"\n{'setting':<14}{'eps spent':>10}{'delta':>10}{'sigma':>7}{'NDCG@10':>9}{'hit@10':>8}{'% non-DP':>9}"
          f"{'network s':>10}{'train s':>9}")
    for r in rows:
        spent = "-" if not r["epsilon_target"] else f"{r['epsilon_spent']:.2f}"
        delta = "-" if not r["epsilon_target"] else f"{r['delta']:.1e}"
        print(f"{r['setting']:<14}{spent:>10}{delta:>10}{r['noise_multiplier']:>7.2f}{r['ndcg@10']:>9.4f}"
              f"{r['hit@10']:>8.4f}{r['ndcg@10'] / ref:>9.0%}{r['network_seconds']:>10.1f}{r['train_seconds']:>9.1f}")
    print(f"merged candidates (exact first stage, no network) NDCG@10 {rows[0]['candidates_ndcg@10']:.4f}; "
          f"popularity {rows[0]['popularity_ndcg@10']:.4f}")
    goal = next((r for r in rows if r["epsilon_target"] == GOAL_EPSILON and r["mode"] == "network"), None)
    if goal:
        ok = goal["ndcg@10"] >= GOAL_RATIO * ref
        print(f"[{'PASS' if ok else 'MISS'}] network-only DP NDCG@10 at epsilon {GOAL_EPSILON:g} >= {GOAL_RATIO:.0%} "
              f"of non-private: {goal['ndcg@10']:.4f} = {goal['ndcg@10'] / ref:.0%}")
    e2e = {r["epsilon_target"]: r for r in rows if r["mode"] == "end_to_end"}
    if GOAL_EPSILON in e2e:
        r = e2e[GOAL_EPSILON]
        print(f"[{'PASS' if r['ndcg@10'] >= E2E_RATIO * ref else 'MISS'}] end-to-end NDCG@10 at epsilon "
              f"{GOAL_EPSILON:g} >= {E2E_RATIO:.0%} of non-private: {r['ndcg@10']:.4f} = {r['ndcg@10'] / ref:.0%}")
    if E2E_LOW_EPSILON in e2e:
        r, pop = e2e[E2E_LOW_EPSILON], rows[0]["popularity_ndcg@10"]
        print(f"[{'PASS' if r['ndcg@10'] > pop else 'MISS'}] end-to-end NDCG@10 at epsilon {E2E_LOW_EPSILON:g} "
              f"beats popularity: {r['ndcg@10']:.4f} vs {pop:.4f}")
    for r in rows:
        if r["mode"] == "end_to_end":
            fs = r["privacy"].get("first_stage", {})
            print(f"{r['setting']}: whole-run epsilon {r['epsilon_spent']:.2f} = first stage "
                  f"{fs.get('epsilon', 0):.2f} "
                  f"(sigma {fs.get('noise_multiplier', 0):.2f}, {fs.get('clusters', '?')} text clusters) + DP-SGD (sigma "
                  f"{r['noise_multiplier']:.2f}), composed with the {r['privacy'].get('accountant', 'PRV')} accountant; "
                  f"its private merged candidates alone NDCG@10 {r['candidates_ndcg@10']:.4f}")
    print("timings are wall-clock; on a shared machine compare ratios, not seconds")
    with open(png[:-4] + ".json", "w", encoding="utf-8") as f:
        json.dump(rows, f, indent=2, default=float)
    plot(rows, png)
    print(f"plot: {png}")


def merge(paths: list[str]) -> int:
    """Put the rows of several runs' JSON (e.g. one per mode, run side by side) into one table and one plot.

    The first file's first row is the reference (non-private) row; its exact-first-stage candidates and
    popularity figures are those of a network-mode run, so list a network-mode file first.
    """
    rows: list[dict] = []
    for n, path in enumerate(paths):
        with open(path, encoding="utf-8") as f:
            part = json.load(f)
        rows += part if n == 0 else [r for r in part if r["epsilon_target"]]
    summarise(rows, os.path.join(OUT, "privacy.png"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
