"""Every endpoint refuses charlie's key for alice's objects: 404, never 200 or 500, and nothing changes."""
from __future__ import annotations

import pytest

from reranking.models import EndUser, Item
from tenants.models import ApiKey

pytestmark = pytest.mark.django_db


@pytest.fixture
def alices_ids(alice, events) -> dict[str, str]:
    """Alice's objects by external id and by database id, as they appear in URLs."""
    return {
        "item": "sku-1",
        "item_pk": str(Item.objects.get(tenant=alice.tenant, external_id="sku-1").pk),
        "user": "ann",
        "user_pk": str(EndUser.objects.get(tenant=alice.tenant, external_id="ann").pk),
        "key_pk": str(ApiKey.objects.get(tenant=alice.tenant).pk),
    }


DETAIL_REQUESTS = [
    ("get", "/api/v1/items/{item}"),
    ("get", "/api/v1/items/{item_pk}"),
    ("delete", "/api/v1/items/{item}"),
    ("delete", "/api/v1/items/{item_pk}"),
    ("get", "/api/v1/users/{user}"),
    ("get", "/api/v1/users/{user_pk}"),
    ("get", "/api/v1/users/{user}/events"),
    ("get", "/api/v1/users/{user_pk}/events"),
    ("get", "/api/v1/keys/{key_pk}"),
    ("delete", "/api/v1/keys/{key_pk}"),
]


@pytest.mark.parametrize(("method", "path"), DETAIL_REQUESTS)
def test_charlie_gets_404_for_alices_objects(alice, charlie, alices_ids, snapshot, method, path):
    before = (snapshot(), list(ApiKey.objects.order_by("id").values_list("id", "revoked_at")))
    response = getattr(charlie.client, method)(path.format(**alices_ids))
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"
    assert (snapshot(), list(ApiKey.objects.order_by("id").values_list("id", "revoked_at"))) == before


@pytest.mark.parametrize(
    "path", ["/api/v1/items/{item}", "/api/v1/users/{user}", "/api/v1/users/{user}/events", "/api/v1/keys/{key_pk}"]
)
def test_alice_reaches_the_same_objects(alice, alices_ids, path):
    # The control: the 404s above come from scoping, not from a wrong URL.
    assert alice.client.get(path.format(**alices_ids)).status_code == 200


@pytest.mark.parametrize(
    "path", ["/api/v1/items", "/api/v1/users", "/api/v1/events", "/api/v1/events?user_id=ann", "/api/v1/keys"]
)
def test_charlies_lists_hold_nothing_of_alices(alice, charlie, events, path):
    body = charlie.client.get(path).json()
    rendered = str(body["results"])
    assert "sku-" not in rendered and "'ann'" not in rendered and "'ben'" not in rendered
    if "keys" in path:
        charlies_keys = ApiKey.objects.filter(tenant=charlie.tenant).values_list("id", flat=True)
        assert [row["id"] for row in body["results"]] == list(charlies_keys)


def test_charlies_bulk_upsert_of_alices_ids_leaves_hers_untouched(alice, charlie, catalogue):
    alices = list(Item.objects.filter(tenant=alice.tenant).order_by("id").values())
    response = charlie.client.post(
        "/api/v1/items/bulk", [{"item_id": item_id, "title": "Charlie's"} for item_id in catalogue], format="json"
    )
    assert response.json() == {"created": len(catalogue), "updated": 0, "unchanged": 0}
    assert list(Item.objects.filter(tenant=alice.tenant).order_by("id").values()) == alices
    assert Item.objects.filter(tenant=charlie.tenant).count() == len(catalogue)


def test_charlies_tenant_endpoint_shows_only_his_tenant(alice, charlie):
    assert charlie.client.get("/api/v1/tenant").json()["slug"] == "charlie-media"
