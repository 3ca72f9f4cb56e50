"""Web UI: the results page and the experiment pages (start, per-arm figures, stop, promote; scoping)."""
from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from reranking.models import Experiment, ModelVersion
from reranking.services.ingest import ingest_events

pytestmark = pytest.mark.django_db


def login(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def start_form(**extra) -> dict:
    form = {"name": "v2 against v1", "holdout_percent": "0", "arm0_kind": "reranker", "arm0_share": "50",
            "arm1_kind": "version", "arm1_version": "2", "arm1_share": "50", "arm2_kind": "popular", "arm2_share": ""}
    return {**form, **extra}


def test_results_page_shows_lists_served_and_rates_with_intervals(alice, shop):
    for user in ["u1", "u2", "u3", "u4"]:
        body = alice.client.get(f"/api/v1/users/{user}/recommendations?k=3").json()
        if user in ("u1", "u2"):
            ingest_events(alice.tenant, [{"user_id": user, "item_id": body["items"][0]["item_id"], "event_type": "click",
                                          "recommendation_id": body["recommendation_id"]}])
    page = login(alice.owner).get("/t/alice-shop/online/")
    html = page.content.decode()
    assert page.status_code == 200 and 'id="totals"' in html
    assert "50.00%" in html and ">4<" in html  # 2 of 4 lists clicked
    assert "precomputed" in html and "v1" in html


def test_an_owner_starts_an_experiment_and_sees_its_arms(alice, shop):
    owner = login(alice.owner)
    response = owner.post("/t/alice-shop/experiments/", start_form())
    experiment = Experiment.objects.get()
    assert response.status_code == 302 and response["Location"].endswith(f"/experiments/{experiment.pk}/")
    assert [(a.name, a.share) for a in experiment.arms.all()] == [("reranker", 50), ("v2", 50)]
    for user in [f"u{n}" for n in range(20)]:
        alice.client.get(f"/api/v1/users/{user}/recommendations?k=3")
    html = owner.get(f"/t/alice-shop/experiments/{experiment.pk}/").content.decode()
    assert 'data-arm="reranker"' in html and 'data-arm="v2"' in html and "control" in html


def test_bad_shares_are_refused_with_the_reason_and_nothing_is_started(alice, shop):
    response = login(alice.owner).post("/t/alice-shop/experiments/", start_form(arm1_share="40"))
    assert response.status_code == 400 and "sum to 100" in response.content.decode()
    assert not Experiment.objects.exists()


def test_stop_and_promote_from_the_page(alice, shop):
    owner = login(alice.owner)
    owner.post("/t/alice-shop/experiments/", start_form())
    experiment = Experiment.objects.get()
    owner.post(f"/t/alice-shop/experiments/{experiment.pk}/promote/", {"arm": "v2"})
    experiment.refresh_from_db()
    assert experiment.winner == "v2" and not experiment.is_running
    assert ModelVersion.objects.get(is_active=True).number == 2
    owner.post("/t/alice-shop/experiments/", start_form(arm1_version="1"))
    second = Experiment.objects.filter(status="running").get()
    owner.post(f"/t/alice-shop/experiments/{second.pk}/stop/")
    assert not Experiment.objects.filter(status="running").exists()


def test_viewers_cannot_act_and_other_tenants_get_404(alice, charlie, shop):
    owner = login(alice.owner)
    owner.post("/t/alice-shop/experiments/", start_form())
    experiment = Experiment.objects.get()
    viewer = login(get_user_model().objects.get(username="bob"))
    assert viewer.get(f"/t/alice-shop/experiments/{experiment.pk}/").status_code == 200
    assert viewer.post(f"/t/alice-shop/experiments/{experiment.pk}/stop/").status_code == 403
    outsider = login(charlie.owner)
    assert outsider.get(f"/t/alice-shop/experiments/{experiment.pk}/").status_code == 404
    assert outsider.get(f"/t/charlie-media/experiments/{experiment.pk}/").status_code == 404
    assert outsider.post(f"/t/charlie-media/experiments/{experiment.pk}/stop/").status_code == 404
    assert Experiment.objects.get().is_running


def test_the_version_page_says_what_it_serves_and_why(alice):
    from reranking.models import RunStatus

    metrics = {"validation": {"reranker": {"ndcg@10": 0.226}, "transition": {"ndcg@10": 0.233}},
               "selection": {"served": "transition", "reason": "The transformer re-ranker did not beat the transition "
                                                                "source on your data (validation NDCG@10 0.226 vs 0.233)."}}
    ModelVersion.objects.create(tenant=alice.tenant, number=1, status=RunStatus.SUCCEEDED, metrics=metrics)
    html = login(alice.owner).get("/t/alice-shop/models/1/").content.decode()
    assert 'id="selection"' in html and "did not beat the transition source on your data" in html
