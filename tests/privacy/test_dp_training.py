"""A tenant with DP training on gets a version with the spent epsilon recorded, shown next to the non-private one."""
from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from reranking.models import ModelVersion, PrivacyRelease, PrivacySettings
from reranking.services import training
from tests.worker.conftest import QUICK, load_small_shop

pytestmark = pytest.mark.django_db
# Few users, short private training: this checks the plumbing; tests/ml/test_private.py checks the model.
DP_QUICK = {**QUICK, "dp_epochs": 2, "dp_batch_users": 20, "dp_accountant": "rdp", "max_history": 12, "d_model": 16}


@pytest.fixture
def shop(alice, settings, tmp_path):
    settings.RECS_TRAINING_OVERRIDES = DP_QUICK
    settings.MEDIA_ROOT = tmp_path / "media"
    load_small_shop(alice.tenant, n_users=40)
    return alice


def test_the_privacy_endpoint_edits_dp_training_and_refuses_bad_values(alice):
    response = alice.client.patch("/api/v1/privacy", {"dp_training": True, "dp_training_epsilon": 2.5,
                                                      "max_examples_per_user": 6}, format="json")
    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["dp_training"], body["dp_training_epsilon"], body["max_examples_per_user"]) == (True, 2.5, 6)
    assert "epsilon = 2.5 per user" in body["training_statement"]
    for field, value in (("dp_training_epsilon", 0), ("dp_training_delta", 0.5), ("max_examples_per_user", 51)):
        response = alice.client.patch("/api/v1/privacy", {field: value}, format="json")
        assert response.status_code == 400
        assert response.json()["error"]["message"].startswith(field)
    assert PrivacySettings.for_tenant(alice.tenant).dp_training_epsilon == 2.5


@pytest.mark.slow
def test_a_dp_tenant_gets_a_version_with_spent_epsilon_shown_next_to_the_non_private_one(shop):
    tenant = shop.tenant
    plain = ModelVersion.objects.create(tenant=tenant, number=1, status="succeeded", artifact_path="models/v1",
                                        metrics={"methods": [{"name": "reranker", "ndcg@10": 0.5}]})
    PrivacySettings.objects.filter(tenant=tenant).delete()
    PrivacySettings.objects.create(tenant=tenant, dp_training=True, dp_training_epsilon=4.0, max_examples_per_user=4)

    run, _ = training.request_training(tenant, enqueue=False)
    trained = training.run_training(run.pk)
    assert trained is not None, ModelVersion.objects.get(pk=run.pk).error
    assert 0 < trained.dp_epsilon <= 4.0 and trained.dp_noise_multiplier > 0
    assert trained.dp_delta == pytest.approx(1 / (10 * trained.n_users))
    assert trained.config["dp_epsilon"] == 4.0 and trained.config["max_examples_per_user"] == 4
    assert trained.metrics["privacy"]["per_sample_gradient_rows"] > 0
    release = PrivacyRelease.objects.get(tenant=tenant, kind="training", version=trained)  # in the ledger
    assert release.epsilon == trained.dp_epsilon and release.components[0]["kind"] == "subsampled_gaussian"
    cost = training.privacy_cost(trained)
    assert cost["baseline"] == plain and cost["baseline_ndcg"] == 0.5 and cost["ndcg"] == trained.test_ndcg
    assert training.privacy_cost(plain) is None

    client = Client()
    client.force_login(shop.owner)
    html = client.get(f"/t/{tenant.slug}/models/{trained.number}/").content.decode()
    assert 'id="privacy-cost"' in html and f"{trained.dp_epsilon:.2f}" in html
    assert "v1</a> (latest non-private)" in html and "0.5000" in html
    listing = client.get(f"/t/{tenant.slug}/models/").content.decode()
    assert f"{trained.dp_epsilon:.2f}" in listing

    admin = get_user_model().objects.create_superuser("root", "root@example.com", "pw")
    client.force_login(admin)
    changelist = client.get("/admin/reranking/modelversion/").content.decode()
    assert f"{trained.dp_epsilon:.2f} (" in changelist


@pytest.mark.slow
def test_a_dp_run_over_the_privacy_budget_fails_and_spends_nothing(shop):
    tenant = shop.tenant
    PrivacySettings.objects.filter(tenant=tenant).delete()
    PrivacySettings.objects.create(tenant=tenant, dp_training=True, dp_training_epsilon=4.0, max_examples_per_user=4,
                                   budget_epsilon=1.0)
    run, _ = training.request_training(tenant, enqueue=False)
    assert training.run_training(run.pk) is None
    run.refresh_from_db()
    assert run.status == "failed" and run.error.startswith("Privacy budget exceeded") and not run.is_active
    assert not PrivacyRelease.objects.for_tenant(tenant).exists()


def test_the_privacy_page_saves_dp_training_and_keeps_it_when_a_post_leaves_it_out(alice):
    client = Client()
    client.force_login(alice.owner)
    page = f"/t/{alice.tenant.slug}/privacy/"
    assert "Differentially private training (DP-SGD)" in client.get(page).content.decode()
    base = {"epsilon": "4", "max_epsilon": "10", "max_results": "20", "erasure_retrain_hours": "24"}
    html = client.post(page, {**base, "dp_training": "on", "dp_training_epsilon": "0", "dp_training_delta": "0",
                              "max_examples_per_user": "8"}, follow=True).content.decode()
    assert "Must be between 0.1 and 100." in html and not PrivacySettings.for_tenant(alice.tenant).dp_training
    client.post(page, {**base, "dp_training": "on", "dp_training_epsilon": "2", "dp_training_delta": "0",
                       "max_examples_per_user": "5"})
    saved = PrivacySettings.objects.get(tenant=alice.tenant)
    assert (saved.dp_training, saved.dp_training_epsilon, saved.max_examples_per_user) == (True, 2.0, 5)
    client.post(page, {**base, "dp_training": "on"})  # an older form without the new fields
    saved.refresh_from_db()
    assert (saved.dp_training_epsilon, saved.max_examples_per_user) == (2.0, 5)
