"""/api/v1/privacy and differential privacy on served lists."""
from __future__ import annotations

import pytest

from reranking.models import PrivacySettings

pytestmark = pytest.mark.django_db


def test_defaults_are_served_with_a_statement(alice):
    body = alice.client.get("/api/v1/privacy").json()
    assert body["dp_enabled"] is False and body["epsilon"] == 4.0
    assert "off" in body["statement"]


def test_an_admin_turns_dp_on(alice):
    response = alice.client.patch("/api/v1/privacy", {"dp_enabled": True, "epsilon": 2}, format="json")
    assert response.status_code == 200
    assert "epsilon = 2" in response.json()["statement"]
    assert PrivacySettings.objects.get(tenant=alice.tenant).dp_enabled


@pytest.mark.parametrize(
    "body, field",
    [({"epsilon": 0}, "epsilon"), ({"epsilon": -1}, "epsilon"), ({"epsilon": 50, "max_epsilon": 10}, "epsilon"),
     ({"max_results": 0}, "max_results"), ({"dp_enabled": "maybe"}, "dp_enabled"), ({"epsilon": "high"}, "epsilon")],
)
def test_bad_settings_are_refused_naming_the_field(alice, body, field):
    response = alice.client.patch("/api/v1/privacy", body, format="json")
    assert response.status_code == 400
    assert response.json()["error"]["message"].startswith(field)
    assert PrivacySettings.for_tenant(alice.tenant).epsilon == 4.0


def test_only_admin_keys_edit_privacy_and_tenants_stay_apart(alice, charlie):
    assert alice.client_with("read").patch("/api/v1/privacy", {"dp_enabled": True}, format="json").status_code == 403
    charlie.client.patch("/api/v1/privacy", {"dp_enabled": True}, format="json")
    assert alice.client.get("/api/v1/privacy").json()["dp_enabled"] is False


@pytest.mark.slow
def test_dp_responses_carry_their_parameters_hide_scores_and_stick(shop, user_id):
    shop.client.patch("/api/v1/privacy", {"dp_enabled": True, "epsilon": 1, "max_results": 10}, format="json")
    url = f"/api/v1/users/{user_id}/recommendations?k=10"
    bodies = [shop.client.get(url).json() for _ in range(8)]
    assert bodies[0]["privacy"]["dp"] is True and bodies[0]["privacy"]["epsilon"] == 1
    assert "gumbel" in bodies[0]["privacy"]["mechanism"]
    assert all(i["score"] is None for i in bodies[0]["items"])
    lists = {tuple(i["item_id"] for i in b["items"]) for b in bodies}
    assert len(lists) == 1, "a repeated request gets the same noised list (sticky noise)"


@pytest.mark.slow
def test_a_larger_epsilon_stays_closer_to_the_exact_list(shop):
    # Noise is sticky per user (a repeated request is the same release), so average over users instead.
    urls = [f"/api/v1/users/u{n:05d}/recommendations?k=10" for n in range(1, 13)]
    exact = [{i["item_id"] for i in shop.client.get(url).json()["items"]} for url in urls]
    # The scale is that of a top-max_results release: 2 * 10 / epsilon here.
    shop.client.patch("/api/v1/privacy", {"dp_enabled": True, "max_epsilon": 100, "max_results": 10}, format="json")

    def overlap(epsilon: float) -> float:
        lists = [shop.client.get(f"{url}&epsilon={epsilon}").json()["items"] for url in urls]
        return sum(len(e & {i["item_id"] for i in items}) for e, items in zip(exact, lists)) / len(lists)

    loose, strict = overlap(100), overlap(0.5)
    assert loose >= 4, loose  # Gumbel scale 2k/epsilon = 0.2 of the score range at k=10
    assert loose > strict + 2, (loose, strict)


@pytest.mark.slow
def test_dp_caps_results_and_epsilon(shop, user_id):
    shop.client.patch("/api/v1/privacy", {"dp_enabled": True, "max_results": 5, "max_epsilon": 4}, format="json")
    too_many = shop.client.get(f"/api/v1/users/{user_id}/recommendations?k=10")
    assert too_many.status_code == 400 and too_many.json()["error"]["message"].startswith("k")
    too_loose = shop.client.get(f"/api/v1/users/{user_id}/recommendations?k=5&epsilon=8")
    assert too_loose.status_code == 400 and too_loose.json()["error"]["message"].startswith("epsilon")
    assert shop.client.get(f"/api/v1/users/{user_id}/recommendations?k=5&page=2").status_code == 400
