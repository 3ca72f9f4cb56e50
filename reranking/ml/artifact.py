"""The servable re-ranker: first-stage state plus network, saved as safetensors + JSON.

A saved version is a folder with `model.safetensors` (network weights, MiniLM item embeddings, ALS
item factors, kNN/text neighbour lists, popularity snapshots) and `config.json` (hyper-parameters,
item and event-type vocabularies, and the SHA-256 of the weights file). `Reranker.load` needs nothing
else, and refuses a folder whose files are damaged (CorruptArtifact) rather than serve garbage.
"""
from __future__ import annotations

import functools
import hashlib
import json
import os
import time
from dataclasses import dataclass
from typing import Mapping, Sequence

import numpy as np
import torch
from safetensors.torch import load_file, save_file

from .config import RerankerConfig
from .model import RerankerNet, gap_buckets, history_tensors
from .sources import FirstStage, Queries, reuse_buffers, rows_per_batch

FORMAT_VERSION = 2  # 2: transition source (fs.trans_*) and 14 candidate features; version 1 files cannot load


class CorruptArtifact(ValueError):
    """The saved folder cannot be loaded as it was written (truncated, altered or missing files)."""


def file_sha256(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


# Trained items whose id embeddings a new item borrows, the nearest by text (score_new_items).
NEW_ITEM_NEIGHBOURS = 5


@dataclass
class History:
    """One user's interactions, oldest first. Unknown items are skipped; an empty history is a cold user."""

    item_ids: list[str]
    timestamps: list[float] | None = None
    event_types: list[str] | None = None
    now: float | None = None  # query time for recent popularity; None = the latest snapshot


def pick_device(name: str) -> torch.device:
    """Return CUDA when asked for (or "auto" and present), else CPU."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


@torch.inference_mode()
def score_lists(net: RerankerNet, first_stage: FirstStage, config: RerankerConfig, q: Queries,
                types: list[np.ndarray], exclude_seen: bool, device: torch.device,
                given: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Return candidates (B, N) item indices (-1 pads) and re-ranker scores (B, N) (-inf on pads)."""
    cand, feats = first_stage.candidates(q, exclude_seen, given=given)
    gaps = [gap_buckets(t) if len(t) else np.zeros(0, np.int64) for t in q.times]
    h_items, h_types, h_gaps = history_tensors(q.items, types, gaps, config.max_history, trim=True)
    if net.training:  # eval() walks every submodule: ~0.5 ms per call when done unconditionally
        net.eval()
    with torch.autocast("cuda", dtype=torch.bfloat16, enabled=device.type == "cuda"):
        scores = net(h_items.to(device), h_types.to(device), h_gaps.to(device),
                     torch.from_numpy(cand + 1).to(device), torch.from_numpy(feats).to(device))
    return cand, scores.float().cpu().numpy()


class Reranker:
    """Serve recommendations and live re-ranking from one trained version."""

    def __init__(self, config: RerankerConfig, item_ids: list[str], event_type_names: list[str],
                 net: RerankerNet, first_stage: FirstStage) -> None:
        self.config = config
        self.item_ids = list(item_ids)
        self.event_type_names = list(event_type_names)
        self.net = net.eval()
        self.first_stage = first_stage
        self.device = next(net.parameters()).device
        self._index = {item: i for i, item in enumerate(self.item_ids)}
        self._types = {name: i for i, name in enumerate(self.event_type_names)}

    def knows(self, item_id: str) -> bool:
        """Return whether this version was trained with the item (it has a learned embedding)."""
        return item_id in self._index

    def text_vectors(self, item_ids: Sequence[str]) -> dict[str, np.ndarray]:
        """Return the MiniLM embeddings (384,) of the given items this version was trained with."""
        rows = [(item, self._index[item]) for item in item_ids if item in self._index]
        if not rows:
            return {}
        matrix = self.net.items.text[torch.tensor([1 + i for _, i in rows])].float().cpu().numpy()  # (n, 384)
        return {item: matrix[n] for n, (item, _) in enumerate(rows)}

    @functools.cached_property
    def item_embeddings(self) -> np.ndarray:
        """Return the (n_items, 384) MiniLM embeddings in `item_ids` order (for content fallbacks).

        Copied out of the network once per loaded version (the version never changes).
        """
        return self.net.items.text[1:].float().cpu().numpy()

    # ---- persistence ----
    def save(self, directory: str) -> None:
        """Write model.safetensors and config.json into `directory` (created if missing)."""
        os.makedirs(directory, exist_ok=True)
        tensors = {f"net.{k}": v.detach().float().cpu().contiguous() if v.is_floating_point() else v.cpu().contiguous()
                   for k, v in self.net.state_dict().items()}
        tensors.update({f"fs.{k}": torch.from_numpy(np.ascontiguousarray(v)) for k, v in self.first_stage.state.items()})
        weights = os.path.join(directory, "model.safetensors")
        save_file(tensors, weights)
        meta = {"format_version": FORMAT_VERSION, "config": self.config.to_dict(), "item_ids": self.item_ids,
                "event_types": self.event_type_names, "saved_at": time.time(), "weights_sha256": file_sha256(weights)}
        with open(os.path.join(directory, "config.json"), "w", encoding="utf-8") as f:
            json.dump(meta, f)

    @classmethod
    def load(cls, directory: str, device: str = "cpu") -> "Reranker":
        """Load a version saved by `save`; needs nothing but the folder.

        Raises CorruptArtifact when a file is missing, unreadable or not the one that was saved.
        """
        try:
            with open(os.path.join(directory, "config.json"), encoding="utf-8") as f:
                meta = json.load(f)
        except (OSError, ValueError) as exc:
            raise CorruptArtifact(f"config.json in {directory} cannot be read: {exc}") from exc
        assert meta.get("format_version") == FORMAT_VERSION, f"unsupported artifact version {meta.get('format_version')}"
        config = RerankerConfig.from_dict(meta["config"])
        weights = os.path.join(directory, "model.safetensors")
        try:
            # NOTE: artifacts saved before the checksum existed load unchecked.
            if meta.get("weights_sha256") and file_sha256(weights) != meta["weights_sha256"]:
                raise CorruptArtifact(f"model.safetensors in {directory} does not match its saved SHA-256 checksum.")
            tensors = load_file(weights)
            net = RerankerNet(config, len(meta["item_ids"]), len(meta["event_types"]))
            net.load_state_dict({k[4:]: v for k, v in tensors.items() if k.startswith("net.")})
        except CorruptArtifact:
            raise
        except Exception as exc:  # noqa: BLE001 - a truncated file, wrong tensors: the folder is unusable
            raise CorruptArtifact(f"model.safetensors in {directory} cannot be loaded: {exc}") from exc
        # Own, aligned copies: BLAS picks kernels by alignment, and 1e-8 differences would flip near-ties.
        state = {k[3:]: np.array(v.numpy(), copy=True) for k, v in tensors.items() if k.startswith("fs.")}
        return cls(config, meta["item_ids"], meta["event_types"], net.to(pick_device(device)),
                   FirstStage(config, state))

    # ---- serving ----
    def _queries(self, histories: Sequence[History]) -> tuple[Queries, list[np.ndarray]]:
        items, times, types, now = [], [], [], []
        latest = float(self.first_stage.state["pop_times"][-1])
        for h in histories:
            known = [i for i, item in enumerate(h.item_ids) if item in self._index]
            items.append(np.array([self._index[h.item_ids[i]] for i in known], dtype=np.int64))
            ts = np.array([h.timestamps[i] for i in known], dtype=np.float64) if h.timestamps else np.zeros(len(known))
            times.append(ts)
            types.append(np.array([self._types.get(h.event_types[i], 0) for i in known], dtype=np.int64)
                         if h.event_types else np.zeros(len(known), np.int64))
            now.append(latest if h.now is None else float(h.now))
        return Queries(items, times, np.array(now, dtype=np.float64)), types

    def recommend(self, histories: Sequence[History], k: int = 100,
                  exclude_seen: bool | None = None) -> list[list[tuple[str, float]]]:
        """Return, per history, the top-k (item_id, score) among the merged candidates, best first."""
        exclude = self.config.exclude_seen if exclude_seen is None else exclude_seen
        step = rows_per_batch(len(self.item_ids))  # bounds the (B, items) score matrices
        with reuse_buffers():  # one set of (B, items) matrices for every batch
            return self._recommend(histories, k, exclude, step)

    def _recommend(self, histories: Sequence[History], k: int, exclude: bool, step: int) -> list[list[tuple[str, float]]]:
        results: list[list[tuple[str, float]]] = []
        for start in range(0, len(histories), step):
            q, types = self._queries(histories[start:start + step])
            if self.config.serve != "reranker":  # model selection chose a first-stage source (selection.py)
                cand, scores = self._source_lists(q, exclude, k)
            else:
                cand, scores = score_lists(self.net, self.first_stage, self.config, q, types, exclude, self.device)
            order = np.argsort(-scores, axis=1, kind="stable")[:, :k]
            top_items = np.take_along_axis(cand, order, 1)
            top_scores = np.take_along_axis(scores, order, 1)
            kept = (top_items >= 0) & np.isfinite(top_scores)
            ids = self.item_ids
            for b in range(len(q)):  # whole rows at once: per-element numpy reads cost ~0.7 ms per list of 200
                row = kept[b]
                results.append([(ids[i], s) for i, s in zip(top_items[b, row].tolist(),
                                                             top_scores[b, row].astype(np.float64).tolist())])
        return results

    def _source_lists(self, q, exclude_seen: bool, k: int, given: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Return (B, N) items and scores of the served source: its top k, or the `given` items' scores."""
        scores = self.first_stage.source_scores(q)[self.config.serve].clone()  # (B, I)
        # Popularity breaks ties (and orders items the source knows nothing about), as in the fused list.
        pop = torch.from_numpy(self.first_stage.state["popularity"]).float()
        scores += 1e-6 * scores.abs().amax(1, keepdim=True).clamp(min=1e-9) * pop / pop.max().clamp(min=1.0)
        if given is not None:
            return given, torch.gather(scores, 1, torch.from_numpy(given)).numpy()
        if exclude_seen:
            rows, cols = self.first_stage.seen_index(q)
            scores[rows, cols] = -torch.inf
        values, top = torch.topk(scores, min(k, scores.shape[1]), dim=1)
        return top.numpy(), values.numpy()

    def rerank(self, history: History, candidates: Sequence[str],
               new_items: Mapping[str, np.ndarray] | None = None) -> list[tuple[str, float]]:
        """Return the known candidates as (item_id, score), best first; unknown ids are omitted.

        `new_items` maps ids this version was not trained with to their MiniLM text vectors (384,):
        those candidates are scored too, through the text projection (see score_new_items).
        """
        new = [c for c in dict.fromkeys(candidates) if c not in self._index and new_items and c in new_items]
        if new:
            return self.score_new_items(history, candidates, {c: new_items[c] for c in new})
        known = list(dict.fromkeys(self._index[c] for c in candidates if c in self._index))
        if not known:
            return []
        q, types = self._queries([history])
        if self.config.serve != "reranker":
            cand, scores = self._source_lists(q, False, len(known), given=np.array([known], dtype=np.int64))
            order = np.argsort(-scores[0], kind="stable")
            return [(self.item_ids[cand[0, j]], float(scores[0, j])) for j in order]
        cand, scores = score_lists(self.net, self.first_stage, self.config, q, types, False, self.device,
                                   given=np.array([known], dtype=np.int64))
        order = np.argsort(-scores[0], kind="stable")
        return [(self.item_ids[cand[0, j]], float(scores[0, j])) for j in order]

    def rerank_with_new(self, history: History, head: Sequence[str], new_ids: Sequence[str], new_matrix: np.ndarray,
                        n_near: int = 20, query: int = 20, skip: set[str] | frozenset = frozenset(),
                        new_counts: np.ndarray | None = None, explore: float = 0.0, window: int = 10,
                        ) -> list[tuple[str, float]]:
        """Re-score `head` joined by items added since training (`new_ids`, rows of `new_matrix`
        (M, 384)): the `n_near` whose text is closest to the history's last `query` items (the
        text-neighbour source over newer items) and, given `new_counts` (M,) events on each since it
        was added, the `n_near` most engaged with (new items that catch on are what a catalogue's
        newcomers have that text cannot tell). Serving and the cold-items protocol both call this.

        The scorer never saw such items in training and ranks them low (median 106th of 120 on
        ml-latest-small's cold-items protocol), so `explore` of the first `window` places go to the best
        of them, as exploration slots (explore_new).
        """
        near: list[str] = []
        recent = history.item_ids[-query:]
        vectors = self.text_vectors(recent)
        position = {item: j for j, item in enumerate(new_ids)}
        vectors.update({i: new_matrix[position[i]] for i in recent if i not in vectors and i in position})
        avoid = set(skip) | set(head) | set(history.item_ids)
        if vectors and len(new_ids):
            centre = np.mean(list(vectors.values()), axis=0)
            scores = new_matrix @ (centre / (np.linalg.norm(centre) or 1.0))  # (M,)
            top = np.argsort(-scores)[: n_near + len(avoid)]
            near = [new_ids[j] for j in top if new_ids[j] not in avoid][:n_near]
        if new_counts is not None and len(new_ids):
            counts = np.asarray(new_counts, dtype=np.float64)
            top = np.argsort(-counts, kind="stable")[: n_near + len(avoid)]
            engaged = [new_ids[j] for j in top if counts[j] > 0 and new_ids[j] not in avoid][:n_near]
            near = list(dict.fromkeys([*near, *engaged]))
        new_items = {i: new_matrix[position[i]] for i in near}
        ranked = self.rerank(history, [*head, *near], new_items=new_items or None)
        return explore_new(ranked, set(near), explore, window)

    @torch.inference_mode()
    def score_new_items(self, history: History, candidates: Sequence[str],
                        new_items: Mapping[str, np.ndarray]) -> list[tuple[str, float]]:
        """Score known candidates and items added since training in one list, without retraining.

        A trained item's token is its id embedding plus the projection of its text embedding
        (model.py), and its features come from the first-stage sources fitted on interactions. A new
        item has neither id embedding nor interactions, so it borrows both from its
        NEW_ITEM_NEIGHBOURS nearest trained items by text, weighted by cosine: their id embeddings
        (content-based imputation of a cold item's embedding) and their first-stage features for this
        history; its own text goes through the text projection. NOTE: the scorer never saw such
        tokens in training; the cold-items protocol (evaluate.py) measures what this is worth.
        """
        known = list(dict.fromkeys(self._index[c] for c in candidates if c in self._index))
        new_ids = list(new_items)
        vectors = torch.from_numpy(np.stack([np.asarray(new_items[c], dtype=np.float32) for c in new_ids]))
        vectors = torch.nn.functional.normalize(vectors, dim=-1)  # (M, 384)
        sims = torch.from_numpy(self.item_embeddings) @ vectors.T  # (N, M)
        near_sim, near = torch.topk(sims.T, min(NEW_ITEM_NEIGHBOURS, len(self.item_ids)), dim=1)  # (M, K)
        weight = near_sim.clamp(min=1e-6)
        weight = weight / weight.sum(1, keepdim=True)  # (M, K)
        borrowed_from = sorted(set(near.flatten().tolist()))
        q, types = self._queries([history])
        given = np.array([known + borrowed_from], dtype=np.int64)
        _, feats = self.first_stage.candidates(q, False, given=given)  # (1, K+U, F)
        slot = {item: j for j, item in enumerate(borrowed_from)}
        pos = near.clone().apply_(lambda i: slot[i])  # (M, K) positions in borrowed_from
        near_feats = torch.from_numpy(feats[0, len(known):])[pos]  # (M, K, F)
        new_feats = (near_feats * weight.unsqueeze(-1)).sum(1)  # (M, F)
        all_feats = torch.cat([torch.from_numpy(feats[0, : len(known)]), new_feats]).unsqueeze(0)  # (1, N, F)
        ids = self.net.items.ids.weight[torch.tensor(borrowed_from, dtype=torch.long, device=self.device) + 1]
        borrowed = (ids[pos.to(self.device)] * weight.unsqueeze(-1).to(self.device)).sum(1)  # (M, D)
        new_vecs = borrowed + self.net.items.text_proj(vectors.to(self.device))  # (M, D)
        known_vecs = self.net.items(torch.tensor([[i + 1 for i in known]], dtype=torch.long, device=self.device))
        cand_vecs = torch.cat([known_vecs, new_vecs.unsqueeze(0)], 1)  # (1, N, D)
        gaps = [gap_buckets(t) if len(t) else np.zeros(0, np.int64) for t in q.times]
        h_items, h_types, h_gaps = history_tensors(q.items, types, gaps, self.config.max_history, trim=True)
        user = self.net.user_state(h_items.to(self.device), h_types.to(self.device), h_gaps.to(self.device))
        valid = torch.ones(cand_vecs.shape[:2], dtype=torch.bool, device=self.device)
        scores = self.net.scorer(user, cand_vecs, all_feats.to(self.device), valid)[0].float().cpu().numpy()
        names = [self.item_ids[i] for i in known] + new_ids
        order = np.argsort(-scores, kind="stable")
        return [(names[j], float(scores[j])) for j in order if np.isfinite(scores[j])]


def explore_new(ranked: list[tuple[str, float]], new: set[str], explore: float, window: int = 10
                ) -> list[tuple[str, float]]:
    """Make round(explore * window) of the first `window` places of `ranked` items of `new`: those
    already there count, the best of the others are moved up to places spread evenly (the last at the
    window's end). No item of `new` moves down; both orders are kept otherwise.

    Exploration of new items, as Personalize's exploration weight does for items with few interactions:
    without it, items the scorer has not learnt never reach the top of a list, and never get the
    events that would teach the next model about them.
    """
    slots = min(round(explore * window), window)
    need = slots - sum(1 for item, _ in ranked[:window] if item in new)
    extra = [pair for pair in ranked[window:] if pair[0] in new][:max(need, 0)]
    if not extra:
        return ranked
    picked = {item for item, _ in extra}
    rest = [pair for pair in ranked if pair[0] not in picked]
    places = {round((j + 1) * window / len(extra)) - 1 for j in range(len(extra))}
    out, extra_iter, rest_iter = [], iter(extra), iter(rest)
    for position in range(window):
        pair = next(extra_iter if position in places else rest_iter, None)
        if pair is None:
            break
        out.append(pair)
    return out + list(extra_iter) + list(rest_iter)
