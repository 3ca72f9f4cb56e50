"""Work a training run splits into chunks that idle workers may take: item embedding (embeddings.py) and
test evaluation (eval_chunks.py) share this loop.

Every chunk but the first is offered to the queue as a task; this process then takes each chunk no one
has claimed (a cache add is the claim) and waits only for chunks another worker holds, so it never waits
on a queue no worker serves. A claim expires, so a chunk whose worker died is taken again.
"""
from __future__ import annotations

import logging
import time
from typing import Callable, Sequence, TypeVar

from django.core.cache import cache

log = logging.getLogger(__name__)
POLL_SECONDS = 1.0
Chunk = TypeVar("Chunk")


def share(task: str, chunks: Sequence[Chunk], *, args: Callable[[Chunk], list], claim: Callable[[Chunk], str],
          claim_seconds: int, take: Callable[[Chunk], None], finished: Callable[[Chunk], bool],
          progress: Callable[[float], None] | None = None) -> None:
    """Return once every chunk is done: by `take` here under its claim, or by another worker (`finished`).

    `args(chunk)` are the task's arguments, `claim(chunk)` its claim's cache key. `progress` gets the
    fraction done after each chunk and while waiting (where a cancel lands).
    """
    from celery import current_app

    for chunk in chunks[1:]:  # the first one is ours at once
        try:
            current_app.send_task(task, args=args(chunk), retry=False)
        except Exception as exc:  # noqa: BLE001 - no broker: this process does every chunk
            log.warning("could not share %s chunks: %s", task, exc)
            break
    pending, done = list(chunks), 0
    while pending:
        left = []
        for chunk in pending:
            if cache.add(claim(chunk), 1, claim_seconds):
                take(chunk)
            elif not finished(chunk):
                left.append(chunk)
                continue
            done += 1
            if progress is not None:
                progress(done / len(chunks))
        if len(left) == len(pending):
            if progress is not None:
                progress(done / len(chunks))
            time.sleep(POLL_SECONDS)  # every remaining chunk is another worker's: wait for it
        pending = left
