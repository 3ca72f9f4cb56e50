"""Interaction data as flat arrays, loaders for MovieLens and generic CSV, and the leave-last-out split."""
from __future__ import annotations

import csv
import os
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

DEFAULT_EVENT = "interaction"


@dataclass
class Dataset:
    """Items with text and events in input order; item/user/event-type ids are mapped to ints."""

    item_ids: list[str]
    item_texts: list[str]
    user_ids: list[str]
    event_users: np.ndarray  # (E,) int64 index into user_ids
    event_items: np.ndarray  # (E,) int64 index into item_ids
    timestamps: np.ndarray  # (E,) float64 seconds
    event_types: np.ndarray  # (E,) int64 index into event_type_names
    values: np.ndarray  # (E,) float32
    event_type_names: list[str] = field(default_factory=lambda: [DEFAULT_EVENT])
    n_dropped: int = 0  # events whose item was not in item_ids

    @classmethod
    def from_arrays(
        cls,
        item_ids: list[str],
        item_texts: list[str],
        user_ids: Sequence[str],
        event_item_ids: Sequence[str],
        timestamps: Sequence[float],
        event_types: Sequence[str] | None = None,
        values: Sequence[float] | None = None,
    ) -> "Dataset":
        """Build a dataset; drop (and count) events whose item is not in item_ids."""
        assert len(item_ids) == len(item_texts), "one text per item"
        assert len(user_ids) == len(event_item_ids) == len(timestamps), "event arrays differ in length"
        item_ids = [str(i) for i in item_ids]
        index = {item: i for i, item in enumerate(item_ids)}
        assert len(index) == len(item_ids), "item_ids must be unique"
        n = len(user_ids)
        items = np.fromiter((index.get(str(i), -1) for i in event_item_ids), dtype=np.int64, count=n)
        keep = items >= 0
        user_index: dict[str, int] = {}
        users = np.fromiter(
            (user_index.setdefault(str(u), len(user_index)) for u, k in zip(user_ids, keep) if k), dtype=np.int64
        )
        type_names = [DEFAULT_EVENT]
        types = np.zeros(int(keep.sum()), dtype=np.int64)
        if event_types is not None:
            type_index = {DEFAULT_EVENT: 0}
            kept_types = (t for t, k in zip(event_types, keep) if k)
            types = np.fromiter((type_index.setdefault(str(t or DEFAULT_EVENT), len(type_index)) for t in kept_types),
                                dtype=np.int64, count=int(keep.sum()))
            type_names = list(type_index)
        vals = np.ones(n, dtype=np.float32) if values is None else np.asarray(values, dtype=np.float32)
        return cls(
            item_ids=item_ids,
            item_texts=[str(t) for t in item_texts],
            user_ids=list(user_index),
            event_users=users,
            event_items=items[keep],
            timestamps=np.asarray(timestamps, dtype=np.float64)[keep],
            event_types=types,
            values=vals[keep],
            event_type_names=type_names,
            n_dropped=int((~keep).sum()),
        )

    @property
    def n_items(self) -> int:
        return len(self.item_ids)

    @property
    def n_users(self) -> int:
        return len(self.user_ids)

    def subset(self, keep: np.ndarray) -> "Dataset":
        """Return the dataset with only the events where `keep` is True (users left without any are dropped)."""
        users = self.event_users[keep]
        present = np.unique(users)
        remap = np.full(self.n_users, -1, dtype=np.int64)
        remap[present] = np.arange(len(present))
        return Dataset(
            item_ids=self.item_ids, item_texts=self.item_texts, user_ids=[self.user_ids[u] for u in present],
            event_users=remap[users], event_items=self.event_items[keep], timestamps=self.timestamps[keep],
            event_types=self.event_types[keep], values=self.values[keep], event_type_names=self.event_type_names,
            n_dropped=self.n_dropped,
        )

    def user_sequences(self) -> list[np.ndarray]:
        """Return, per user, event indices sorted by timestamp (ties keep input order)."""
        order = np.lexsort((np.arange(len(self.timestamps)), self.timestamps, self.event_users))
        bounds = np.searchsorted(self.event_users[order], np.arange(self.n_users + 1))
        return [order[bounds[u]:bounds[u + 1]] for u in range(self.n_users)]


@dataclass
class Split:
    """Leave-last-out: per user, the last event is the test target and the second-last validation."""

    sequences: list[np.ndarray]  # per user, event indices sorted by time
    eval_users: np.ndarray  # users with >= 3 events, the only ones in the metrics
    n_left_out: int  # users with < 3 events (they still train)

    def history(self, user: int, stage: str) -> np.ndarray:
        """Return the event indices visible when predicting the `stage` target ("val", "test", "all")."""
        seq = self.sequences[user]
        if user not in self._eval_set:
            return seq  # short users only ever contribute training data
        return {"val": seq[:-2], "test": seq[:-1], "all": seq}[stage]

    def target(self, user: int, stage: str) -> int:
        """Return the event index of the user's `stage` target."""
        return int(self.sequences[user][-2 if stage == "val" else -1])

    def __post_init__(self) -> None:
        self._eval_set = set(self.eval_users.tolist())


