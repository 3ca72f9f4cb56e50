"""Train the re-ranker under the leave-last-out protocol and return the production model with its metrics.

What the returned model has seen: the network is trained on every user's history without the last two
events (next-item targets at every position, plus listwise targets), early-stopped on the validation
targets (second-last events). Test metrics use first-stage sources refit with the validation event as
history. The production model keeps the early-stopped network and refits every first-stage source
(ALS, kNN, popularity) on all events, so serving sees validation and test items as history too.
"""
from __future__ import annotations

import ctypes
import dataclasses
import functools
import os
import time
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F

from .artifact import Reranker, pick_device
from .config import RerankerConfig
from .data import Dataset, Split, first_positions, leave_last_out
from .holdout import EvalLists, TestJob, TestScorer, combine, eval_lists, per_user, rerank_top, score_here
from .metrics import ranking_metrics
from .model import RerankerNet, gap_buckets, history_tensors
from .private import dp_cap, end_to_end_first_stage, fit_private
from .robust import bound_new_users
from .sources import FirstStage, Queries, reuse_buffers, rows_per_batch, text_neighbours
from .text import TextEncoder

# progress(phase, fraction of that phase done) is called between steps; it may raise Cancelled to stop.
Progress = Callable[[str, float], None]


class Cancelled(Exception):
    """Raised by a progress callback to stop training between two steps (the run was cancelled)."""


@dataclass
class TrainResult:
    model: Reranker
    metrics: dict = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)
    device: str = "cpu"


@dataclass
class ListData:
    """Candidate lists with their history windows; label is the target's position in the list."""

    h_items: torch.Tensor  # (P, L)
    h_types: torch.Tensor  # (P, L)
    h_gaps: torch.Tensor  # (P, L)
    cand: torch.Tensor  # (P, N) item ids +1, 0 = pad
    feats: torch.Tensor  # (P, N, F)
    label: torch.Tensor  # (P,)
    user: torch.Tensor  # (P,) the user whose history and target made the list
    position: torch.Tensor  # (P,) the target's index in that user's training sequence


@functools.cache
def _glibc() -> ctypes.CDLL | None:
    """Return glibc with the two heap calls used here, loaded once; None where there is none (musl, macOS)."""
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.malloc_trim, libc.mallopt  # noqa: B018 - a libc without them is not glibc
    except (OSError, AttributeError):
        return None
    return libc


def release_memory() -> None:
    """Hand the heap pages freed by the phase that just ended back to the OS (glibc's malloc_trim).

    A phase's temporaries (sparse products, score blocks) are freed but glibc keeps their arenas, so
    without this the process's resident size only ever grows. A no-op where there is no glibc.
    """
    if (libc := _glibc()) is not None:
        libc.malloc_trim(0)


# glibc's mallopt parameter, and the size from which an allocation gets its own mapping (see bound_heap).
# Just under the 8 MiB (2^21 cells, sources.rows_per_batch) score matrices: they get their own mappings,
# while training's and scoring's smaller tensors stay on the heap. At 1 MiB every tensor of 1 MiB or more
# was faulted in afresh: training 60.6 s instead of 34.4 at 1e5, precompute 2.3x (EXPERIMENTS.md, "Scale").
M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD_BYTES = 7 << 20


def bound_heap() -> None:
    """Give every allocation of 7 MiB or more its own mapping, so freeing it hands it back to the OS at once.

    glibc raises its mmap threshold to the largest block freed so far (up to 32 MiB); after that the
    (batch, items) float32 score matrices of `FirstStage.candidates` (8 MiB each, ~20 alive per batch) come from
    the heap, where small long-lived objects allocated between batches pin them: at 1e6 interactions the
    candidates and evaluation phases grew to 5.4 and 5.8 GiB of freed but resident heap (EXPERIMENTS.md,
    "Scale"). A fixed threshold also turns off that raising. Process-wide; a no-op where there is no glibc.
    """
    if (libc := _glibc()) is not None:
        libc.mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES)


def set_threads(config: RerankerConfig) -> None:
    """Cap torch threads: small models gain nothing past a few cores, and workers share machines."""
    torch.set_num_threads(config.num_threads or max(1, min(os.cpu_count() or 1, 8)))


def _queries(ds: Dataset, events: list[np.ndarray]) -> tuple[Queries, list[np.ndarray]]:
    """Return queries (query time = last history event) and event types for per-user event-index arrays."""
    now = np.array([ds.timestamps[e[-1]] if len(e) else -np.inf for e in events], dtype=np.float64)
    return Queries([ds.event_items[e] for e in events], [ds.timestamps[e] for e in events], now), \
        [ds.event_types[e] for e in events]


