"""Models: train now, the status the progress bar polls, history with metrics, activate and roll back."""
from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from reranking.models import ModelVersion

pytestmark = pytest.mark.django_db

METRICS = {
    "validation": {"reranker": {"ndcg@10": 0.30}},
    "methods": [
        {"name": "popular", "ndcg@10": 0.10, "hit@10": 0.2},
        {"name": "reranker", "ndcg@10": 0.25, "hit@10": 0.4},
    ],
}


def version(tenant, number: int, **fields) -> ModelVersion:
    defaults = {"status": "succeeded", "rankings_ready": True, "metrics": METRICS, "artifact_path": f"models/v{number}"}
    return ModelVersion.objects.create(tenant=tenant, number=number, **{**defaults, **fields})


def test_train_now_queues_a_run(owner, url, alice, no_queue, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = owner.post(url("ui:train"), follow=True)
    run = ModelVersion.objects.get(tenant=alice.tenant)
    assert (run.number, run.status, run.trigger) == (1, "queued", "ui")
    assert no_queue == [(alice.tenant.pk, run.pk)]
    html = response.content.decode()
    assert "Training v1 queued." in html
    assert 'data-status-url="/t/alice-shop/models/1/status"' in html and 'role="progressbar"' in html


def test_a_second_click_does_not_queue_another(owner, url, alice, no_queue):
    version(alice.tenant, 1, status="running", rankings_ready=False, progress=40, phase="training epoch 2/8")
    response = owner.post(url("ui:train"), follow=True)
    assert "already running" in response.content.decode()
    assert ModelVersion.objects.for_tenant(alice.tenant).count() == 1 and no_queue == []


@pytest.mark.django_db(transaction=True)  # the task is sent on commit, inside the request, as in production
def test_a_broker_outage_is_reported_and_does_not_block_the_tenant(owner, url, alice, monkeypatch):
    def refuse(*args):
        raise ConnectionError("broker down")

    monkeypatch.setattr("worker.tasks.train_reranker.delay", refuse)
    response = owner.post(url("ui:train"), follow=True)
    assert "The task queue is unavailable" in response.content.decode()
    assert ModelVersion.objects.get(tenant=alice.tenant).status == "failed"


def test_status_reports_progress_for_the_bar(owner, url, alice):
    version(alice.tenant, 1, status="running", rankings_ready=False, progress=42.25, phase="training epoch 2/8")
    ModelVersion.objects.filter(number=1).update(started_at=timezone.now() - timedelta(seconds=84.5))
    body = owner.get(url("ui:model-status", 1)).json()
    assert {k: body[k] for k in ("number", "status", "phase", "progress", "finished", "error", "outcome")} == \
        {"number": 1, "status": "running", "phase": "training epoch 2/8", "progress": 42.2, "finished": False,
         "error": "", "outcome": ""}
    # 42.25% done in 84.5 s: about 115.5 s left.
    assert 84 <= body["elapsed_s"] < 90 and 114 <= body["eta_s"] < 124
    assert body["line"].startswith("training epoch 2/8 · 42% · 1 min 2") and "elapsed, about 1 min 5" in body["line"]


def test_status_reports_the_failure(owner, url, alice):
    version(alice.tenant, 1, status="failed", rankings_ready=False, error="TrainingRefused: too little data\n\ntrace")
    body = owner.get(url("ui:model-status", 1)).json()
    assert body["finished"] and body["error"] == "TrainingRefused: too little data"


def test_history_shows_metrics_failures_and_a_chart(owner, url, alice):
    version(alice.tenant, 1)
    version(alice.tenant, 2, metrics={**METRICS, "methods": [{"name": "popular", "ndcg@10": 0.12},
                                                            {"name": "reranker", "ndcg@10": 0.31}]})
    version(alice.tenant, 3, status="failed", rankings_ready=False, error="RuntimeError: out of memory", metrics={})
    html = owner.get(url("ui:models")).content.decode()
    assert "0.300" in html and "0.310" in html
    assert "v3 failed: RuntimeError: out of memory" in html
    assert html.count("<polyline") == 2  # the re-ranker and the best baseline across v1, v2
    assert "re-ranker v2: 0.310" in html
    assert "The axis does not start at 0" in html


def test_detail_compares_the_reranker_with_baselines(owner, url, alice):
    version(alice.tenant, 1)
    html = owner.get(url("ui:model", 1)).content.decode()
    assert "<strong>Re-ranker (this model)</strong>" in html and "popular" in html and "Hit rate@10" in html


def test_activate_asks_then_activates(owner, url, alice):
    version(alice.tenant, 1, is_active=True, activated_at=timezone.now())
    version(alice.tenant, 2)
    assert "Activate v2?" in owner.get(url("ui:model-activate", 2)).content.decode()
    response = owner.post(url("ui:model-activate", 2), follow=True)
    assert "v2 is now active." in response.content.decode()
    assert ModelVersion.objects.get(tenant=alice.tenant, is_active=True).number == 2


def test_roll_back_to_an_older_version(owner, url, alice):
    version(alice.tenant, 1)
    version(alice.tenant, 2, is_active=True, activated_at=timezone.now())
    assert "Roll back" in owner.get(url("ui:models")).content.decode()
    assert "Roll back to v1?" in owner.get(url("ui:model-activate", 1)).content.decode()
    owner.post(url("ui:model-activate", 1))
    assert ModelVersion.objects.get(tenant=alice.tenant, is_active=True).number == 1


def test_activating_a_pruned_version_recomputes_first(owner, url, alice, monkeypatch):
    sent = []
    monkeypatch.setattr("worker.tasks.precompute_rankings.delay", lambda *args: sent.append(args))
    old = version(alice.tenant, 1, rankings_ready=False)
    response = owner.post(url("ui:model-activate", 1), follow=True)
    assert "being recomputed" in response.content.decode()
    assert sent == [(alice.tenant.pk, old.pk)]


def test_a_failed_version_cannot_be_activated(owner, url, alice):
    version(alice.tenant, 1, status="failed", rankings_ready=False, artifact_path="")
    response = owner.post(url("ui:model-activate", 1), follow=True)
    assert "only a succeeded version can be activated" in response.content.decode()
    assert not ModelVersion.objects.filter(is_active=True).exists()


def test_cancel_a_run_in_flight(owner, url, alice):
    version(alice.tenant, 1, status="queued", rankings_ready=False)
    response = owner.post(url("ui:model-cancel", 1), follow=True)
    assert "Cancelled by alice before it started." in response.content.decode()
    assert ModelVersion.objects.get(tenant=alice.tenant).status == "cancelled"


def test_cancel_says_who_and_in_which_phase_and_the_next_run_queues_at_once(owner, url, alice, no_queue):
    version(alice.tenant, 1, status="running", rankings_ready=False, progress=68.9, phase="training epoch 3/8")
    html = owner.post(url("ui:model-cancel", 1), follow=True).content.decode()
    assert "Cancelled by alice at phase training epoch 3/8 (69%)." in html
    assert "Cancelled by alice at phase training epoch 3/8 (69%)." in owner.get(url("ui:model", 1)).content.decode()
    html = owner.post(url("ui:train"), follow=True).content.decode()
    assert "Training v2 queued." in html


def test_the_outcome_says_in_words_why_a_version_is_live_or_kept_back(owner, url, alice):
    version(alice.tenant, 1, metrics={"validation": {"reranker": {"ndcg@10": 0.368}}})
    version(alice.tenant, 2, is_active=True, activated_at=timezone.now(),
            metrics={"validation": {"reranker": {"ndcg@10": 0.370}}})
    version(alice.tenant, 3, metrics={"validation": {"reranker": {"ndcg@10": 0.20}}},
            activation_note="Not activated: validation NDCG@10 0.2 is worse than the active v2's 0.37 by more than the margin.")
    version(alice.tenant, 4, contains_erased_data=True)
    html = owner.get(url("ui:models")).content.decode()
    assert "v2 is live: it beat v1 on your data (validation NDCG@10 0.370 vs 0.368)." in html
    assert "v3 was kept back: it scored below v2 on your data (validation NDCG@10 0.200 vs 0.370), more than the allowed margin." in html
    assert "v4 was kept back: it was trained before an end user&#x27;s data was erased" in html
    assert "contains_erased_data" not in html
    assert url("ui:model-activate", 4) not in html  # no button for a refused action


def test_activating_a_version_with_erased_data_is_refused_in_words(owner, url, alice):
    version(alice.tenant, 1, contains_erased_data=True)
    html = owner.post(url("ui:model-activate", 1), follow=True).content.decode()
    assert "v1 cannot be activated: it was trained before an end user" in html and "contains_erased_data" not in html
    assert not ModelVersion.objects.filter(is_active=True).exists()


def test_compare_two_versions_side_by_side(owner, url, alice, viewer):
    version(alice.tenant, 1, n_events=1000, n_users=50, n_items=20, config={"max_epochs": 8, "seed": 1})
    version(alice.tenant, 2, n_events=1500, n_users=60, n_items=20, config={"max_epochs": 12, "seed": 1},
            metrics={**METRICS, "methods": [{"name": "item_knn", "ndcg@10": 0.12}, {"name": "reranker", "ndcg@10": 0.30}]})
    html = viewer.get(url("ui:model-compare", 1, 2)).content.decode()
    assert "Re-ranker (this model)" in html and "+20.0%" in html  # 0.25 -> 0.30
    assert "Similar items (co-occurrence)" in html and "item_knn" not in html
    assert "+500" in html and "+10" in html  # events and users
    assert "max_epochs" in html and "seed" not in html  # only the settings that differ
    assert viewer.get(url("ui:model-compare", 1, 2) + "?a=2&b=1").url == url("ui:model-compare", 2, 1)
    assert "Compare with v1" in viewer.get(url("ui:models")).content.decode()


def test_charlie_cannot_compare_alices_versions(outsider, url, alice):
    version(alice.tenant, 1)
    version(alice.tenant, 2)
    assert outsider.get(url("ui:model-compare", 1, 2)).status_code == 404


def test_a_viewer_sees_progress_but_no_buttons(viewer, url, alice):
    version(alice.tenant, 1, status="running", rankings_ready=False, progress=10)
    html = viewer.get(url("ui:models")).content.decode()
    assert 'role="progressbar"' in html and "Train now" not in html and ">Cancel<" not in html
    assert viewer.get(url("ui:model-status", 1)).status_code == 200


def test_charlie_cannot_poll_alices_run(outsider, url, alice):
    version(alice.tenant, 1, status="running", rankings_ready=False)
    assert outsider.get(url("ui:model-status", 1)).status_code == 404


def test_the_version_page_says_what_the_new_user_bound_left_out(owner, url, alice):
    bound = {"new_users": 212, "items_capped": 1, "events_left_out": 190}
    version(alice.tenant, 1, metrics={**METRICS, "new_user_bound": bound})
    html = owner.get(url("ui:model", 1)).content.decode()
    assert "190 events of new users left out of training on 1 item (212 new users)" in html
    version(alice.tenant, 2)  # trained before the bound existed: no line
    assert "New-user bound" not in owner.get(url("ui:model", 2)).content.decode()