def leave_last_out(dataset: Dataset) -> Split:
    """Split every user's time-ordered events into history / validation / test targets."""
    sequences = dataset.user_sequences()
    lengths = np.array([len(s) for s in sequences])
    eval_users = np.flatnonzero(lengths >= 3)
    return Split(sequences=sequences, eval_users=eval_users, n_left_out=int((lengths < 3).sum()))


def first_positions(lengths: Sequence[int] | np.ndarray, cap: int) -> np.ndarray:
    """Return, per sequence, the first position that may be a training target (position 0 never is).

    A sequence of length n has targets at positions 1..n-1; with `cap` > 0 only its last `cap` ones
    (its most recent events) remain, so one user contributes at most `cap` examples. cap 0 = no cap.
    """
    lengths = np.asarray(lengths, dtype=np.int64)
    return np.maximum(1, lengths - cap) if cap > 0 else np.ones(len(lengths), dtype=np.int64)


def _read_csv(path: str, **kwargs) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8", errors="replace") as f:
        return list(csv.DictReader(f, **kwargs))


def load_movielens(path: str) -> Dataset:
    """Load a MovieLens folder: ml-latest-small layout (movies.csv, ratings.csv, tags.csv) or ml-100k (u.item, u.data)."""
    if os.path.exists(os.path.join(path, "ratings.csv")):
        movies = _read_csv(os.path.join(path, "movies.csv"))
        tags: dict[str, list[str]] = defaultdict(list)
        if os.path.exists(os.path.join(path, "tags.csv")):
            for row in _read_csv(os.path.join(path, "tags.csv")):
                tag = row["tag"].strip().lower()
                if tag and tag not in tags[row["movieId"]]:
                    tags[row["movieId"]].append(tag)
        item_ids = [m["movieId"] for m in movies]
        texts = [_compose_text(m["title"], "", m["genres"].replace("|", ", "), ", ".join(tags[m["movieId"]][:10]))
                 for m in movies]
        ratings = _read_csv(os.path.join(path, "ratings.csv"))
        return Dataset.from_arrays(
            item_ids, texts,
            [r["userId"] for r in ratings], [r["movieId"] for r in ratings],
            [float(r["timestamp"]) for r in ratings], None, [float(r["rating"]) for r in ratings],
        )
    if os.path.exists(os.path.join(path, "u.data")):
        genres = []
        if os.path.exists(os.path.join(path, "u.genre")):
            with open(os.path.join(path, "u.genre"), encoding="latin-1") as f:
                genres = [line.split("|")[0] for line in f if "|" in line]
        item_ids, texts = [], []
        with open(os.path.join(path, "u.item"), encoding="latin-1") as f:
            for line in f:
                parts = line.rstrip("\n").split("|")
                if len(parts) < 2:
                    continue
                flags = parts[5:]
                names = [g for g, v in zip(genres, flags) if v == "1"]
                item_ids.append(parts[0])
                texts.append(_compose_text(parts[1], "", ", ".join(names), ""))
        users, items, times, vals = [], [], [], []
        with open(os.path.join(path, "u.data"), encoding="latin-1") as f:
            for line in f:
                parts = line.split()
                if len(parts) >= 4:
                    users.append(parts[0]); items.append(parts[1]); vals.append(float(parts[2])); times.append(float(parts[3]))
        return Dataset.from_arrays(item_ids, texts, users, items, times, None, vals)
    raise FileNotFoundError(f"{path}: neither ratings.csv (ml-latest-small) nor u.data (ml-100k) found")


def _compose_text(title: str, description: str, category: str, tags: str) -> str:
    """Join the text fields the encoder sees; empty fields are skipped."""
    return ". ".join(p.strip() for p in (title, category, tags, description) if p and p.strip())


def _parse_time(raw: str) -> float:
    try:
        return float(raw)
    except ValueError:
        from datetime import datetime
        return datetime.fromisoformat(raw.strip().replace("Z", "+00:00")).timestamp()


def load_generic_csv(interactions: str, items: str) -> Dataset:
    """Load `items` (item_id,title[,description,category,tags,...]) and `interactions` (user_id,item_id,timestamp[,event_type,value])."""
    item_rows = _read_csv(items)
    item_ids = [r["item_id"] for r in item_rows]
    texts = [_compose_text(r.get("title") or "", r.get("description") or "", r.get("category") or "",
                           (r.get("tags") or "").replace("|", ", ")) for r in item_rows]
    rows = _read_csv(interactions)
    has_type = bool(rows) and "event_type" in rows[0]
    has_value = bool(rows) and "value" in rows[0]
    return Dataset.from_arrays(
        item_ids, texts,
        [r["user_id"] for r in rows], [r["item_id"] for r in rows], [_parse_time(r["timestamp"]) for r in rows],
        [r["event_type"] for r in rows] if has_type else None,
        [float(r["value"] or 1.0) for r in rows] if has_value else None,
    )
