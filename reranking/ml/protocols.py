"""Offline protocols for live serving: cold items and unseen users (pure: no Django).

    python -m reranking.ml.protocols PATH [--protocol cold-items|unseen-users|both] [--folds N] [--max-epochs N] [--json OUT]

cold items: items whose first event falls in the last 10% of time are hidden from training (the model is
    trained on the events before that cut, over the other items). Test cases are the events after the cut
    on such an item (at most 1000, sampled), each with the user's earlier events as history. The served
    path is what serving does for a catalogue that grew since training: the model's list for the
    history, its head re-scored together with the 20 new items closest by text and the 20 new items with
    the most events so far (Reranker.rerank_with_new, which scores new items through the text
    projection), 2 of the first 10 places going to the best new items (exploration). Baselines:
    popularity up to the request time (the only popularity that can rank a new item) and text
    similarity alone (cosine to the mean of the last 20 history items).
unseen users: 10% of users are left out of training entirely and served from their history at request
    time (Reranker.recommend, as serving does for a user without a stored ranking). Trained users and
    unseen users are both scored on their last event, which no model saw; trained users' NDCG is also
    reported re-weighted to the unseen users' history lengths, so the two compare at the same length.
    With several folds each left-out user is also trained in the other folds' models: the same users,
    histories and targets scored both ways (a paired ratio, free of who happened to be left out).
"""
from __future__ import annotations

import argparse
import json
import sys

import numpy as np

from .artifact import History, Reranker
from .config import RerankerConfig
from .data import Dataset
from .evaluate import add_dataset_arguments, dataset_and_config
from .metrics import ranking_metrics
from .train import train

K = 10
NEAR_NEW = 20  # serving's NEWER_CANDIDATES
QUERY = 20  # serving's NEWER_QUERY: last history items the texts are compared with
HEAD = 100  # serving's FRESH_RESCORE
EXPLORE = 0.2  # serving's NEWER_EXPLORE: share of the first 10 places for the best new items
MATCHED = "trained ndcg@10 at unseen users' lengths"
PAIRED = "trained ndcg@10 of the same users (other folds)"
LENGTH_BUCKETS = (3, 6, 11, 21, 51, 101, 201, 10**9)  # history lengths compared as one group


def embed(dataset: Dataset) -> np.ndarray:
    """Return the (n_items, 384) MiniLM embeddings of the dataset's item texts."""
    from .text import TextEncoder

    return TextEncoder.shared().encode(dataset.item_texts)


def history_of(dataset: Dataset, events: np.ndarray) -> History:
    return History(
        item_ids=[dataset.item_ids[i] for i in dataset.event_items[events]],
        timestamps=dataset.timestamps[events].tolist(),
        event_types=[dataset.event_type_names[t] for t in dataset.event_types[events]],
    )


def events_subset(dataset: Dataset, keep: np.ndarray, items: np.ndarray) -> Dataset:
    """Return a dataset of the kept events over only `items` (the model's vocabulary)."""
    return Dataset.from_arrays(
        item_ids=[dataset.item_ids[i] for i in items], item_texts=[dataset.item_texts[i] for i in items],
        user_ids=[dataset.user_ids[u] for u in dataset.event_users[keep]],
        event_item_ids=[dataset.item_ids[i] for i in dataset.event_items[keep]],
        timestamps=dataset.timestamps[keep],
        event_types=[dataset.event_type_names[t] for t in dataset.event_types[keep]],
        values=dataset.values[keep],
    )


def fit(dataset: Dataset, config: RerankerConfig, embeddings: np.ndarray) -> Reranker:
    return train(dataset, config, item_embeddings=embeddings, evaluate=False).model


def top_k(scores: np.ndarray, exclude: np.ndarray, k: int = K) -> np.ndarray:
    """Return the k best item indices of one score row, never one in `exclude`."""
    scores = scores.astype(np.float64, copy=True)
    scores[exclude] = -np.inf
    best = np.argpartition(-scores, k)[:k]
    return best[np.argsort(-scores[best], kind="stable")]


