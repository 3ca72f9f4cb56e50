"""The test stage scored in slices, here or by another process from a saved job, gives the one-process metrics."""
from __future__ import annotations

import numpy as np
import pytest

from reranking.ml.holdout import TestJob, combine, score_here, score_users
from reranking.ml.train import train

from .conftest import random_embeddings, small_config


@pytest.fixture(scope="module")
def job_and_metrics(make_walks):
    """Train once, keeping the test stage's job; return it and the metrics train() reported."""
    ds = make_walks(n_users=150)
    jobs = []

    def keep(job):
        jobs.append(job)
        return score_here(job)

    result = train(ds, small_config(max_epochs=1), item_embeddings=random_embeddings(ds.n_items), score_test=keep)
    return jobs[0], result.metrics, ds.n_items


def as_metrics(parts, n_items):
    methods, recall = combine(parts, n_items)
    return [{"name": n, **m} for n, m in methods.items()], recall


@pytest.mark.parametrize("cuts", [[50], [40, 100], [1, 77, 149]])
def test_slices_combine_to_the_metrics_of_all_users_at_once(job_and_metrics, cuts):
    job, metrics, n_items = job_and_metrics
    bounds = list(zip([0, *cuts], [*cuts, len(job)]))
    methods, recall = as_metrics([score_users(job, a, b) for a, b in bounds], n_items)
    assert methods == metrics["methods"]  # every method, NDCG/HR/MRR/coverage and the interval, exactly
    assert recall == metrics["candidate_recall@50"]
    assert {m["name"] for m in methods} >= {"reranker", "popularity", "als", "candidates"}


def test_a_job_saved_and_loaded_elsewhere_scores_its_slice_the_same(job_and_metrics, tmp_path):
    job, metrics, n_items = job_and_metrics
    job.save(str(tmp_path / "job"))
    loaded = TestJob.load(str(tmp_path / "job"))
    parts = [score_users(job, 0, 75), score_users(loaded, 75, len(job))]
    assert all(np.array_equal(parts[1][k], v) for k, v in score_users(job, 75, len(job)).items())
    assert as_metrics(parts, n_items) == (metrics["methods"], metrics["candidate_recall@50"])


def test_the_combination_depends_on_every_part(job_and_metrics):
    job, metrics, n_items = job_and_metrics
    whole, _ = as_metrics(score_here(job), n_items)
    missing, _ = as_metrics([score_users(job, 0, 100)], n_items)
    assert missing != whole  # a lost chunk would show: the metrics read every user's row


def test_slices_cut_on_whole_scoring_batches(monkeypatch):
    job = TestJob(model=None, offsets=np.zeros(1001, np.int64), items=np.zeros(0, np.int64), times=np.zeros(0),
                  types=np.zeros(0, np.int64), targets=np.zeros(1000, np.int64))
    monkeypatch.setattr(TestJob, "batch", property(lambda self: 256))  # a catalogue of 256-query batches
    assert job.slices(300) == [(0, 512), (512, 1000)]  # rounded up to whole batches
    assert job.slices(100) == [(s, s + 100) for s in range(0, 1000, 100)]  # below one batch: as asked
    assert job.slices(5000) == [(0, 1000)]
