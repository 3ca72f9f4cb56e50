"""A/B experiments through the API: validation, assignment, serving per arm, results, stop and promote."""
from __future__ import annotations

from datetime import timedelta

import pytest

from reranking.models import Experiment, ModelVersion, Rule
from reranking.services import experiments
from reranking.services.ingest import ingest_events

from .conftest import V1_LIST, V2_LIST, impressions

pytestmark = pytest.mark.django_db

USERS = ["ann", "ben"] + [f"u{n}" for n in range(40)]


def start(ctx, arms=None, **extra):
    arms = arms or [{"kind": "reranker", "share": 50, "name": "current"}, {"kind": "version", "version": 2, "share": 50}]
    return ctx.client.post("/api/v1/experiments", {"name": "v2 test", "arms": arms, **extra}, format="json")


def served(ctx, user: str) -> dict:
    return ctx.client.get(f"/api/v1/users/{user}/recommendations?k=3").json()


def items_of(body: dict) -> list[str]:
    return [item["item_id"] for item in body["items"]]


@pytest.mark.parametrize(("arms", "field"), [
    ([{"kind": "reranker", "share": 50}, {"kind": "popular", "share": 40}], "arms"),
    ([{"kind": "reranker", "share": 50}, {"kind": "version", "version": 9, "share": 50}], "arms[1].version"),
    ([{"kind": "reranker", "share": 50}, {"kind": "version", "share": 50}], "arms[1].version"),
    ([{"kind": "reranker", "share": 50}, {"kind": "magic", "share": 50}], "arms[1].kind"),
    ([{"kind": "reranker", "share": 100}], "arms"),
    ([{"kind": "popular", "share": 50, "name": "x"}, {"kind": "reranker", "share": 50, "name": "x"}], "arms[1].name"),
    ([{"kind": "reranker", "share": 0}, {"kind": "popular", "share": 100}], "arms[0].share"),
])
def test_it_refuses_bad_arms_naming_the_field_and_writes_nothing(alice, shop, arms, field):
    response = start(alice, arms)
    assert response.status_code == 400, response.content
    assert response.json()["error"]["message"].startswith(field), response.json()
    assert not Experiment.objects.exists()


def test_it_refuses_a_second_running_experiment_and_a_holdout_over_the_limit(alice, shop):
    assert start(alice, holdout_percent=60).status_code == 400
    assert start(alice).status_code == 201
    second = start(alice)
    assert second.status_code == 400 and second.json()["error"]["message"].startswith("status")


def test_a_version_trained_on_erased_data_cannot_be_an_arm(alice, shop):
    ModelVersion.objects.filter(pk=shop["v2"].pk).update(contains_erased_data=True)
    assert "erased" in str(start(alice).json())


def test_users_keep_their_arm_and_get_its_version(alice, shop):
    experiment = start(alice).json()
    seen = {}
    for _ in range(3):
        for user in USERS:
            body = served(alice, user)
            seen.setdefault(user, set()).add((body["model_version"], tuple(items_of(body))))
    assert all(len(v) == 1 for v in seen.values())  # deterministic: same arm every time
    versions = {next(iter(v))[0] for v in seen.values()}
    assert versions == {1, 2}  # both arms got users (42 users, 50/50)
    for user, got in seen.items():
        version, items = next(iter(got))
        assert list(items) == (V1_LIST if version == 1 else V2_LIST)
    rows = impressions().filter(experiment_id=experiment["id"])
    assert rows.count() == 3 * len(USERS)
    by_user = {}
    for row in rows:
        by_user.setdefault(row.user_id, set()).add((row.arm, row.model_version))
    assert all(len(v) == 1 for v in by_user.values())
    assert {arm for v in by_user.values() for arm, _ in v} == {"current", "v2"}


def test_anonymous_visitors_are_assigned_by_session_id(alice, shop):
    start(alice, [{"kind": "reranker", "share": 50}, {"kind": "popular", "share": 50}])
    arms = {}
    for session in [f"s{n}" for n in range(30)]:
        for _ in range(2):
            alice.client.get(f"/api/v1/recommendations?session_id={session}")
    for row in impressions():
        arms.setdefault(row.recommendation_id, row.arm)
    assert set(arms.values()) == {"reranker", "popular"}
    alice.client.get("/api/v1/recommendations")  # no session: served as usual, outside the experiment
    assert impressions().last().experiment_id is None
    tenant = alice.tenant
    running = experiments.running(tenant)
    assert [experiments.assign(tenant.pk, running, "s:s1") for _ in range(3)].count(
        experiments.assign(tenant.pk, running, "s:s1")) == 3


def test_rules_and_privacy_settings_apply_in_every_arm(alice, shop):
    start(alice)
    Rule.objects.create(tenant=alice.tenant, name="no sku-2 or sku-5", kind="filter", priority=1,
                        params={"when": {"field": "item_id", "op": "in", "value": ["sku-2", "sku-5"]}})
    for user in USERS[:20]:
        got = items_of(served(alice, user))
        assert got and not {"sku-2", "sku-5"} & set(got)