def cold_items(dataset: Dataset, config: RerankerConfig, embeddings: np.ndarray, max_cases: int = 1000,
               seed: int = 0) -> dict:
    """Run the cold-items protocol; return NDCG@10 / HR@10 of the served path and the baselines."""
    cut = float(np.quantile(dataset.timestamps, 0.9))
    first = np.full(dataset.n_items, np.inf)
    np.minimum.at(first, dataset.event_items, dataset.timestamps)
    cold = first >= cut
    warm = np.flatnonzero(~cold)
    keep = (dataset.timestamps < cut) & ~cold[dataset.event_items]
    model = fit(events_subset(dataset, keep, warm), config, embeddings[warm])

    # Cases: every event after the cut on a new item, by a user with a history before it (a user's first
    # such event alone left 61 cases on ml-latest-small, too few to tell methods apart).
    cases = []
    for seq in dataset.user_sequences():
        after = np.flatnonzero((dataset.timestamps[seq] >= cut) & cold[dataset.event_items[seq]])
        cases += [(seq[:a], int(dataset.event_items[seq[a]])) for a in after if a > 0]
    rng = np.random.default_rng(seed)
    if len(cases) > max_cases:
        cases = [cases[i] for i in sorted(rng.choice(len(cases), max_cases, replace=False))]
    new_items = np.flatnonzero(cold)
    new_ids = [dataset.item_ids[i] for i in new_items]
    new_matrix = np.asarray(embeddings[new_items], dtype=np.float32)
    index = {item: i for i, item in enumerate(dataset.item_ids)}
    unit = embeddings / np.linalg.norm(embeddings, axis=1, keepdims=True).clip(min=1e-9)

    # Popularity up to each request: events sorted by time, counted as the cases' times pass.
    order = np.argsort(dataset.timestamps, kind="stable")
    by_time = sorted(range(len(cases)), key=lambda c: dataset.timestamps[cases[c][0][-1]])
    counts = np.zeros(dataset.n_items)
    done = 0
    tops = {"served (model + text)": [None] * len(cases), "popularity": [None] * len(cases),
            "text similarity": [None] * len(cases)}
    for c in by_time:
        history_events, _ = cases[c]
        now = dataset.timestamps[history_events[-1]]
        while done < len(order) and dataset.timestamps[order[done]] <= now:
            counts[dataset.event_items[order[done]]] += 1
            done += 1
        seen = np.unique(dataset.event_items[history_events])
        tops["popularity"][c] = top_k(counts, seen)
        recent = dataset.event_items[history_events][-QUERY:]
        centre = unit[recent].mean(0)
        tops["text similarity"][c] = top_k(unit @ centre, seen)
        history = history_of(dataset, history_events)
        head = [i for i, _ in model.recommend([history], k=HEAD, exclude_seen=True)[0]]
        served = model.rerank_with_new(history, head, new_ids, new_matrix, n_near=NEAR_NEW, query=QUERY,
                                       new_counts=counts[new_items], explore=EXPLORE)
        consumed = set(seen.tolist())
        row = [index[i] for i, _ in served if index[i] not in consumed][:K]
        tops["served (model + text)"][c] = np.array(row + [-1] * (K - len(row)))
    targets = np.array([target for _, target in cases])
    methods = {name: ranking_metrics(np.stack(rows), targets, dataset.n_items) if cases else {}
               for name, rows in tops.items()}
    served, pop, text = (methods[n].get("ndcg@10", 0.0) for n in tops)
    return {
        "protocol": "cold items", "cases": len(cases), "new_items": int(cold.sum()), "trained_items": len(warm),
        "methods": methods,
        # A goal met at zero would say nothing: both need the served path to hit at all.
        "goals": {"served >= 2x popularity": served > 0 and served >= 2 * pop,
                  "served >= text similarity": served > 0 and served >= text},
    }


def length_bucket(n: int) -> int:
    return int(np.searchsorted(LENGTH_BUCKETS, n, side="right"))


