"""Send Celery tasks by name, so services never import worker/tasks.py (which imports the services)."""
from __future__ import annotations

from celery import current_app


def enqueue(name: str, *args, task_id: str | None = None) -> None:
    """Queue the task registered as `name` with these arguments (routes come from CELERY_TASK_ROUTES).

    Where the task module is loaded (a worker, or a process that imported it) its task object sends the
    message, so a test that replaces the task's `delay` sees the call (a task class may derive its own
    id, as TrainTask does); elsewhere the app sends by name, with `task_id` when the caller names one.
    """
    task = current_app.tasks.get(name)
    if task is not None:
        task.delay(*args)
    else:
        current_app.send_task(name, args=args, **({"task_id": task_id} if task_id else {}))
