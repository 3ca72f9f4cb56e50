"""Services queue tasks by name through the Celery app, without importing worker/tasks.py."""
from __future__ import annotations

import pytest
from celery import current_app

from reranking.services import queue

pytestmark = pytest.mark.embedded


def test_an_unloaded_task_is_sent_by_name_with_its_routes(monkeypatch):
    sent = []
    monkeypatch.setattr(current_app, "send_task", lambda name, args: sent.append((name, args)))
    queue.enqueue("worker.tasks.not_loaded_here", 3, 7)
    assert sent == [("worker.tasks.not_loaded_here", (3, 7))]


def test_a_loaded_task_sends_through_its_own_object(monkeypatch):
    from worker import tasks

    calls = []
    monkeypatch.setattr(tasks.train_reranker, "delay", lambda *args: calls.append(args))
    monkeypatch.setattr(current_app, "send_task", lambda *a, **k: pytest.fail("sent by name although loaded"))
    queue.enqueue("worker.tasks.train_reranker", 1, 2)
    assert calls == [(1, 2)]
