"""A small shop with a trained, active model: trained once per session, installed per test."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from reranking.demo_data import generate
from reranking.models import ModelVersion, RunStatus
from reranking.services import precompute
from reranking.services.catalogue import upsert_items
from reranking.services.ingest import ingest_events

SHOP = {"seed": 3, "n_users": 60, "lines_per_category": 4}
QUICK = {"max_epochs": 1, "patience": 1, "max_train_lists": 2000, "crossfit_folds": 2, "n_negatives": 64}


@pytest.fixture(scope="session")
def trained_artifact(tmp_path_factory) -> Path:
    """Train the ML core on the generated shop once (no database) and save the artifact."""
    from reranking.ml.config import RerankerConfig
    from reranking.ml.data import Dataset
    from reranking.ml.train import train

    items, events = generate(**SHOP)
    item_texts = [". ".join([i["title"], i["category"], " ".join(i["tags"]), i["description"]]) for i in items]
    dataset = Dataset.from_arrays(
        item_ids=[i["item_id"] for i in items], item_texts=item_texts,
        user_ids=[e["user_id"] for e in events], event_item_ids=[e["item_id"] for e in events],
        timestamps=[__import__("datetime").datetime.fromisoformat(e["timestamp"]).timestamp() for e in events],
        event_types=[e["event_type"] for e in events],
    )
    result = train(dataset, RerankerConfig(**QUICK), evaluate=False)
    target = tmp_path_factory.mktemp("artifact") / "v1"
    result.model.save(target)
    return target


@pytest.fixture
def shop(alice, settings, tmp_path, trained_artifact):
    """Alice's tenant with the generated catalogue and events, an active v1 and its rankings."""
    items, events = generate(**SHOP)
    upsert_items(alice.tenant, items)
    ingest_events(alice.tenant, events)
    settings.MEDIA_ROOT = tmp_path
    shutil.copytree(trained_artifact, tmp_path / "models" / "v1")
    version = ModelVersion.objects.create(
        tenant=alice.tenant, number=1, status=RunStatus.RUNNING, artifact_path="models/v1",
        metrics={"validation": {"reranker": {"ndcg@10": 0.3}}},
    )
    for shard in precompute.plan_shards(version):
        precompute.run_shard(shard.pk)
    version.refresh_from_db()
    assert version.is_active and version.rankings_ready
    from django.core.cache import cache

    cache.clear()
    return alice


@pytest.fixture
def user_id(shop) -> str:
    return "u00001"
