"""Bounding what a crowd of new accounts can do for one item (shilling by many fake users).

The ingestion rate limit bounds a few users sending many events, and the contribution cap
(`max_examples_per_user`) bounds how much of the training data one user supplies. Neither bounds many
fake users who each act like a person: a few hundred accounts that each watch twenty popular films and
the one being pushed look, one by one, like new customers. What they share is that they are new. So:

- a user is *new* when their first event is less than `new_user_days` before the latest event in the
  data (the training time);
- for each item, new users together count as at most max(`new_user_item_floor`, established) users,
  where *established* is how many users who are not new have events on that item. The earliest new
  users on the item count (by their first event on it); the others' events on that item are left out of
  training, and only those.

The bound applies only once the data holds at least `min_established` users who are not new: a young
tenant, where nearly everyone is new, has no baseline to protect, and capping its every item at the
floor would only cost quality. Fake accounts cannot switch it off: they add new users, never
established ones.

So however many fake accounts push an item, at most the floor (or as many as already liked it) count,
while an item that established users take up is not slowed, and a real new user's events count in
full once the user is no longer new. Events left out stay stored and still shape the user's own
recommendations (histories at serving time come from the database). Assumes event timestamps are set by
the tenant's backend, not by end users (the API is called by the tenant's app, with its key).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

DAY = 86_400.0


@dataclass
class NewUserBound:
    keep: np.ndarray  # (E,) bool: the events training uses
    new_users: int  # users counted as new
    items_capped: int  # items on which some new users' events were left out
    events_left_out: int


def bound_new_users(users: np.ndarray, items: np.ndarray, timestamps: np.ndarray, *, days: float,
                    floor: int, min_established: int = 0, now: float | None = None) -> NewUserBound:
    """Return which events to keep so that new users add at most max(floor, established) users per item.

    `users` and `items` are int indices per event, `timestamps` seconds. `now` defaults to the latest
    timestamp. days <= 0 keeps everything.
    """
    n = len(users)
    keep = np.ones(n, dtype=bool)
    if days <= 0 or n == 0:
        return NewUserBound(keep, 0, 0, 0)
    users = np.asarray(users, dtype=np.int64)
    items = np.asarray(items, dtype=np.int64)
    timestamps = np.asarray(timestamps, dtype=np.float64)
    n_users, n_items = int(users.max()) + 1, int(items.max()) + 1
    first_seen = np.full(n_users, np.inf)
    np.minimum.at(first_seen, users, timestamps)
    now = float(timestamps.max()) if now is None else now
    is_new = np.isfinite(first_seen) & (first_seen > now - days * DAY)  # indices without events are nobody
    if not is_new.any() or int((np.isfinite(first_seen) & ~is_new).sum()) < min_established:
        return NewUserBound(keep, int(is_new.sum()), 0, 0)

    pair = items * n_users + users  # one id per (item, user)
    new_event = is_new[users]
    established = np.bincount(np.unique(pair[~new_event]) // n_users, minlength=n_items)
    allowance = np.maximum(established, floor)

    # Each new (item, user) pair, at its first event on the item; ranked within its item by that time.
    new_pairs, first_index = np.unique(pair[new_event], return_index=True)
    first_time = timestamps[new_event][first_index]
    pair_items = new_pairs // n_users
    order = np.lexsort((new_pairs, first_time, pair_items))  # by item, then time, then user: deterministic
    sorted_items = pair_items[order]
    starts = np.searchsorted(sorted_items, sorted_items, side="left")
    rank = np.empty(len(order), dtype=np.int64)
    rank[order] = np.arange(len(order)) - starts
    refused_pairs = new_pairs[rank >= allowance[pair_items]]
    if len(refused_pairs):
        keep &= ~np.isin(pair, refused_pairs)
    return NewUserBound(
        keep=keep, new_users=int(is_new.sum()), items_capped=len(np.unique(refused_pairs // n_users)),
        events_left_out=int((~keep).sum()),
    )
