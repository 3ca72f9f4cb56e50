"""Workers that score without training (precompute shards, evaluation chunks) bound their heap as training does."""
from __future__ import annotations

from worker import tasks


def test_scoring_tasks_bound_the_heap_before_they_score(monkeypatch):
    calls: list[str] = []
    monkeypatch.setattr(tasks, "bound_heap", lambda: calls.append("bound"))
    monkeypatch.setattr(tasks.precompute, "run_shard", lambda shard_id: calls.append("shard") or True)
    monkeypatch.setattr(tasks, "evaluate_chunk_service", lambda *args: calls.append("chunk") or 0)
    tasks.precompute_shard.run(7)
    tasks.evaluate_chunk.run(1, 1, 0, 10)
    assert calls == ["bound", "shard", "bound", "chunk"]