def unseen_users(dataset: Dataset, config: RerankerConfig, embeddings: np.ndarray, fraction: float = 0.1,
                 seed: int = 0, folds: int = 1) -> dict:
    """Run the unseen-users protocol; return NDCG@10 of unseen vs trained users and vs popularity.

    With `folds` > 1 the protocol repeats over that many disjoint `fraction`s of the users (one model
    each) and pools the cases: on a data set with a few hundred users one 10% fold is a few dozen users.
    Each left-out user is then also a trained user of the other folds' models, so the ratio is paired:
    their NDCG@10 unseen over their own NDCG@10 trained (the goal reads it). 95% bootstrap intervals
    resample the users (both groups for the length-matched ratio, the pairs for the paired one).
    """
    rng = np.random.default_rng(seed)
    sequences = dataset.user_sequences()
    size = max(1, int(fraction * dataset.n_users))
    order = rng.permutation(dataset.n_users)
    last = np.zeros(len(dataset.timestamps), dtype=bool)
    for seq in sequences:
        if len(seq) >= 3:
            last[seq[-1]] = True  # every user's last event is a target no model sees
    index = {item: i for i, item in enumerate(dataset.item_ids)}
    eligible = np.flatnonzero([len(seq) >= 3 for seq in sequences])
    histories = [history_of(dataset, sequences[u][:-1]) for u in eligible]
    targets = np.array([dataset.event_items[sequences[u][-1]] for u in eligible], dtype=np.int64)
    buckets = np.array([length_bucket(len(sequences[u]) - 1) for u in eligible], dtype=np.int64)
    n_folds = max(1, min(folds, dataset.n_users // size))
    # Per fold and eligible user: the model's top K, and whether that user was left out of the fold's model.
    tops = np.full((n_folds, len(eligible), K), -1, dtype=np.int64)
    held = np.zeros((n_folds, len(eligible)), dtype=bool)
    pop_tops = np.full((len(eligible), K), -1, dtype=np.int64)
    for fold in range(n_folds):
        out = np.zeros(dataset.n_users, dtype=bool)
        out[order[fold * size:(fold + 1) * size]] = True
        keep = ~out[dataset.event_users] & ~last
        model = fit(dataset.subset(keep), config, embeddings)
        popularity = np.bincount(dataset.event_items[keep], minlength=dataset.n_items).astype(float)
        held[fold] = out[eligible]
        for n, row in enumerate(model.recommend(histories, k=K, exclude_seen=True)):
            tops[fold, n, :len(row)] = [index[i] for i, _ in row]
        for n in np.flatnonzero(held[fold]):
            pop_tops[n] = top_k(popularity, np.unique(dataset.event_items[sequences[eligible[n]][:-1]]))
    hit = tops == targets[None, :, None]
    gains = np.where(hit.any(2), 1.0 / np.log2(hit.argmax(2) + 2.0), 0.0)  # (folds, users) NDCG@10
    unseen_rows, unseen_cols = np.nonzero(held)
    trained_rows, trained_cols = np.nonzero(~held)
    unseen_case = np.flatnonzero(held.any(0))  # users left out of some fold (each of at most one)
    result: dict = {"protocol": "unseen users", "fraction_left_out": fraction, "folds": n_folds}
    for name, top, tgt in (("trained", tops[trained_rows, trained_cols], targets[trained_cols]),
                           ("unseen", tops[unseen_rows, unseen_cols], targets[unseen_cols]),
                           ("popularity (unseen users)", pop_tops[unseen_case], targets[unseen_case])):
        result[name] = {**ranking_metrics(top, tgt, dataset.n_items), "users": len(tgt)}
    per_unseen, per_trained = gains[unseen_rows, unseen_cols], gains[trained_rows, trained_cols]
    unseen_b, trained_b = buckets[unseen_cols], buckets[trained_cols]

    # Trained users' NDCG at the unseen users' history lengths: each length bucket weighted as they are.
    n_buckets = len(LENGTH_BUCKETS) + 1

    def matched_ndcg(gain: np.ndarray, bucket: np.ndarray, weights: np.ndarray) -> float:
        count = np.bincount(bucket, minlength=n_buckets)
        means = np.bincount(bucket, gain, minlength=n_buckets) / np.maximum(count, 1)
        return float(np.dot(weights, means) / weights.sum()) if weights.sum() else 0.0
    weights = np.bincount(unseen_b, minlength=n_buckets).astype(float)
    matched = matched_ndcg(per_trained, trained_b, weights)
    unseen = result["unseen"]["ndcg@10"]
    pop = result["popularity (unseen users)"]["ndcg@10"]
    result[MATCHED] = matched
    result["ratio to trained"] = unseen / max(matched, 1e-12)
    draws = 1000
    ratios = []
    for _ in range(draws):  # both groups resampled: the trained side is a sample too
        u = rng.integers(0, len(per_unseen), len(per_unseen))
        t = rng.integers(0, len(per_trained), len(per_trained))
        ratios.append(per_unseen[u].mean() / max(matched_ndcg(per_trained[t], trained_b[t],
                                                              np.bincount(unseen_b[u], minlength=n_buckets)), 1e-12))
    result["ratio to trained, 95% interval"] = [float(np.quantile(ratios, 0.025)), float(np.quantile(ratios, 0.975))]
    target_ratio = result["ratio to trained"]
    if n_folds > 1:
        # Paired: each left-out user's own NDCG@10 as a trained user, averaged over the folds that trained it.
        own = np.where(~held[:, unseen_case], gains[:, unseen_case], 0.0).sum(0) / (~held[:, unseen_case]).sum(0)
        alone = np.where(held[:, unseen_case], gains[:, unseen_case], 0.0).sum(0)  # left out of one fold only
        result[PAIRED] = float(own.mean())
        result["paired ratio"] = float(alone.mean() / max(own.mean(), 1e-12))
        pick = rng.integers(0, len(own), size=(draws, len(own)))
        paired = alone[pick].mean(1) / np.maximum(own[pick].mean(1), 1e-12)
        result["paired ratio, 95% interval"] = [float(np.quantile(paired, 0.025)), float(np.quantile(paired, 0.975))]
        target_ratio = result["paired ratio"]
    result["goals"] = {"unseen >= 90% of trained (same length)": unseen > 0 and target_ratio >= 0.9,
                       "unseen >= 1.5x popularity": unseen > 0 and unseen >= 1.5 * pop}
    return result


def format_report(report: dict) -> str:
    """Return one protocol's report as aligned text."""
    lines = [f"{report['protocol']}:"]
    if report["protocol"] == "cold items":
        lines.append(f"  {report['cases']} cases, {report['new_items']} new items, {report['trained_items']} trained")
        for name, m in report["methods"].items():
            lines.append(f"  {name:<26} ndcg@10 {m.get('ndcg@10', 0):.4f}  hit@10 {m.get('hit@10', 0):.4f}")
    else:
        for name in ("trained", "unseen"):
            m = report[name]
            lines.append(f"  {name + ' users':<26} ndcg@10 {m['ndcg@10']:.4f}  hit@10 {m['hit@10']:.4f}  ({m['users']} users)")
        m = report["popularity (unseen users)"]
        lines.append(f"  {'popularity (unseen)':<26} ndcg@10 {m['ndcg@10']:.4f}  hit@10 {m['hit@10']:.4f}")
        low, high = report["ratio to trained, 95% interval"]
        lines.append(f"  trained ndcg@10 at the unseen users' history lengths: {report[MATCHED]:.4f}; unseen / trained "
                     f"{report['ratio to trained']:.2f} (95% interval {low:.2f} to {high:.2f}, {report['folds']} fold(s))")
        if PAIRED in report:
            low, high = report["paired ratio, 95% interval"]
            lines.append(f"  the same users trained (other folds): {report[PAIRED]:.4f}; unseen / trained "
                         f"{report['paired ratio']:.2f} (95% interval {low:.2f} to {high:.2f}, paired)")
    for goal, met in report["goals"].items():
        lines.append(f"  goal {goal}: {'met' if met else 'MISSED'}")
    return "\n".join(lines)


def run_protocols(dataset: Dataset, config: RerankerConfig, which: str = "both",
                  embeddings: np.ndarray | None = None, folds: int = 1) -> list[dict]:
    """Run the cold-items and/or unseen-users protocol (`which`), printing each report as it ends."""
    embeddings = embed(dataset) if embeddings is None else embeddings
    reports = []
    if which in ("cold-items", "both"):
        reports.append(cold_items(dataset, config, embeddings, seed=config.seed))
        print(format_report(reports[-1]), flush=True)
    if which in ("unseen-users", "both"):
        reports.append(unseen_users(dataset, config, embeddings, seed=config.seed, folds=folds))
        print(format_report(reports[-1]), flush=True)
    return reports


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m reranking.ml.protocols", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    add_dataset_arguments(parser)
    parser.add_argument("--protocol", choices=("cold-items", "unseen-users", "both"), default="both")
    parser.add_argument("--folds", type=int, default=1,
                        help="unseen users: repeat over this many disjoint 10%% folds and pool them (default 1)")
    parser.add_argument("--json", dest="json_out")
    args = parser.parse_args(argv)
    dataset, config = dataset_and_config(parser, args)
    reports = run_protocols(dataset, config, args.protocol, folds=args.folds)
    if args.json_out:
        with open(args.json_out, "w", encoding="utf-8") as f:
            json.dump(reports, f, indent=2, default=bool)
    return 0


if __name__ == "__main__":
    sys.exit(main())
