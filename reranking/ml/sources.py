"""First-stage candidate sources and their reciprocal-rank fusion into the list the re-ranker re-orders.

Sources: item-to-item transitions (a first-order Markov chain over each user's next few events, as in
FPMC, Rendle et al., WWW 2010, without the factorisation) over a recency-weighted history; implicit ALS (Hu, Koren & Volinsky, ICDM 2008) with per-query user fold-in; item-kNN
(Sarwar et al., WWW 2001) with cosine + shrinkage over a recency-weighted history; item-to-item
MiniLM text similarity over the same weighted history; time-decayed ("recent") popularity at the
query time. Merging is weighted reciprocal rank fusion (Cormack et al., SIGIR 2009).
NOTE: every source keeps only neighbour lists / factors / snapshots, so it can live in a safetensors file.
"""
from __future__ import annotations

import threading
import warnings
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Iterator

import numpy as np
import scipy.sparse as sp
import torch

from .config import RerankerConfig

SOURCES = ("transition", "item_knn", "als", "text", "recent_popularity")
N_FEATURES = 2 * len(SOURCES) + 4
RRF_K = 10.0  # small k: trust the top of each source; chosen on validation recall@N
DAY = 86400.0


@dataclass
class Queries:
    """A batch of histories as item indices (0-based, oldest first) with timestamps and query times."""

    items: list[np.ndarray]
    times: list[np.ndarray]
    now: np.ndarray  # (B,) query time, used by recent popularity

    def __len__(self) -> int:
        return len(self.items)

    def slice(self, start: int, stop: int) -> "Queries":
        return Queries(self.items[start:stop], self.times[start:stop], self.now[start:stop])


# Dense (rows, items) float32 blocks are bounded to this many cells (32 MiB), whatever the catalogue size:
# a fixed 2,048-row block of a 100k-item catalogue was 800 MiB, and several were alive at once.
BLOCK_CELLS = 2**23
# Scoring batches hold ~20 dense (B, items) float32 matrices (source scores, fused, ranks): B * items is
# bounded to this many cells, about 8 MiB each; small catalogues keep batches of 256 queries.
BATCH_CELLS = 2**21


_work = threading.local()  # per thread: several web threads may score at once


@contextmanager
def reuse_buffers() -> Iterator[None]:
    """Inside, `FirstStage.source_scores` and `candidates` reuse this thread's (B, items) work matrices
    from batch to batch instead of allocating ~18 of them per batch; they are freed on leaving.

    For loops over many batches (training lists, evaluation, precompute): matrices of 7 MiB or more get
    their own mapping (train.bound_heap), so a fresh one is page-faulted in each time, which doubled the
    candidates phase at 1e6 interactions. Outside (one live request), matrices are allocated as needed
    and nothing stays behind. The matrices returned by `source_scores` inside are views that the next
    batch overwrites.
    """
    depth = getattr(_work, "depth", 0)
    if depth == 0:
        _work.pool = {}
    _work.depth = depth + 1
    try:
        yield
    finally:
        _work.depth = depth
        if depth == 0:
            _work.pool = {}


def work_matrix(name: str, shape: tuple[int, ...], fill: float | None = None) -> torch.Tensor:
    """Return a float32 matrix of `shape`: this thread's reused one under `reuse_buffers`, else a new one.
    Its contents are undefined unless `fill` is given."""
    if getattr(_work, "depth", 0) == 0:
        out = torch.empty(shape)
    else:
        need = int(np.prod(shape))
        flat = _work.pool.get(name)
        if flat is None or flat.numel() < need:
            flat = _work.pool[name] = torch.empty(need)
        out = flat[:need].view(shape)
    return out if fill is None else out.fill_(fill)


class SourceScores(dict):
    """Each source's (B, I) scores by name; `matrix` (S, B, I) holds the sources in SOURCES order, so
    `FirstStage.candidates` merges them without stacking copies."""

    def __init__(self, scores: dict[str, torch.Tensor], matrix: torch.Tensor) -> None:
        super().__init__(scores)
        self.matrix = matrix


