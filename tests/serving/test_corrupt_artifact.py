"""A damaged model artifact on disk: load refused, the previous version keeps serving, staff see why."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.test import Client

from reranking.ml.artifact import CorruptArtifact, Reranker
from reranking.models import Item, ModelVersion, Ranking, RunStatus
from reranking.services import precompute

pytestmark = [pytest.mark.django_db, pytest.mark.slow]


def flip_a_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) * 2 // 3] ^= 0xFF  # inside the tensor data: the file still parses
    path.write_bytes(bytes(data))


def truncate(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


@pytest.mark.parametrize("damage", [flip_a_byte, truncate])
def test_loading_a_damaged_artifact_is_refused(trained_artifact, tmp_path, damage):
    folder = tmp_path / "v1"
    shutil.copytree(trained_artifact, folder)
    Reranker.load(str(folder))  # intact: loads
    damage(folder / "model.safetensors")
    with pytest.raises(CorruptArtifact, match="model.safetensors"):
        Reranker.load(str(folder))


def recommendations(shop, user: str) -> dict:
    response = shop.client.get(f"/api/v1/users/{user}/recommendations?k=5")
    assert response.status_code == 200, response.content
    return response.json()


def test_a_corrupt_new_version_is_failed_and_the_previous_one_keeps_serving(shop, user_id):
    before = recommendations(shop, user_id)
    media = Path(settings.MEDIA_ROOT)
    shutil.copytree(media / "models" / "v1", media / "models" / "v2")
    flip_a_byte(media / "models" / "v2" / "model.safetensors")
    v2 = ModelVersion.objects.create(
        tenant=shop.tenant, number=2, status=RunStatus.RUNNING, artifact_path="models/v2",
        metrics={"validation": {"reranker": {"ndcg@10": 0.9}}},
    )

    shards = precompute.plan_shards(v2)
    assert [precompute.run_shard(shard.pk) for shard in shards] == [False] * len(shards)

    v2.refresh_from_db()
    assert v2.status == RunStatus.FAILED and not v2.is_active and not v2.rankings_ready
    assert "artifact cannot be loaded" in v2.error and "checksum" in v2.error
    assert not Ranking.objects.filter(version=v2).exists(), "no partial ranking of the broken version"
    after = recommendations(shop, user_id)
    assert after["model_version"] == 1 and after["items"] == before["items"]

    # Staff see the reason on the tenant's models page and in Django admin.
    page = Client()
    page.force_login(shop.owner)
    assert "artifact cannot be loaded" in page.get(f"/t/{shop.tenant.slug}/models/").content.decode()
    staff = get_user_model().objects.create_superuser("root", password="pw-root")
    page.force_login(staff)
    admin_page = page.get(f"/admin/reranking/modelversion/{v2.pk}/change/").content.decode()
    assert "artifact cannot be loaded" in admin_page


def test_a_damaged_active_artifact_degrades_scoring_without_failing_requests(shop, user_id):
    truncate(Path(settings.MEDIA_ROOT) / "models" / "v1" / "model.safetensors")
    candidates = list(Item.objects.for_tenant(shop.tenant).values_list("external_id", flat=True)[:30])

    response = shop.client.post("/api/v1/rerank", {"user_id": user_id, "candidates": candidates}, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["strategy"] == "popular"
    assert {i["item_id"] for i in response.json()["items"]} == set(candidates)
    body = recommendations(shop, user_id)
    assert body["strategy"] == "precomputed" and body["model_version"] == 1, "stored rankings still serve"

    v1 = ModelVersion.objects.get(tenant=shop.tenant, number=1)
    assert v1.is_active and v1.status == RunStatus.SUCCEEDED, "the serving version stays; only scoring degrades"
    assert "artifact cannot be loaded" in v1.error