def _fit_first_stage(config: RerankerConfig, ds: Dataset, events: list[np.ndarray], text_nn) -> FirstStage:
    return FirstStage.fit(config, ds.n_items, [ds.event_items[e] for e in events],
                          [ds.timestamps[e] for e in events], text_nn)


def _sequence_windows(ds: Dataset, seqs: list[np.ndarray], length: int, cap: int = 0) -> tuple[torch.Tensor, ...]:
    """Cut each sequence into non-overlapping windows so every position is a next-item target once.

    With `cap` > 0 only each user's last `cap` positions are targets (earlier ones stay as history).
    """
    rows = []
    for seq, first in zip(seqs, first_positions([len(s) for s in seqs], cap)):
        items, types, gaps = ds.event_items[seq], ds.event_types[seq], gap_buckets(ds.timestamps[seq])
        for end in range(len(seq), int(first), -length):  # stop once no window holds a target >= first
            start = max(0, end - length - 1)
            targets = items[start + 1:end].copy()
            targets[: max(0, first - start - 1)] = -1  # -1 + 1 = 0: padding, masked out of the loss
            rows.append((items[start:end - 1], types[start:end - 1], gaps[start:end - 1], targets))
    h_items, h_types, h_gaps = history_tensors([r[0] for r in rows], [r[1] for r in rows], [r[2] for r in rows], length)
    targets, _, _ = history_tensors([r[3] for r in rows], [r[1] for r in rows], [r[2] for r in rows], length)
    return h_items, h_types, h_gaps, targets


@reuse_buffers()
def _build_lists(config: RerankerConfig, ds: Dataset, seqs: list[np.ndarray], text_nn,
                 rng: np.random.Generator, progress: Progress | None, fixed: FirstStage | None = None) -> ListData:
    """Sample training positions and featurise their candidates with first stages fit on other users (cross-fitting).

    With `fixed` (end-to-end DP) every list reads that one first stage instead: no cross-fitting.
    Only positions whose next item is among the N candidates become lists; each keeps the target plus
    `train_list_size - 1` random other candidates, which makes a step ~3x cheaper than the full list.
    """
    # Each user's last positions only: evaluation targets are one per user, at the end of the history.
    cap = min(c for c in (config.max_positions_per_user, config.max_examples_per_user) if c > 0) \
        if config.max_positions_per_user > 0 or config.max_examples_per_user > 0 else 0
    first = first_positions([len(s) for s in seqs], cap).tolist()
    users = np.repeat(np.arange(len(seqs)), [max(0, len(s) - f) for s, f in zip(seqs, first)])
    cuts = np.concatenate([np.arange(f, len(s)) for s, f in zip(seqs, first) if len(s) > f] or [np.zeros(0, np.int64)])
    pick = np.sort(rng.permutation(len(users))[: config.max_train_lists])  # sorted: grouped by user
    folds = rng.integers(0, config.crossfit_folds, size=len(seqs))
    size = min(config.train_list_size, config.n_candidates)
    parts = []
    for f in range(config.crossfit_folds):
        fs = fixed or _fit_first_stage(config, ds, [s if folds[u] != f else s[:0] for u, s in enumerate(seqs)], text_nn)
        chosen = pick[folds[users[pick]] == f]
        factors = np.zeros((len(chosen), config.als_factors), dtype=np.float32)
        for u in np.unique(users[chosen]):
            rows = np.flatnonzero(users[chosen] == u)
            factors[rows] = fs.als_prefix_users(ds.event_items[seqs[u]], cuts[chosen[rows]])
        step = rows_per_batch(ds.n_items, 512)
        for start in range(0, len(chosen), step):
            batch = chosen[start:start + step]
            hist = [seqs[users[p]][: cuts[p]] for p in batch]
            target = np.array([ds.event_items[seqs[users[p]][cuts[p]]] for p in batch])
            q, types = _queries(ds, hist)
            cand, feats = fs.candidates(q, config.exclude_seen, als_users=factors[start:start + step])
            for b in np.flatnonzero((cand == target[:, None]).any(1)):
                valid = np.flatnonzero(cand[b] >= 0)
                pos = int(np.flatnonzero(cand[b] == target[b])[0])
                rest = valid[valid != pos]  # fused order: the hardest negatives come first
                hard = rest[: min(config.hard_negatives, size - 1)]
                others = np.concatenate([hard, rng.permutation(rest[len(hard):])[: size - 1 - len(hard)]])
                keep = np.sort(np.concatenate([[pos], others]))
                c = np.zeros(size, np.int64)
                fe = np.zeros((size, feats.shape[2]), np.float32)
                c[: len(keep)] = cand[b, keep] + 1
                fe[: len(keep)] = feats[b, keep]
                parts.append((q.items[b], types[b], gap_buckets(q.times[b]), c, fe, int(np.searchsorted(keep, pos)),
                              int(users[batch[b]]), int(cuts[batch[b]])))
            if progress:
                progress("candidates", (f + start / max(1, len(chosen))) / config.crossfit_folds)
    h = history_tensors([p[0] for p in parts], [p[1] for p in parts], [p[2] for p in parts], config.max_history)
    return ListData(*h, torch.from_numpy(np.stack([p[3] for p in parts])),
                    torch.from_numpy(np.stack([p[4] for p in parts])), torch.tensor([p[5] for p in parts]),
                    torch.tensor([p[6] for p in parts], dtype=torch.long),
                    torch.tensor([p[7] for p in parts], dtype=torch.long))