def rows_per_batch(n_items: int, cap: int = 256) -> int:
    """Return how many queries to score at once so (B, n_items) matrices stay within BATCH_CELLS."""
    return max(8, min(cap, BATCH_CELLS // max(1, n_items)))


def sparse_neighbour_lists(matrix_rows, n_items: int, k: int, chunk: int = 4096) -> tuple[np.ndarray, np.ndarray]:
    """Return the top-k (indices, similarities) per row of a sparse similarity given as a row-chunk callable.

    `matrix_rows(a, b)` returns rows a..b as a scipy CSR matrix (diagonal zeroed). Only the non-zeros are
    sorted (O(nnz log nnz) per chunk, not O(rows x items)); rows with fewer than k positive entries are
    padded with similarity 0, which scores nothing (as a dense top-k's zero columns would). Ties keep the
    lower item index first.
    """
    k = max(1, min(k, n_items - 1))
    idx = np.zeros((n_items, k), dtype=np.int32)
    sim = np.zeros((n_items, k), dtype=np.float32)
    for start in range(0, n_items, chunk):
        stop = min(n_items, start + chunk)
        block = matrix_rows(start, stop).tocsr()  # (C, I)
        block.sum_duplicates()
        row = np.repeat(np.arange(stop - start), np.diff(block.indptr))
        keep = block.data > 0
        row, col, val = row[keep], block.indices[keep], block.data[keep].astype(np.float32)
        order = np.lexsort((col, -val, row))  # by row, then similarity descending, then item index
        row, col, val = row[order], col[order], val[order]
        rank = np.arange(len(row)) - np.searchsorted(row, row)  # position within its row
        top = rank < k
        idx[start + row[top], rank[top]] = col[top]
        sim[start + row[top], rank[top]] = val[top]
    return idx, sim


def text_neighbours(emb: np.ndarray, k: int, col_chunk: int = 16384) -> tuple[np.ndarray, np.ndarray]:
    """Return each item's top-k MiniLM cosine neighbours (exact; an item's similarity to itself counts as 0).

    Blocked in rows and columns: each block of rows is compared with `col_chunk` items at a time, keeping a
    running top-k. Whole rows within BLOCK_CELLS were 27 rows at a time at 300k items, and each such
    product re-read the whole (items, 384) matrix: twice the CPU of 512-row blocks (EXPERIMENTS.md).
    """
    emb_t = torch.from_numpy(np.ascontiguousarray(emb, dtype=np.float32))
    n = len(emb_t)
    k = max(1, min(k, n - 1))
    col_chunk = max(1, min(col_chunk, n))
    row_chunk = max(1, BLOCK_CELLS // col_chunk)
    idx = np.zeros((n, k), dtype=np.int32)
    sim = np.zeros((n, k), dtype=np.float32)
    for a in range(0, n, row_chunk):
        b = min(n, a + row_chunk)
        best_v = best_i = None
        for c in range(0, n, col_chunk):
            d = min(n, c + col_chunk)
            block = emb_t[a:b] @ emb_t[c:d].T  # (R, C)
            if max(a, c) < min(b, d):  # the block holds items' similarities to themselves
                own = torch.arange(max(a, c), min(b, d))
                block[own - a, own - c] = 0.0
            vals, top = torch.topk(block, min(k, d - c), dim=1)
            top += c
            if best_v is not None:  # merge with the best so far: earlier columns first, as one topk would
                vals, top = torch.cat([best_v, vals], 1), torch.cat([best_i, top], 1)
                vals, at = torch.topk(vals, min(k, vals.shape[1]), dim=1)
                top = torch.gather(top, 1, at)
            best_v, best_i = vals, top
        idx[a:b] = best_i.numpy()
        sim[a:b] = best_v.clamp(min=0).numpy()
    return idx, sim


class FirstStage:
    """Fit and query all first-stage sources; state is a flat dict of arrays."""

    def __init__(self, config: RerankerConfig, state: dict[str, np.ndarray]) -> None:
        self.config = config
        self.state = state
        self.n_items = len(state["popularity"])
        # int64 copies of the neighbour tables, made once: converting per query was half of a rerank call.
        self._tables = {p: (torch.from_numpy(state[f"{p}_idx"]).long(), torch.from_numpy(state[f"{p}_sim"]))
                        for p in ("trans", "knn", "text") if f"{p}_idx" in state}

    @classmethod
    def fit(cls, config: RerankerConfig, n_items: int, seqs: list[np.ndarray], times: list[np.ndarray],
            text_nn: tuple[np.ndarray, np.ndarray]) -> "FirstStage":
        """Fit every source on the given per-user item sequences (the events the model may see)."""
        users = np.repeat(np.arange(len(seqs)), [len(s) for s in seqs])
        items = np.concatenate(seqs) if seqs else np.zeros(0, np.int64)
        stamps = np.concatenate(times) if times else np.zeros(0)
        x = sp.csr_matrix((np.ones(len(items), np.float32), (users, items)), shape=(len(seqs), n_items))
        x.sum_duplicates()
        x.data[:] = 1.0
        state = {"popularity": np.asarray(x.sum(0)).ravel().astype(np.float32)}
        state.update(_fit_knn(config, x))
        state.update(_fit_transitions(config, n_items, seqs, np.asarray(x.sum(0)).ravel()))
        state.update(_fit_als(config, x))
        state.update(_fit_recent_popularity(config, n_items, items, stamps))
        state["text_idx"], state["text_sim"] = text_nn
        return cls(config, state)

    # ---- scoring ----
    def _recent(self, q: Queries) -> tuple[torch.Tensor, torch.Tensor]:
        """Return (B, R) last distinct items (-1 pads, most recent first) and their weights decay**age."""
        r = self.config.recency_window
        items = np.full((len(q), r), -1, dtype=np.int64)
        for b, hist in enumerate(q.items):
            recent = hist[::-1]
            _, first = np.unique(recent, return_index=True)
            order = np.sort(first)[:r]
            items[b, : len(order)] = recent[order]
        ages = torch.arange(r, dtype=torch.float32)
        weights = (self.config.recency_decay ** ages).expand(len(q), r) * torch.from_numpy(items >= 0)
        return torch.from_numpy(items), weights

    def _neighbour_scores(self, recent: torch.Tensor, weights: torch.Tensor, prefix: str,
                          out: torch.Tensor) -> torch.Tensor:
        """Write into `out` (B, I): sum over recent items of weight * similarity, spread onto each neighbour."""
        idx, sim = self._tables[prefix]  # (I, K) int64, (I, K) float32
        safe = recent.clamp(min=0)
        nb = idx[safe]  # (B, R, K)
        val = sim[safe] * weights.unsqueeze(-1)  # (B, R, K)
        return out.zero_().scatter_add_(1, nb.flatten(1), val.flatten(1))

    def als_users(self, q: Queries) -> np.ndarray:
        """Return (B, k) ALS user factors folded in from each history (the ALS user step)."""
        y = self.state["als_items"]  # (I, k)
        k = y.shape[1]
        alpha, reg = self.config.als_alpha, self.config.als_regularization
        a = np.broadcast_to(self.state["als_gram"] + reg * np.eye(k, dtype=np.float32), (len(q), k, k)).copy()
        rhs = np.zeros((len(q), k), dtype=np.float32)
        for b, items in enumerate(q.items):
            if len(items):
                yi = y[np.unique(items)]  # (n, k)
                a[b] += alpha * (yi.T @ yi)
                rhs[b] = (1.0 + alpha) * yi.sum(0)
        return np.linalg.solve(a, rhs[..., None])[..., 0].astype(np.float32)

    def als_prefix_users(self, items: np.ndarray, cuts: np.ndarray) -> np.ndarray:
        """Return (len(cuts), k) user factors folded in from items[:cut], incrementally (cost O(len(items)))."""
        y = self.state["als_items"]
        k = y.shape[1]
        alpha, reg = self.config.als_alpha, self.config.als_regularization
        _, first = np.unique(items, return_index=True)
        is_first = np.zeros(len(items), bool)
        is_first[first] = True  # repeated items count once, as in `als_users`
        a = (self.state["als_gram"] + reg * np.eye(k, dtype=np.float32)).astype(np.float64)
        rhs = np.zeros(k)
        out = np.zeros((len(cuts), k), dtype=np.float32)
        order = np.argsort(cuts, kind="stable")
        done = 0
        for j in order:
            block = y[items[done:cuts[j]][is_first[done:cuts[j]]]]
            a += alpha * (block.T @ block)
            rhs += (1.0 + alpha) * block.sum(0)
            done = max(done, int(cuts[j]))
            out[j] = np.linalg.solve(a, rhs)
        return out

    @torch.no_grad()
    def source_scores(self, q: Queries, als_users: np.ndarray | None = None) -> dict[str, torch.Tensor]:
        """Return each source's (B, I) float32 scores, plus all-time "popularity"."""
        users = self.als_users(q) if als_users is None else als_users
        recent, weights = self._recent(q)
        every = work_matrix("sources", (len(SOURCES), len(q), self.n_items))
        out = dict(zip(SOURCES, every.unbind(0)))
        # Snapshot i holds counts up to pop_times[i]; take the latest one not after the query time.
        snapshot = np.searchsorted(self.state["pop_times"], q.now, side="right") - 1
        pop = torch.from_numpy(self.state["pop_matrix"]).float()
        torch.index_select(pop, 0, torch.from_numpy(np.clip(snapshot, 0, None)), out=out["recent_popularity"])
        out["recent_popularity"].mul_(torch.from_numpy(snapshot >= 0)[:, None])
        torch.matmul(torch.from_numpy(users).float(), torch.from_numpy(self.state["als_items"]).float().T, out=out["als"])
        for name, prefix in (("transition", "trans"), ("item_knn", "knn"), ("text", "text")):
            self._neighbour_scores(recent, weights, prefix, out[name])
        out["popularity"] = torch.from_numpy(self.state["popularity"]).expand(len(q), self.n_items)
        return SourceScores(out, every)

    def seen_index(self, q: Queries) -> tuple[torch.Tensor, torch.Tensor]:
        """Return (rows, cols) of every item in each history, for masking."""
        rows = np.repeat(np.arange(len(q)), [len(i) for i in q.items])
        cols = np.concatenate(q.items) if len(q) else np.zeros(0, np.int64)
        return torch.from_numpy(rows).long(), torch.from_numpy(cols.astype(np.int64))

    @torch.no_grad()
    def candidates(self, q: Queries, exclude_seen: bool, n: int | None = None,
                   scores: dict[str, torch.Tensor] | None = None,
                   given: np.ndarray | None = None, als_users: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Return merged candidates (B, N) int64 (-1 pads) and their features (B, N, N_FEATURES) float32.

        With `given` (B, N) item indices, featurise those instead of the merged top-N.
        """
        n = min(n or self.config.n_candidates, self.n_items)
        scores = scores if scores is not None else self.source_scores(q, als_users)
        b_size = len(q)
        seen = self.seen_index(q) if exclude_seen else None
        # Every source at once, (S, B, I): one op per step instead of one per source (a live request
        # costs ~100 small torch ops otherwise). source_scores already wrote them as one matrix; scores
        # given by a caller are stacked. Seen items are masked in it: the caller's matrices change too.
        if isinstance(scores, SourceScores):
            s_all = scores.matrix
        else:
            s_all = torch.stack([scores[name].float() for name in SOURCES])
        if seen is not None:
            s_all[:, seen[0], seen[1]] = -torch.inf
        vals, top = torch.topk(s_all, n, dim=2)  # (S, B, N): each source's own order
        positions = torch.arange(n, dtype=torch.float32)
        has_history = torch.tensor([len(i) > 0 for i in q.items])[None, :, None]  # (1, B, 1)
        needs_history = torch.tensor([name != "recent_popularity" for name in SOURCES])[:, None, None]  # (S, 1, 1)
        valid = torch.isfinite(vals) & (vals > 0) & (has_history | ~needs_history)  # (S, B, N)
        rrf = torch.stack([self.config.source_weights.get(name, 1.0) / (RRF_K + positions) for name in SOURCES])
        fused = work_matrix("fused", (b_size, self.n_items), 0.0)
        # Source-major within each row: every item's contributions are added in SOURCES order.
        fused.scatter_add_(1, top.transpose(0, 1).reshape(b_size, -1),
                           torch.where(valid, rrf[:, None, :], 0.0).transpose(0, 1).reshape(b_size, -1))
        rank = work_matrix("rank", tuple(s_all.shape), float(n)).scatter_(2, top, torch.where(valid, positions, float(n)))
        scale = vals[:, :, :1].abs().clamp(min=1e-9)  # (S, B, 1)
        any_valid = valid.any(2, keepdim=True)  # (S, B, 1)
        # Popularity breaks ties and fills lists when no source ranks enough items (cold users, tiny catalogues).
        pop = torch.from_numpy(self.state["popularity"])
        fused += 1e-6 * pop / pop.max().clamp(min=1.0)
        if seen is not None:
            fused[seen] = -torch.inf
        fused_vals, cand = torch.topk(fused, n, dim=1)  # (B, N)
        fused_rank = work_matrix("fused_rank", (b_size, self.n_items), float(n)).scatter_(1, cand, positions.expand(b_size, n))
        top_fused = fused_vals[:, :1].clamp(min=1e-9)
        if given is not None:
            cand = torch.from_numpy(given).long()
            fused_vals = torch.gather(fused, 1, cand)
            fused_vals = torch.where(torch.isfinite(fused_vals), fused_vals, 0.0)  # seen items stay scorable
        ok = torch.isfinite(fused_vals)
        at = cand.expand(len(SOURCES), *cand.shape)  # (S, B, N')
        sc = torch.gather(s_all, 2, at)
        r = torch.gather(rank, 2, at)
        per_source = torch.stack([torch.where(torch.isfinite(sc) & any_valid, sc / scale, 0.0),
                                  torch.where(r < n, 1.0 - torch.log1p(r) / np.log1p(n), 0.0)], -1)  # (S, B, N', 2)
        cols = list(per_source.permute(1, 2, 0, 3).reshape(*cand.shape, -1).unbind(-1))  # score, rank per source
        fv = torch.where(ok, fused_vals, 0.0)
        cols.append(fv / top_fused)
        r = torch.gather(fused_rank, 1, cand)
        cols.append(torch.where(r < n, 1.0 - torch.log1p(r) / np.log1p(n), 0.0))
        cols.append(torch.log1p(pop[cand]) / np.log1p(max(1.0, float(pop.max()))))
        hist_len = torch.tensor([len(np.unique(i)) for i in q.items], dtype=torch.float32)
        cols.append((torch.log1p(hist_len) / np.log(1000.0))[:, None].expand(b_size, cand.shape[1]))
        feats = torch.stack(cols, dim=-1)  # (B, N, F)
        feats[~ok] = 0.0
        cand = torch.where(ok, cand, -1)
        return cand.numpy(), feats.numpy().astype(np.float32)


def _fit_knn(config: RerankerConfig, x: sp.csr_matrix) -> dict[str, np.ndarray]:
    xt = x.T.tocsr()  # (I, U)
    counts = np.asarray(x.sum(0)).ravel()
    norms_np = np.sqrt(np.maximum(counts, 1.0)).astype(np.float32)

    def rows(a: int, b: int) -> sp.csr_matrix:
        co = (xt[a:b] @ x).tocoo()  # (C, I) sparse co-occurrence counts: never densified
        data = co.data.astype(np.float32)
        data = data / (norms_np[co.row + a] * norms_np[co.col]) * (data / (data + np.float32(config.knn_shrink)))
        data[co.row + a == co.col] = 0.0
        return sp.csr_matrix((data, (co.row, co.col)), shape=co.shape)

    idx, sim = sparse_neighbour_lists(rows, x.shape[1], config.knn_neighbours)
    return {"knn_idx": idx, "knn_sim": sim}


def _fit_transitions(config: RerankerConfig, n_items: int, seqs: list[np.ndarray],
                     counts: np.ndarray) -> dict[str, np.ndarray]:
    """Return each item's top successors: sum over users of 1/d when j comes d <= window events after i.

    Normalised by count(i)**transition_norm only: damping the successor's popularity too (as cosine
    does) lost a third of validation NDCG@10 on ml-latest-small.
    """
    rows, cols, vals = [], [], []
    for s in seqs:
        for d in range(1, min(config.transition_window, len(s) - 1) + 1):
            rows.append(s[:-d]); cols.append(s[d:]); vals.append(np.full(len(s) - d, 1.0 / d, np.float32))
    if rows:
        t = sp.csr_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=(n_items, n_items))
    else:
        t = sp.csr_matrix((n_items, n_items), dtype=np.float32)
    t.sum_duplicates()
    scale = np.maximum(counts, 1.0).astype(np.float32) ** -config.transition_norm

    def block(a: int, b: int) -> sp.csr_matrix:
        out = t[a:b].tocoo()  # (C, I) sparse: never densified
        data = out.data.astype(np.float32) * scale[out.row + a]
        data[out.row + a == out.col] = 0.0
        return sp.csr_matrix((data, (out.row, out.col)), shape=out.shape)

    idx, sim = sparse_neighbour_lists(block, n_items, config.knn_neighbours)
    return {"trans_idx": idx, "trans_sim": sim}


def _fit_als(config: RerankerConfig, x: sp.csr_matrix) -> dict[str, np.ndarray]:
    from implicit.cpu.als import AlternatingLeastSquares

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = AlternatingLeastSquares(factors=config.als_factors, regularization=config.als_regularization,
                                        alpha=config.als_alpha, iterations=config.als_iterations,
                                        random_state=config.seed, num_threads=max(1, config.num_threads))
        model.fit(x.astype(np.float32), show_progress=False)
    y = np.ascontiguousarray(model.item_factors, dtype=np.float32)
    return {"als_items": y, "als_gram": (y.T @ y).astype(np.float32)}


def _fit_recent_popularity(config: RerankerConfig, n_items: int, items: np.ndarray,
                           stamps: np.ndarray, max_snapshots: int = 1024) -> dict[str, np.ndarray]:
    """Return decayed interaction counts at the end of each time bucket (the last `max_snapshots`)."""
    if len(stamps) == 0:
        return {"pop_times": np.zeros(1), "pop_matrix": np.zeros((1, n_items), np.float32)}
    step = config.pop_bucket_days * DAY
    t0, t1 = float(stamps.min()), float(stamps.max())
    n_buckets = int((t1 - t0) // step) + 1
    bucket = ((stamps - t0) // step).astype(np.int64)
    first = max(0, n_buckets - max_snapshots)
    decay = 0.5 ** (config.pop_bucket_days / config.pop_half_life_days)
    per_bucket = sp.csr_matrix((np.ones(len(items), np.float32), (bucket, items)), shape=(n_buckets, n_items))
    matrix = np.zeros((n_buckets - first, n_items), dtype=np.float32)
    running = np.zeros(n_items, dtype=np.float32)
    for b in range(n_buckets):
        running = running * decay + per_bucket[b].toarray().ravel()
        if b >= first:
            matrix[b - first] = running
    times = t0 + step * np.arange(first + 1, n_buckets + 1, dtype=np.float64)  # bucket ends
    times[-1] = t1  # a query at the last event sees the last (partial) bucket
    return {"pop_times": times, "pop_matrix": matrix}
