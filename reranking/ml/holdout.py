"""Score an evaluation stage's users in slices and combine their per-user results into the stage's metrics.

A slice's result is arrays only (each method's top 10 per user, the targets, whether the candidate list
held the target), so slices can be scored by different processes and combined exactly: the metrics of
the concatenated arrays are the metrics of scoring every user at once. `TestJob` holds what scoring the
test stage needs (the trained network, the test-stage first stage, the sampled users' histories and
targets) and nothing of the Dataset, and saves to a folder another worker can load.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch

from .artifact import Reranker
from .config import RerankerConfig
from .data import Dataset, Split
from .metrics import ranking_metrics
from .model import RerankerNet, gap_buckets, history_tensors
from .sources import SOURCES, FirstStage, Queries, reuse_buffers, rows_per_batch, work_matrix

USERS_FILE = "users.npz"


@dataclass
class EvalLists:
    """Everything fixed for one evaluation stage: targets, baseline top-10s, candidates and their features."""

    targets: np.ndarray  # (U,)
    tops: dict[str, np.ndarray]  # method -> (U, 10)
    cand: np.ndarray  # (U, N) item indices, -1 pads
    feats: torch.Tensor  # (U, N, F)
    history: tuple[torch.Tensor, torch.Tensor, torch.Tensor]  # (U, L) each


@reuse_buffers()
def eval_lists(config: RerankerConfig, fs: FirstStage, q: Queries, types: list[np.ndarray], targets: np.ndarray,
               step: int | None = None) -> EvalLists:
    """Score baselines and build candidate lists for the queries, `step` queries at a time (by catalogue size)."""
    tops: dict[str, list[np.ndarray]] = {}
    cands, feats, h_items, h_types, h_gaps = [], [], [], [], []
    step = step or rows_per_batch(fs.n_items)
    for start in range(0, len(q), step):
        qb, tb = q.slice(start, start + step), types[start:start + step]
        scores = fs.source_scores(qb)
        rows, cols = fs.seen_index(qb)
        for name in ("popularity", *SOURCES):
            s = work_matrix("top10", tuple(scores[name].shape)).copy_(scores[name])
            s[rows, cols] = -torch.inf  # metrics exclude history items for every method
            tops.setdefault(name, []).append(torch.topk(s, 10, dim=1).indices.numpy())
        cand, feat = fs.candidates(qb, config.exclude_seen, scores=scores)
        tops.setdefault("candidates", []).append(cand[:, :10])
        cands.append(cand)
        feats.append(torch.from_numpy(feat))
        h = history_tensors(qb.items, tb, [gap_buckets(t) for t in qb.times], config.max_history)
        h_items.append(h[0]); h_types.append(h[1]); h_gaps.append(h[2])
    return EvalLists(targets, {k: np.concatenate(v) for k, v in tops.items()}, np.concatenate(cands),
                     torch.cat(feats), (torch.cat(h_items), torch.cat(h_types), torch.cat(h_gaps)))


@torch.no_grad()
def rerank_top(net: RerankerNet, lists: EvalLists, device: torch.device, k: int = 10, step: int = 256) -> np.ndarray:
    """Return (U, k) re-ranked item indices (-1 where the list ran out)."""
    net.eval()
    out = []
    for start in range(0, len(lists.targets), step):
        sl = slice(start, start + step)
        cand = lists.cand[sl]
        with torch.autocast("cuda", dtype=torch.bfloat16, enabled=device.type == "cuda"):
            scores = net(*(h[sl].to(device) for h in lists.history), torch.from_numpy(cand + 1).to(device),
                         lists.feats[sl].to(device)).float().cpu().numpy()
        order = np.argsort(-scores, axis=1, kind="stable")[:, :k]
        out.append(np.where(np.isfinite(np.take_along_axis(scores, order, 1)), np.take_along_axis(cand, order, 1), -1))
    return np.concatenate(out) if out else np.zeros((0, k), np.int64)


def per_user(lists: EvalLists, net: RerankerNet, device: torch.device, step: int = 256) -> dict[str, np.ndarray]:
    """Return the stage's per-user results: each method's (U, 10) top, "targets" (U,), "recalled" (U,) bool."""
    recalled = (lists.cand == lists.targets[:, None]).any(1) if len(lists.targets) else np.zeros(0, bool)
    return {**lists.tops, "reranker": rerank_top(net, lists, device, step=step), "targets": lists.targets,
            "recalled": recalled}


def combine(parts: list[dict[str, np.ndarray]], n_items: int) -> tuple[dict[str, dict[str, float]], float]:
    """Return each method's metrics and the candidate recall over the users of every part, in order.

    Exact: the parts' arrays are concatenated and measured once (coverage needs the union of items shown,
    the interval every user's NDCG), so any cut of the users into parts gives the same numbers.
    """
    assert parts, "at least one part"
    joined = {key: np.concatenate([p[key] for p in parts]) for key in parts[0]}
    targets, recalled = joined.pop("targets"), joined.pop("recalled")
    methods = {name: ranking_metrics(top, targets, n_items) for name, top in joined.items()}
    return methods, float(recalled.mean()) if len(recalled) else 0.0


@dataclass
class TestJob:
    """The test stage of one training run: the model to score with and the sampled users' histories.

    `model` carries the trained network and the first stage fit with each user's validation event as
    history (not the production one). User u's history is items/times/types[offsets[u]:offsets[u + 1]].
    """

    model: Reranker
    offsets: np.ndarray  # (U + 1,) int64
    items: np.ndarray  # (H,) int64 item indices, oldest first per user
    times: np.ndarray  # (H,) float64
    types: np.ndarray  # (H,) int64
    targets: np.ndarray  # (U,) the held-out test item per user

    __test__ = False  # not a pytest class, whatever its name

    @classmethod
    def build(cls, config: RerankerConfig, ds: Dataset, split: Split, fs: FirstStage, net: RerankerNet,
              users: np.ndarray) -> "TestJob":
        """Collect the test-stage histories and targets of `users` (eval users) from the data set."""
        events = [split.history(u, "test") for u in users]
        flat = np.concatenate(events) if events else np.zeros(0, np.int64)
        offsets = np.concatenate([[0], np.cumsum([len(e) for e in events], dtype=np.int64)]).astype(np.int64)
        targets = np.array([ds.event_items[split.target(u, "test")] for u in users], dtype=np.int64)
        return cls(Reranker(config, ds.item_ids, ds.event_type_names, net, fs), offsets, ds.event_items[flat],
                   ds.timestamps[flat], ds.event_types[flat], targets)

    def __len__(self) -> int:
        return len(self.targets)

    @property
    def batch(self) -> int:
        """Queries scored at once: slices cut on multiples of it score every batch exactly as one process would."""
        return rows_per_batch(self.model.first_stage.n_items)

    def slices(self, size: int) -> list[tuple[int, int]]:
        """Return [start, stop) bounds of about `size` users each, on multiples of `batch` when size allows."""
        if size >= self.batch:
            size = -(-size // self.batch) * self.batch
        size = max(1, size)
        return [(start, min(start + size, len(self))) for start in range(0, len(self), size)]

    def queries(self, start: int, stop: int) -> tuple[Queries, list[np.ndarray], np.ndarray]:
        """Return users [start, stop)'s queries (query time = last history event), event types and targets."""
        cut = [slice(self.offsets[u], self.offsets[u + 1]) for u in range(start, stop)]
        times = [self.times[c] for c in cut]
        now = np.array([t[-1] if len(t) else -np.inf for t in times], dtype=np.float64)
        return Queries([self.items[c] for c in cut], times, now), [self.types[c] for c in cut], self.targets[start:stop]

    def save(self, directory: str) -> None:
        """Write the model (Reranker.save) and the users' arrays into `directory`."""
        self.model.save(directory)
        np.savez(os.path.join(directory, USERS_FILE), offsets=self.offsets, items=self.items, times=self.times,
                 types=self.types, targets=self.targets)

    @classmethod
    def load(cls, directory: str, device: str = "cpu") -> "TestJob":
        """Load a job saved by `save`. Raises CorruptArtifact (model) or OSError (users) when unreadable."""
        model = Reranker.load(directory, device)
        with np.load(os.path.join(directory, USERS_FILE)) as users:
            return cls(model, **{k: users[k] for k in ("offsets", "items", "times", "types", "targets")})


def score_users(job: TestJob, start: int, stop: int) -> dict[str, np.ndarray]:
    """Score users [start, stop) of the job; return their per-user results (see `per_user`)."""
    m = job.model
    q, types, targets = job.queries(start, stop)
    lists = eval_lists(m.config, m.first_stage, q, types, targets, step=job.batch)
    return per_user(lists, m.net, m.device, step=job.batch)


def score_here(job: TestJob) -> list[dict[str, np.ndarray]]:
    """Score every user of the job in this process (one part)."""
    return [score_users(job, 0, len(job))]


# Scores a job's users and returns per-user parts that cover them in order (score_here, or workers').
TestScorer = Callable[[TestJob], list[dict[str, np.ndarray]]]
