"""Model selection: serve the re-ranker only where it beats the best first-stage source on validation.

On small shops (a few hundred users, ~150 items) the network can learn no more than the transition
or kNN source it re-orders, and may do worse. Training already measures every source and the network
on the same validation lists (train.py, metrics["validation"]); this picks what the version serves.
The re-ranker is served only when its NDCG@10 beats the best source's by more than `margin` (relative):
a near tie goes to the source, which is as good within noise, simpler to explain and cheaper to serve
live. On generated shops where the network cannot learn more than a source (bench/selection.py) the
source was never worse on test than the re-ranker; on ml-latest-small the re-ranker wins by ~20%.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

from .sources import SOURCES

NAMES = {
    "reranker": "the transformer re-ranker", "transition": "the transition source", "item_knn": "the item-kNN source",
    "als": "the ALS source", "text": "the text-similarity source", "recent_popularity": "recent popularity",
}


@dataclass
class Selection:
    served: str  # "reranker" or a source name
    reranker_ndcg: float
    best_source: str
    best_source_ndcg: float
    margin: float
    reason: str

    def to_dict(self) -> dict:
        return asdict(self)


def choose(validation: dict, margin: float) -> Selection | None:
    """Return what to serve from validation metrics ({method: {"ndcg@10": x}}), or None if they lack a method."""
    try:
        ours = float(validation["reranker"]["ndcg@10"])
        sources = {name: float(validation[name]["ndcg@10"]) for name in SOURCES if name in validation}
    except (KeyError, TypeError, ValueError):
        return None
    if not sources:
        return None
    best = max(sources, key=lambda name: (sources[name], name))
    theirs = sources[best]
    if ours > theirs * (1.0 + margin):
        served = "reranker"
        reason = (f"This version serves {NAMES['reranker']}: validation NDCG@10 {ours:.3f} against "
                  f"{theirs:.3f} for the best single source ({NAMES[best]}).")
    elif ours > theirs:
        served = best
        reason = (f"{NAMES['reranker'].capitalize()} was only {100 * (ours / theirs - 1):.1f}% better than "
                  f"{NAMES[best]} on your data (validation NDCG@10 {ours:.3f} vs {theirs:.3f}), within the "
                  f"{100 * margin:g}% margin for noise, so this version serves {NAMES[best]}: as good, and "
                  "simpler and cheaper to serve.")
    else:
        served = best
        reason = (f"{NAMES['reranker'].capitalize()} did not beat {NAMES[best]} on your data "
                  f"(validation NDCG@10 {ours:.3f} vs {theirs:.3f}), so this version serves {NAMES[best]}.")
    return Selection(served, ours, best, theirs, margin, reason)