def eval_sample(split: Split, cap: int, seed: int) -> np.ndarray:
    """Return the users the metrics read: every eval user, or a seeded sample of `cap` of them (sorted).

    Sampling bounds evaluation time (and the (U, N, F) feature arrays) on large tenants; the metrics then
    carry a 95% interval. Every eval user still has its validation and test events held out of training.
    """
    if cap <= 0 or len(split.eval_users) <= cap:
        return split.eval_users
    return np.sort(np.random.default_rng([seed, 17]).choice(split.eval_users, size=cap, replace=False))


def epoch_windows(n: int, cap: int) -> int:
    """Return how many next-item windows one epoch draws from `n`: all up to `cap`, then cap * sqrt(n / cap).

    Epoch time then grows with the square root of the data, not linearly; each epoch draws a fresh sample.
    """
    return n if cap <= 0 or n <= cap else int(round(cap * np.sqrt(n / cap)))


def _eval_lists(config: RerankerConfig, ds: Dataset, split: Split, fs: FirstStage, stage: str,
                users: np.ndarray) -> EvalLists:
    """Score baselines and build candidate lists for `users` (eval users) at `stage` ("val" or "test")."""
    q, types = _queries(ds, [split.history(u, stage) for u in users])
    targets = np.array([ds.event_items[split.target(u, stage)] for u in users], dtype=np.int64)
    return eval_lists(config, fs, q, types, targets)


