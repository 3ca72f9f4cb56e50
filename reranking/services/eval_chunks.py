"""Spread a large training run's test evaluation over idle workers, as embed_chunks does for item texts.

The trainer saves the test stage (reranking.ml.holdout.TestJob: network, test-stage first stage, the
sampled users) into a folder beside the run's artifact, offers every chunk of users but the first to
other workers (worker.tasks.evaluate_chunk), scores each chunk no one has claimed itself, waits for the
ones another worker holds, and combines the per-user results: the metrics equal one process's.
"""
from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path
from typing import Callable

import numpy as np
from django.conf import settings
from django.core.cache import cache

from reranking.ml.artifact import CorruptArtifact
from reranking.ml.holdout import TestJob, TestScorer, score_here, score_users
from reranking.ml.train import set_threads
from reranking.models import IN_FLIGHT, ModelVersion

from . import chunks

log = logging.getLogger(__name__)
CHUNK_CLAIM_SECONDS = 900  # a chunk of 2,500 users of a 100k-item shop takes well under this; a dead worker's is re-taken after


def job_dir(run: ModelVersion, attempt: int) -> Path:
    """The folder of a run's shared test stage; per attempt, so a re-delivered run never reads a dead one's parts."""
    return Path(settings.MEDIA_ROOT) / "models" / run.tenant.slug / f"v{run.number}-eval-{attempt}"


def part_path(folder: Path, start: int) -> Path:
    return folder / f"part-{start}.npz"


def chunk_key(run_id: int, attempt: int, start: int) -> str:
    return f"recs:eval-chunk:{run_id}:{attempt}:{start}"


def _write_part(folder: Path, start: int, part: dict[str, np.ndarray]) -> None:
    tmp = folder / f".part-{start}-{os.getpid()}.npz"
    np.savez(tmp, **part)
    os.replace(tmp, part_path(folder, start))  # whole or absent: the trainer never reads half a file


def _read_part(folder: Path, start: int) -> dict[str, np.ndarray]:
    with np.load(part_path(folder, start)) as part:
        return {key: part[key] for key in part.files}


def evaluate_chunk(run_id: int, attempt: int, start: int, stop: int, *, claimed: bool = False) -> int:
    """Score users [start, stop) of the run's shared test stage under the chunk's claim; return how many.

    Idempotent: 0 when another worker holds the chunk, it is scored already, or the run is over (its
    folder removed). A claim expires after CHUNK_CLAIM_SECONDS, so a chunk whose worker died is taken again.
    """
    run = ModelVersion.objects.filter(pk=run_id, status__in=IN_FLIGHT).select_related("tenant").first()
    if run is None:
        return 0
    folder = job_dir(run, attempt)
    if part_path(folder, start).exists():
        return 0
    if not claimed and not cache.add(chunk_key(run_id, attempt, start), 1, CHUNK_CLAIM_SECONDS):
        return 0
    try:
        job = TestJob.load(str(folder))
        set_threads(job.model.config)  # the trainer's thread count: the same BLAS kernels, the same scores
        part = score_users(job, start, stop)
        _write_part(folder, start, part)
    except (OSError, CorruptArtifact):  # the run finished or was re-delivered meanwhile: nothing to do
        log.info("evaluation chunk %s-%s of run %s: folder %s gone", start, stop, run_id, folder)
        return 0
    return stop - start


def shared_scorer(run: ModelVersion, progress: Callable[[float], None] | None = None) -> TestScorer:
    """Return train()'s `score_test` for the run: in this process unless the job has more than
    RECS_EVAL_CHUNK_USERS users, then in chunks other workers may take (evaluate_chunks)."""

    def score(job: TestJob) -> list[dict[str, np.ndarray]]:
        if len(job) <= settings.RECS_EVAL_CHUNK_USERS:
            return score_here(job)
        return evaluate_chunks(run, job, progress)

    return score


def evaluate_chunks(run: ModelVersion, job: TestJob, progress: Callable[[float], None] | None = None,
                    size: int | None = None) -> list[dict[str, np.ndarray]]:
    """Score the job's users in chunks of `size` (RECS_EVAL_CHUNK_USERS) other workers may take
    (worker.tasks.evaluate_chunk); return the parts in order.

    This process scores unclaimed chunks itself from the job in memory, so it never waits on a queue no
    worker serves; it only waits for chunks another worker is scoring, or re-takes them once their claim
    expires. The folder is removed at the end: a late worker then finds nothing to do.
    """
    folder = job_dir(run, run.attempts)
    shutil.rmtree(folder, ignore_errors=True)
    job.save(str(folder))
    slices = job.slices(size or settings.RECS_EVAL_CHUNK_USERS)
    parts: dict[int, dict[str, np.ndarray]] = {}

    def take(chunk: tuple[int, int]) -> None:
        parts[chunk[0]] = score_users(job, *chunk)

    def finished(chunk: tuple[int, int]) -> bool:
        if not part_path(folder, chunk[0]).exists():
            return False
        parts[chunk[0]] = _read_part(folder, chunk[0])
        return True

    try:
        chunks.share("worker.tasks.evaluate_chunk", slices, args=lambda chunk: [run.pk, run.attempts, *chunk],
                     claim=lambda chunk: chunk_key(run.pk, run.attempts, chunk[0]), claim_seconds=CHUNK_CLAIM_SECONDS,
                     take=take, finished=finished, progress=progress)
        return [parts[start] for start, _ in slices]
    finally:
        shutil.rmtree(folder, ignore_errors=True)
