"""Live lists asked for at once by threads of one process are scored in one model call (services/batching.py)."""
from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from reranking.ml.artifact import History, Reranker
from reranking.services import batching, serving

N_THREADS = 6


@pytest.fixture
def model(trained_artifact: Path) -> Reranker:
    return Reranker.load(str(trained_artifact))


@pytest.fixture
def batch_sizes(monkeypatch) -> list[int]:
    """Record the number of histories of every Reranker.recommend call."""
    sizes: list[int] = []
    original = Reranker.recommend

    def spy(self, histories, *args, **kwargs):
        sizes.append(len(histories))
        return original(self, histories, *args, **kwargs)

    monkeypatch.setattr(Reranker, "recommend", spy)
    return sizes


def histories(model: Reranker, n: int) -> list[History]:
    """n different 2-item histories of items the model knows."""
    return [History(item_ids=model.item_ids[2 * i : 2 * i + 2]) for i in range(n)]


def at_once(work, n: int) -> list:
    """Run work(i) in n threads, each counted in flight (as a serving request is) and released together;
    return each thread's result or exception."""
    barrier = threading.Barrier(n)
    outcomes: list = [None] * n

    def run(i: int) -> None:
        with batching.in_flight():
            barrier.wait()
            try:
                outcomes[i] = work(i)
            except Exception as exc:  # noqa: BLE001 - the test inspects it
                outcomes[i] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in threads), "a caller is still waiting: the batcher is wedged"
    return outcomes


def test_concurrent_live_lists_are_scored_in_one_call_and_match_solo_lists(model, batch_sizes, monkeypatch):
    asked = histories(model, N_THREADS)
    solo = [model.recommend([h], k=serving.LIVE_N, exclude_seen=True)[0] for h in asked]
    del batch_sizes[:]
    # Long enough that the leader always waits for all the others; it stops as soon as they have joined.
    monkeypatch.setattr(batching, "WINDOW_SECONDS", 30.0)
    # tenant and version are only read when items were added since training (a non-empty stamp).
    batched = at_once(lambda i: serving.live_list(None, None, model, asked[i], True, ""), N_THREADS)
    assert batch_sizes == [N_THREADS], "one call scored every history"
    for got, want in zip(batched, solo):
        assert [i for i, _ in got] == [i for i, _ in want]
        assert [s for _, s in got] == pytest.approx([s for _, s in want], abs=1e-4)


def test_a_lone_request_does_not_wait_for_company(model, batch_sizes, monkeypatch):
    monkeypatch.setattr(batching, "WINDOW_SECONDS", 5.0)
    history = histories(model, 1)[0]
    started = time.monotonic()
    with batching.in_flight():  # as serving.recommend counts itself: the nested count must not double it
        ranked = batching.recommend(model, history, serving.LIVE_N, True)
    assert time.monotonic() - started < 1.0
    assert batch_sizes == [1]
    assert ranked == model.recommend([history], k=serving.LIVE_N, exclude_seen=True)[0]


def test_a_leader_stops_waiting_when_the_other_request_in_flight_ends(model, monkeypatch):
    """Another request in flight (say a precomputed read) that never scores costs the leader its time, not the window."""
    monkeypatch.setattr(batching, "WINDOW_SECONDS", 5.0)
    entered, leave = threading.Event(), threading.Event()

    def other_request() -> None:
        with batching.in_flight():
            entered.set()
            leave.wait(10)

    other = threading.Thread(target=other_request)
    other.start()
    entered.wait(10)
    threading.Timer(0.2, leave.set).start()
    started = time.monotonic()
    batching.recommend(model, histories(model, 1)[0], serving.LIVE_N, True)
    waited = time.monotonic() - started
    other.join(10)
    assert 0.15 < waited < 2.0, f"waited {waited:.2f} s: for the other request, and only until it ended"


def test_an_error_in_a_batch_reaches_every_caller_and_the_next_call_works(model, monkeypatch):
    monkeypatch.setattr(batching, "WINDOW_SECONDS", 30.0)
    original = Reranker.recommend
    failing, sizes = {"on": True}, []

    def recommend(self, histories, *args, **kwargs):
        sizes.append(len(histories))
        if failing["on"]:
            raise RuntimeError("scoring failed")
        return original(self, histories, *args, **kwargs)

    monkeypatch.setattr(Reranker, "recommend", recommend)
    asked = histories(model, 3)
    outcomes = at_once(lambda i: batching.recommend(model, asked[i], 20, True), 3)
    assert sizes == [3], "the three were one batch"
    assert all(isinstance(o, RuntimeError) and str(o) == "scoring failed" for o in outcomes), outcomes
    failing["on"] = False
    again = at_once(lambda i: batching.recommend(model, asked[i], 20, True), 3)
    assert [[i for i, _ in ranked] for ranked in again] == [
        [i for i, _ in original(model, [h], k=20, exclude_seen=True)[0]] for h in asked]


@pytest.mark.django_db
@pytest.mark.slow
def test_a_sessions_live_list_is_scored_without_waiting(shop, batch_sizes, monkeypatch):
    """Through the API: the request counts itself in flight once, so its lone scoring does not wait."""
    monkeypatch.setattr(batching, "WINDOW_SECONDS", 5.0)
    started = time.monotonic()
    body = shop.client.get("/api/v1/recommendations?k=5&context=BOO-001-0,BOO-001-1").json()
    assert time.monotonic() - started < 2.0
    assert body["strategy"] == "live" and batch_sizes == [1]
