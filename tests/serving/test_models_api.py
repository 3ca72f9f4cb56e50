"""/api/v1/models: training runs and versions over REST."""
from __future__ import annotations

import pytest

from reranking.models import ModelVersion, RunStatus
from worker import tasks

pytestmark = pytest.mark.django_db


@pytest.fixture
def sent(monkeypatch):
    calls = []
    monkeypatch.setattr(tasks.train_reranker, "delay", lambda *args: calls.append(args))
    return calls


def test_train_queues_one_run_and_a_second_call_joins_it(alice, sent, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        first = alice.client.post("/api/v1/models/train")
        second = alice.client.post("/api/v1/models/train")
    assert first.status_code == 202 and second.status_code == 200
    assert first.json()["number"] == second.json()["number"] == 1
    assert len(sent) == 1 and first.json()["status"] == "queued"


@pytest.mark.django_db(transaction=True)  # the task is sent on commit, inside the request
def test_a_broker_outage_answers_503(alice, monkeypatch):
    def down(*args):
        raise ConnectionError("down")

    monkeypatch.setattr(tasks.train_reranker, "delay", down)
    response = alice.client.post("/api/v1/models/train")
    assert response.status_code == 503 and response["Retry-After"]
    assert ModelVersion.objects.get().status == RunStatus.FAILED


def test_cancel_and_refuse_to_activate_an_unfinished_run(alice, sent):
    run = ModelVersion.objects.create(tenant=alice.tenant, number=1)
    bad = alice.client.post("/api/v1/models/1/activate")
    assert bad.status_code == 400 and bad.json()["error"]["message"].startswith("number")
    assert alice.client.post("/api/v1/models/1/cancel").json()["status"] == "cancelled"
    assert alice.client.post("/api/v1/models/1/cancel").status_code == 400
    run.refresh_from_db()
    assert run.status == RunStatus.CANCELLED


def test_only_admin_keys_train(alice, sent):
    assert alice.client_with("read").post("/api/v1/models/train").status_code == 403
    assert alice.client_with("read").get("/api/v1/models").status_code == 200


def test_charlie_gets_404_for_alices_versions(alice, charlie, sent):
    ModelVersion.objects.create(tenant=alice.tenant, number=1)
    for method, path in (("get", "/api/v1/models/1"), ("post", "/api/v1/models/1/activate"), ("post", "/api/v1/models/1/cancel")):
        assert getattr(charlie.client, method)(path).status_code == 404
    assert charlie.client.get("/api/v1/models").json()["results"] == []


@pytest.mark.slow
def test_rolling_back_activates_an_older_version(shop, django_capture_on_commit_callbacks):
    v1 = ModelVersion.objects.get(tenant=shop.tenant, number=1)
    v2 = ModelVersion.objects.create(
        tenant=shop.tenant, number=2, status=RunStatus.SUCCEEDED, artifact_path=v1.artifact_path, rankings_ready=True
    )
    with django_capture_on_commit_callbacks(execute=True):  # activation drops the cached active version on commit
        assert shop.client.post("/api/v1/models/2/activate").status_code == 200
    assert shop.client.get("/api/v1/users/u00001/recommendations").json()["model_version"] == 2
    with django_capture_on_commit_callbacks(execute=True):
        assert shop.client.post("/api/v1/models/1/activate").status_code == 200
    v2.refresh_from_db()
    assert not v2.is_active
    assert shop.client.get("/api/v1/users/u00001/recommendations").json()["model_version"] == 1
