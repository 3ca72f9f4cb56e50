"""Shilling attacks on ml-latest-small: how far a pushed item rises in honest users' lists, with and without defences.

    .venv/bin/python bench/faults/shilling.py [PATH] [--fake-users 200] [--burst-users 5] [--epochs N]
        [--scenarios clean,clean-cap,clean-defended,fake,fake-capped,fake-defended,burst,burst-defended]

Honest data: every ml-latest-small rating; each honest user's last rating is held out (never trained on)
and is the NDCG@10 target, so the defences' cost on honest quality is visible. The pushed item is an
unpopular film (3 ratings). Two attacks, each injected after the last honest event:

  many fake users  --fake-users new users, each rating 20 of the 100 most popular films plus the target,
                   30 s apart (a slow, human-looking pace: no rate limit can tell them from real users);
  burst            --burst-users new users, each sending 400 events in one minute, every other one the
                   target (a script hammering the API).

Defences: the ingestion rate limit (the tenant defaults from TrainingPolicy, applied to the injected
stream in arrival order with the same decision function ingestion uses; honest history is an import,
which is not limited), the training contribution cap (RerankerConfig.max_examples_per_user at the
tenant default) and the new-user bound (new_user_days and new_user_item_floor at the tenant defaults:
per item, users first seen within the last days count as at most max(floor, established users);
reranking/ml/robust.py). Each scenario trains the ML core directly (same config, same seed, text embeddings
computed once); metrics are over honest users only, from their training history.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from collections import defaultdict
from dataclasses import replace
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")

DEFAULT_PATH = ROOT.parent / "shared" / "datasets" / "ml-latest-small"
OUT = ROOT / "bench" / "out"
WINDOWS = (60, 3600)


def tenant_defaults() -> tuple[int, int, int, int, int]:
    """The defaults a new tenant gets: per-minute and per-hour event limits, contribution cap, new-user bound."""
    import django

    django.setup()
    from reranking.models import TrainingPolicy

    field = TrainingPolicy._meta.get_field
    return (field("max_events_per_user_minute").default, field("max_events_per_user_hour").default,
            field("max_examples_per_user").default, field("new_user_days").default,
            field("new_user_item_floor").default)


def rate_limited(events: list[tuple], per_minute: int, per_hour: int) -> list[tuple]:
    """Keep the events ingestion would store if they arrived live at their timestamps, one at a time."""
    from reranking.services.ratelimit import Limits, grant_counts

    limits = Limits(per_minute, per_hour)
    used: dict[tuple, int] = defaultdict(int)
    kept = []
    for event in sorted(events, key=lambda e: e[2]):
        user, stamp = event[0], event[2]
        keys = [(user, w, int(stamp // w)) for w in WINDOWS]
        if grant_counts({user: tuple(used[k] for k in keys)}, {user: 1}, limits)[user]:
            for k in keys:
                used[k] += 1
            kept.append(event)
    return kept


def attacks(ds, rng: np.random.Generator, target: str, popular: list[str], t_end: float, n_fake: int,
            n_burst: int) -> dict[str, list[tuple]]:
    """Return the injected (user, item, timestamp) events of each attack."""
    fake = []
    for u in range(n_fake):
        films = list(rng.choice(popular, size=20, replace=False))
        films.insert(int(rng.integers(5, 21)), target)  # after some popular films: "people who watched X..."
        start = t_end + 3600 + u * 120.0
        fake += [(f"shill-{u}", film, start + 30.0 * k) for k, film in enumerate(films)]
    burst = []
    for u in range(n_burst):
        start = t_end + 3600 + u * 7.0
        burst += [(f"burst-{u}", target if k % 2 else str(rng.choice(popular)), start + 0.15 * k) for k in range(400)]
    return {"many fake users": fake, "burst": burst}


def run_scenario(name: str, ds, honest: list[tuple], injected: list[tuple], config, embeddings,
                 target: str, held_out: dict[str, str]) -> dict:
    from reranking.ml.artifact import History
    from reranking.ml.data import Dataset
    from reranking.ml.train import train

    events = honest + injected
    data = Dataset.from_arrays(ds.item_ids, ds.item_texts, [e[0] for e in events], [e[1] for e in events],
                               [e[2] for e in events])
    clock = time.perf_counter()
    model = train(data, config, item_embeddings=embeddings, evaluate=False).model
    seconds = time.perf_counter() - clock
    sequences = data.user_sequences()
    users = [u for u in range(data.n_users) if data.user_ids[u] in held_out]
    histories = [History(item_ids=[data.item_ids[i] for i in data.event_items[sequences[u]]],
                         timestamps=list(data.timestamps[sequences[u]])) for u in users]
    ranks_target, ndcg = [], []
    for start in range(0, len(histories), 256):
        lists = model.recommend(histories[start:start + 256], k=200)
        for u, ranked in zip(users[start:start + 256], lists):
            ids = [item for item, _ in ranked]
            ranks_target.append(ids.index(target) + 1 if target in ids else 201)
            truth = held_out[data.user_ids[u]]
            rank = ids.index(truth) + 1 if truth in ids[:10] else 0
            ndcg.append(1.0 / np.log2(rank + 1) if rank else 0.0)
    ranks = np.array(ranks_target)
    row = {"scenario": name, "injected": len(injected), "top10": float((ranks <= 10).mean()),
           "top100": float((ranks <= 100).mean()), "mean_rank": float(ranks.mean()), "ndcg": float(np.mean(ndcg)),
           "seconds": seconds, "honest_users": len(users)}
    print(f"  {name:<44} injected {len(injected):>6}  target in top-10 {row['top10']:6.1%}  top-100 "
          f"{row['top100']:6.1%}  mean rank {row['mean_rank']:6.1f}  honest NDCG@10 {row['ndcg']:.4f}  "
          f"({seconds:.0f} s)", flush=True)
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("path", nargs="?", default=str(DEFAULT_PATH))
    parser.add_argument("--fake-users", type=int, default=200)
    parser.add_argument("--burst-users", type=int, default=5)
    parser.add_argument("--epochs", type=int, default=0, help="override max_epochs (0: the default config's)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--scenarios", default="clean,clean-defended,fake,fake-capped,fake-defended,burst,burst-defended",
                        help="comma-separated subset; the first is the reference of the summary")
    parser.add_argument("--max-users", type=int, default=0, help="keep only the first N honest users (quick check)")
    args = parser.parse_args()

    per_minute, per_hour, cap, new_days, new_floor = tenant_defaults()
    from reranking.ml.config import RerankerConfig
    from reranking.ml.data import load_movielens
    from reranking.ml.text import TextEncoder

    ds = load_movielens(args.path)
    rng = np.random.default_rng(args.seed)
    sequences = ds.user_sequences()
    if args.max_users:
        sequences = sequences[: args.max_users]
    last = {int(seq[-1]) for seq in sequences if len(seq) >= 3}
    held_out = {ds.user_ids[ds.event_users[e]]: ds.item_ids[ds.event_items[e]] for e in last}
    honest = [(ds.user_ids[ds.event_users[e]], ds.item_ids[ds.event_items[e]], float(ds.timestamps[e]))
              for seq in sequences for e in seq.tolist() if e not in last]
    counts = defaultdict(int)
    for _, item, _ in honest:
        counts[item] += 1
    by_count = sorted(counts, key=lambda i: -counts[i])
    popular = by_count[:100]
    target = str(rng.choice(sorted(i for i, c in counts.items() if c == 3)))
    t_end = max(e[2] for e in honest)
    injected = attacks(ds, rng, target, popular, t_end, args.fake_users, args.burst_users)

    cache = OUT / "ml-small-minilm.npy"
    if cache.exists() and np.load(cache).shape[0] == ds.n_items:
        embeddings = np.load(cache)
    else:
        print("embedding item texts once (MiniLM)...", flush=True)
        embeddings = TextEncoder.shared().encode(ds.item_texts)
        cache.parent.mkdir(parents=True, exist_ok=True)
        np.save(cache, embeddings)
    config = RerankerConfig(seed=args.seed)
    if args.epochs:
        config = replace(config, max_epochs=args.epochs)
    capped = replace(config, max_examples_per_user=cap)
    defended = replace(capped, new_user_days=new_days, new_user_item_floor=new_floor)
    burst_limited = rate_limited(injected["burst"], per_minute, per_hour)
    fake_limited = rate_limited(injected["many fake users"], per_minute, per_hour)

    title = next((t for i, t in zip(ds.item_ids, ds.item_texts) if i == target), "")[:60]
    print(f"{args.path}: {len(honest):,} honest training events, {len(held_out)} honest users with a held-out "
          f"last rating; target item {target} ({counts[target]} ratings): {title}")
    print(f"tenant defaults: rate limit {per_minute}/minute and {per_hour}/hour per end user; contribution cap "
          f"{cap} examples per user; new-user bound: users first seen within {new_days} days count as at most "
          f"max({new_floor}, established users) per item. max_epochs {config.max_epochs}, seed {args.seed}.")
    print(f"rate limit on the injected streams: many fake users {len(fake_limited)}/{len(injected['many fake users'])} "
          f"events kept; burst {len(burst_limited)}/{len(injected['burst'])} kept")
    scenarios = {
        "clean": ("no attack", [], config),
        "clean-cap": ("no attack, contribution cap", [], capped),
        "clean-defended": ("no attack, all defences", [], defended),
        "fake": (f"{args.fake_users} fake users, no defence", injected["many fake users"], config),
        "fake-capped": (f"{args.fake_users} fake users, rate limit + cap", fake_limited, capped),
        "fake-defended": (f"{args.fake_users} fake users, all defences", fake_limited, defended),
        "burst": (f"burst ({args.burst_users} users), no defence", injected["burst"], config),
        "burst-defended": (f"burst ({args.burst_users} users), all defences", burst_limited, defended),
    }
    rows = [run_scenario(name, ds, honest, events, cfg, embeddings, target, held_out)
            for key, (name, events, cfg) in scenarios.items() if key in args.scenarios.split(",")]
    base = rows[0]
    print("\nWhat each defence bounds (from the rows above):")
    for row in rows[1:]:
        print(f"  {row['scenario']:<44} target top-10 share {base['top10']:.1%} -> {row['top10']:.1%}; "
              f"honest NDCG@10 {row['ndcg'] / max(base['ndcg'], 1e-9):.2f}x that of '{base['scenario']}'")


if __name__ == "__main__":
    main()
