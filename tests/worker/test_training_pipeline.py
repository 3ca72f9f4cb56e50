"""The training pipeline run in-process: versions, activation gate, rankings, failure safety."""
from __future__ import annotations

import numpy as np
import pytest
from django.core.management import call_command

from reranking.models import EndUser, Event, ItemEmbedding, ModelVersion, Ranking, RunStatus, TrainingPolicy
from reranking.services import precompute, training
from reranking.services.embeddings import embed_items

pytestmark = [pytest.mark.django_db, pytest.mark.slow]


def active(tenant) -> ModelVersion:
    return ModelVersion.objects.for_tenant(tenant).get(is_active=True)


def rankings_of(version) -> dict[str, list]:
    return dict(Ranking.objects.filter(version=version).values_list("user_external_id", "items"))


def test_train_tenant_activates_first_version_with_every_users_ranking(shop):
    policy = TrainingPolicy.for_tenant(shop.tenant)
    policy.max_examples_per_user = 7  # the tenant's contribution cap reaches the trainer
    policy.new_user_days, policy.new_user_item_floor = 3, 4  # and its new-user bound
    policy.save()
    call_command("train_tenant", shop.tenant.slug)

    version = active(shop.tenant)
    assert version.config["max_examples_per_user"] == 7
    assert (version.config["new_user_days"], version.config["new_user_item_floor"]) == (3, 4)
    assert set(version.metrics["new_user_bound"]) == {"new_users", "items_capped", "events_left_out"}
    assert version.status == RunStatus.SUCCEEDED and version.progress == 100.0
    assert version.device == "cpu"
    assert version.n_events == Event.objects.for_tenant(shop.tenant).count()
    names = [row["name"] for row in version.metrics["methods"]]
    assert "reranker" in names and "popularity" in names
    assert version.validation_ndcg is not None
    assert {"model.safetensors", "config.json"} <= {p.name for p in (precompute.Path(precompute.settings.MEDIA_ROOT) / version.artifact_path).iterdir()}
    ranked = rankings_of(version)
    assert set(ranked) == set(EndUser.objects.for_tenant(shop.tenant).values_list("external_id", flat=True))
    user = EndUser.objects.for_tenant(shop.tenant).first()
    seen = set(Event.objects.filter(user=user).values_list("item__external_id", flat=True))
    top = [item for item, _ in ranked[user.external_id]]
    assert len(top) == TrainingPolicy.for_tenant(shop.tenant).top_k
    assert not seen & set(top), "consumed items are excluded by default"
    scores = [score for _, score in ranked[user.external_id]]
    assert scores == sorted(scores, reverse=True)


def test_a_worse_version_stays_inactive_until_activated_by_hand(shop):
    call_command("train_tenant", shop.tenant.slug)
    first = active(shop.tenant)
    # Pretend the active version validated far better, so the next one fails the gate.
    first.metrics["validation"]["reranker"]["ndcg@10"] = 0.99
    first.save(update_fields=["metrics"])
    call_command("train_tenant", shop.tenant.slug)

    second = ModelVersion.objects.for_tenant(shop.tenant).get(number=2)
    assert second.status == RunStatus.SUCCEEDED and second.rankings_ready
    assert not second.is_active and "Not activated" in second.activation_note
    assert active(shop.tenant) == first

    precompute.activate(second)
    assert active(shop.tenant) == second
    precompute.activate(first)  # rollback
    assert active(shop.tenant) == first


def test_a_failing_run_keeps_the_active_version_and_its_rankings(shop):
    call_command("train_tenant", shop.tenant.slug)
    before = active(shop.tenant)
    rankings_before = rankings_of(before)
    # Corrupt data: an embedding row whose bytes are not a 384-float vector.
    ItemEmbedding.objects.for_tenant(shop.tenant).filter(pk=ItemEmbedding.objects.for_tenant(shop.tenant).first().pk).update(vector=b"\x00" * 12)

    run, created = training.request_training(shop.tenant, enqueue=False)
    assert created
    assert training.run_training(run.pk) is None

    run.refresh_from_db()
    assert run.status == RunStatus.FAILED and run.finished_at is not None
    assert "ValueError" in run.error or "Error" in run.error
    assert active(shop.tenant) == before
    assert rankings_of(before) == rankings_before


def test_a_second_request_joins_the_run_in_flight(shop):
    run, created = training.request_training(shop.tenant, enqueue=False)
    again, created_again = training.request_training(shop.tenant, enqueue=False)
    assert created and not created_again
    assert again.pk == run.pk
    assert ModelVersion.objects.for_tenant(shop.tenant).count() == 1


def test_a_tenant_without_events_fails_with_a_clear_reason(alice, quick_training):
    run, _ = training.request_training(alice.tenant, enqueue=False)
    training.run_training(run.pk)
    run.refresh_from_db()
    assert run.status == RunStatus.FAILED
    assert "no items or no events" in run.error


def test_embeddings_are_recomputed_only_for_changed_text(shop):
    _, first = embed_items(shop.tenant)
    assert len(first) == ItemEmbedding.objects.for_tenant(shop.tenant).count() > 0
    item = ItemEmbedding.objects.for_tenant(shop.tenant).select_related("item").first().item
    item.title = "A completely different title"
    item.save()
    matrix, second = embed_items(shop.tenant)
    assert second == [item.external_id]
    assert np.allclose(np.linalg.norm(matrix, axis=1), 1.0, atol=1e-4)


def test_the_reaper_fails_a_run_whose_worker_went_silent(shop, settings):
    settings.RECS_RUN_STALE_SECONDS = 60
    run, _ = training.request_training(shop.tenant, enqueue=False)
    ModelVersion.objects.filter(pk=run.pk).update(
        status=RunStatus.RUNNING, heartbeat_at=precompute.timezone.now() - precompute.timezone.timedelta(minutes=5)
    )
    assert training.reap_stale_runs() == [run.pk]
    run.refresh_from_db()
    assert run.status == RunStatus.FAILED and "stopped reporting" in run.error
    # With the run failed, the tenant can train again.
    _, created = training.request_training(shop.tenant, enqueue=False)
    assert created
