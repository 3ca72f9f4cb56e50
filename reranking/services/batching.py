"""Score the live lists that threads of one web process ask for at about the same time in one model call.

The re-ranker costs ~5.8 ms of CPU per history scored alone, 3.7 ms in a batch of 2, 2.4 ms in 4 and
1.8 ms in 8 (one model, 2-item histories, one torch thread). A gthread worker (platform/gunicorn.conf.py)
serves several requests at once; those that need `model.recommend([history], k, exclude_seen)` hand
their history in here, and the ones for the same model and (k, exclude_seen) are scored together.

Leader and followers, no background thread: the first thread to arrive leads a batch. Others that arrive
while it collects join it and wait for their list. The leader waits for company only while other requests
are in flight in this process (`in_flight`), at most WINDOW_SECONDS, so a process serving one request
at a time (a sync worker) adds no latency; while an earlier batch for the same key still runs, it keeps
collecting until that one ends. It then scores every history in one call and hands each caller its own
list, or the call's exception.
"""
from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from typing import Sequence

from reranking.ml.artifact import History, Reranker

# How long a leader waits for requests in flight to join: a third of one solo scoring (5.8 ms), and
# it stops early once every request in flight has joined or left.
WINDOW_SECONDS = 0.002
# Histories per call: past 8 the cost per history barely falls (1.8 ms), while the batch's latency grows.
MAX_BATCH = 16


class _Batch:
    """Histories collected for one call, and what it gave (per history) or raised."""

    def __init__(self, model: Reranker) -> None:
        self.model = model
        self.histories: list[History] = []
        self.lists: Sequence[list[tuple[str, float]]] = ()
        self.error: BaseException | None = None
        self.done = threading.Event()


class Batcher:
    """Batch concurrent `model.recommend([history], ...)` calls of one process (see the module docstring)."""

    def __init__(self) -> None:
        self._changed = threading.Condition(threading.Lock())  # guards everything below
        self._collecting: dict[tuple[int, int, bool | None], _Batch] = {}
        self._running: set[tuple[int, int, bool | None]] = set()
        self._active = 0  # threads inside in_flight (requests being served, or scoring)
        self._inside = 0  # of those, threads inside recommend: they will not join another batch
        self._local = threading.local()

    @contextlib.contextmanager
    def in_flight(self) -> Iterator[None]:
        """Count this thread as serving a request while inside: a leader waits for company only then."""
        depth = getattr(self._local, "depth", 0)
        self._local.depth = depth + 1
        if not depth:
            with self._changed:
                self._active += 1
        try:
            yield
        finally:
            self._local.depth = depth
            if not depth:
                with self._changed:
                    self._active -= 1
                    self._changed.notify_all()  # a leader waiting for this request stops waiting

    def recommend(self, model: Reranker, history: History, k: int,
                  exclude_seen: bool | None) -> list[tuple[str, float]]:
        """Return `model.recommend([history], k, exclude_seen)[0]`, scored with the histories that other
        threads ask for meanwhile (the same up to float noise: padding is never attended to)."""
        # id(model) is stable while a batch holds the model; a reloaded version is another object.
        key = (id(model), k, exclude_seen)
        with self.in_flight():
            with self._changed:
                self._inside += 1
                batch = self._collecting.get(key)
                leads = batch is None
                if leads:
                    batch = self._collecting[key] = _Batch(model)
                index = len(batch.histories)
                batch.histories.append(history)
                if leads:
                    self._collect(key, batch)
                else:
                    self._changed.notify_all()  # the leader may have all it waits for
            try:
                if leads:
                    self._run(key, batch, k, exclude_seen)
                else:
                    batch.done.wait()
            finally:
                with self._changed:
                    self._inside -= 1
        if batch.error is not None:
            raise batch.error
        return batch.lists[index]

    def _collect(self, key: tuple, batch: _Batch) -> None:
        """Wait (holding the lock while awake) until the batch should run, then close it and mark the key running."""
        deadline = time.monotonic() + WINDOW_SECONDS
        while len(batch.histories) < MAX_BATCH:
            if key in self._running:  # an earlier batch still runs: collect until it ends
                self._changed.wait()
                continue
            left = deadline - time.monotonic()
            # Threads in flight but not inside recommend may still ask; none do in a one-request process.
            if left <= 0 or self._active <= self._inside:
                break
            self._changed.wait(left)
        del self._collecting[key]  # later arrivals start the next batch
        while key in self._running:  # closed full while an earlier batch runs
            self._changed.wait()
        self._running.add(key)

    def _run(self, key: tuple, batch: _Batch, k: int, exclude_seen: bool | None) -> None:
        """Score the batch's histories in one call; every caller gets the outcome, whatever it is."""
        try:
            lists = batch.model.recommend(batch.histories, k=k, exclude_seen=exclude_seen)
            assert len(lists) == len(batch.histories), f"{len(lists)} lists for {len(batch.histories)} histories"
            batch.lists = lists
        except BaseException as exc:  # noqa: BLE001 - raised again in every caller, the leader included
            batch.error = exc
        finally:
            with self._changed:
                self._running.discard(key)
                self._changed.notify_all()
            batch.done.set()


batcher = Batcher()  # this process's
in_flight = batcher.in_flight
recommend = batcher.recommend