def train(dataset: Dataset, config: RerankerConfig | None = None, *, item_embeddings: np.ndarray | None = None,
          progress: Progress | None = None, evaluate: bool = True, score_test: TestScorer = score_here) -> TrainResult:
    """Train on `dataset` and return the production `Reranker`, protocol metrics and phase timings.

    Embeds item texts with MiniLM unless `item_embeddings` (n_items, 384) is given (the slow part on CPU).
    With evaluate=False the test-stage metrics are skipped; validation still drives early stopping.
    `score_test` scores the test stage's users (holdout.TestJob): in this process unless the caller
    spreads the job's slices over other workers (reranking/services/eval_chunks.py).
    """
    config = config or RerankerConfig()
    if config.dp_epsilon > 0:  # DP bounds every user to one window of examples (private.py)
        config = dataclasses.replace(config, max_examples_per_user=dp_cap(config))
    end_to_end = config.dp_epsilon > 0 and config.dp_mode == "end_to_end"
    if end_to_end:  # the new-user bound reads other users' data to drop events: not private, so off
        config = dataclasses.replace(config, new_user_days=0.0, source_weights=dict(config.dp_source_weights))
    report = progress or (lambda phase, fraction: None)
    timings: dict[str, float] = {}
    clock = time.perf_counter()
    cpu_seconds: dict[str, float] = {}  # process CPU (all threads) per phase: wall time on a shared machine lies
    cpu = time.process_time()
    set_threads(config)
    bound_heap()
    torch.manual_seed(config.seed)
    rng = np.random.default_rng(config.seed)
    device = pick_device(config.device)
    assert dataset.n_items > 1, "need at least two items"
    bound = bound_new_users(dataset.event_users, dataset.event_items, dataset.timestamps,
                            days=config.new_user_days, floor=config.new_user_item_floor,
                            min_established=config.new_user_min_established)
    if bound.events_left_out:
        dataset = dataset.subset(bound.keep)

    # 1. Text embeddings (frozen), then each item's text neighbours.
    if item_embeddings is None:
        item_embeddings = TextEncoder.shared().encode(dataset.item_texts, progress=lambda f: report("embedding", f))
    assert item_embeddings.shape[0] == dataset.n_items, "one embedding row per item"
    text_nn = text_neighbours(np.asarray(item_embeddings, dtype=np.float32), config.text_neighbours)
    timings["embedding"] = time.perf_counter() - clock
    cpu_seconds["embedding"], cpu = time.process_time() - cpu, time.process_time()

    # 2. Split and candidates: training lists (cross-fitted), validation lists.
    t = time.perf_counter()
    split = leave_last_out(dataset)
    train_seqs = [split.history(u, "val") for u in range(dataset.n_users)]
    windows = _sequence_windows(dataset, train_seqs, config.max_history, config.max_examples_per_user)
    # End to end: one private first stage (private_first_stage.py) serves training, evaluation and production.
    private_fs = end_to_end_first_stage(config, dataset, train_seqs, text_nn, item_embeddings) if end_to_end else None
    fixed = private_fs.first_stage if private_fs else None
    lists = _build_lists(config, dataset, train_seqs, text_nn, rng, report, fixed)
    eval_users = eval_sample(split, config.max_eval_users, config.seed)
    val_lists = _eval_lists(config, dataset, split, fixed or _fit_first_stage(config, dataset, train_seqs, text_nn), "val",
                            eval_users)
    timings["candidates"] = time.perf_counter() - t
    release_memory()
    cpu_seconds["candidates"], cpu = time.process_time() - cpu, time.process_time()

    # 3. Network, optimiser and negative sampler (half uniform, half by popularity).
    net = RerankerNet(config, dataset.n_items, len(dataset.event_type_names))
    with torch.no_grad():
        net.items.text[1:] = torch.from_numpy(np.asarray(item_embeddings, dtype=np.float32))
    net.to(device)
    optimiser = torch.optim.AdamW(net.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    n_seq, n_list = len(windows[0]), len(lists.label)
    n_seq_epoch = epoch_windows(n_seq, config.max_train_windows)  # a fresh sample each epoch when capped
    steps_per_epoch = -(-n_seq_epoch // config.batch_size) - (-n_list // config.batch_size)
    # One cosine cycle over all epochs: the constant rate diverged after epoch 4 (EXPERIMENTS.md run 3).
    total_steps = max(1, config.max_epochs * steps_per_epoch)
    # NOTE: torch's OneCycleLR divides by zero when pct_start * total_steps == 1 (e.g. 10 steps in all).
    warmup = 0.1 if round(0.1 * total_steps, 9) != 1.0 else 0.15
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimiser, max_lr=config.lr, pct_start=warmup, total_steps=total_steps)
    pop = np.bincount(np.concatenate([dataset.event_items[s] for s in train_seqs] or [np.zeros(0, np.int64)]),
                      minlength=dataset.n_items).astype(np.float64) + 1.0
    pop /= pop.sum()
    gen = torch.Generator().manual_seed(config.seed)

    # 4. Epochs: next-item batches and list batches interleaved; early stop on validation NDCG@10.
    t = time.perf_counter()
    best, best_state, best_epoch, bad, history = -1.0, None, 0, 0, []

    def validate(model: RerankerNet) -> float:
        top = rerank_top(model, val_lists, device)
        return ranking_metrics(top, val_lists.targets, dataset.n_items)["ndcg@10"] if len(top) else 0.0

    privacy: dict = {}
    if config.dp_epsilon > 0:  # DP-SGD replaces the loop below (reranking/ml/private.py); no epoch selection
        best_state, history, privacy = fit_private(config, dataset, train_seqs, lists, net, device, rng, validate, report,
                                                   private_fs)
        best_epoch = len(history)
    for epoch in range(1, 1 if privacy else config.max_epochs + 1):
        net.train()
        steps = [("seq", i) for i in range(0, n_seq_epoch, config.batch_size)] + \
                [("list", i) for i in range(0, n_list, config.batch_size)]
        steps = [steps[i] for i in rng.permutation(len(steps))]
        seq_perm, list_perm = torch.randperm(n_seq, generator=gen)[:n_seq_epoch], torch.randperm(n_list, generator=gen)
        for step, (kind, start) in enumerate(steps):
            with torch.autocast("cuda", dtype=torch.bfloat16, enabled=device.type == "cuda"):
                if kind == "seq":
                    idx = seq_perm[start:min(start + config.batch_size, n_seq_epoch)]
                    items, types, gaps, targets = (w[idx].to(device) for w in windows)
                    half = config.n_negatives // 2
                    negatives = torch.cat([
                        torch.from_numpy(rng.integers(0, dataset.n_items, half)),
                        torch.from_numpy(rng.choice(dataset.n_items, config.n_negatives - half, p=pop)),
                    ]).to(device) + 1
                    logits = net.next_item_logits(items, types, gaps, targets, negatives).float()  # (B, L, 1+M)
                    mask = targets > 0
                    loss = F.cross_entropy(logits[mask], torch.zeros(int(mask.sum()), dtype=torch.long, device=device))
                else:
                    idx = list_perm[start:start + config.batch_size]
                    scores = net(lists.h_items[idx].to(device), lists.h_types[idx].to(device),
                                 lists.h_gaps[idx].to(device), lists.cand[idx].to(device),
                                 lists.feats[idx].to(device)).float()  # (B, N)
                    loss = config.list_weight * F.cross_entropy(scores, lists.label[idx].to(device))
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(net.parameters(), 1.0)
            optimiser.step()
            schedule.step()
            # Every step: the callback is cheap (it writes at most once a second) and is where a cancel lands.
            report(f"training epoch {epoch}/{config.max_epochs}", (epoch - 1 + step / len(steps)) / config.max_epochs)
        score = validate(net)
        history.append({"epoch": epoch, "val_ndcg@10": score, "seconds": time.perf_counter() - t})
        if score > best:
            # The frozen text buffer (items x 384) never changes: not copied.
            best_state = {k: v.detach().clone() for k, v in net.state_dict().items() if k != "items.text"}
            best, best_epoch, bad = score, epoch, 0
        else:
            bad += 1
            if bad >= config.patience:
                break
    missing = net.load_state_dict(best_state, strict=False).missing_keys  # the best epoch's weights, not the last's
    assert set(missing) <= {"items.text"}, f"best state lacks {missing}"
    del windows, lists, best_state  # training data is not needed past this point
    timings["training"] = time.perf_counter() - t
    release_memory()
    cpu_seconds["training"], cpu = time.process_time() - cpu, time.process_time()

    # 5. Protocol metrics: validation (first stage fit without val/test), test (val event seen as history).
    t = time.perf_counter()
    metrics: dict = {"users_evaluated": int(len(eval_users)), "users_eligible": int(len(split.eval_users)),
                     "users_left_out": split.n_left_out, "train_windows_per_epoch": n_seq_epoch,
                     "events_dropped": dataset.n_dropped, "best_epoch": best_epoch, "epochs": history,
                     "train_lists": n_list, "train_windows": n_seq,
                     "new_user_bound": {"new_users": bound.new_users, "items_capped": bound.items_capped,
                                        "events_left_out": bound.events_left_out}}
    if privacy:
        metrics["privacy"] = privacy
    if len(split.eval_users):
        report("evaluating", 0.0)
        recall_key = f"candidate_recall@{config.n_candidates}"
        methods, recall = combine([per_user(val_lists, net, device)], dataset.n_items)
        metrics["validation"] = {**methods, recall_key: recall}
        if evaluate:
            report("evaluating", 0.3)
            test_fs = fixed or _fit_first_stage(config, dataset, [split.history(u, "test") for u in range(dataset.n_users)],
                                                text_nn)
            report("evaluating", 0.6)
            del val_lists  # one stage's (U, N, F) features alive at a time
            methods, metrics[recall_key] = combine(score_test(TestJob.build(config, dataset, split, test_fs, net,
                                                                            eval_users)), dataset.n_items)
            report("evaluating", 0.8)
            metrics["methods"] = [{"name": n, **m} for n, m in methods.items()]
        report("evaluating", 1.0)
    timings["evaluating"] = time.perf_counter() - t
    release_memory()
    cpu_seconds["evaluating"], cpu = time.process_time() - cpu, time.process_time()

    # 6. Production: refit the first stage on every event; keep the early-stopped network.
    t = time.perf_counter()
    final_fs = fixed or _fit_first_stage(config, dataset, split.sequences, text_nn)
    model = Reranker(config, dataset.item_ids, dataset.event_type_names, net.eval(), final_fs)
    timings["production_fit"] = time.perf_counter() - t
    cpu_seconds["production_fit"], cpu = time.process_time() - cpu, time.process_time()
    timings["total"] = time.perf_counter() - clock
    metrics["train_seconds"] = timings["total"] - timings["evaluating"]
    metrics["cpu_seconds"] = {k: round(v, 2) for k, v in cpu_seconds.items()}
    return TrainResult(model=model, metrics=metrics, timings=timings, device=str(device))
