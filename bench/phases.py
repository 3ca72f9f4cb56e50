"""Where one tenant's training time and memory go: wall, CPU and peak RSS per phase, in one process.

    .venv/bin/python bench/phases.py [--size 1e5] [--embed] [--seed 0]

Generates the same synthetic shop as bench/scale.py (no database: the ML core only), then runs the
phases of a training run and of precompute in this process: text embedding (MiniLM with --embed;
otherwise random unit vectors, to see the rest quickly), training (train.py's own phases: candidates,
network epochs, evaluation, production fit) and recommending every user (what precompute shards do).
Peak RSS is per phase: the kernel's high-water mark (VmHWM) is reset before each phase (clear_refs 5).
"""
from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def rss() -> tuple[int, int]:
    """Return (current, peak since the last reset) resident set in bytes."""
    fields = dict(line.split(":", 1) for line in Path("/proc/self/status").read_text().splitlines() if ":" in line)
    return int(fields["VmRSS"].split()[0]) * 1024, int(fields["VmHWM"].split()[0]) * 1024


def reset_peak() -> None:
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        pass  # not Linux, or not allowed: the peak is then the process's since start


def cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


class Phases:
    """Record wall, CPU and peak RSS per named phase; `switch` ends the current phase and starts the next."""

    def __init__(self) -> None:
        self.rows: list[dict] = []
        self.name: str | None = None

    def switch(self, name: str | None) -> None:
        if name == self.name:
            return
        if self.name is not None:
            now, peak = rss()
            self.rows.append({"phase": self.name, "wall_s": time.perf_counter() - self.wall, "cpu_s": cpu() - self.cpu,
                              "peak_mib": peak / 2**20, "end_mib": now / 2**20})
        self.name = name
        reset_peak()
        self.wall, self.cpu = time.perf_counter(), cpu()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", default="1e5", help="interactions")
    parser.add_argument("--embed", action="store_true", help="embed texts with MiniLM (else random vectors)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", default="")
    args = parser.parse_args()

    import numpy as np

    from bench.scale import shop
    from reranking.ml.artifact import History
    from reranking.ml.config import RerankerConfig
    from reranking.ml.data import Dataset
    from reranking.ml.text import TextEncoder
    from reranking.ml.train import train

    phases = Phases()
    phases.switch("generate + dataset")
    n = int(float(args.size))
    items, events = shop(n, seed=n % 1000 + 11)
    texts = [". ".join([i["title"], i["category"], " ".join(i["tags"]), i["description"]]) for i in items]
    ds = Dataset.from_arrays(
        item_ids=[i["item_id"] for i in items], item_texts=texts, user_ids=[e["user_id"] for e in events],
        event_item_ids=[e["item_id"] for e in events],
        timestamps=[time.mktime(time.strptime(e["timestamp"][:19], "%Y-%m-%dT%H:%M:%S")) for e in events],
        event_types=[e["event_type"] for e in events])
    del items, events
    print(f"{len(ds.event_items):,} interactions, {ds.n_items:,} items, {ds.n_users:,} users", flush=True)
    phases.switch("embedding")
    if args.embed:
        emb = TextEncoder.shared().encode(ds.item_texts)
    else:
        emb = np.random.default_rng(0).standard_normal((ds.n_items, 384)).astype(np.float32)
        emb /= np.linalg.norm(emb, axis=1, keepdims=True)

    def progress(phase: str, fraction: float) -> None:
        phases.switch("training" if phase.startswith("training") else phase)

    result = train(ds, RerankerConfig(seed=args.seed), item_embeddings=emb, progress=progress)
    phases.switch("production fit")  # train() reports nothing after evaluating
    model = result.model
    phases.switch("precompute (all users)")
    seqs = ds.user_sequences()
    for start in range(0, len(seqs), 1024):
        histories = [History([ds.item_ids[i] for i in ds.event_items[s][-200:]], ds.timestamps[s][-200:].tolist(),
                             [ds.event_type_names[t] for t in ds.event_types[s][-200:]]) for s in seqs[start:start + 1024]]
        model.recommend(histories, k=100)
    phases.switch(None)
    usage = resource.getrusage(resource.RUSAGE_SELF)
    print(f"\n{'phase':<24}{'wall s':>9}{'CPU s':>9}{'peak MiB':>10}{'end MiB':>9}")
    for r in phases.rows:
        print(f"{r['phase']:<24}{r['wall_s']:>9.1f}{r['cpu_s']:>9.1f}{r['peak_mib']:>10,.0f}{r['end_mib']:>9,.0f}")
    print(f"process peak RSS {usage.ru_maxrss / 1024:,.0f} MiB; train timings {json.dumps({k: round(v, 1) for k, v in result.timings.items()})}")
    print(f"best epoch {result.metrics['best_epoch']}, val NDCG@10 {result.metrics['validation']['reranker']['ndcg@10']:.4f}")
    if args.json:
        Path(args.json).write_text(json.dumps({"phases": phases.rows, "metrics": result.metrics, "timings": result.timings},
                                              indent=2, default=str))


if __name__ == "__main__":
    main()
