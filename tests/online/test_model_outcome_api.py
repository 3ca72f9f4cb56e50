"""GET /api/v1/models says what each version serves and why, and where a retrain stands (what a client polls)."""
from __future__ import annotations

from types import SimpleNamespace

import pytest

from reranking.ml.config import RerankerConfig
from reranking.models import ModelVersion, RunStatus
from reranking.services.training import select_served

pytestmark = pytest.mark.django_db


def validation(reranker: float, transition: float) -> dict:
    return {"reranker": {"ndcg@10": reranker}, "transition": {"ndcg@10": transition}, "item_knn": {"ndcg@10": 0.1}}


def test_training_records_the_choice_and_sets_it_on_the_model():
    result = SimpleNamespace(metrics={"validation": validation(0.226, 0.233)}, model=SimpleNamespace(config=None))
    config = select_served(result, RerankerConfig())
    assert config.serve == "transition" and result.model.config.serve == "transition"
    assert result.metrics["selection"]["served"] == "transition"
    kept = SimpleNamespace(metrics={"validation": validation(0.30, 0.233)}, model=SimpleNamespace(config=None))
    assert select_served(kept, RerankerConfig()).serve == "reranker"


def test_the_api_says_what_is_served_and_why_and_the_gate_compares_what_is_served(alice):
    metrics = {"validation": validation(0.226, 0.233)}
    result = SimpleNamespace(metrics=metrics, model=SimpleNamespace(config=None))
    select_served(result, RerankerConfig())
    ModelVersion.objects.create(tenant=alice.tenant, number=1, status=RunStatus.SUCCEEDED, rankings_ready=True,
                                is_active=True, metrics=result.metrics)
    body = alice.client.get("/api/v1/models/1").json()
    assert body["serves"] == "transition" and body["outcome"] == "active: served to everyone"
    assert "did not beat the transition source on your data (validation NDCG@10 0.226 vs 0.233)" in body["selection_note"]
    assert ModelVersion.objects.get(number=1).validation_ndcg == 0.233


def test_a_retrain_that_was_not_activated_says_why(alice):
    from reranking.services import precompute

    ModelVersion.objects.create(tenant=alice.tenant, number=1, status=RunStatus.SUCCEEDED, rankings_ready=True,
                                is_active=True, metrics={"validation": {"reranker": {"ndcg@10": 0.30}}})
    worse = ModelVersion.objects.create(tenant=alice.tenant, number=2, status=RunStatus.RUNNING, n_shards=0,
                                        metrics={"validation": {"reranker": {"ndcg@10": 0.20}}})
    assert alice.client.get("/api/v1/models/2").json()["outcome"].startswith("running")
    precompute.maybe_finish(worse.pk)
    listed = {v["number"]: v for v in alice.client.get("/api/v1/models").json()["results"]}
    assert listed[2]["outcome"].startswith("Not activated: validation NDCG@10 0.2 is worse than the active v1")
    assert listed[1]["outcome"] == "active: served to everyone"
    ModelVersion.objects.create(tenant=alice.tenant, number=3, status=RunStatus.FAILED, error="Too little data\nmore")
    assert alice.client.get("/api/v1/models/3").json()["outcome"] == "failed: Too little data"
