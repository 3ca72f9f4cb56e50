"""A large test sample is cut into chunks idle workers can take; the metrics are those of one process."""
from __future__ import annotations

import time

import pytest
from django.core.cache import cache

from reranking.models import ModelVersion
from reranking.services import chunks, eval_chunks, training
from reranking.services.eval_chunks import chunk_key, job_dir
from worker.tasks import evaluate_chunk

pytestmark = [pytest.mark.django_db, pytest.mark.slow]


def train_run(tenant) -> ModelVersion:
    run, _ = training.request_training(tenant, enqueue=False)
    assert training.run_training(run.pk) is not None
    return ModelVersion.objects.get(pk=run.pk)


def offered(sent_tasks) -> list[list[int]]:
    return [kw["args"] for name, kw in sent_tasks if name == "worker.tasks.evaluate_chunk"]


def test_test_users_are_offered_in_chunks_and_give_the_one_process_metrics(shop, sent_tasks, settings):
    settings.RECS_EVAL_CHUNK_USERS = 20
    chunked = train_run(shop.tenant)
    n_users = chunked.metrics["users_evaluated"]
    assert n_users > 40
    chunks = offered(sent_tasks)
    assert len(chunks) == -(-n_users // 20) - 1  # every chunk but the first, which the trainer takes at once
    assert [c[2] for c in chunks] == list(range(20, n_users, 20)) and chunks[-1][3] == n_users
    assert all(c[:2] == [chunked.pk, chunked.attempts] for c in chunks)
    assert not job_dir(chunked, chunked.attempts).exists()  # the shared test stage is removed once combined
    assert all(evaluate_chunk(*c) == 0 for c in chunks)  # done already: a late worker is a no-op

    settings.RECS_EVAL_CHUNK_USERS = 10_000
    sent_tasks.clear()
    cache.clear()
    ModelVersion.objects.filter(pk=chunked.pk).update(status="failed")  # let the tenant train again
    alone = train_run(shop.tenant)
    assert offered(sent_tasks) == []  # small enough: scored in one process, nothing shared
    assert alone.metrics["validation"] == chunked.metrics["validation"]  # the same network...
    assert alone.metrics["methods"] == chunked.metrics["methods"]  # ...and the same test metrics, interval included
    assert alone.metrics["candidate_recall@200"] == chunked.metrics["candidate_recall@200"]


def test_the_trainer_waits_for_a_chunk_another_worker_holds(shop, sent_tasks, settings, monkeypatch):
    settings.RECS_EVAL_CHUNK_USERS = 20
    run, _ = training.request_training(shop.tenant, enqueue=False)
    attempt = run.attempts + 1  # claiming the run counts an attempt
    cache.add(chunk_key(run.pk, attempt, 20), 1, 3600)  # another worker took the second chunk
    waits, scored = [], []

    def other_worker_finishes(seconds):  # while the trainer waits, the other worker scores its chunk
        waits.append(seconds)
        held = next(c for c in offered(sent_tasks) if c[2] == 20)
        assert evaluate_chunk(*held) == 0  # claimed: a second delivery of the same chunk does nothing
        scored.append(eval_chunks.evaluate_chunk(*held, claimed=True))

    monkeypatch.setattr(chunks.time, "sleep", other_worker_finishes)
    version = train_run(shop.tenant)
    assert len(waits) == 1 and scored == [20]  # it waited once, for the one chunk it did not score itself
    assert version.metrics["users_evaluated"] > 40
    reranker = next(m for m in version.metrics["methods"] if m["name"] == "reranker")
    assert 0 < reranker["ndcg@10_ci95"] < 1


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_a_real_worker_scores_chunks_beside_the_trainer(shop, workers, settings, monkeypatch):
    settings.RECS_EVAL_CHUNK_USERS = 10_000
    alone = train_run(shop.tenant)
    ModelVersion.objects.filter(pk=alone.pk).update(status="failed")  # let the tenant train again
    (helper,) = workers("w2", env={"RECS_EVAL_CHUNK_USERS": "10"})
    settings.RECS_EVAL_CHUNK_USERS = 10
    score_here = eval_chunks.score_users

    def first_chunk_waits_for_the_helper(job, start, stop):
        # Scoring a chunk here takes ~20 ms, so without a pause this process claims every chunk before w2
        # has read its first task (CI saw w2 find all five done). While scoring the first chunk, wait
        # (bounded) until some other chunk is claimed: only w2 can claim one then.
        if start == 0:
            run = ModelVersion.objects.filter(tenant=shop.tenant).order_by("-number").first()
            others = [chunk_key(run.pk, run.attempts, s) for s, _ in job.slices(10)[1:]]
            for _ in range(600):
                if any(cache.get(key) for key in others):
                    break
                time.sleep(0.05)
        return score_here(job, start, stop)

    monkeypatch.setattr(eval_chunks, "score_users", first_chunk_waits_for_the_helper)
    shared = train_run(shop.tenant)  # this process trains; w2 takes chunks off the real broker
    helped = [line for line in helper.output().splitlines()
              if "worker.tasks.evaluate_chunk" in line and "succeeded" in line and not line.rstrip().endswith(": 0")]
    assert helped, helper.output()[-3000:]
    assert shared.metrics["methods"] == alone.metrics["methods"]