def test_results_show_per_arm_figures_with_difference_ci_and_p_value(alice, shop):
    experiment = start(alice).json()
    for user in USERS:
        body = served(alice, user)
        if body["model_version"] == 2:  # v2's users click
            ingest_events(alice.tenant, [{"user_id": user, "item_id": body["items"][0]["item_id"], "event_type": "click",
                                          "recommendation_id": body["recommendation_id"]}])
    result = alice.client.get(f"/api/v1/experiments/{experiment['id']}").json()["results"]
    current, v2 = result["arms"]
    assert current["name"] == "current" and current["clicks"] == 0 and current["impressions"] > 0
    assert v2["clicks"] == v2["impressions"] > 0 and v2["ctr"]["percent"] == 100.0
    diff = v2["ctr_vs_control"]
    assert diff["difference"] == 100.0 and diff["low"] <= 100.0 <= diff["high"] + 1e-9
    assert diff["p_value"] < 0.001 and result["leader"] == "v2"


def test_stop_and_promote_are_one_action_each(alice, shop):
    experiment = start(alice).json()
    url = f"/api/v1/experiments/{experiment['id']}"
    assert alice.client.post(f"{url}/promote", {"arm": "nope"}, format="json").status_code == 400
    promoted = alice.client.post(f"{url}/promote", {"arm": "v2"}, format="json")
    assert promoted.status_code == 200 and promoted.json()["status"] == "stopped" and promoted.json()["winner"] == "v2"
    assert ModelVersion.objects.get(is_active=True).number == 2
    assert served(alice, "ann")["model_version"] == 2 and impressions().last().experiment_id is None
    assert alice.client.post(f"{url}/stop").status_code == 400  # already stopped
    again = start(alice, [{"kind": "reranker", "share": 50}, {"kind": "popular", "share": 50}]).json()
    assert alice.client.post(f"/api/v1/experiments/{again['id']}/stop").json()["status"] == "stopped"
    assert alice.client.post(f"/api/v1/experiments/{again['id']}/promote", {"arm": "popular"}, format="json").status_code == 400


def test_an_arms_version_deleted_mid_experiment_serves_the_active_one(alice, shop):
    experiment = start(alice).json()
    ModelVersion.objects.filter(pk=shop["v2"].pk).delete()
    experiments.forget(alice.tenant.pk)
    for user in USERS:
        assert served(alice, user)["model_version"] == 1
    arms = alice.client.get(f"/api/v1/experiments/{experiment['id']}").json()["results"]["arms"]
    assert "v2 was deleted" in arms[1]["serving"] and arms[1]["impressions"] > 0
    assert "no longer exists" in str(alice.client.post(f"/api/v1/experiments/{experiment['id']}/promote", {"arm": "v2"}, format="json").json())


def test_an_erasure_mid_experiment_stops_the_old_version_serving(alice, shop, monkeypatch):
    monkeypatch.setattr("worker.tasks.train_reranker.delay", lambda *args: None)
    experiment = start(alice).json()
    assert alice.client.post("/api/v1/users/ben/erase").status_code == 200  # flags v1 and v2
    for user in USERS[2:]:
        assert served(alice, user)["model_version"] == 1  # v2 is not active: it no longer serves
    arms = alice.client.get(f"/api/v1/experiments/{experiment['id']}").json()["results"]["arms"]
    assert "erased" in arms[1]["serving"]


def test_experiments_are_admin_only_and_another_tenant_gets_404(alice, charlie, shop):
    from tenants.models import Scope

    experiment = start(alice).json()
    url = f"/api/v1/experiments/{experiment['id']}"
    assert charlie.client.get(url).status_code == 404
    assert charlie.client.post(f"{url}/stop").status_code == 404
    assert charlie.client.post(f"{url}/promote", {"arm": "v2"}, format="json").status_code == 404
    listed = charlie.client.get("/api/v1/experiments").json()
    assert (listed["results"] if isinstance(listed, dict) else listed) == []
    reader = alice.client_with(Scope.READ)
    assert reader.get(url).status_code == 403 and reader.post(f"{url}/stop").status_code == 403
    assert Experiment.objects.get().is_running


def test_rankings_of_a_version_in_a_running_experiment_are_not_pruned(alice, shop, monkeypatch):
    from reranking.services import precompute

    start(alice)
    monkeypatch.setattr(precompute, "KEEP_RANKED_VERSIONS", 1)
    precompute.prune_rankings(alice.tenant.pk)
    assert ModelVersion.objects.get(number=2).rankings_ready
    experiments.stop(Experiment.objects.get())
    precompute.prune_rankings(alice.tenant.pk)
    assert not ModelVersion.objects.get(number=2).rankings_ready
